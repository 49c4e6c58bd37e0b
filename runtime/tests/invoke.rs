//! The trigger runtime with WAT fixtures made into components (`wat` + `wit-component`):
//! echo and logging, writes into a table through `dynamodb.call`, API errors, and isolation
//! (trap, endless loop, unbounded memory), plus precompiled artifacts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tributary_engine::{Durability, Engine, EngineConfig};
use tributary_runtime::{Limits, Runtime, RuntimeError};

#[path = "support/component.rs"]
mod support;

use support::guest;

/// A core module (WAT) made into a `trigger` component.
fn component(wat: &str) -> Vec<u8> {
    support::trigger_component(wat)
}

const LOG: &str =
    r#"(import "tributary:function/logging@0.1.0" "log" (func $log (param i32 i32 i32)))"#;
const CALL: &str = r#"(import "tributary:function/dynamodb@0.1.0" "call" (func $call (param i32 i32 i32 i32 i32)))"#;

/// ok(string at ptr/len) in the result area at 16.
fn ok(ptr: &str, len: &str) -> String {
    format!(
        "(i32.store8 (i32.const 16) (i32.const 0)) (i32.store (i32.const 20) {ptr}) (i32.store (i32.const 24) {len}) (i32.const 16)"
    )
}

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

#[test]
fn echo_logs_and_limits() {
    let dir = tempfile::tempdir().expect("tmp");
    let rt = Runtime::new(engine(dir.path())).expect("runtime");
    let limits = Limits::default();

    // Echo: logs the event at INFO (level 2) and returns it.
    let echo = rt
        .compile(&component(&guest(
            LOG,
            "",
            &format!(
                "(call $log (i32.const 2) (local.get 0) (local.get 1)) {}",
                ok("(local.get 0)", "(local.get 1)")
            ),
        )))
        .expect("compile echo");
    let event = r#"{"Records":[]}"#;
    let inv = rt.invoke(&echo, event, &limits).expect("invoke");
    assert_eq!(inv.result, Ok(event.to_owned()));
    assert_eq!(inv.logs.len(), 1);
    assert_eq!(inv.logs[0].level, "INFO");
    assert_eq!(inv.logs[0].message, event);

    // A handler error (err("nope")).
    let failing = rt
        .compile(&component(&guest(
            "",
            r#"(data (i32.const 256) "nope")"#,
            "(i32.store8 (i32.const 16) (i32.const 1)) (i32.store (i32.const 20) (i32.const 256)) (i32.store (i32.const 24) (i32.const 4)) (i32.const 16)",
        )))
        .expect("compile failing");
    let inv = rt.invoke(&failing, "{}", &limits).expect("invoke");
    assert_eq!(inv.result, Err("nope".to_owned()));

    // A trap fails the invocation, not the runtime.
    let trap = rt
        .compile(&component(&guest("", "", "unreachable")))
        .expect("compile trap");
    assert!(matches!(
        rt.invoke(&trap, "{}", &limits),
        Err(RuntimeError::Trap(_))
    ));

    // An endless loop is stopped at its deadline.
    let spin = rt
        .compile(&component(&guest(
            "",
            "",
            "(loop $l (br $l)) (i32.const 16)",
        )))
        .expect("compile loop");
    let started = Instant::now();
    let short = Limits {
        timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    assert!(matches!(
        rt.invoke(&spin, "{}", &short),
        Err(RuntimeError::Timeout(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(2));

    // Unbounded allocation hits the memory cap.
    let hog = rt
        .compile(&component(&guest(
            "",
            "",
            "(loop $l (drop (memory.grow (i32.const 16))) (br $l)) (i32.const 16)",
        )))
        .expect("compile hog");
    let small = Limits {
        memory_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    assert!(matches!(
        rt.invoke(&hog, "{}", &small),
        Err(RuntimeError::OutOfMemory(_))
    ));

    // The runtime still works after all that.
    let inv = rt.invoke(&echo, "again", &limits).expect("invoke");
    assert_eq!(inv.result, Ok("again".to_owned()));

    // Garbage is not a component.
    assert!(matches!(
        rt.compile(b"not wasm"),
        Err(RuntimeError::InvalidCode(_))
    ));
}

#[test]
fn handlers_call_the_dynamodb_api() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = engine(dir.path());
    call(
        &db,
        "CreateTable",
        json!({"TableName": "audit", "BillingMode": "PAY_PER_REQUEST",
               "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}),
    );
    let rt = Runtime::new(db.clone()).expect("runtime");
    let op = "PutItem";
    let request = r#"{"TableName":"audit","Item":{"pk":{"S":"from-wasm"}}}"#;
    let bad = r#"{"TableName":"missing","Item":{"pk":{"S":"x"}}}"#;
    let escape = |s: &str| s.replace('"', "\\\"");
    let data = format!(
        r#"(data (i32.const 256) "{op}") (data (i32.const 512) "{}") (data (i32.const 1024) "{}")"#,
        escape(request),
        escape(bad)
    );
    // Calls PutItem; on success returns ok(the response), on error returns err(the message).
    let body = |req_at: usize, req_len: usize| {
        format!(
            "(call $call (i32.const 256) (i32.const {}) (i32.const {req_at}) (i32.const {req_len}) (i32.const 64))
             (if (result i32) (i32.eqz (i32.load8_u (i32.const 64)))
               (then {})
               (else (i32.store8 (i32.const 16) (i32.const 1))
                     (i32.store (i32.const 20) (i32.load (i32.const 76)))
                     (i32.store (i32.const 24) (i32.load (i32.const 80)))
                     (i32.const 16)))",
            op.len(),
            ok("(i32.load (i32.const 68))", "(i32.load (i32.const 72))")
        )
    };
    let writer = rt
        .compile(&component(&guest(CALL, &data, &body(512, request.len()))))
        .expect("compile writer");
    let inv = rt
        .invoke(&writer, "{}", &Limits::default())
        .expect("invoke");
    assert_eq!(inv.result, Ok("{}".to_owned()), "PutItem's response body");
    let got = call(
        &db,
        "GetItem",
        json!({"TableName": "audit", "Key": {"pk": {"S": "from-wasm"}}}),
    );
    assert_eq!(got["Item"]["pk"]["S"], "from-wasm");

    let erring = rt
        .compile(&component(&guest(CALL, &data, &body(1024, bad.len()))))
        .expect("compile");
    let inv = rt
        .invoke(&erring, "{}", &Limits::default())
        .expect("invoke");
    assert_eq!(
        inv.result,
        Err("Requested resource not found".to_owned()),
        "the API error's message"
    );

    // A precompiled artifact behaves the same.
    let artifact = rt
        .precompile(&component(&guest(CALL, &data, &body(512, request.len()))))
        .expect("precompile");
    // SAFETY: the artifact was just produced by this runtime's `precompile`.
    let loaded = unsafe { rt.load_precompiled(&artifact) }.expect("load");
    let inv = rt
        .invoke(&loaded, "{}", &Limits::default())
        .expect("invoke");
    assert_eq!(inv.result, Ok("{}".to_owned()));
}
