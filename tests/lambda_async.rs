//! Asynchronous invocations (`InvocationType: Event`) against the real binary: accepted
//! events are queued (beyond the concurrency limit too), survive a SIGKILL, are retried twice
//! on a function error and then discarded, and a full queue answers TooManyRequestsException
//! instead of accepting an event it would drop.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::ScalarAttributeType;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, InvocationType};
use common::*;

/// Adds 1 to `counter[n].c`, then succeeds or (`fail`) traps.
fn counting(fail: bool) -> Vec<u8> {
    let request = r#"{"TableName":"counter","Key":{"pk":{"S":"n"}},"UpdateExpression":"ADD c :one","ExpressionAttributeValues":{":one":{"N":"1"}}}"#;
    let tail = if fail {
        "unreachable"
    } else {
        "(i32.store8 (i32.const 16) (i32.const 0)) (i32.store (i32.const 20) (i32.const 0)) (i32.store (i32.const 24) (i32.const 0)) (i32.const 16)"
    };
    trigger_component(&guest(
        r#"(import "tributary:function/dynamodb@0.1.0" "call" (func $call (param i32 i32 i32 i32 i32)))"#,
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

fn spinning() -> Vec<u8> {
    trigger_component(&guest("", "", "(loop $l (br $l)) (i32.const 16)"))
}

fn config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).expect("config");
    path.to_str().expect("path").to_owned()
}

async fn deploy(lambda: &aws_sdk_lambda::Client, name: &str, code: Vec<u8>, timeout: i32) {
    lambda
        .create_function()
        .function_name(name)
        .role("arn:aws:iam::000000000000:role/any")
        .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
        .timeout(timeout)
        .send()
        .await
        .expect("create function");
}

async fn counter_table(c: &aws_sdk_dynamodb::Client) {
    create_table(c, "counter", ("pk", ScalarAttributeType::S), None).await;
}

/// Invoke without SDK retries (throttles are under test).
fn no_retries(lambda: &aws_sdk_lambda::Client) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::from_conf(
        lambda
            .config()
            .to_builder()
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build(),
    )
}

async fn invoke_event(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
) -> Result<i32, aws_sdk_lambda::Error> {
    lambda
        .invoke()
        .function_name(name)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .map(|o| o.status_code())
        .map_err(Into::into)
}

async fn wait_for_counter(c: &aws_sdk_dynamodb::Client, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = counter_value(c).await;
        if now == want {
            return;
        }
        assert!(now < want, "counter went past {want}: {now}");
        assert!(
            Instant::now() < deadline,
            "counter stuck at {now}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_events_are_retried_twice_then_discarded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, "[functions]\nasync_retry_delay_secs = 0.2\n");
    let server = Server::start_with(&["--config", &cfg]);
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    counter_table(&c).await;
    deploy(&lambda, "fails", counting(true), 3).await;
    assert_eq!(invoke_event(&lambda, "fails").await.expect("accepted"), 202);
    // The first attempt, then one retry after 0.2 s and another after 0.4 s.
    wait_for_counter(&c, 3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(counter_value(&c).await, 3, "no fourth attempt");
    assert!(
        server
            .log_text()
            .contains("asynchronous event discarded after 3 attempts"),
        "{}",
        server.log_text()
    );
    let (_, metrics) = http_get(server.addr, "/metrics").expect("metrics");
    assert!(
        metrics.contains(
            "tributary_function_async_events_discarded_total{function=\"fails\",reason=\"RetriesExhausted\"} 1"
        ),
        "{metrics}"
    );
    // A succeeding function runs once per event.
    deploy(&lambda, "works", counting(false), 3).await;
    for _ in 0..3 {
        invoke_event(&lambda, "works").await.expect("accepted");
    }
    wait_for_counter(&c, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_beyond_the_concurrency_limit_wait_and_a_full_queue_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &dir,
        "[functions]\nmax_concurrency = 1\nasync_queue_size = 3\n",
    );
    let server = Server::start_with(&["--config", &cfg]);
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    counter_table(&c).await;
    deploy(&lambda, "spin", spinning(), 4).await;
    deploy(&lambda, "count", counting(false), 3).await;
    // The only execution is busy for 4 s.
    let busy = {
        let lambda = lambda.clone();
        tokio::spawn(async move { lambda.invoke().function_name("spin").send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let once = no_retries(&lambda);
    let err = once
        .invoke()
        .function_name("count")
        .send()
        .await
        .expect_err("a synchronous call is throttled");
    assert_eq!(err.code(), Some("TooManyRequestsException"), "{err:?}");
    // Asynchronous ones are queued, up to the queue's size.
    for _ in 0..3 {
        assert_eq!(invoke_event(&once, "count").await.expect("queued"), 202);
    }
    let err = invoke_event(&once, "count").await.expect_err("queue full");
    assert_eq!(err.code(), Some("TooManyRequestsException"), "{err:?}");
    assert!(
        err.message().is_some_and(|m| m.contains("queue is full")),
        "{err:?}"
    );
    assert_eq!(counter_value(&c).await, 0, "nothing ran yet");
    let out = busy.await.expect("join").expect("spin");
    assert_eq!(out.function_error(), Some("Unhandled"));
    // Once the execution is free, every accepted event runs.
    wait_for_counter(&c, 3).await;
    assert_eq!(invoke_event(&once, "count").await.expect("room again"), 202);
    wait_for_counter(&c, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_events_survive_a_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, "[functions]\nmax_concurrency = 1\n");
    let mut server = Server::start_with(&["--config", &cfg]);
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    counter_table(&c).await;
    deploy(&lambda, "spin", spinning(), 5).await;
    deploy(&lambda, "count", counting(false), 3).await;
    let busy = {
        let lambda = lambda.clone();
        tokio::spawn(async move { lambda.invoke().function_name("spin").send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..2 {
        assert_eq!(invoke_event(&lambda, "count").await.expect("queued"), 202);
    }
    server.kill();
    let _ = busy.await;
    server.start_again();
    let c = server.client();
    wait_for_counter(&c, 2).await;
    assert!(
        server
            .log_text()
            .contains("asynchronous invocations resumed from the queue"),
        "{}",
        server.log_text()
    );
}
