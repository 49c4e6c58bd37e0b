//! Crash safety of the item + change-log write: SIGKILL the server in the middle of a write
//! load, restart it on the same data directory, and check that every acknowledged write is
//! readable, that the log holds exactly one record per applied change (none for writes that
//! were not applied), that sequence numbers strictly increase per shard, and that GetRecords
//! from TRIM_HORIZON replays each item's history in order. Repeated at several kill points.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::StreamViewType;
use aws_sdk_dynamodbstreams::types::AttributeValue as SAttr;
use common::*;
use tokio::sync::Mutex;

const WRITERS: usize = 8;
const KEYS_PER_WRITER: usize = 4;
const ROUNDS: usize = 6;

/// What a writer knows about one key: the last acknowledged version, and a version that was
/// sent but not acknowledged when the server died (it may or may not have been applied).
#[derive(Clone, Copy, Debug, Default)]
struct KeyState {
    acked: u64,
    in_flight: Option<u64>,
}

fn version_of(v: Option<&SAttr>) -> u64 {
    match v {
        Some(SAttr::N(n)) => n.parse().expect("numeric version"),
        other => panic!("no version in {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_loses_nothing_and_logs_exactly_once() {
    let mut server = Server::start();
    let arn = stream_table(
        &server.client(),
        "crash",
        false,
        StreamViewType::NewAndOldImages,
    )
    .await;
    let state: Arc<Mutex<HashMap<String, KeyState>>> = Arc::new(Mutex::new(HashMap::new()));

    for round in 0..ROUNDS {
        let client = server.client();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (client, state) = (client.clone(), state.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0usize;
                loop {
                    let key = format!("w{w}-k{}", i % KEYS_PER_WRITER);
                    i += 1;
                    let version = {
                        let mut st = state.lock().await;
                        let ks = st.entry(key.clone()).or_default();
                        ks.in_flight = Some(ks.acked + 1);
                        ks.acked + 1
                    };
                    // Alternate the two write paths.
                    let result = if version % 2 == 1 {
                        client
                            .put_item()
                            .table_name("crash")
                            .item("pk", s(&key))
                            .item("v", n(&version.to_string()))
                            .item("writer", n(&w.to_string()))
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("{e:?}"))
                    } else {
                        client
                            .update_item()
                            .table_name("crash")
                            .key("pk", s(&key))
                            .update_expression("SET v = :v")
                            .expression_attribute_values(":v", n(&version.to_string()))
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("{e:?}"))
                    };
                    let mut st = state.lock().await;
                    let ks = st.get_mut(&key).expect("key state");
                    match result {
                        Ok(()) => {
                            ks.acked = version;
                            ks.in_flight = None;
                        }
                        // The server is gone: this write may or may not have been applied.
                        Err(_) => return,
                    }
                }
            }));
        }
        // Kill at a different point every round.
        let delay = 250 + (round as u64 * 379) % 1200;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill();
        for t in tasks {
            t.await.expect("writer task");
        }
        server.start_again();

        // Every acknowledged write is there; an unacknowledged one may be.
        let client = server.client();
        let mut st = state.lock().await;
        let mut acked_total = 0;
        for (key, ks) in st.iter_mut() {
            let item = client
                .get_item()
                .table_name("crash")
                .key("pk", s(key))
                .consistent_read(true)
                .send()
                .await
                .expect("get after restart");
            let stored = match item.item().and_then(|i| i.get("v")) {
                Some(aws_sdk_dynamodb::types::AttributeValue::N(v)) => v.parse::<u64>().expect("v"),
                None => 0,
                other => panic!("unexpected v {other:?}"),
            };
            assert!(
                stored == ks.acked || Some(stored) == ks.in_flight,
                "round {round}, {key}: stored version {stored}, acknowledged {}, in flight {:?}",
                ks.acked,
                ks.in_flight
            );
            ks.acked = stored;
            ks.in_flight = None;
            acked_total += stored;
        }
        assert!(acked_total > 0, "round {round}: no write was acknowledged");
        drop(st);
        check_log(&server, &arn, &state, round).await;
    }
}

/// The stream from TRIM_HORIZON holds, per key, exactly versions 1..=current in order, each once.
async fn check_log(
    server: &Server,
    arn: &str,
    state: &Arc<Mutex<HashMap<String, KeyState>>>,
    round: usize,
) {
    let streams = streams_client_for(&server.endpoint());
    let records = read_stream(&streams, arn).await;
    let mut per_shard: BTreeMap<String, Vec<u128>> = BTreeMap::new();
    let mut per_key: HashMap<String, Vec<(u64, Option<u64>)>> = HashMap::new();
    for (shard, r) in &records {
        per_shard.entry(shard.clone()).or_default().push(seq_of(r));
        let d = r.dynamodb().expect("dynamodb");
        let key = match d.keys().and_then(|k| k.get("pk")) {
            Some(SAttr::S(k)) => k.clone(),
            other => panic!("bad keys {other:?}"),
        };
        let new = version_of(d.new_image().and_then(|i| i.get("v")));
        let old = d.old_image().map(|i| version_of(i.get("v")));
        per_key.entry(key).or_default().push((new, old));
    }
    for (shard, seqs) in &per_shard {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "round {round}: sequence numbers not increasing in {shard}"
        );
    }
    let st = state.lock().await;
    for (key, ks) in st.iter() {
        let history = per_key.get(key).cloned().unwrap_or_default();
        let expected: Vec<(u64, Option<u64>)> = (1..=ks.acked)
            .map(|v| (v, (v > 1).then_some(v - 1)))
            .collect();
        assert_eq!(
            history, expected,
            "round {round}: history of {key} (current version {})",
            ks.acked
        );
    }
    assert_eq!(
        per_key.len(),
        st.values().filter(|k| k.acked > 0).count(),
        "round {round}: records for keys never written"
    );
}
