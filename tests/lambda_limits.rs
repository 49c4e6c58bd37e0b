//! The Lambda API under hostile input, against the real binary: oversized and malformed
//! function names, wrong-typed settings, zip bombs, oversized and malformed payloads, unknown
//! routes, guests that print without end or take too much memory, and the server-wide memory
//! budget. Each case asserts Lambda's error and that the server still answers afterwards.

mod common;

use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, LogType};
use base64::Engine as _;
use common::*;
use serde_json::json;

const OK: &str = "(i32.store8 (i32.const 16) (i32.const 0)) (i32.store (i32.const 20) (i32.const 0)) (i32.store (i32.const 24) (i32.const 0)) (i32.const 16)";

fn echo() -> Vec<u8> {
    trigger_component(&guest(
        "",
        "",
        "(i32.store8 (i32.const 16) (i32.const 0)) (i32.store (i32.const 20) (local.get 0)) (i32.store (i32.const 24) (local.get 1)) (i32.const 16)",
    ))
}

async fn deploy(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    code: Vec<u8>,
    memory: Option<i32>,
) -> Result<(), aws_sdk_lambda::Error> {
    lambda
        .create_function()
        .function_name(name)
        .role("arn:aws:iam::000000000000:role/any")
        .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
        .timeout(2)
        .set_memory_size(memory)
        .send()
        .await
        .map(|_| ())
        .map_err(Into::into)
}

/// The server still lists functions and runs one.
async fn still_answers(lambda: &aws_sdk_lambda::Client) {
    let names: Vec<String> = lambda
        .list_functions()
        .send()
        .await
        .expect("list functions")
        .functions()
        .iter()
        .filter_map(|f| f.function_name().map(str::to_owned))
        .collect();
    if !names.iter().any(|n| n == "echo") {
        deploy(lambda, "echo", echo(), None)
            .await
            .expect("deploy echo");
    }
    let out = lambda
        .invoke()
        .function_name("echo")
        .payload(Blob::new(br#"{"alive":true}"#.to_vec()))
        .send()
        .await
        .expect("invoke echo");
    assert_eq!(
        out.payload().map(|p| p.as_ref().to_vec()),
        Some(br#"{"alive":true}"#.to_vec())
    );
}

fn assert_lambda_error(r: &RawResponse, status: u16, ty: &str, needle: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.headers.get("x-amzn-errortype").map(String::as_str),
        Some(ty),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let message = r.json["message"]
        .as_str()
        .or(r.json["Message"].as_str())
        .unwrap_or_default();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_names_follow_lambdas_pattern_and_lengths() {
    let server = Server::start();
    let lambda = lambda_client_for(&server.endpoint());
    // 70,000 characters: Lambda's ValidationException, not a 500 with panic text.
    let huge = "f".repeat(70_000);
    let err = deploy(&lambda, &huge, echo(), None)
        .await
        .expect_err("too long");
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    assert!(
        err.message()
            .is_some_and(|m| m.starts_with("1 validation error detected: Value 'fff")
                && m.ends_with("Member must have length less than or equal to 64")),
        "{:?}",
        err.message()
    );
    // In the path (kept under common request-line limits, still far over 170).
    let long = "f".repeat(1_000);
    let err = lambda
        .get_function()
        .function_name(&long)
        .send()
        .await
        .expect_err("too long");
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    let err = lambda
        .invoke()
        .function_name(&long)
        .send()
        .await
        .expect_err("too long");
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    // 65 characters, and characters outside [a-zA-Z0-9-_].
    for bad in [
        "a".repeat(65),
        "bad name".into(),
        "bad/name".into(),
        "é".into(),
    ] {
        let err = deploy(&lambda, &bad, echo(), None).await.expect_err("bad");
        assert_eq!(err.code(), Some("ValidationException"), "{bad}: {err:?}");
    }
    let err = deploy(&lambda, "bad name", echo(), None)
        .await
        .expect_err("bad");
    assert!(
        err.message().is_some_and(|m| m.contains(
            "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"
        )),
        "{:?}",
        err.message()
    );
    // 64 characters, and ARNs (full and partial) naming it.
    let longest = "n".repeat(64);
    deploy(&lambda, &longest, echo(), None)
        .await
        .expect("64 characters");
    for name in [
        format!("arn:aws:lambda:us-east-1:000000000000:function:{longest}"),
        format!("000000000000:function:{longest}"),
        format!("{longest}:$LATEST"),
    ] {
        let got = lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(
            got.configuration().and_then(|c| c.function_name()),
            Some(longest.as_str())
        );
    }
    // Another version or alias does not exist here.
    let err = lambda
        .get_function()
        .function_name(format!("{longest}:live"))
        .send()
        .await
        .expect_err("no alias");
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err:?}");
    // Raw: a not-found answer has Lambda's shape (`Type`, `Message`).
    let r = lambda_raw(
        server.addr,
        "GET",
        "/2015-03-31/functions/missing",
        &[],
        b"",
    );
    assert_lambda_error(
        &r,
        404,
        "ResourceNotFoundException",
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing",
    );
    assert_eq!(r.json["Type"], "User");
    let path = format!("/2015-03-31/functions/{long}/configuration");
    let r = lambda_raw(server.addr, "GET", &path, &[], b"");
    assert_lambda_error(&r, 400, "ValidationException", "less than or equal to 170");
    still_answers(&lambda).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_typed_and_out_of_range_settings_are_refused() {
    let server = Server::start();
    let lambda = lambda_client_for(&server.endpoint());
    let code = base64::engine::general_purpose::STANDARD.encode(echo());
    let create = |extra: serde_json::Value| {
        let mut body = json!({"FunctionName": "f", "Role": "r", "Code": {"ZipFile": code}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        lambda_raw(
            server.addr,
            "POST",
            "/2015-03-31/functions",
            &[],
            body.to_string().as_bytes(),
        )
    };
    assert_lambda_error(
        &create(json!({"Timeout": -5})),
        400,
        "ValidationException",
        "1 validation error detected: Value '-5' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    assert_lambda_error(
        &create(json!({"Timeout": 901, "MemorySize": 100_000})),
        400,
        "ValidationException",
        "2 validation errors detected: ",
    );
    for bad in [
        json!({"MemorySize": "big"}),
        json!({"Timeout": 2.5}),
        json!({"Timeout": 1e30}),
        json!({"Timeout": true}),
        json!({"Environment": {"Variables": ["A"]}}),
        json!({"Description": {"nested": 1}}),
        json!({"FunctionName": 7}),
        json!({"Code": "x"}),
    ] {
        assert_lambda_error(
            &create(bad.clone()),
            400,
            "InvalidRequestContentException",
            "Could not parse request body into json",
        );
    }
    assert_lambda_error(
        &create(json!({"Environment": {"Variables": {"BIG": "v".repeat(5000)}}})),
        400,
        "InvalidParameterValueException",
        "exceeded the 4KB limit",
    );
    // Nothing was created by any of them; the valid one is.
    assert!(lambda
        .list_functions()
        .send()
        .await
        .expect("list")
        .functions()
        .is_empty());
    assert_eq!(create(json!({"Timeout": "5"})).status, 201);
    // UpdateFunctionConfiguration checks the same way and changes nothing on error.
    let r = lambda_raw(
        server.addr,
        "PUT",
        "/2015-03-31/functions/f/configuration",
        &[],
        br#"{"Timeout": 10, "MemorySize": "big"}"#,
    );
    assert_lambda_error(&r, 400, "InvalidRequestContentException", "big");
    let err = lambda
        .update_function_configuration()
        .function_name("f")
        .memory_size(64)
        .send()
        .await
        .expect_err("too small");
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    let got = lambda
        .get_function_configuration()
        .function_name("f")
        .send()
        .await
        .expect("get");
    assert_eq!((got.timeout(), got.memory_size()), (Some(5), Some(128)));
    // Lambda's largest MemorySize fits the default memory budget.
    let got = lambda
        .update_function_configuration()
        .function_name("f")
        .memory_size(10_240)
        .send()
        .await
        .expect("10,240 MB");
    assert_eq!(got.memory_size(), Some(10_240));
    still_answers(&lambda).await;
}

/// A deflated zip holding `size` zero bytes as `bomb.wasm` (about 1 KB per MB).
fn zip_bomb(size: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "bomb.wasm",
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true),
    )
    .expect("start");
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        zip.write_all(&chunk[..n]).expect("write");
        left -= n;
    }
    zip.finish().expect("finish").into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_bombs_and_oversized_requests_are_refused() {
    let server = Server::start();
    let lambda = lambda_client_for(&server.endpoint());
    let bomb = zip_bomb(251 << 20);
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let err = deploy(&lambda, "bomb", bomb.clone(), None)
        .await
        .expect_err("bomb");
    assert_eq!(
        err.code(),
        Some("InvalidParameterValueException"),
        "{err:?}"
    );
    assert_eq!(
        err.message(),
        Some("Unzipped size must be smaller than 262144000 bytes")
    );
    deploy(&lambda, "target", echo(), None)
        .await
        .expect("deploy");
    let err = lambda
        .update_function_code()
        .function_name("target")
        .zip_file(Blob::new(bomb))
        .send()
        .await
        .expect_err("bomb");
    assert_eq!(
        err.code(),
        Some("InvalidParameterValueException"),
        "{err:?}"
    );
    // A body over Lambda's 50 MB-zip request limit.
    let big = vec![b'a'; 69_905_068];
    let r = lambda_raw(server.addr, "POST", "/2015-03-31/functions", &[], &big);
    assert_lambda_error(
        &r,
        413,
        "RequestEntityTooLargeException",
        "Request must be smaller than 69905067 bytes for the CreateFunction operation",
    );
    // Invoke payloads: 6 MB synchronous, 1 MB asynchronous, and JSON only.
    let path = "/2015-03-31/functions/target/invocations";
    let payload = format!("\"{}\"", "x".repeat(6 << 20));
    let r = lambda_raw(server.addr, "POST", path, &[], payload.as_bytes());
    assert_lambda_error(
        &r,
        413,
        "RequestEntityTooLargeException",
        &format!(
            "{} byte payload is too large for the RequestResponse invocation type (limit 6291456 bytes)",
            payload.len()
        ),
    );
    let payload = format!("\"{}\"", "x".repeat(1 << 20));
    let r = lambda_raw(
        server.addr,
        "POST",
        path,
        &[("X-Amz-Invocation-Type", "Event")],
        payload.as_bytes(),
    );
    assert_lambda_error(
        &r,
        413,
        "RequestEntityTooLargeException",
        "for the Event invocation type (limit 1048576 bytes)",
    );
    let r = lambda_raw(server.addr, "POST", path, &[], b"{not json");
    assert_lambda_error(
        &r,
        400,
        "InvalidRequestContentException",
        "Could not parse request body into json: Could not parse payload into json",
    );
    let r = lambda_raw(
        server.addr,
        "POST",
        path,
        &[("X-Amz-Invocation-Type", "Sometimes")],
        b"{}",
    );
    assert_lambda_error(&r, 400, "ValidationException", "at 'invocationType'");
    still_answers(&lambda).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_answer_lambda_errors() {
    let server = Server::start();
    let lambda = lambda_client_for(&server.endpoint());
    for (method, path) in [
        ("GET", "/2015-03-31/nothing-here"),
        ("PATCH", "/2015-03-31/functions"),
        ("POST", "/2015-03-31/functions/f/aliases"),
        ("DELETE", "/2015-03-31/functions/f/code"),
        (
            "GET",
            "/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:f",
        ),
        ("PUT", "/2019-09-25/functions/f/event-invoke-config"),
        ("GET", "/2015-03-31/"),
    ] {
        let r = lambda_raw(server.addr, method, path, &[], b"");
        assert_lambda_error(
            &r,
            404,
            "UnknownOperationException",
            &format!("Unknown operation: {method} "),
        );
        assert_eq!(r.json["Type"], "User", "{method} {path}");
    }
    // A mapping id that is not a UUID names no mapping.
    let long = format!("/2015-03-31/event-source-mappings/{}", "u".repeat(1_000));
    for path in [
        "/2015-03-31/event-source-mappings/not-a-uuid",
        long.as_str(),
    ] {
        let r = lambda_raw(server.addr, "GET", path, &[], b"");
        assert_lambda_error(
            &r,
            404,
            "ResourceNotFoundException",
            "The resource you requested does not exist.",
        );
    }
    // A body that is not JSON.
    let r = lambda_raw(server.addr, "POST", "/2015-03-31/functions", &[], b"{oops");
    assert_lambda_error(
        &r,
        400,
        "InvalidRequestContentException",
        "Could not parse request body into json",
    );
    still_answers(&lambda).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_capped_and_the_log_tail_shows_the_marker() {
    let server = Server::start();
    let lambda = lambda_client_for(&server.endpoint());
    // 16,000 lines of 64 KiB through logging.log.
    let chatty = trigger_component(&format!(
        r#"(module
  (import "tributary:function/logging@0.1.0" "log" (func $log (param i32 i32 i32)))
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
    ));
    lambda
        .create_function()
        .function_name("chatty")
        .role("r")
        .timeout(60)
        .code(FunctionCode::builder().zip_file(Blob::new(chatty)).build())
        .send()
        .await
        .expect("deploy");
    let out = lambda
        .invoke()
        .function_name("chatty")
        .log_type(LogType::Tail)
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.function_error(), None);
    let tail = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().expect("log result"))
        .expect("base64");
    let tail = String::from_utf8(tail).expect("utf-8");
    assert!(tail.len() <= 4096, "{}", tail.len());
    assert!(
        tail.trim_end().ends_with(
            "more bytes were dropped; at most 262144 bytes of output are kept per invocation]"
        ),
        "{tail}"
    );
    // A response over 6 MB is the function's error, as Lambda reports it.
    let big = trigger_component(
        r#"(module
  (memory (export "memory") 120)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i32)
    (memory.fill (i32.const 1024) (i32.const 97) (i32.const 7000000))
    (i32.store8 (i32.const 16) (i32.const 0)) (i32.store (i32.const 20) (i32.const 1024))
    (i32.store (i32.const 24) (i32.const 7000000)) (i32.const 16)))"#,
    );
    deploy(&lambda, "big", big, None).await.expect("deploy");
    let out = lambda
        .invoke()
        .function_name("big")
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body: serde_json::Value =
        serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("json");
    assert_eq!(body["errorType"], "Function.ResponseSizeTooLarge", "{body}");
    still_answers(&lambda).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_size_and_the_memory_budget_bound_what_guests_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[functions]\nmemory_budget_mb = 256\n").expect("config");
    let server = Server::start_with(&["--config", config.to_str().expect("path")]);
    let lambda = lambda_client_for(&server.endpoint());
    // More than the whole budget: refused when created or configured.
    let err = deploy(&lambda, "huge", echo(), Some(512))
        .await
        .expect_err("over budget");
    assert_eq!(
        err.code(),
        Some("InvalidParameterValueException"),
        "{err:?}"
    );
    assert!(
        err.message()
            .is_some_and(|m| m.contains("functions.memory_budget_mb")),
        "{err:?}"
    );
    // A table larger than MemorySize allows: the invocation fails, out of memory.
    let table = trigger_component(&format!(
        r#"(module
  (memory (export "memory") 1)
  (table 10000000 funcref)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i32) {OK}))"#
    ));
    deploy(&lambda, "table", table, Some(128))
        .await
        .expect("deploy");
    let out = lambda
        .invoke()
        .function_name("table")
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body: serde_json::Value =
        serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("json");
    assert_eq!(body["errorType"], "Runtime.OutOfMemory", "{body}");
    // Two invocations of 256 MB cannot run at once within a 256 MB budget.
    let spin = trigger_component(&guest("", "", "(loop $l (br $l)) (i32.const 16)"));
    deploy(&lambda, "spin", spin, Some(256))
        .await
        .expect("deploy");
    let first = {
        let lambda = lambda.clone();
        tokio::spawn(async move { lambda.invoke().function_name("spin").send().await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let once = aws_sdk_lambda::Client::from_conf(
        lambda
            .config()
            .to_builder()
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build(),
    );
    let err = once
        .invoke()
        .function_name("spin")
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Some("TooManyRequestsException"), "{err:?}");
    assert!(
        err.message().is_some_and(|m| m.contains("memory budget")),
        "{err:?}"
    );
    let out = first.await.expect("join").expect("first invoke");
    assert_eq!(out.function_error(), Some("Unhandled"), "timed out");
    still_answers(&lambda).await;
}
