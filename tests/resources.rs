//! Passing resource failures heal without a restart: a full disk (the data directory on a
//! small tmpfs that the test fills, then frees) and file-descriptor exhaustion (the server's
//! open-file limit lowered with `prlimit`, then raised back). While writes cannot succeed they
//! answer 500 InternalServerError (never a hang or a crash), `GET /` answers 503 with the
//! reason, and reads still answer; once the resource is back, writes succeed again within
//! seconds and `GET /` is 200. Every write acknowledged before, during or after is there,
//! item counts match the items, each item has exactly its change-log record, and all of it
//! survives a SIGKILL and restart.
//!
//! Both tests run as root (mounting a tmpfs, changing another process's limits); they fail
//! with what they need when they cannot.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType, StreamViewType};
use aws_sdk_dynamodbstreams::types::OperationType;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{EventSourcePosition, FunctionCode};
use common::*;
use serde_json::json;

/// How long the server may take to notice the failure, and to heal once the resource is back.
const DETECT: Duration = Duration::from_secs(5);
const HEAL: Duration = Duration::from_secs(15);

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size_mb: u32) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Tmpfs { dir },
            other => panic!(
                "this test makes the disk full by putting the data directory on a small tmpfs: \
                 it needs `mount -t tmpfs` to work (root, or CAP_SYS_ADMIN in the container); \
                 mounting on {} failed: {other:?}",
                dir.path().display()
            ),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem with one file until it is full; returns the file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("create the filler file");
    for chunk in [1024 * 1024, 4096, 1] {
        let buf = vec![0x55u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

fn put_body(table: &str, key: &str, payload: usize) -> String {
    json!({"TableName": table, "Item": {"pk": {"S": key}, "d": {"S": "x".repeat(payload)}}})
        .to_string()
}

fn get_body(table: &str, key: &str) -> String {
    json!({"TableName": table, "Key": {"pk": {"S": key}}, "ProjectionExpression": "pk"}).to_string()
}

/// Polls `GET /` (new connections) until it answers `status`; returns the body.
fn wait_health(addr: SocketAddr, status: u16, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        match http_get(addr, "/") {
            Ok((s, body)) if s == status => return body,
            other => last = Some(other),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("GET / did not answer {status} within {within:?}; last: {last:?}");
}

/// Asserts a response is DynamoDB's 500 InternalServerError.
fn assert_internal_error(status: u16, body: &serde_json::Value) {
    assert_eq!(status, 500, "expected a 500, got {status} {body}");
    assert_eq!(
        body["__type"],
        json!("com.amazonaws.dynamodb.v20120810#InternalServerError"),
        "{body}"
    );
}

/// Every item key of a table (Scan, all pages).
async fn keys(client: &aws_sdk_dynamodb::Client, table: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .projection_expression("pk")
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            if let Some(AttributeValue::S(k)) = item.get("pk") {
                out.insert(k.clone());
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return out;
        }
    }
}

/// Every acknowledged key is stored; the item count is the number of items; every item has
/// exactly one change-log record (an INSERT: keys are written once) and no record names an
/// item that is not stored (a write answered 500 is stored with its record, or not at all).
async fn check(server: &Server, table: &str, stream: &str, acked: &BTreeSet<String>) {
    let client = server.client();
    let stored = keys(&client, table).await;
    let missing: Vec<&String> = acked.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe")
        .table()
        .and_then(|t| t.item_count())
        .expect("ItemCount");
    assert_eq!(
        described as usize,
        stored.len(),
        "ItemCount does not match the items"
    );
    let mut records: HashMap<String, usize> = HashMap::new();
    for (_, r) in read_stream(&streams_client_for(&server.endpoint()), stream).await {
        assert_eq!(r.event_name(), Some(&OperationType::Insert));
        let key = match r
            .dynamodb()
            .and_then(|d| d.keys())
            .and_then(|k| k.get("pk"))
        {
            Some(aws_sdk_dynamodbstreams::types::AttributeValue::S(k)) => k.clone(),
            other => panic!("record without a key: {other:?}"),
        };
        *records.entry(key).or_default() += 1;
    }
    for k in &stored {
        assert_eq!(records.get(k), Some(&1), "item {k} must have one record");
    }
    for k in records.keys() {
        assert!(stored.contains(k), "a record for {k}, which is not stored");
    }
}

async fn put_acked(
    server: &Server,
    table: &str,
    prefix: &str,
    n: usize,
    acked: &mut BTreeSet<String>,
) {
    let client = server.client();
    for i in 0..n {
        let key = format!("{prefix}-{i}");
        client
            .put_item()
            .table_name(table)
            .item("pk", s(&key))
            .item("d", s("small"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
        acked.insert(key);
    }
}

/// Writers that keep putting small items from threads until stopped: they see only 200s and
/// 500 InternalServerErrors, and return the keys acknowledged.
struct Writers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<String>>>,
}

impl Writers {
    fn start(addr: SocketAddr, table: &'static str, n: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|t| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut acked = Vec::new();
                    for i in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let key = format!("bg-{t}-{i}");
                        let r = raw_call(
                            addr,
                            "DynamoDB_20120810.PutItem",
                            &put_body(table, &key, 100),
                        );
                        if r.status == 200 {
                            acked.push(key);
                        } else {
                            assert_internal_error(r.status, &r.json);
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                    acked
                })
            })
            .collect();
        Writers { stop, threads }
    }

    fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().expect("writer thread"))
            .collect()
    }
}

async fn counter_reaches(c: &aws_sdk_dynamodb::Client, want: i64) {
    let deadline = Instant::now() + HEAL;
    while counter_value(c).await < want {
        assert!(
            Instant::now() < deadline,
            "the trigger did not run (counter below {want})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_then_heals_without_a_restart() {
    let fs = Tmpfs::mount(64);
    let mut server = Server::start_at(&fs.path().join("data"), &[]);
    let table = "full";
    let client = server.client();
    let stream = stream_table(&client, table, false, StreamViewType::KeysOnly).await;
    // A trigger (function, mapping, checkpoints: keyspaces beside the tables) counting the
    // changes of `events`.
    let events = stream_table(&client, "events", false, StreamViewType::KeysOnly).await;
    create_table(&client, "counter", ("pk", ScalarAttributeType::S), None).await;
    let lambda = lambda_client_for(&server.endpoint());
    lambda
        .create_function()
        .function_name("count")
        .role("arn:aws:iam::000000000000:role/any")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(trigger_component(&counter_wat())))
                .build(),
        )
        .send()
        .await
        .expect("create function");
    lambda
        .create_event_source_mapping()
        .function_name("count")
        .event_source_arn(&events)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(1)
        .send()
        .await
        .expect("create mapping");
    client
        .put_item()
        .table_name("events")
        .item("pk", s("e1"))
        .send()
        .await
        .expect("put event");
    counter_reaches(&client, 1).await;
    let mut acked = BTreeSet::new();
    put_acked(&server, table, "before", 20, &mut acked).await;

    let writers = Writers::start(server.addr, table, 3);
    let filler = fill(fs.path());
    // Writes now fail with DynamoDB's 500, quickly: no hang, no crash.
    let mut failed = None;
    for i in 0..200 {
        let key = format!("during-{i}");
        let started = Instant::now();
        let r = raw_call(
            server.addr,
            "DynamoDB_20120810.PutItem",
            &put_body(table, &key, 64 * 1024),
        );
        assert!(started.elapsed() < Duration::from_secs(5), "a write hung");
        if r.status == 200 {
            acked.insert(key);
        } else {
            assert_internal_error(r.status, &r.json);
            failed = Some(i);
            break;
        }
    }
    assert!(failed.is_some(), "writes kept succeeding on a full disk");
    let health = wait_health(server.addr, 503, DETECT);
    assert!(
        health.starts_with("degraded: ") && health.contains("No space left on device"),
        "{health}"
    );
    assert!(health.contains("writes failing since"), "{health}");
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.PutItem",
        &put_body(table, "refused", 10),
    );
    assert_internal_error(r.status, &r.json);
    assert!(
        r.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("No space left on device")),
        "{}",
        r.json
    );
    // It stays so while the disk is full (the monitor looks several times), and reads still
    // answer.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(http_get(server.addr, "/").expect("health").0, 503);
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.GetItem",
        &get_body(table, "before-3"),
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["Item"]["pk"]["S"], json!("before-3"));
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.DescribeTable",
        &json!({"TableName": table}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.json);

    // Space comes back: writes succeed again, without a restart.
    std::fs::remove_file(&filler).expect("free the space");
    let health = wait_health(server.addr, 200, HEAL);
    assert_eq!(health, format!("healthy: {}", server.addr));
    put_acked(&server, table, "after", 20, &mut acked).await;
    acked.extend(writers.stop());
    check(&server, table, &stream, &acked).await;
    // The trigger runtime works on the reopened database.
    let functions = lambda
        .list_functions()
        .send()
        .await
        .expect("list functions");
    assert_eq!(functions.functions().len(), 1);
    client
        .put_item()
        .table_name("events")
        .item("pk", s("e2"))
        .send()
        .await
        .expect("put event");
    counter_reaches(&client, 2).await;

    server.kill();
    server.start_again();
    check(&server, table, &stream, &acked).await;
    drop(server);
    drop(fs);
}

/// A keep-alive HTTP/1.1 connection: opened before the server runs out of file descriptors,
/// it keeps working when the server cannot accept new connections.
struct Conn {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Conn {
            addr,
            reader: BufReader::new(s),
        }
    }

    fn request(&mut self, method: &str, target: Option<&str>, body: &str) -> (u16, String) {
        let mut req = format!(
            "{method} / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = target {
            req.push_str(&format!("X-Amz-Target: {t}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        let s = self.reader.get_mut();
        s.write_all(req.as_bytes()).expect("send");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().expect("content-length");
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn call(&mut self, op: &str, body: &str) -> (u16, serde_json::Value) {
        let (status, text) = self.request("POST", Some(&format!("DynamoDB_20120810.{op}")), body);
        (status, serde_json::from_str(&text).unwrap_or_default())
    }
}

fn prlimit(pid: u32, nofile: &str) {
    let out = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={nofile}")])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        other => panic!(
            "this test exhausts the server's file descriptors with `prlimit --pid` (util-linux, \
             run as root): `prlimit --pid {pid} --nofile={nofile}` failed: {other:?}"
        ),
    }
}

/// The server's open-file limits (soft, hard).
fn nofile_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_heals_without_a_restart() {
    let mut server = Server::start();
    let table = "nofile";
    let stream = stream_table(&server.client(), table, false, StreamViewType::KeysOnly).await;
    let mut acked = BTreeSet::new();
    put_acked(&server, table, "before", 20, &mut acked).await;

    let pid = server.pid().expect("pid");
    let (soft, hard) = nofile_limits(pid);
    let mut conn = Conn::open(server.addr);
    assert_eq!(conn.request("GET", None, "").0, 200);
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .count();
    prlimit(pid, &format!("{open}:{hard}"));
    // Fill memtables until fjall must open new files (a flush) and cannot.
    let mut failed = None;
    for i in 0..300 {
        let key = format!("during-{i}");
        let (status, body) = conn.call("PutItem", &put_body(table, &key, 256 * 1024));
        if status == 200 {
            acked.insert(key);
        } else {
            assert_internal_error(status, &body);
            failed = Some(i);
            break;
        }
    }
    assert!(
        failed.is_some(),
        "writes kept succeeding without file descriptors"
    );
    let deadline = Instant::now() + DETECT;
    let health = loop {
        let (status, body) = conn.request("GET", None, "");
        if status == 503 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "GET / still says {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        health.starts_with("degraded: ") && health.contains("Too many open files"),
        "{health}"
    );
    let (status, body) = conn.call("PutItem", &put_body(table, "refused", 10));
    assert_internal_error(status, &body);
    // It stays so while the descriptors are missing (the monitor looks several times), and
    // reads still answer.
    std::thread::sleep(Duration::from_secs(1));
    let (status, body) = conn.request("GET", None, "");
    assert_eq!(status, 503, "{body}");
    let (status, body) = conn.call("GetItem", &get_body(table, "before-7"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Item"]["pk"]["S"], json!("before-7"));

    // Descriptors come back: writes succeed again, without a restart.
    prlimit(pid, &format!("{soft}:{hard}"));
    let health = wait_health(server.addr, 200, HEAL);
    assert_eq!(health, format!("healthy: {}", server.addr));
    let (status, body) = conn.call("PutItem", &put_body(table, "after-conn", 10));
    assert_eq!(status, 200, "{body}");
    acked.insert("after-conn".into());
    put_acked(&server, table, "after", 20, &mut acked).await;
    check(&server, table, &stream, &acked).await;

    server.kill();
    server.start_again();
    check(&server, table, &stream, &acked).await;
}
