//! Authentication and authorization against the real binary with `[auth] mode = "sigv4"`:
//! AWS's error types for missing, unknown, wrong, expired and tampered signatures (SDKs and raw
//! HTTP signed with aws-sigv4, header and presigned forms), a policy matrix (one table, a
//! denied action, indexes, streams, LeadingKeys, Attributes, batches and transactions), Lambda
//! and `/metrics` authorization, and functions that run as their role.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, PutRequest, ScalarAttributeType, StreamSpecification, StreamViewType,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::FunctionCode;
use common::*;

const ACCOUNT: &str = "000000000000";

/// Users and policies of the shared server.
const CONFIG: &str = r#"
[auth]
mode = "sigv4"

[[auth.users]]
name = "admin"
access_key_id = "AKIAADMIN"
secret_access_key = "admin-secret"

# Everything on the Orders table and its indexes and streams, but never DeleteTable.
[[auth.users]]
name = "app"
access_key_id = "AKIAAPP"
secret_access_key = "app-secret"
policy = '''
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "dynamodb:*", "Resource": [
     "arn:aws:dynamodb:us-east-1:000000000000:table/Orders",
     "arn:aws:dynamodb:us-east-1:000000000000:table/Orders/index/*",
     "arn:aws:dynamodb:us-east-1:000000000000:table/Orders/stream/*"]},
  {"Effect": "Allow", "Action": "dynamodb:ListStreams", "Resource": "*"},
  {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"}
]}
'''

# Items of Notes whose partition key is the user's own name, with a few attributes only.
[[auth.users]]
name = "alice"
access_key_id = "AKIAALICE"
secret_access_key = "alice-secret"
policy = '''
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow",
   "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchWriteItem"],
   "Resource": "arn:aws:dynamodb:*:*:table/Notes",
   "Condition": {
     "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]},
     "ForAllValues:StringLike": {"dynamodb:Attributes": ["owner", "note*"]}}}
]}
'''

# A function role: may write its audit table and nothing else.
[[auth.users]]
name = "auditor"
access_key_id = "AKIAAUDITOR"
secret_access_key = "auditor-secret"
policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "arn:aws:dynamodb:us-east-1:000000000000:table/Audit"}]}'

# A function role that may write another table only.
[[auth.users]]
name = "elsewhere"
access_key_id = "AKIAELSEWHERE"
secret_access_key = "elsewhere-secret"
policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "arn:aws:dynamodb:us-east-1:000000000000:table/Other"}]}'

# Administrator of another account: its tables and functions are its own.
[[auth.users]]
name = "tenant"
access_key_id = "AKIATENANT"
secret_access_key = "tenant-secret"
account_id = "111122223333"

# May deploy functions and pass roles named worker*, nothing on tables.
[[auth.users]]
name = "deployer"
access_key_id = "AKIADEPLOYER"
secret_access_key = "deployer-secret"
policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::000000000000:role/worker*"}]}'

# Metrics only.
[[auth.users]]
name = "prometheus"
access_key_id = "AKIAPROM"
secret_access_key = "prom-secret"
policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "tributary:GetMetrics", "Resource": "*"}]}'
"#;

/// A server with the users above and the administrator's tables; killed when dropped. (Each
/// test has its own: a server kept in a static would outlive the test process.)
struct Setup {
    server: Server,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Setup {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("auth.toml");
    std::fs::write(&config, CONFIG).expect("config");
    let server = Server::start_with(&["--config", config.to_str().expect("utf-8")]);
    create_tables(&server.endpoint()).await;
    Setup { server, _dir: dir }
}

async fn create_tables(endpoint: &str) {
    let admin = client(endpoint, "AKIAADMIN", "admin-secret");
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attr")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key")
    };
    admin
        .create_table()
        .table_name("Orders")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("status"))
        .key_schema(key("pk", KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("ByStatus")
                .key_schema(key("status", KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("gsi"),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .expect("stream"),
        )
        .send()
        .await
        .expect("create Orders");
    for (name, pk) in [("Notes", "owner"), ("Audit", "EventId"), ("Private", "pk")] {
        create_table(&admin, name, (pk, ScalarAttributeType::S), None).await;
    }
}

fn client(endpoint: &str, key: &str, secret: &str) -> Client {
    client_with_key(endpoint, key, secret)
}

fn lambda(endpoint: &str, key: &str, secret: &str) -> aws_sdk_lambda::Client {
    lambda_client_with_key(endpoint, key, secret)
}

fn refusal<T, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> (String, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (
            e.code().unwrap_or_default().to_owned(),
            e.message().unwrap_or_default().to_owned(),
        ),
    }
}

/// A raw request signed with aws-sigv4 (`at`: the signing time; `presign`: in the query).
struct Signed {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn sign(
    addr: SocketAddr,
    method: &'static str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    (key, secret): (&str, &str),
    (at, presign): (SystemTime, bool),
) -> Signed {
    use aws_sigv4::http_request::{
        sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    };
    let identity = Credentials::new(key, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    if presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
    }
    let params: aws_sigv4::http_request::SigningParams =
        aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(if path.starts_with("/20") {
                "lambda"
            } else {
                "dynamodb"
            })
            .time(at)
            .settings(settings)
            .build()
            .expect("params")
            .into();
    let uri = format!("http://{addr}{path}");
    let host = addr.to_string();
    let mut all: Vec<(&str, &str)> = vec![("host", host.as_str())];
    all.extend_from_slice(headers);
    let signable = SignableRequest::new(
        method,
        uri.as_str(),
        all.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut req = http::Request::builder().method(method).uri(uri.as_str());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(()).expect("request");
    instructions.apply_to_request_http1x(&mut req);
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    Signed {
        method,
        path,
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().expect("ascii").to_owned()))
            .collect(),
        body: body.to_vec(),
    }
}

fn send(addr: SocketAddr, s: &Signed) -> (u16, std::collections::HashMap<String, String>, String) {
    let headers: Vec<(&str, &str)> = s
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, h, body) =
        http_request(addr, s.method, &s.path, &headers, &s.body).expect("request");
    (status, h, String::from_utf8_lossy(&body).into_owned())
}

fn list_tables_signed(addr: SocketAddr, at: SystemTime, presign: bool) -> Signed {
    sign(
        addr,
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.ListTables"),
        ],
        b"{}",
        ("AKIAADMIN", "admin-secret"),
        (at, presign),
    )
}

fn error_type(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["__type"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn signatures_are_verified() {
    let server = &setup().await;
    let addr = server.addr;
    // No Authorization at all.
    let r = raw_call(addr, "DynamoDB_20120810.ListTables", "{}");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["__type"],
        "com.amazon.coral.service#MissingAuthenticationTokenException"
    );
    // A valid signature, in the header and presigned in the query string.
    for presign in [false, true] {
        let (status, _, body) = send(addr, &list_tables_signed(addr, SystemTime::now(), presign));
        assert_eq!(status, 200, "presign {presign}: {body}");
    }
    // The body changed after signing.
    let mut tampered = list_tables_signed(addr, SystemTime::now(), false);
    tampered.body = b"{ }".to_vec();
    let (status, _, body) = send(addr, &tampered);
    assert_eq!(status, 400);
    assert_eq!(
        error_type(&body),
        "com.amazon.coral.service#InvalidSignatureException",
        "{body}"
    );
    // A signed header changed.
    let mut tampered = list_tables_signed(addr, SystemTime::now(), false);
    for (k, v) in tampered.headers.iter_mut() {
        if k == "x-amz-target" {
            *v = "DynamoDB_20120810.DescribeLimits".to_owned();
        }
    }
    let (_, _, body) = send(addr, &tampered);
    assert_eq!(
        error_type(&body),
        "com.amazon.coral.service#InvalidSignatureException"
    );
    // Twenty minutes old, and twenty minutes ahead.
    for (at, words) in [
        (
            SystemTime::now() - Duration::from_secs(1200),
            "Signature expired",
        ),
        (
            SystemTime::now() + Duration::from_secs(1200),
            "Signature not yet current",
        ),
    ] {
        let (status, _, body) = send(addr, &list_tables_signed(addr, at, false));
        assert_eq!(status, 400);
        assert_eq!(
            error_type(&body),
            "com.amazon.coral.service#InvalidSignatureException"
        );
        assert!(body.contains(words), "{body}");
    }
    // A malformed Authorization header.
    let (status, _, body) = http_request(
        addr,
        "POST",
        "/",
        &[
            ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
            ("X-Amz-Date", "20261201T000000Z"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAADMIN"),
        ],
        b"{}",
    )
    .expect("request");
    assert_eq!(status, 400);
    assert_eq!(
        error_type(&String::from_utf8_lossy(&body)),
        "com.amazon.coral.service#IncompleteSignatureException"
    );
}

#[tokio::test]
async fn sdk_errors_for_unknown_keys_and_wrong_secrets() {
    let server = &setup().await;
    let (code, message) = refusal(
        client(&server.endpoint(), "AKIANOBODY", "x")
            .list_tables()
            .send()
            .await,
    );
    assert_eq!(code, "UnrecognizedClientException");
    assert_eq!(
        message,
        "The security token included in the request is invalid."
    );
    let (code, message) = refusal(
        client(&server.endpoint(), "AKIAADMIN", "not-the-secret")
            .list_tables()
            .send()
            .await,
    );
    assert_eq!(code, "InvalidSignatureException");
    assert!(message.contains("does not match"), "{message}");
    // Lambda answers in its own shape, as 403s the SDK reads the same way.
    let (code, _) = refusal(
        lambda(&server.endpoint(), "AKIANOBODY", "x")
            .list_functions()
            .send()
            .await,
    );
    assert_eq!(code, "UnrecognizedClientException");
    let (status, headers, _) =
        http_request(server.addr, "GET", "/2015-03-31/functions", &[], b"").expect("get");
    assert_eq!(status, 403);
    assert_eq!(
        headers["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
}

#[tokio::test]
async fn policy_allows_one_table_and_denies_one_action() {
    let server = &setup().await;
    let app = client(&server.endpoint(), "AKIAAPP", "app-secret");
    app.put_item()
        .table_name("Orders")
        .item("pk", s("o1"))
        .item("status", s("new"))
        .send()
        .await
        .expect("put Orders");
    let got = app
        .get_item()
        .table_name("Orders")
        .key("pk", s("o1"))
        .send()
        .await
        .expect("get Orders");
    assert!(got.item().is_some());
    // Another table: not allowed, with AWS's message.
    let (code, message) = refusal(
        app.get_item()
            .table_name("Private")
            .key("pk", s("x"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(
        message,
        format!("User: arn:aws:iam::{ACCOUNT}:user/app is not authorized to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Private because no identity-based policy allows the dynamodb:GetItem action")
    );
    // An explicit Deny wins over the Allow on the table.
    let (code, message) = refusal(app.delete_table().table_name("Orders").send().await);
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.ends_with("with an explicit deny in an identity-based policy"),
        "{message}"
    );
    // The index and the stream are resources of their own.
    let q = app
        .query()
        .table_name("Orders")
        .index_name("ByStatus")
        .key_condition_expression("#s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", s("new"))
        .send()
        .await
        .expect("query the index");
    assert_eq!(q.count(), 1);
    let streams = streams_client_with_key(&server.endpoint(), "AKIAAPP", "app-secret");
    let listed = streams
        .list_streams()
        .table_name("Orders")
        .send()
        .await
        .expect("ListStreams");
    let arn = listed.streams()[0].stream_arn().expect("arn").to_owned();
    streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("DescribeStream on the Orders stream");
    // A transaction touching a table the user may not write is refused whole.
    let (code, _) = refusal(
        app.transact_write_items()
            .transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .put(
                        aws_sdk_dynamodb::types::Put::builder()
                            .table_name("Orders")
                            .item("pk", s("t1"))
                            .build()
                            .expect("put"),
                    )
                    .build(),
            )
            .transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .put(
                        aws_sdk_dynamodb::types::Put::builder()
                            .table_name("Private")
                            .item("pk", s("t1"))
                            .build()
                            .expect("put"),
                    )
                    .build(),
            )
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    let admin = client(&server.endpoint(), "AKIAADMIN", "admin-secret");
    let t1 = admin
        .get_item()
        .table_name("Orders")
        .key("pk", s("t1"))
        .send()
        .await
        .expect("get");
    assert!(t1.item().is_none(), "a refused transaction wrote nothing");
}

#[tokio::test]
async fn leading_keys_restrict_a_user_to_its_own_items() {
    let server = &setup().await;
    let alice = client(&server.endpoint(), "AKIAALICE", "alice-secret");
    alice
        .put_item()
        .table_name("Notes")
        .item("owner", s("alice"))
        .item("note", s("mine"))
        .send()
        .await
        .expect("own item");
    let (code, _) = refusal(
        alice
            .put_item()
            .table_name("Notes")
            .item("owner", s("bob"))
            .item("note", s("not mine"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    // The partition checked is the one written: a Key beside the Item changes nothing.
    for key in [
        serde_json::json!({"owner": {"S": "alice"}}),
        serde_json::Value::Null,
    ] {
        let body = serde_json::json!({
            "TableName": "Notes",
            "Item": {"owner": {"S": "bob"}, "note": {"S": "planted"}},
            "Key": key,
        })
        .to_string();
        let signed = sign(
            server.addr,
            "POST",
            "/",
            &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", "DynamoDB_20120810.PutItem"),
            ],
            body.as_bytes(),
            ("AKIAALICE", "alice-secret"),
            (SystemTime::now(), false),
        );
        let (status, _, answer) = send(server.addr, &signed);
        assert_eq!(status, 400, "{answer}");
        assert_eq!(
            error_type(&answer),
            "com.amazon.coral.service#AccessDeniedException"
        );
    }
    // An attribute outside the allowed list.
    let (code, _) = refusal(
        alice
            .put_item()
            .table_name("Notes")
            .item("owner", s("alice"))
            .item("secret", s("x"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    let q = alice
        .query()
        .table_name("Notes")
        .key_condition_expression("#o = :me")
        .expression_attribute_names("#o", "owner")
        .expression_attribute_values(":me", s("alice"))
        .send()
        .await
        .expect("query own partition");
    assert_eq!(q.count(), 1);
    let (code, _) = refusal(
        alice
            .query()
            .table_name("Notes")
            .key_condition_expression("#o = :them")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":them", s("bob"))
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    // Scan names no partition, and the policy does not allow it anyway.
    let (code, _) = refusal(alice.scan().table_name("Notes").send().await);
    assert_eq!(code, "AccessDeniedException");
    // A batch with one foreign key is refused whole.
    let put = |owner: &str| {
        WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .item("owner", s(owner))
                    .item("note", s("b"))
                    .build()
                    .expect("put"),
            )
            .build()
    };
    let (code, _) = refusal(
        alice
            .batch_write_item()
            .request_items("Notes", vec![put("alice"), put("bob")])
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    alice
        .batch_write_item()
        .request_items("Notes", vec![put("alice")])
        .send()
        .await
        .expect("batch of own items");
}

#[tokio::test]
async fn lambda_and_metrics_are_authorized() {
    let server = &setup().await;
    let app = lambda(&server.endpoint(), "AKIAAPP", "app-secret");
    let (code, message) = refusal(app.list_functions().send().await);
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.contains("lambda:ListFunctions on resource: *"),
        "{message}"
    );
    // /metrics: unsigned is refused; a principal allowed tributary:GetMetrics reads it.
    let (status, _, _) = http_request(server.addr, "GET", "/metrics", &[], b"").expect("get");
    assert_eq!(status, 403);
    for (key, expected) in [
        (("AKIAPROM", "prom-secret"), 200),
        (("AKIAAPP", "app-secret"), 403),
    ] {
        let signed = sign(
            server.addr,
            "GET",
            "/metrics",
            &[],
            b"",
            key,
            (SystemTime::now(), false),
        );
        let (status, _, body) = send(server.addr, &signed);
        assert_eq!(status, expected, "{key:?}: {body}");
    }
}

const AUDIT_WAT: &str = include_str!("../examples/handlers/audit-wat/audit.wat");

/// The audit handler (it PutItems one Audit item per record) as function `name` with `role`.
fn create_audit(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    role: &str,
) -> aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder {
    lambda
        .create_function()
        .function_name(name)
        .role(role)
        .runtime(aws_sdk_lambda::types::Runtime::Provided)
        .handler("x")
        .timeout(30)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(trigger_component(AUDIT_WAT)))
                .build(),
        )
}

/// A one-record stream event whose record has the given eventID.
fn audit_event(id: &str) -> Vec<u8> {
    serde_json::json!({"Records": [{
        "awsRegion": "us-east-1",
        "dynamodb": {"Keys": {"pk": {"S": "r1"}}, "SequenceNumber": "1", "StreamViewType": "KEYS_ONLY"},
        "eventID": id, "eventName": "INSERT", "eventSource": "aws:dynamodb", "eventVersion": "1.1"
    }]})
    .to_string()
    .into_bytes()
}

/// A handler runs with its role's rights: the audit handler (it PutItems into Audit) works
/// under a role allowed to write Audit, and under a role that may only write another table
/// its PutItem is refused with AccessDeniedException, which reaches the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_run_as_their_role() {
    let server = &setup().await;
    let admin = lambda(&server.endpoint(), "AKIAADMIN", "admin-secret");
    for (name, role) in [
        ("audit-ok", "auditor".to_owned()),
        (
            "audit-denied",
            format!("arn:aws:iam::{ACCOUNT}:user/elsewhere"),
        ),
    ] {
        create_audit(&admin, name, &role)
            .send()
            .await
            .expect("create function");
    }
    let ok = admin
        .invoke()
        .function_name("audit-ok")
        .payload(Blob::new(audit_event("role-test-1")))
        .send()
        .await
        .expect("invoke");
    assert_eq!(ok.function_error(), None, "{:?}", ok.payload());
    let denied = admin
        .invoke()
        .function_name("audit-denied")
        .payload(Blob::new(audit_event("role-test-2")))
        .send()
        .await
        .expect("invoke");
    assert_eq!(denied.function_error(), Some("Unhandled"));
    let payload = String::from_utf8_lossy(denied.payload().expect("payload").as_ref()).into_owned();
    assert!(payload.contains("AccessDeniedException"), "{payload}");
    let audit = client(&server.endpoint(), "AKIAADMIN", "admin-secret");
    let items = audit
        .scan()
        .table_name("Audit")
        .send()
        .await
        .expect("scan")
        .items()
        .iter()
        .map(|i| i["EventId"].as_s().expect("S").clone())
        .collect::<Vec<_>>();
    assert_eq!(items, vec!["role-test-1".to_owned()]);
    // A user may not give a function a role it may not pass.
    let app = lambda(&server.endpoint(), "AKIAAPP", "app-secret");
    let (code, _) = refusal(create_audit(&app, "sneaky", "admin").send().await);
    assert_eq!(code, "AccessDeniedException");
}

/// A role resolves only as exactly what iam:PassRole allowed, and a mapping needs the
/// caller's rights on the stream it reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_mappings_cannot_escalate() {
    let server = &setup().await;
    let deployer = lambda(&server.endpoint(), "AKIADEPLOYER", "deployer-secret");
    // Passes the PassRole pattern role/worker*, but names no principal: the handler may call
    // nothing (it must not resolve to the `admin` user the string ends with).
    create_audit(
        &deployer,
        "sneaky-audit",
        "arn:aws:iam::000000000000:role/worker:user/admin",
    )
    .send()
    .await
    .expect("create");
    let out = deployer
        .invoke()
        .function_name("sneaky-audit")
        .payload(Blob::new(audit_event("sneaky-1")))
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.function_error(), Some("Unhandled"));
    let payload = String::from_utf8_lossy(out.payload().expect("payload").as_ref()).into_owned();
    assert!(payload.contains("AccessDeniedException"), "{payload}");
    // A mapping on a stream the deployer may not read.
    let admin = client(&server.endpoint(), "AKIAADMIN", "admin-secret");
    let stream = admin
        .describe_table()
        .table_name("Orders")
        .send()
        .await
        .expect("describe")
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("stream")
        .to_owned();
    let (code, message) = refusal(
        deployer
            .create_event_source_mapping()
            .function_name("sneaky-audit")
            .event_source_arn(&stream)
            .starting_position(aws_sdk_lambda::types::EventSourcePosition::TrimHorizon)
            .send()
            .await,
    );
    assert_eq!(code, "AccessDeniedException");
    assert!(message.contains("dynamodb:DescribeStream"), "{message}");
}

/// Two accounts each have a table named Orders and never see each other's; ARNs carry the
/// account; functions are per account too.
#[tokio::test]
async fn accounts_keep_their_tables_apart() {
    let server = &setup().await;
    let tenant = client(&server.endpoint(), "AKIATENANT", "tenant-secret");
    let admin = client(&server.endpoint(), "AKIAADMIN", "admin-secret");
    let created = tenant
        .create_table()
        .table_name("Orders")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("the tenant creates its own Orders");
    assert_eq!(
        created.table_description().and_then(|d| d.table_arn()),
        Some("arn:aws:dynamodb:us-east-1:111122223333:table/Orders")
    );
    tenant
        .put_item()
        .table_name("Orders")
        .item("id", s("tenant-item"))
        .send()
        .await
        .expect("put");
    let theirs = tenant
        .scan()
        .table_name("Orders")
        .send()
        .await
        .expect("scan");
    assert_eq!(theirs.count(), 1);
    let ours = admin
        .describe_table()
        .table_name("Orders")
        .send()
        .await
        .expect("describe");
    let ours = ours.table().expect("table");
    assert_eq!(
        ours.table_arn(),
        Some("arn:aws:dynamodb:us-east-1:000000000000:table/Orders")
    );
    assert_eq!(ours.key_schema()[0].attribute_name(), "pk");
    let tenant_tables = tenant.list_tables().send().await.expect("list");
    assert_eq!(tenant_tables.table_names(), ["Orders"]);
    let (code, _) = refusal(tenant.describe_table().table_name("Notes").send().await);
    assert_eq!(code, "ResourceNotFoundException");
    // Functions too: the tenant sees none of the server account's.
    let functions = lambda(&server.endpoint(), "AKIATENANT", "tenant-secret")
        .list_functions()
        .send()
        .await
        .expect("list functions");
    assert!(functions.functions().is_empty());
}

/// Without authentication the server stays on loopback unless told otherwise.
#[test]
fn no_auth_off_loopback_needs_insecure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args([
            "serve",
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0") && stderr.contains("--insecure"),
        "{stderr}"
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args([
            "serve",
            "--insecure",
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let healthy = loop {
        if let Ok((200, _)) = http_get(addr, "/") {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(healthy, "--insecure starts");
}
