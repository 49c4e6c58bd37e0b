//! The change log without HTTP: in-process subscriptions, per-shard ordering under concurrent
//! writers, sequence numbers continuing across restarts, and the bench-only switch.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tributary_engine::log::{EventName, LogConfig, SHARDS};
use tributary_engine::{Durability, Engine, EngineConfig, EngineError};

fn open(dir: &std::path::Path, log: LogConfig) -> Engine {
    Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        region: "eu-west-1".into(),
        account_id: "000000000000".into(),
        durability: Durability::Fsync,
        log,
        max_cached_files: None,
    })
    .expect("open engine")
}

fn call(e: &Engine, op: &str, body: Value) -> Result<Value, EngineError> {
    let out = e
        .call(op, body.to_string().as_bytes())
        .expect("known operation")?;
    e.syncer().wait_blocking(out.ticket)?;
    Ok(serde_json::from_slice(&out.body.into_bytes()).expect("response is JSON"))
}

fn create(e: &Engine, name: &str) -> u64 {
    call(
        e,
        "CreateTable",
        json!({
            "TableName": name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST"
        }),
    )
    .expect("create table");
    e.table(name).expect("table").meta.id
}

fn put(e: &Engine, table: &str, pk: &str, v: u64) {
    call(
        e,
        "PutItem",
        json!({"TableName": table, "Item": {"pk": {"S": pk}, "v": {"N": v.to_string()}}}),
    )
    .expect("put");
}

fn all_records(e: &Engine, table_id: u64) -> Vec<tributary_engine::log::LogRecord> {
    let mut out = Vec::new();
    for shard in 0..SHARDS {
        out.extend(
            e.log()
                .read(table_id, shard, 0, u64::MAX, usize::MAX)
                .expect("read"),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_wake_on_commit_and_read_in_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Arc::new(open(dir.path(), LogConfig::default()));
    let id = create(&engine, "subs");
    let mut sub = engine.log().subscribe();
    let start = sub.last();

    // A subscriber that follows every shard until it has seen 200 records.
    let e = engine.clone();
    let reader = tokio::spawn(async move {
        let mut next = [start + 1; SHARDS as usize];
        let mut seen = Vec::new();
        let mut last = start;
        while seen.len() < 200 {
            last = tokio::time::timeout(Duration::from_secs(10), sub.after(last))
                .await
                .expect("woken within 10 s");
            for shard in 0..SHARDS {
                let recs = e
                    .log()
                    .read(id, shard, next[shard as usize], last + 1, usize::MAX)
                    .expect("read");
                if let Some(r) = recs.last() {
                    next[shard as usize] = r.seq + 1;
                }
                seen.extend(recs);
            }
        }
        seen
    });
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let e = engine.clone();
            std::thread::spawn(move || {
                for i in 1..=50 {
                    put(&e, "subs", &format!("w{w}-{}", i % 5), i);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let seen = reader.await.expect("reader");
    assert_eq!(seen.len(), 200);
    // Per item: versions in order, first an INSERT, then MODIFYs with the previous image.
    let mut by_key: std::collections::HashMap<String, Vec<_>> = Default::default();
    for r in &seen {
        assert_eq!(r.origin, "eu-west-1");
        assert_eq!(r.table, "subs");
        let pk = r.keys["pk"].to_json()["S"].as_str().expect("pk").to_owned();
        by_key.entry(pk).or_default().push(r.clone());
    }
    for (pk, recs) in &by_key {
        let mut sorted = recs.clone();
        sorted.sort_by_key(|r| r.seq);
        assert_eq!(sorted[0].event, EventName::Insert, "{pk}");
        assert!(sorted[1..].iter().all(|r| r.event == EventName::Modify));
        assert!(
            sorted.windows(2).all(|w| w[0].hlc < w[1].hlc),
            "HLC increases with sequence"
        );
        for w in sorted.windows(2) {
            assert_eq!(w[1].old.as_ref(), w[0].new.as_ref(), "{pk}: old image");
        }
    }
    // Sequence numbers are unique across the whole table.
    let mut seqs: Vec<u64> = seen.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 200);
}

#[test]
fn sequence_numbers_continue_after_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let before = {
        let e = open(dir.path(), LogConfig::default());
        let id = create(&e, "restart");
        for i in 1..=10 {
            put(&e, "restart", &format!("k{i}"), i);
        }
        let recs = all_records(&e, id);
        assert_eq!(recs.len(), 10);
        e.shutdown().expect("shutdown");
        recs.iter().map(|r| r.seq).max().expect("max")
    };
    let e = open(dir.path(), LogConfig::default());
    let id = e.table("restart").expect("table").meta.id;
    assert_eq!(e.log().last_seq(), before);
    put(&e, "restart", "k1", 100);
    let recs = all_records(&e, id);
    assert_eq!(recs.len(), 11);
    assert_eq!(recs.iter().map(|r| r.seq).max(), Some(before + 1));
}

#[test]
fn unchanged_writes_record_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = open(dir.path(), LogConfig::default());
    let id = create(&e, "same");
    put(&e, "same", "k", 1);
    put(&e, "same", "k", 1);
    call(
        &e,
        "DeleteItem",
        json!({"TableName": "same", "Key": {"pk": {"S": "missing"}}}),
    )
    .expect("delete missing");
    call(
        &e,
        "UpdateItem",
        json!({"TableName": "same", "Key": {"pk": {"S": "k"}},
               "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": "1.0"}}}),
    )
    .expect("update to an equal number");
    assert_eq!(all_records(&e, id).len(), 1);
}

#[test]
fn bench_switch_writes_no_records() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = open(
        dir.path(),
        LogConfig {
            enabled: false,
            ..LogConfig::default()
        },
    );
    let id = create(&e, "nolog");
    put(&e, "nolog", "k", 1);
    assert!(all_records(&e, id).is_empty());
    let got = call(
        &e,
        "GetItem",
        json!({"TableName": "nolog", "Key": {"pk": {"S": "k"}}}),
    )
    .expect("get");
    assert_eq!(got["Item"]["v"]["N"], "1");
}
