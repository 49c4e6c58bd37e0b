//! What an invocation may take, through the runtime's public API: MemorySize caps every
//! memory and table of an instance, output is capped per invocation, the server-wide memory
//! budget bounds concurrent invocations, zip bombs stop at 250 MB unzipped, and asynchronous
//! invocations are queued, retried twice and discarded past their age — each followed by an
//! invocation that still works.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tributary_engine::{Durability, Engine, EngineConfig};
use tributary_runtime::functions::{
    component_bytes, FunctionConfig, FunctionError, Functions, QueueSettings, Settings,
    UNZIPPED_MAX,
};
use tributary_runtime::output::OUTPUT_LIMIT;
use tributary_runtime::{Limits, Runtime, RuntimeError};

#[path = "support/component.rs"]
mod support;

use support::guest;

const LOG: &str =
    r#"(import "tributary:function/logging@0.1.0" "log" (func $log (param i32 i32 i32)))"#;
const CALL: &str = r#"(import "tributary:function/dynamodb@0.1.0" "call" (func $call (param i32 i32 i32 i32 i32)))"#;
const OK: &str = "(i32.store8 (i32.const 16) (i32.const 0)) (i32.store (i32.const 20) (i32.const 0)) (i32.store (i32.const 24) (i32.const 0)) (i32.const 16)";

fn engine(dir: &std::path::Path) -> Arc<Engine> {
    Arc::new(
        Engine::open(EngineConfig {
            data_dir: dir.to_path_buf(),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            durability: Durability::Fsync,
            log: Default::default(),
            max_cached_files: None,
        })
        .expect("engine"),
    )
}

fn call(db: &Engine, op: &str, body: Value) -> Value {
    let out = db
        .call(op, body.to_string().as_bytes())
        .expect("known op")
        .expect("call");
    db.syncer().wait_blocking(out.ticket).expect("durable");
    serde_json::from_slice(&out.body.into_bytes()).expect("json")
}

/// A core module with its own memory and table declarations (not the `guest` template).
fn module(decls: &str, body: &str) -> Vec<u8> {
    support::trigger_component(&format!(
        r#"(module
  (memory (export "memory") 1)
  {decls}
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i32) {body}))"#
    ))
}

#[test]
fn memory_size_caps_memories_and_tables() {
    let dir = tempfile::tempdir().expect("tmp");
    let rt = Runtime::new(engine(dir.path())).expect("runtime");
    let small = Limits {
        memory_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    // A table of a million elements is 16 MB by the runtime's count: over 8 MB at start.
    let big_table = rt
        .compile(&module("(table 1000000 funcref)", OK))
        .expect("compile");
    assert!(matches!(
        rt.invoke(&big_table, "{}", &small),
        Err(RuntimeError::OutOfMemory(_))
    ));
    // Growing a table past the cap at run time.
    let growing = rt
        .compile(&module(
            "(table $t 1 funcref)",
            &format!(
                "(loop $l (drop (table.grow $t (ref.null func) (i32.const 100000))) (br $l)) {OK}"
            ),
        ))
        .expect("compile");
    assert!(matches!(
        rt.invoke(&growing, "{}", &small),
        Err(RuntimeError::OutOfMemory(_))
    ));
    // Memory and a table together: each fits, the sum does not.
    let both = rt
        .compile(&module(
            "(table 300000 funcref)",
            &format!("(drop (memory.grow (i32.const 64))) {OK}"),
        ))
        .expect("compile");
    assert!(matches!(
        rt.invoke(&both, "{}", &small),
        Err(RuntimeError::OutOfMemory(_))
    ));
    let roomy = Limits {
        memory_bytes: 16 * 1024 * 1024,
        ..Limits::default()
    };
    assert!(
        rt.invoke(&both, "{}", &roomy).is_ok(),
        "under the cap it runs"
    );
    // A guest growing past its own declared maximum gets -1, not a trap, and nothing is
    // counted for it.
    let bounded = rt
        .compile(&support::trigger_component(&format!(
            r#"(module
  (memory (export "memory") 1 2)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i32)
    (if (i32.ne (memory.grow (i32.const 5)) (i32.const -1)) (then unreachable))
    {OK}))"#
        )))
        .expect("compile");
    assert!(rt.invoke(&bounded, "{}", &small).is_ok());
}

#[test]
fn output_is_capped_per_invocation() {
    let dir = tempfile::tempdir().expect("tmp");
    let rt = Runtime::new(engine(dir.path())).expect("runtime");
    // 16,000 log lines of 64 KiB each (a gigabyte if it were all kept).
    let chatty = rt
        .compile(&support::trigger_component(&format!(
            r#"(module
  {LOG}
  (memory (export "memory") 2)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 65536))
  (func (export "handle") (param i32 i32) (result i32)
    (local $i i32)
    (memory.fill (i32.const 0) (i32.const 120) (i32.const 65536))
    (loop $l
      (call $log (i32.const 2) (i32.const 0) (i32.const 65536))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 16000))))
    {OK}))"#
        )))
        .expect("compile");
    let limits = Limits {
        timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let inv = rt.invoke(&chatty, "{}", &limits).expect("invoke");
    assert_eq!(
        inv.result,
        Ok(String::new()),
        "a chatty guest still succeeds"
    );
    let kept: usize = inv.logs.iter().map(|l| l.message.len()).sum();
    assert!(kept <= OUTPUT_LIMIT, "{kept} bytes kept");
    let last = inv.logs.last().expect("lines");
    assert!(
        last.message.starts_with("[output truncated: "),
        "{}",
        last.message
    );
    // The next invocation starts with a fresh allowance.
    let quiet = rt
        .compile(&support::trigger_component(&guest(
            LOG,
            r#"(data (i32.const 256) "hello")"#,
            &format!("(call $log (i32.const 2) (i32.const 256) (i32.const 5)) {OK}"),
        )))
        .expect("compile");
    let inv = rt.invoke(&quiet, "{}", &limits).expect("invoke");
    assert_eq!(inv.logs.len(), 1);
    assert_eq!(inv.logs[0].message, "hello");
}

#[test]
fn zip_bombs_stop_at_the_unzipped_limit() {
    use std::io::Write as _;
    // 300 MB of zeros deflate to well under a megabyte.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "bomb.wasm",
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated),
    )
    .expect("start");
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..300 {
        zip.write_all(&chunk).expect("write");
    }
    let bytes = zip.finish().expect("finish").into_inner();
    assert!(bytes.len() < 2 << 20, "{} bytes zipped", bytes.len());
    match component_bytes(&bytes) {
        Err(FunctionError::InvalidParameter(m)) => assert_eq!(
            m,
            format!("Unzipped size must be smaller than {UNZIPPED_MAX} bytes")
        ),
        other => panic!("{:?}", other.map(|b| b.len())),
    }
}

fn counter(db: &Engine) -> i64 {
    call(
        db,
        "GetItem",
        json!({"TableName": "counter", "Key": {"pk": {"S": "n"}}, "ConsistentRead": true}),
    )["Item"]["c"]["N"]
        .as_str()
        .map_or(0, |n| n.parse().expect("number"))
}

/// Adds 1 to `counter[n].c`, then succeeds, or (`fail`) traps.
fn counting(fail: bool) -> Vec<u8> {
    let request = r#"{"TableName":"counter","Key":{"pk":{"S":"n"}},"UpdateExpression":"ADD c :one","ExpressionAttributeValues":{":one":{"N":"1"}}}"#;
    let tail = if fail { "unreachable" } else { OK };
    support::trigger_component(&guest(
        CALL,
        &format!(
            r#"(data (i32.const 256) "UpdateItem") (data (i32.const 512) "{}")"#,
            request.replace('"', "\\\"")
        ),
        &format!(
            "(call $call (i32.const 256) (i32.const 10) (i32.const 512) (i32.const {}) (i32.const 64)) {tail}",
            request.len()
        ),
    ))
}

fn setup(settings: Settings) -> (tempfile::TempDir, Arc<Engine>, Arc<Functions>) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = engine(dir.path());
    call(
        &db,
        "CreateTable",
        json!({"TableName": "counter", "BillingMode": "PAY_PER_REQUEST",
               "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}),
    );
    let rt = Arc::new(Runtime::new(db.clone()).expect("runtime"));
    let functions = Functions::open(rt, settings).expect("functions");
    (dir, db, functions)
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_memory_budget_bounds_concurrent_invocations() {
    let (_dir, _db, functions) = setup(Settings {
        max_concurrency: 10,
        memory_budget_mb: 256,
        queue: QueueSettings::default(),
    });
    let spin = support::trigger_component(&guest("", "", "(loop $l (br $l)) (i32.const 16)"));
    let mut c = FunctionConfig::new("spin".into());
    c.memory_mb = 256;
    c.timeout_secs = 1;
    functions.create(c, &spin).expect("create");
    // Larger than the whole budget: refused at once.
    let mut big = FunctionConfig::new("big".into());
    big.memory_mb = 512;
    assert!(matches!(
        functions.create(big, &spin),
        Err(FunctionError::InvalidParameter(m)) if m.contains("functions.memory_budget_mb")
    ));
    let running = {
        let f = functions.clone();
        std::thread::spawn(move || f.invoke("spin", "{}", false))
    };
    eventually("the first invocation to start", || {
        functions.capacity().in_use() == (1, 256)
    });
    match functions.invoke("spin", "{}", false) {
        Err(FunctionError::Throttled { message, .. }) => {
            assert!(message.contains("memory budget (256 MB"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let first = running.join().expect("join");
    assert!(matches!(
        first,
        Err(FunctionError::Runtime(RuntimeError::Timeout(_)))
    ));
    assert_eq!(functions.capacity().in_use(), (0, 0), "all given back");
    // A mapping-style caller waits instead of being refused.
    assert!(matches!(
        functions.invoke("spin", "{}", true),
        Err(FunctionError::Runtime(RuntimeError::Timeout(_)))
    ));
}

#[test]
fn async_events_are_retried_twice_then_discarded() {
    let (_dir, db, functions) = setup(Settings {
        queue: QueueSettings {
            retry_delay: Duration::from_millis(100),
            ..QueueSettings::default()
        },
        ..Settings::default()
    });
    functions
        .create(FunctionConfig::new("fails".into()), &counting(true))
        .expect("create");
    let (_id, ticket) = functions.enqueue("fails", "{}").expect("queued");
    db.syncer().wait_blocking(ticket).expect("durable");
    eventually("three attempts", || counter(&db) == 3);
    eventually("the event to leave the queue", || {
        functions.queued_events() == 0
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(counter(&db), 3, "no fourth attempt");
    // A function that succeeds runs once.
    functions
        .create(FunctionConfig::new("works".into()), &counting(false))
        .expect("create");
    functions.enqueue("works", "{}").expect("queued");
    eventually("one more", || counter(&db) == 4);
    eventually("an empty queue", || functions.queued_events() == 0);
}

#[test]
fn old_events_are_discarded_and_a_full_queue_refuses() {
    let (_dir, db, functions) = setup(Settings {
        max_concurrency: 1,
        queue: QueueSettings {
            max_events: 2,
            retry_delay: Duration::from_millis(1500),
            max_age: Duration::from_millis(1000),
            ..QueueSettings::default()
        },
        ..Settings::default()
    });
    functions
        .create(FunctionConfig::new("fails".into()), &counting(true))
        .expect("create");
    functions.enqueue("fails", "{}").expect("queued");
    eventually("the event to be discarded", || {
        functions.queued_events() == 0
    });
    assert_eq!(counter(&db), 1, "the retry came after the maximum age");
    // A full queue refuses rather than dropping.
    let mut spin = FunctionConfig::new("spin".into());
    spin.timeout_secs = 1;
    functions
        .create(
            spin,
            &support::trigger_component(&guest("", "", "(loop $l (br $l)) (i32.const 16)")),
        )
        .expect("create");
    functions.enqueue("spin", "{}").expect("first");
    functions.enqueue("spin", "{}").expect("second");
    match functions.enqueue("spin", "{}") {
        Err(FunctionError::Throttled { message, .. }) => {
            assert!(message.contains("queue is full"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        functions.enqueue("missing", "{}"),
        Err(FunctionError::NotFound(_))
    ));
}
