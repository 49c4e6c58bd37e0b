//! The hand-written WAT audit handler (examples/handlers/audit-wat/audit.wat) against the real
//! binary: deployed through aws-sdk-lambda and mapped to a table stream, it writes one `Audit`
//! item per change holding the change's stream record; invoked directly, it copes with JSON
//! that tries to confuse its scanner, with batches that need its memory to grow, and reports
//! PutItem errors and malformed events as handler errors.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{ScalarAttributeType, StreamViewType};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{EventSourcePosition, FunctionCode};
use common::*;
use serde_json::{json, Value};

const AUDIT_WAT: &str = include_str!("../examples/handlers/audit-wat/audit.wat");

/// Creates the function `audit` from the example's source.
async fn deploy(lambda: &aws_sdk_lambda::Client) {
    lambda
        .create_function()
        .function_name("audit")
        .role("arn:aws:iam::000000000000:role/any")
        .runtime(aws_sdk_lambda::types::Runtime::Provided)
        .handler("x")
        // Every PutItem waits for its fsync: give a 100-record batch room on a busy machine.
        .timeout(60)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(trigger_component(AUDIT_WAT)))
                .build(),
        )
        .send()
        .await
        .expect("create function audit");
}

async fn create_audit_table(c: &aws_sdk_dynamodb::Client) {
    create_table(c, "Audit", ("EventId", ScalarAttributeType::S), None).await;
}

/// Every Audit item as (EventId, Record parsed as JSON); panics if a Record is not JSON.
async fn audit_items(c: &aws_sdk_dynamodb::Client) -> HashMap<String, (String, Value)> {
    let mut out = HashMap::new();
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name("Audit")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan Audit");
        for i in page.items() {
            let id = i["EventId"].as_s().expect("EventId S").clone();
            let raw = i["Record"].as_s().expect("Record S").clone();
            let rec: Value = serde_json::from_str(&raw)
                .unwrap_or_else(|e| panic!("Record of {id} is not JSON ({e}): {raw}"));
            let dup = out.insert(id.clone(), (raw, rec));
            assert!(dup.is_none(), "EventId {id} scanned twice");
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return out,
        }
    }
}

/// Polls the Audit table until it holds `want` items (deadline-based); panics when it holds
/// more, or when the deadline passes first.
async fn wait_for_audit(
    c: &aws_sdk_dynamodb::Client,
    want: usize,
    server: &Server,
) -> HashMap<String, (String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let items = audit_items(c).await;
        assert!(
            items.len() <= want,
            "{} Audit items, want {want}",
            items.len()
        );
        if items.len() == want {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {want} Audit items after 90 s; server log:\n{}",
            items.len(),
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A string value built to trip a careless scanner: quotes, backslashes (one at the very
/// end), braces and brackets, a fake `"eventID":"` and non-ASCII text, padded to ~600 bytes.
fn nasty(i: usize, round: usize) -> String {
    format!(
        "v{i}.{round} \"quoted\" back\\slash {{\"eventID\":\"fake-{i}\"}} [1,{{2}}] \\\" é ✓ {}\\",
        "x".repeat(500 + i % 7)
    )
}

fn key(i: usize) -> String {
    format!("k{i} \"q\" \\{{")
}

fn stream_s<'a>(
    img: Option<&'a HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>,
    name: &str,
) -> Option<&'a str> {
    img.and_then(|m| m.get(name))
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// 300 changes (150 puts, 100 updates, 50 deletes) with nasty string values; the mapping
/// (TRIM_HORIZON, BatchSize 100) starts after the puts, so the first batches are large and
/// the rest arrive live. Exactly one Audit item per change, holding its stream record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_audit_item_per_change() {
    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let st = streams_client_for(&server.endpoint());
    let arn = stream_table(&c, "Things", false, StreamViewType::NewAndOldImages).await;
    create_audit_table(&c).await;
    deploy(&lambda).await;

    for i in 0..150 {
        c.put_item()
            .table_name("Things")
            .item("pk", s(&key(i)))
            .item("v", s(&nasty(i, 0)))
            // An attribute named like the record's member: it sits deeper and must be ignored.
            .item("eventID", s("\"not-the-event-id\""))
            .item("n", n(&i.to_string()))
            .send()
            .await
            .expect("put");
    }
    let mapping = lambda
        .create_event_source_mapping()
        .function_name("audit")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(100)
        .send()
        .await
        .expect("create mapping");
    assert_eq!(mapping.batch_size(), Some(100));
    for i in 0..100 {
        c.update_item()
            .table_name("Things")
            .key("pk", s(&key(i)))
            .update_expression("SET v = :v, n = n + :one")
            .expression_attribute_values(":v", s(&nasty(i, 1)))
            .expression_attribute_values(":one", n("1"))
            .send()
            .await
            .expect("update");
    }
    for i in 100..150 {
        c.delete_item()
            .table_name("Things")
            .key("pk", s(&key(i)))
            .send()
            .await
            .expect("delete");
    }

    let records = read_stream(&st, &arn).await;
    assert_eq!(records.len(), 300, "one stream record per change");
    let audit = wait_for_audit(&c, 300, &server).await;

    let mut seen = HashSet::new();
    let mut by_kind: HashMap<&str, usize> = HashMap::new();
    for (_, r) in &records {
        let id = r.event_id().expect("eventID");
        assert!(seen.insert(id.to_owned()), "duplicate eventID {id}");
        let (raw, rec) = audit
            .get(id)
            .unwrap_or_else(|| panic!("no Audit item for eventID {id}"));
        let d = r.dynamodb().expect("dynamodb");
        let kind = r.event_name().expect("eventName").as_str();
        *by_kind.entry(kind).or_default() += 1;
        assert_eq!(rec["eventID"], json!(id), "{raw}");
        assert_eq!(rec["eventName"], json!(kind), "{raw}");
        assert_eq!(rec["eventSourceARN"], json!(arn), "{raw}");
        assert_eq!(
            rec["dynamodb"]["SequenceNumber"],
            json!(d.sequence_number().expect("SequenceNumber")),
            "{raw}"
        );
        let pk = stream_s(d.keys(), "pk").expect("pk");
        assert_eq!(rec["dynamodb"]["Keys"], json!({"pk": {"S": pk}}), "{raw}");
        // The images came through the escaping intact.
        for (image, from_stream) in [
            ("NewImage", stream_s(d.new_image(), "v")),
            ("OldImage", stream_s(d.old_image(), "v")),
        ] {
            match from_stream {
                Some(v) => {
                    assert_eq!(rec["dynamodb"][image]["v"]["S"], json!(v), "{raw}");
                    assert_eq!(
                        rec["dynamodb"][image]["eventID"]["S"],
                        json!("\"not-the-event-id\""),
                        "{raw}"
                    );
                }
                None => assert!(rec["dynamodb"].get(image).is_none(), "{raw}"),
            }
        }
    }
    assert_eq!(
        by_kind,
        HashMap::from([("INSERT", 150), ("MODIFY", 100), ("REMOVE", 50)])
    );
    let ids: HashSet<String> = audit.keys().cloned().collect();
    assert_eq!(ids, seen, "Audit EventIds are the stream's eventIDs");
}

async fn invoke(lambda: &aws_sdk_lambda::Client, event: &str) -> (Option<String>, String) {
    let out = lambda
        .invoke()
        .function_name("audit")
        .payload(Blob::new(event.as_bytes().to_vec()))
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.status_code(), 200);
    let payload = out
        .payload()
        .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
        .unwrap_or_default();
    (out.function_error().map(str::to_owned), payload)
}

/// The handler's error message (errorMessage of an Unhandled invocation).
async fn invoke_err(lambda: &aws_sdk_lambda::Client, event: &str) -> String {
    let (failure, payload) = invoke(lambda, event).await;
    assert_eq!(failure.as_deref(), Some("Unhandled"), "{event}: {payload}");
    let body: Value = serde_json::from_str(&payload).expect("error payload");
    assert_eq!(body["errorType"], json!("HandlerError"), "{payload}");
    body["errorMessage"]
        .as_str()
        .expect("errorMessage")
        .to_owned()
}

async fn invoke_ok(lambda: &aws_sdk_lambda::Client, event: &str) {
    let (failure, payload) = invoke(lambda, event).await;
    assert_eq!(failure, None, "{payload}");
    assert_eq!(payload, "");
}

/// A record in the shape of a stream record, with a value of the caller's choosing.
fn record(id: &str, v: &str) -> Value {
    json!({
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": id}},
            "NewImage": {"pk": {"S": id}, "v": {"S": v}, "eventID": {"S": "decoy"}},
            "SequenceNumber": "1",
            "StreamViewType": "NEW_IMAGE"
        },
        "eventID": id,
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.1"
    })
}

/// Direct invocations: API errors and events of the wrong shape become handler errors, a
/// payload that is not JSON is refused before the handler runs (as Lambda does); odd but valid
/// JSON (whitespace, look-alike members, every escape) is scanned right; a 100-record batch
/// of ~1 KB records (more than the module's initial 64 KiB of memory) fits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_invocations() {
    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    deploy(&lambda).await;

    // No Audit table yet: PutItem fails and the handler says why.
    let one = json!({"Records": [record("e-1", "one")]}).to_string();
    let msg = invoke_err(&lambda, &one).await;
    assert!(
        msg.starts_with("PutItem into Audit failed: ResourceNotFoundException: ")
            && msg.contains("Requested resource not found"),
        "{msg}"
    );
    for (event, want) in [
        ("[1]", "the event is not a JSON object"),
        ("{}", "the event has no Records array"),
        (r#"{"Records":{}}"#, "the event has no Records array"),
        (r#"{"x":{"Records":[]}}"#, "the event has no Records array"),
        (r#"{"Records":[1]}"#, "Records must hold JSON objects only"),
        (r#"{"Records":[{"a":1}]}"#, "a record has no eventID string"),
        (
            r#"{"Records":[{"x":{"eventID":"deep"}}]}"#,
            "a record has no eventID string",
        ),
        (
            r#"{"Records":[{"a":"eventID","eventID":5}]}"#,
            "a record has no eventID string",
        ),
    ] {
        assert_eq!(invoke_err(&lambda, event).await, want, "event {event}");
    }
    // Malformed JSON never reaches the handler: Lambda refuses the payload.
    for event in [r#"{"Records":[{"eventID":"a"}"#, r#"{"Records":["}]"#] {
        let err = lambda
            .invoke()
            .function_name("audit")
            .payload(Blob::new(event.as_bytes().to_vec()))
            .send()
            .await
            .expect_err("malformed payload");
        assert_eq!(
            aws_sdk_lambda::error::ProvideErrorMetadata::code(&err),
            Some("InvalidRequestContentException"),
            "{event}: {err:?}"
        );
    }

    create_audit_table(&c).await;
    invoke_ok(&lambda, r#"{"Records":[]}"#).await;
    invoke_ok(&lambda, " { \"Records\" : [ ] } ").await;
    assert!(audit_items(&c).await.is_empty());

    // Valid JSON meant to confuse: whitespace everywhere, members in any order, look-alike
    // names and values before and inside the records, every kind of escape.
    let event = r##"
{
  "kind" : "Records",
  "Other": {"Records": "decoy"},
  "Records" : [
    {"awsRegion": "us-east-1", "note": "eventID", "eventName": "eventID",
     "dynamodb": {"Keys": {"pk": {"S": "}]\"eventID\":\"no\"{["}},
                  "NewImage": {"eventID": {"S": "decoy"}}},
     "eventID" : "t-1"}
    ,
    {"v": "ends with a backslash \\", "eventID":"t-2"},
    {"v": "\\\"\\\\\" \n \t \u0001 \/ é ✓ \ud83d\ude00", "eventID": "t-3"} ,
    {"z": ["eventID", {"eventID": "deeper"}], "eventID": "t-4 \"quoted\" \\"}
  ]
}
"##;
    let expected: Value = serde_json::from_str(event).expect("valid JSON");
    invoke_ok(&lambda, event).await;
    let got = audit_items(&c).await;
    assert_eq!(got.len(), 4, "{:?}", got.keys());
    for r in expected["Records"].as_array().expect("Records") {
        let id = r["eventID"].as_str().expect("id");
        let (raw, rec) = got
            .get(id)
            .unwrap_or_else(|| panic!("no Audit item {id:?}: {:?}", got.keys()));
        assert_eq!(rec, r, "record {id:?} copied intact: {raw}");
    }

    // The same batch again (a retried batch): the same items, overwritten in place.
    invoke_ok(&lambda, event).await;
    assert_eq!(audit_items(&c).await.len(), 4);

    // 100 records of ~1 KB each (~110 KB of event): memory has to grow.
    let batch: Vec<Value> = (0..100)
        .map(|i| {
            record(
                &format!("big-{i}"),
                &format!("{}{}", nasty(i, 2), "y".repeat(400)),
            )
        })
        .collect();
    let event = json!({"Records": batch}).to_string();
    assert!(event.len() > 100_000, "{}", event.len());
    invoke_ok(&lambda, &event).await;
    let got = audit_items(&c).await;
    assert_eq!(got.len(), 104);
    for (i, r) in batch.iter().enumerate() {
        let (raw, rec) = &got[&format!("big-{i}")];
        assert_eq!(rec, r, "{raw}");
    }
}
