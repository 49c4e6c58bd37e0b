//! Test harness: starts the real `tributary` binary on a free port with its own data
//! directory and builds AWS SDK clients pointed at it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A running `tributary serve`, killed on drop.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    log: PathBuf,
    extra_args: Vec<String>,
    region: String,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(extra_args: &[&str]) -> Server {
        Self::start_in("us-east-1", extra_args)
    }

    /// A server that is region `region`.
    pub fn start_in(region: &str, extra_args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        let mut s = Server {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            data_dir,
            log: tmp.path().join("server.log"),
            _tmp: Some(tmp),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            region: region.to_owned(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .arg("serve")
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--region")
            .arg(&self.region)
            .args(&self.extra_args)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start tributary");
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("tributary exited with {status}:\n{}", self.log_text());
                }
            }
            if let Ok((200, body)) = http_get(self.addr, "/") {
                assert_eq!(body, format!("healthy: {}", self.addr));
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "tributary did not become healthy in 30 s:\n{}",
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self) -> Client {
        client_for(&self.endpoint())
    }

    /// SIGTERM, wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        assert!(
                            status.success(),
                            "unclean exit {status}:\n{}",
                            self.log_text()
                        );
                        return;
                    }
                    _ if Instant::now() > deadline => {
                        let _ = child.kill();
                        panic!("tributary ignored SIGTERM:\n{}", self.log_text());
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "server still running");
        self.spawn();
    }

    /// Arguments added to `serve` from the next start on.
    #[allow(dead_code)]
    pub fn set_extra_args(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|s| s.to_string()).collect();
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn client_for(endpoint: &str) -> Client {
    client_with_key(endpoint, "AKIDEXAMPLE", "secret")
}

/// A DynamoDB client signing with the given access key and secret.
pub fn client_with_key(endpoint: &str, key: &str, secret: &str) -> Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(conf)
}

/// A minimal HTTP/1.1 request over a plain TCP stream (no SDK), returning status and body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, HashMap<String, String>, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, raw[split + 4..].to_vec()))
}

pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let (status, _, body) = http_request(addr, "GET", path, &[], b"")?;
    Ok((status, String::from_utf8_lossy(&body).to_string()))
}

/// The answer to a raw (SDK-less) request.
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub json: serde_json::Value,
}

/// POST a DynamoDB JSON 1.0 request without the SDK (unsigned: the server accepts that for now).
pub fn raw_call(addr: SocketAddr, target: &str, body: &str) -> RawResponse {
    let mut headers = vec![("Content-Type", "application/x-amz-json-1.0")];
    if !target.is_empty() {
        headers.push(("X-Amz-Target", target));
    }
    let (status, headers, body) = http_request(addr, "POST", "/", &headers, body.as_bytes())
        .unwrap_or_else(|e| panic!("raw {target} request to {addr} failed: {e}"));
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    RawResponse {
        status,
        headers,
        body,
        json,
    }
}

/// Asserts an SDK error is the given DynamoDB error code with a message containing `needle`.
pub fn assert_service_error<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
    code: &str,
    needle: &str,
) {
    match result {
        Ok(v) => panic!("expected {code} ({needle}), got success: {v:?}"),
        Err(e) => {
            assert_eq!(e.code(), Some(code), "wrong error code: {e:?}");
            let msg = e.message().unwrap_or_default();
            assert!(
                msg.contains(needle),
                "message {msg:?} does not contain {needle:?}"
            );
        }
    }
}

/// A table name no other test uses (tests share nothing, but unique names keep logs readable
/// and make accidental sharing impossible).
pub fn unique_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{i}", std::process::id())
}

pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

pub fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

pub fn b(v: &[u8]) -> AttributeValue {
    AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(v.to_vec()))
}

pub fn boolean(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

pub fn null() -> AttributeValue {
    AttributeValue::Null(true)
}

pub fn l(v: Vec<AttributeValue>) -> AttributeValue {
    AttributeValue::L(v)
}

pub fn m(v: &[(&str, AttributeValue)]) -> AttributeValue {
    AttributeValue::M(v.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

pub fn ss(v: &[&str]) -> AttributeValue {
    AttributeValue::Ss(v.iter().map(|x| x.to_string()).collect())
}

pub fn ns(v: &[&str]) -> AttributeValue {
    AttributeValue::Ns(v.iter().map(|x| x.to_string()).collect())
}

pub fn bs(v: &[&[u8]]) -> AttributeValue {
    AttributeValue::Bs(
        v.iter()
            .map(|x| aws_sdk_dynamodb::primitives::Blob::new(x.to_vec()))
            .collect(),
    )
}

/// An item (or key) from name/value pairs.
pub fn item(v: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    v.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Sets come back in no particular order: sort SS/NS/BS members (recursively) before comparing.
pub fn normalize(v: &AttributeValue) -> AttributeValue {
    match v {
        AttributeValue::Ss(x) => {
            let mut x = x.clone();
            x.sort();
            AttributeValue::Ss(x)
        }
        AttributeValue::Ns(x) => {
            let mut x = x.clone();
            x.sort();
            AttributeValue::Ns(x)
        }
        AttributeValue::Bs(x) => {
            let mut x: Vec<Vec<u8>> = x.iter().map(|b| b.as_ref().to_vec()).collect();
            x.sort();
            AttributeValue::Bs(
                x.into_iter()
                    .map(aws_sdk_dynamodb::primitives::Blob::new)
                    .collect(),
            )
        }
        AttributeValue::L(x) => AttributeValue::L(x.iter().map(normalize).collect()),
        AttributeValue::M(x) => {
            AttributeValue::M(x.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        other => other.clone(),
    }
}

pub fn normalize_item(i: &HashMap<String, AttributeValue>) -> HashMap<String, AttributeValue> {
    i.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()
}

/// Creates an on-demand table with a partition key and optional sort key, waits for ACTIVE.
pub async fn create_table(
    client: &Client,
    name: &str,
    pk: (&str, ScalarAttributeType),
    sk: Option<(&str, ScalarAttributeType)>,
) {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(pk.0)
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(pk.0)
                .attribute_type(pk.1)
                .build()
                .expect("def"),
        );
    if let Some((name, ty)) = sk {
        req = req
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(KeyType::Range)
                    .build()
                    .expect("key"),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ty)
                    .build()
                    .expect("def"),
            );
    }
    req.send().await.expect("create table");
    wait_active(client, name).await;
}

pub async fn wait_active(client: &Client, name: &str) {
    for _ in 0..200 {
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .expect("describe");
        if d.table().and_then(|t| t.table_status()).map(|s| s.as_str()) == Some("ACTIVE") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("table {name} never became ACTIVE");
}

/// A table with pk (S) and sk (N), the shape most tests use.
pub async fn pk_sk_table(client: &Client, name: &str) {
    create_table(
        client,
        name,
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
}

/// A DynamoDB Streams client for the same endpoint.
pub fn streams_client_for(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    streams_client_with_key(endpoint, "AKIDEXAMPLE", "secret")
}

/// A DynamoDB Streams client signing with the given access key and secret.
pub fn streams_client_with_key(
    endpoint: &str,
    key: &str,
    secret: &str,
) -> aws_sdk_dynamodbstreams::Client {
    let conf = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
            key, secret, None, None, "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(conf)
}

/// Creates a table (pk S, optional sk N) with a stream of the given view type; returns the
/// stream ARN.
pub async fn stream_table(
    client: &Client,
    name: &str,
    with_sk: bool,
    view: aws_sdk_dynamodb::types::StreamViewType,
) -> String {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("def"),
        )
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view)
                .build()
                .expect("stream spec"),
        );
    if with_sk {
        req = req
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()
                    .expect("key"),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::N)
                    .build()
                    .expect("def"),
            );
    }
    let out = req.send().await.expect("create table with stream");
    wait_active(client, name).await;
    out.table_description()
        .and_then(|t| t.latest_stream_arn())
        .expect("LatestStreamArn")
        .to_owned()
}

/// Every record of a stream, shard by shard from TRIM_HORIZON, following NextShardIterator
/// until a page comes back empty (or the shard is closed).
pub async fn read_stream(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
) -> Vec<(String, aws_sdk_dynamodbstreams::types::Record)> {
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    let desc = streams
        .describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .expect("describe stream");
    let mut out = Vec::new();
    for shard in desc.stream_description().expect("desc").shards() {
        let shard_id = shard.shard_id().expect("shard id").to_owned();
        let mut it = streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(&shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator")
            .shard_iterator()
            .map(str::to_owned);
        while let Some(token) = it {
            let page = streams
                .get_records()
                .shard_iterator(token)
                .send()
                .await
                .expect("get records");
            if page.records().is_empty() {
                break;
            }
            out.extend(page.records().iter().map(|r| (shard_id.clone(), r.clone())));
            it = page.next_shard_iterator().map(str::to_owned);
        }
    }
    out
}

/// The numeric value of a stream sequence number.
pub fn seq_of(r: &aws_sdk_dynamodbstreams::types::Record) -> u128 {
    r.dynamodb()
        .and_then(|d| d.sequence_number())
        .expect("SequenceNumber")
        .parse()
        .expect("numeric SequenceNumber")
}

/// A Lambda client for the same endpoint.
pub fn lambda_client_for(endpoint: &str) -> aws_sdk_lambda::Client {
    lambda_client_with_key(endpoint, "AKIDEXAMPLE", "secret")
}

/// A Lambda client signing with the given access key and secret.
pub fn lambda_client_with_key(endpoint: &str, key: &str, secret: &str) -> aws_sdk_lambda::Client {
    let conf = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            key, secret, None, None, "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

#[path = "../../runtime/tests/support/component.rs"]
mod component;
#[allow(unused_imports)] // used by the trigger tests only
pub use component::guest;

/// A core module (WAT) made into a component of the `trigger` world (runtime/wit).
pub fn trigger_component(wat: &str) -> Vec<u8> {
    component::trigger_component(wat)
}

/// What the recording handler does after recording its event.
#[allow(dead_code)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Recorder {
    /// Succeed.
    Ok,
    /// Fail (err "poison") when the event contains the text `poison`.
    FailOnPoison,
    /// Report the first record containing `poison` in `batchItemFailures`.
    ReportPoison,
}

/// Escapes text for a WAT string literal.
fn wat_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A handler that records every event it receives: it appends the whole event JSON to the
/// list `events` of the item `deliveries[pk = <the event's first SequenceNumber>]` (so each
/// attempt at a batch is kept), then behaves as `mode` says.
#[allow(dead_code)]
pub fn recorder(mode: Recorder) -> Vec<u8> {
    let pre = r#"{"TableName":"deliveries","Key":{"pk":{"S":""#;
    let mid = r#""}},"UpdateExpression":"SET events = list_append(if_not_exists(events, :empty), :e)","ExpressionAttributeValues":{":empty":{"L":[]},":e":{"L":[{"S":""#;
    let suf = r#""}]}}}"#;
    let seq_pat = r#""SequenceNumber":""#;
    let resp_pre = r#"{"batchItemFailures":[{"itemIdentifier":""#;
    let resp_suf = r#""}]}"#;
    let strings: [(u32, &str); 8] = [
        (256, "UpdateItem"),
        (300, seq_pat),
        (340, "\""),
        (350, "poison"),
        (400, pre),
        (600, mid),
        (900, suf),
        (1000, resp_pre),
    ];
    let mut data: String = strings
        .iter()
        .map(|(at, s)| format!("(data (i32.const {at}) \"{}\")\n", wat_str(s)))
        .collect();
    data.push_str(&format!(
        "(data (i32.const 1100) \"{}\")\n",
        wat_str(resp_suf)
    ));
    let tail = match mode {
        Recorder::Ok => "(call $ok (i32.const 0) (i32.const 0))".to_owned(),
        Recorder::FailOnPoison => "(if (result i32) (i32.ge_s (call $find (local.get $ev) (local.get $len) (i32.const 350) (i32.const 6)) (i32.const 0))
              (then (i32.store8 (i32.const 16) (i32.const 1)) (i32.store (i32.const 20) (i32.const 350)) (i32.store (i32.const 24) (i32.const 6)) (i32.const 16))
              (else (call $ok (i32.const 0) (i32.const 0))))".to_owned(),
        Recorder::ReportPoison => format!("(local.set $p (call $find (local.get $ev) (local.get $len) (i32.const 350) (i32.const 6)))
            (if (result i32) (i32.lt_s (local.get $p) (i32.const 0))
              (then (call $ok (i32.const 0) (i32.const 0)))
              (else
                (local.set $p (call $find (local.get $p) (i32.sub (i32.add (local.get $ev) (local.get $len)) (local.get $p)) (i32.const 300) (i32.const {seq})))
                (local.set $sp (i32.add (local.get $p) (i32.const {seq})))
                (local.set $sl (i32.sub (call $find (local.get $sp) (i32.const 64) (i32.const 340) (i32.const 1)) (local.get $sp)))
                (local.set $start (global.get $heap))
                (local.set $out (call $copy (local.get $start) (i32.const 1000) (i32.const {rp})))
                (local.set $out (call $copy (local.get $out) (local.get $sp) (local.get $sl)))
                (local.set $out (call $copy (local.get $out) (i32.const 1100) (i32.const {rs})))
                (call $ok (local.get $start) (i32.sub (local.get $out) (local.get $start)))))",
            seq = seq_pat.len(), rp = resp_pre.len(), rs = resp_suf.len()),
    };
    let wat = format!(
        r#"(module
  (import "tributary:function/dynamodb@0.1.0" "call" (func $call (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 64)
  (global $heap (mut i32) (i32.const 4096))
  {data}
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get 3)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  ;; The address of the first occurrence of pattern (p, pl) in (h, hl), or -1.
  (func $find (param $h i32) (param $hl i32) (param $p i32) (param $pl i32) (result i32)
    (local $i i32) (local $j i32)
    (block $done
      (loop $outer
        (br_if $done (i32.gt_s (i32.add (local.get $i) (local.get $pl)) (local.get $hl)))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $inner
            (if (i32.ge_u (local.get $j) (local.get $pl))
              (then (return (i32.add (local.get $h) (local.get $i)))))
            (br_if $mismatch (i32.ne
              (i32.load8_u (i32.add (local.get $h) (i32.add (local.get $i) (local.get $j))))
              (i32.load8_u (i32.add (local.get $p) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const -1))
  (func $copy (param $dst i32) (param $src i32) (param $n i32) (result i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $n))
    (i32.add (local.get $dst) (local.get $n)))
  ;; Copies (src, n) escaping '"' and '\' for a JSON string; returns the end.
  (func $escape (param $dst i32) (param $src i32) (param $n i32) (result i32)
    (local $end i32) (local $c i32)
    (local.set $end (i32.add (local.get $src) (local.get $n)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $src)))
        (if (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92)))
          (then
            (i32.store8 (local.get $dst) (i32.const 92))
            (local.set $dst (i32.add (local.get $dst) (i32.const 1)))))
        (i32.store8 (local.get $dst) (local.get $c))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (br $l)))
    (local.get $dst))
  (func $ok (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (local.get $ptr))
    (i32.store (i32.const 24) (local.get $len))
    (i32.const 16))
  (func (export "handle") (param $ev i32) (param $len i32) (result i32)
    (local $p i32) (local $sp i32) (local $sl i32) (local $start i32) (local $out i32)
    (local.set $p (call $find (local.get $ev) (local.get $len) (i32.const 300) (i32.const {seq})))
    (if (i32.lt_s (local.get $p) (i32.const 0)) (then unreachable))
    (local.set $sp (i32.add (local.get $p) (i32.const {seq})))
    (local.set $sl (i32.sub (call $find (local.get $sp) (i32.const 64) (i32.const 340) (i32.const 1)) (local.get $sp)))
    (local.set $start (global.get $heap))
    (local.set $out (call $copy (local.get $start) (i32.const 400) (i32.const {pre})))
    (local.set $out (call $copy (local.get $out) (local.get $sp) (local.get $sl)))
    (local.set $out (call $copy (local.get $out) (i32.const 600) (i32.const {mid})))
    (local.set $out (call $escape (local.get $out) (local.get $ev) (local.get $len)))
    (local.set $out (call $copy (local.get $out) (i32.const 900) (i32.const {suf})))
    (global.set $heap (i32.and (i32.add (local.get $out) (i32.const 7)) (i32.const -8)))
    (call $call (i32.const 256) (i32.const 10) (local.get $start) (i32.sub (local.get $out) (local.get $start)) (i32.const 64))
    (if (i32.load8_u (i32.const 64)) (then unreachable))
    {tail}))"#,
        seq = seq_pat.len(),
        pre = pre.len(),
        mid = mid.len(),
        suf = suf.len(),
    );
    trigger_component(&wat)
}

/// Every event the recorder received, as (first sequence number, attempts' events), in
/// sequence order.
#[allow(dead_code)]
pub async fn recorded(c: &Client) -> Vec<(u128, Vec<serde_json::Value>)> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name("deliveries")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan deliveries");
        for i in page.items() {
            let Some(AttributeValue::S(pk)) = i.get("pk") else {
                continue;
            };
            let events = match i.get("events") {
                Some(AttributeValue::L(l)) => l
                    .iter()
                    .filter_map(|e| match e {
                        AttributeValue::S(s) => serde_json::from_str(s).ok(),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            out.push((pk.parse().expect("sequence number"), events));
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    out.sort_by_key(|(seq, _)| *seq);
    out
}

/// WAT of a handler that adds 1 to `counter[pk = "n"].c` (UpdateItem through dynamodb.call)
/// per invocation and returns ok("").
#[allow(dead_code)]
pub fn counter_wat() -> String {
    let request = r#"{"TableName":"counter","Key":{"pk":{"S":"n"}},"UpdateExpression":"ADD c :one","ExpressionAttributeValues":{":one":{"N":"1"}}}"#;
    let body = format!(
        "(call $call (i32.const 256) (i32.const 10) (i32.const 512) (i32.const {}) (i32.const 64))
         (if (i32.load8_u (i32.const 64)) (then unreachable))
         (i32.store8 (i32.const 16) (i32.const 0))
         (i32.store (i32.const 20) (i32.const 0))
         (i32.store (i32.const 24) (i32.const 0))
         (i32.const 16)",
        request.len()
    );
    let imports = r#"(import "tributary:function/dynamodb@0.1.0" "call" (func $call (param i32 i32 i32 i32 i32)))"#;
    let data = format!(
        r#"(data (i32.const 256) "UpdateItem") (data (i32.const 512) "{}")"#,
        wat_str(request)
    );
    guest(imports, &data, &body)
}

/// `counter[pk = "n"].c` (what `counter_wat` handlers add to), 0 when absent.
#[allow(dead_code)]
pub async fn counter_value(c: &Client) -> i64 {
    let got = c
        .get_item()
        .table_name("counter")
        .key("pk", s("n"))
        .consistent_read(true)
        .send()
        .await
        .expect("get counter");
    match got.item().and_then(|i| i.get("c")) {
        Some(AttributeValue::N(v)) => v.parse().expect("number"),
        _ => 0,
    }
}

/// A `nats-server -js` on a free port with its own store, killed on drop.
#[allow(dead_code)]
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

#[allow(dead_code)]
impl NatsServer {
    /// `NATS_SERVER` if set, else `nats-server` on PATH or in /usr/sbin (Debian's package).
    fn binary() -> PathBuf {
        const HOW: &str = "nats-server is needed for the replication tests and was not found: \
             run `bash .ci/run` (it installs it when missing) or `apt-get install nats-server`, \
             or set NATS_SERVER=/path/to/nats-server";
        if let Some(p) = std::env::var_os("NATS_SERVER").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{HOW}"))
    }

    pub fn start() -> NatsServer {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> NatsServer {
        let mut s = NatsServer {
            child: None,
            port,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("nats.log")).expect("log");
        let child = Command::new(Self::binary())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path().join("store"))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Server {
    /// A server whose data directory is `data_dir` (for example on a small filesystem a test
    /// fills); its log goes to a temporary directory.
    pub fn start_at(data_dir: &Path, extra_args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = Server {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            data_dir: data_dir.to_path_buf(),
            log: tmp.path().join("server.log"),
            _tmp: Some(tmp),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            region: "us-east-1".to_owned(),
        };
        s.spawn();
        s
    }

    /// The process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A Lambda REST API request without the SDK (`path` from `/2015-03-31/...` on).
#[allow(dead_code)]
pub fn lambda_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let (status, headers, body) = http_request(addr, method, path, &all, body)
        .unwrap_or_else(|e| panic!("Lambda {method} {path} to {addr} failed: {e}"));
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    RawResponse {
        status,
        headers,
        body,
        json,
    }
}
