//! Fuzzing on the stable toolchain: structured generators (`gen.rs`, proptest strategies) drive
//! the expression parsers, the attribute-value decoder and whole requests through
//! `Engine::call` for a time budget, on a thread whose stack is half a server thread's, so
//! unbounded recursion shows up here before it can abort a server.
//!
//! Each target runs for `TRIBUTARY_FUZZ_SECONDS` seconds (default 3, so `cargo test` stays
//! quick); `.ci/run` gives each one 40 s. A failure is shrunk by proptest and reported with
//! the smallest input found; commit such inputs as regression tests (`regressions.rs`).
//! The cargo-fuzz targets in `fuzz/` (nightly) cover the same ground for longer runs.

mod gen;

use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value as Json};
use tributary_engine::expr::{
    Condition, ExprInput, ExprKind, KeyCondition, Names, Projection, Update, Values,
};
use tributary_engine::{AttributeValue, Durability, Engine, EngineConfig, EngineError, Item};

/// Server threads (tokio workers, mapping workers) have 2 MiB stacks; fuzz with half of that.
const FUZZ_STACK: usize = 1024 * 1024;

fn budget() -> Duration {
    let secs = std::env::var("TRIBUTARY_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(secs.max(0.1))
}

/// Runs `check` on generated values until the budget is spent, in rounds of fresh randomly
/// seeded runners. Panics inside `check` are failures too (proptest catches them).
fn fuzz<M, S, F>(name: &'static str, strategy: M, check: F)
where
    M: FnOnce() -> S + Send + 'static,
    S: Strategy,
    S::Value: Debug,
    F: Fn(S::Value) -> Result<(), TestCaseError> + Send + 'static,
{
    quiet_fuzz_panics();
    let worker = std::thread::Builder::new()
        .name(format!("fuzz-{name}"))
        .stack_size(FUZZ_STACK)
        .spawn(move || {
            let strategy = strategy();
            let budget = budget();
            let deadline = Instant::now() + budget;
            let mut cases = 0u64;
            while Instant::now() < deadline {
                let mut runner = TestRunner::new(Config {
                    cases: 256,
                    failure_persistence: None,
                    max_shrink_time: 30_000,
                    ..Config::default()
                });
                if let Err(e) = runner.run(&strategy, &check) {
                    return Err(format!("fuzz target {name} failed: {e}"));
                }
                cases += 256;
            }
            eprintln!("fuzz target {name}: {cases} cases in {budget:?}, no failure");
            Ok(())
        })
        .expect("spawn the fuzz thread");
    match worker.join() {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => panic!("{msg}"),
        Err(_) => panic!("fuzz target {name} panicked outside a test case"),
    }
}

/// Panics inside fuzz threads are test-case failures that proptest catches, reports and
/// shrinks (hundreds of times): keep the default hook's report for other threads only.
fn quiet_fuzz_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_fuzz = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("fuzz-"));
            if !in_fuzz {
                default(info);
            }
        }));
    });
}

/// Placeholders every generated expression can use.
fn placeholders() -> (Names, Values) {
    let mut names = Names::new();
    for (k, v) in [("#n0", "a"), ("#n1", "b"), ("#n2", "pk")] {
        names.insert(k.into(), v.into());
    }
    let mut values = Values::new();
    let v = |j: Json| AttributeValue::from_json(&j).expect("fixture value");
    values.insert(":v0".into(), v(json!({"S": "x"})));
    values.insert(":v1".into(), v(json!({"N": "1"})));
    values.insert(":v2".into(), v(json!({"L": [{"S": "y"}, {"N": "2"}]})));
    values.insert(":v3".into(), v(json!({"SS": ["a", "b"]})));
    values.insert(":v4".into(), v(json!({"M": {"a": {"BOOL": true}}})));
    (names, values)
}

fn sample_item() -> Item {
    tributary_engine::value::item_from_json(&json!({
        "a": {"L": [{"S": "y"}, {"M": {"b": {"N": "3"}}}]},
        "b": {"N": "5"},
        "pk": {"S": "p"},
        "s": {"SS": ["a"]},
        "m": {"M": {"a": {"M": {"b": {"L": []}}}}}
    }))
    .expect("fixture item")
}

/// Expression text of every kind: parsing answers a value or a ValidationException, and
/// whatever parses evaluates, updates or projects without panicking.
#[test]
fn expressions() {
    fuzz("expressions", gen::any_expression, |text| {
        let (names, values) = placeholders();
        let input = ExprInput::new(Some(&names), Some(&values));
        let item = sample_item();
        for kind in [ExprKind::Condition, ExprKind::Filter] {
            match Condition::parse(&text, kind, &input) {
                Ok(c) => {
                    let _ = c.eval(&item);
                    let _ = c.eval(&Item::new());
                }
                Err(e) => prop_assert!(is_validation(&e), "{e:?}"),
            }
        }
        match Update::parse(&text, &input) {
            Ok(u) => {
                let mut it = item.clone();
                let _ = u.apply(&mut it);
                let mut empty = Item::new();
                let _ = u.apply(&mut empty);
                let _ = u.updated_paths().apply(&item);
            }
            Err(e) => prop_assert!(is_validation(&e), "{e:?}"),
        }
        match Projection::parse(&text, &input) {
            Ok(p) => {
                let _ = p.apply(&item);
            }
            Err(e) => prop_assert!(is_validation(&e), "{e:?}"),
        }
        if let Err(e) = KeyCondition::parse(&text, &input, ("pk", "S"), Some(("b", "N"))) {
            prop_assert!(is_validation(&e), "{e:?}");
        }
        Ok(())
    });
}

fn is_validation(e: &EngineError) -> bool {
    matches!(e, EngineError::Validation(_))
}

/// Attribute-value JSON: decoding answers an item or a client error; an item's own JSON
/// decodes to the same item, and its size and depth are computed without panicking.
#[test]
fn attribute_values() {
    let strategy = || {
        prop_oneof![
            4 => gen::attribute_value(),
            1 => gen::deep_attribute_value(),
            1 => gen::item(),
        ]
    };
    fuzz("attribute_values", strategy, |json| {
        match AttributeValue::from_json(&json) {
            Ok(v) => {
                let back = v.to_json();
                let again = AttributeValue::from_json(&back);
                prop_assert!(again.as_ref().is_ok_and(|a| *a == v), "{back} -> {again:?}");
                let _ = (v.size(), v.depth());
            }
            Err(e) => prop_assert!(e.is_client_error(), "{e:?}"),
        }
        if let Ok(item) = tributary_engine::value::item_from_json(&json) {
            let bytes = tributary_engine::value::encode_item(&item);
            let decoded = tributary_engine::value::decode_item(&bytes);
            prop_assert!(decoded.as_ref().is_ok_and(|d| *d == item), "{decoded:?}");
        }
        Ok(())
    });
}

/// Engine fixtures: `tbl` (pk S, sk N) with a global index `gsi` (gpk S, gsk N), a local index
/// `lsi` (lsk N) and a stream; `hash` (pk S).
fn fixture_engine(dir: &std::path::Path) -> Engine {
    let engine = Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        durability: Durability::Buffered,
        log: Default::default(),
        max_cached_files: None,
    })
    .expect("open engine");
    create_fixtures(&engine);
    engine
}

fn create_fixtures(engine: &Engine) {
    let t = json!({
        "TableName": "tbl",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "gpk", "AttributeType": "S"}, {"AttributeName": "gsk", "AttributeType": "N"},
            {"AttributeName": "lsk", "AttributeType": "N"}
        ],
        "GlobalSecondaryIndexes": [{"IndexName": "gsi",
            "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}, {"AttributeName": "gsk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}],
        "LocalSecondaryIndexes": [{"IndexName": "lsi",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "lsk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "BillingMode": "PAY_PER_REQUEST"
    });
    let h = json!({
        "TableName": "hash",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST"
    });
    for (name, body) in [("tbl", t), ("hash", h)] {
        if engine.table(name).is_none() {
            let out = engine.call("CreateTable", body.to_string().as_bytes());
            assert!(
                matches!(out, Some(Ok(_))),
                "create fixture {name}: {:?}",
                out.map(|r| r.err())
            );
        }
    }
}

/// Runs one request as the HTTP layer does: a client error, or a JSON answer once durable.
fn run_request(engine: &Engine, op: &str, body: &[u8]) -> Result<(), TestCaseError> {
    let Some(result) = engine.call(op, body) else {
        return Err(TestCaseError::fail(format!("unknown operation {op}")));
    };
    match result {
        Ok(out) => {
            engine
                .syncer()
                .wait_blocking(out.ticket)
                .map_err(|e| TestCaseError::fail(format!("durability: {e}")))?;
            let bytes = out.body.into_bytes();
            // TagResource and UntagResource answer an empty body, as DynamoDB does.
            prop_assert!(
                bytes.is_empty() || serde_json::from_slice::<Json>(&bytes).is_ok(),
                "{op}: the answer is not JSON: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Err(e) => prop_assert!(
            e.is_client_error(),
            "{op} answered a server error: {e:?}\nrequest: {}",
            String::from_utf8_lossy(body)
        ),
    }
    Ok(())
}

/// Whole DynamoDB requests through `Engine::call`, against tables with indexes and a stream:
/// every answer is a client error or JSON, never a panic or a server error.
#[test]
fn requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = std::sync::Arc::new(fixture_engine(dir.path()));
    let e = engine.clone();
    fuzz("requests", gen::request, move |gen::Req(op, body)| {
        let bytes = body.to_string().into_bytes();
        run_request(&e, op, &bytes)?;
        if op == "DeleteTable" {
            create_fixtures(&e);
        }
        Ok(())
    });
    drop(engine);
}

/// Request bodies that are not the JSON the operation takes: truncated, wrong types at the
/// top level, huge or deeply nested JSON.
#[test]
fn malformed_bodies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = std::sync::Arc::new(fixture_engine(dir.path()));
    let e = engine.clone();
    let strategy = || {
        (
            gen::request(),
            prop_oneof![
                Just(0usize),
                any::<prop::sample::Index>().prop_map(|i| i.index(1000) + 1),
            ],
            0u8..4,
            1usize..5000,
        )
    };
    fuzz(
        "malformed_bodies",
        strategy,
        move |(gen::Req(op, body), cut, shape, depth)| {
            let text = body.to_string();
            let bytes = match shape {
                0 => text.as_bytes()[..text.len().saturating_sub(cut)].to_vec(),
                1 => format!("{}1{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
                2 => format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes(),
                _ => {
                    let mut b = text.into_bytes();
                    if !b.is_empty() {
                        let i = cut % b.len();
                        b[i] = b[i].wrapping_add(1);
                    }
                    b
                }
            };
            run_request(&e, op, &bytes)?;
            if op == "DeleteTable" {
                create_fixtures(&e);
            }
            Ok(())
        },
    );
    drop(engine);
}

/// DynamoDB Streams requests with forged, edited and random iterators and ARNs.
#[test]
fn streams_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = std::sync::Arc::new(fixture_engine(dir.path()));
    let listed = engine
        .call_streams("ListStreams", b"{}")
        .and_then(Result::ok)
        .map(|o| serde_json::from_slice::<Json>(&o.body.into_bytes()).unwrap_or(Json::Null))
        .unwrap_or(Json::Null);
    let arn = listed["Streams"][0]["StreamArn"]
        .as_str()
        .unwrap_or("arn:aws:dynamodb:us-east-1:000000000000:table/tbl/stream/x")
        .to_owned();
    let e = engine.clone();
    let strategy = move || {
        (
            0u8..5,
            prop_oneof![Just(arn.clone()), ".{0,80}", Just(format!("{arn}x"))],
            prop_oneof![
                Just("shardId-00000000000000000000-00000000".to_owned()),
                Just("shardId-00000000000000000000-00000001".to_owned()),
                ".{0,40}"
            ],
            prop_oneof![
                Just("TRIM_HORIZON"),
                Just("LATEST"),
                Just("AT_SEQUENCE_NUMBER"),
                Just("AFTER_SEQUENCE_NUMBER"),
                Just("BOGUS")
            ],
            prop_oneof!["[0-9]{0,45}", ".{0,10}"],
            gen::junk_json(),
            any::<prop::sample::Index>(),
        )
    };
    fuzz(
        "streams_requests",
        strategy,
        move |(what, arn, shard, kind, seq, junk, at)| {
            let body = match what {
                0 => {
                    json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": kind, "SequenceNumber": seq})
                }
                1 => json!({"StreamArn": arn, "Limit": junk, "ExclusiveStartShardId": shard}),
                2 => json!({"TableName": junk, "Limit": 2, "ExclusiveStartStreamArn": arn}),
                _ => {
                    // A real iterator, edited at one byte (or not at all).
                    let real = json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"});
                    let it = e
                        .call_streams("GetShardIterator", real.to_string().as_bytes())
                        .and_then(Result::ok)
                        .map(|o| {
                            serde_json::from_slice::<Json>(&o.body.into_bytes())
                                .unwrap_or(Json::Null)
                        })
                        .unwrap_or(Json::Null);
                    let mut it = it["ShardIterator"].as_str().unwrap_or(&seq).to_owned();
                    if what == 4 && !it.is_empty() {
                        let i = at.index(it.len());
                        if it.is_char_boundary(i) && it.is_char_boundary(i + 1) {
                            it.replace_range(i..i + 1, "A");
                        }
                    }
                    json!({"ShardIterator": it, "Limit": 10})
                }
            };
            let op = match what {
                0 => "GetShardIterator",
                1 => "DescribeStream",
                2 => "ListStreams",
                _ => "GetRecords",
            };
            let bytes = body.to_string().into_bytes();
            match e.call_streams(op, &bytes) {
                None => Err(TestCaseError::fail(format!("unknown operation {op}"))),
                Some(Ok(_)) => Ok(()),
                Some(Err(err)) => {
                    prop_assert!(err.is_client_error(), "{op}: {err:?}\n{body}");
                    Ok(())
                }
            }
        },
    );
    drop(engine);
}
