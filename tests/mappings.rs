//! Event-source mapping semantics end to end (aws-sdk-lambda + aws-sdk-dynamodb against the
//! real binary), with a WAT handler that records every event it receives (tests/common
//! `recorder`): bisection, partial batch failures, on-failure destinations, misbehaving
//! handlers, ParallelizationFactor, batching windows, recursive loops, validation, throttles
//! and a SIGKILL in the middle of processing.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType, StreamViewType};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::create_event_source_mapping::builders::CreateEventSourceMappingFluentBuilder;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    DestinationConfig, EventSourcePosition, FunctionCode, FunctionResponseType, OnFailure,
};
use common::*;
use serde_json::Value as Json;

const FAILURES_ARN: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/failures";

/// DestinationConfig OnFailure = the `failures` table.
fn to_failures() -> DestinationConfig {
    DestinationConfig::builder()
        .on_failure(OnFailure::builder().destination(FAILURES_ARN).build())
        .build()
}

async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `events` table (stream NEW_IMAGE, so that a record's text holds only its own version), `deliveries` (the recorder's) and
/// `failures` (on-failure destination).
async fn tables(c: &aws_sdk_dynamodb::Client) -> String {
    let arn = stream_table(c, "events", false, StreamViewType::NewImage).await;
    for t in ["deliveries", "failures", "counter"] {
        create_table(c, t, ("pk", ScalarAttributeType::S), None).await;
    }
    arn
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

async fn map(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    arn: &str,
    configure: impl FnOnce(
        CreateEventSourceMappingFluentBuilder,
    ) -> CreateEventSourceMappingFluentBuilder,
) -> String {
    let req = lambda
        .create_event_source_mapping()
        .function_name(function)
        .event_source_arn(arn)
        .starting_position(EventSourcePosition::TrimHorizon);
    configure(req)
        .send()
        .await
        .expect("create mapping")
        .uuid()
        .expect("uuid")
        .to_owned()
}

/// Writes versions `1..=n` of item `pk` (`v` = version; `note` = "poison" on the given ones).
async fn versions(c: &aws_sdk_dynamodb::Client, pk: &str, n: u32, poison: &[u32]) {
    for v in 1..=n {
        let mut req = c
            .put_item()
            .table_name("events")
            .item("pk", s(pk))
            .item("v", common::n(&v.to_string()));
        if poison.contains(&v) {
            req = req.item("note", s("poison"));
        }
        req.send().await.expect("put version");
    }
}

/// `v` of each record of an event, with its key.
fn record_versions(event: &Json) -> Vec<(String, u32)> {
    event["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let d = &r["dynamodb"];
            (
                d["Keys"]["pk"]["S"].as_str().unwrap_or("").to_owned(),
                d["NewImage"]["v"]["N"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )
        })
        .collect()
}

fn batch_sizes(deliveries: &[(u128, Vec<Json>)]) -> Vec<Vec<usize>> {
    deliveries
        .iter()
        .map(|(_, events)| {
            events
                .iter()
                .map(|e| e["Records"].as_array().map_or(0, Vec::len))
                .collect()
        })
        .collect()
}

fn attr<'a>(
    item: &'a HashMap<String, AttributeValue>,
    path: &[&str],
) -> Option<&'a AttributeValue> {
    let (first, rest) = path.split_first()?;
    let mut v = item.get(*first)?;
    for p in rest {
        v = match v {
            AttributeValue::M(m) => m.get(*p)?,
            _ => return None,
        };
    }
    Some(v)
}

fn attr_s(item: &HashMap<String, AttributeValue>, path: &[&str]) -> String {
    match attr(item, path) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(AttributeValue::N(n)) => n.clone(),
        other => panic!("{path:?}: {other:?}"),
    }
}

async fn scan_all(
    c: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    c.scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .expect("scan")
        .items()
        .to_vec()
}

fn seq_number(i: u128) -> String {
    i.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bisect_then_send_the_poison_record_to_the_destination() {
    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = tables(&c).await;
    deploy(&lambda, "rec", recorder(Recorder::FailOnPoison), 5).await;
    versions(&c, "a", 8, &[4]).await;
    let uuid = map(&lambda, "rec", &arn, |m| {
        m.batch_size(8)
            .bisect_batch_on_function_error(true)
            .maximum_retry_attempts(0)
            .destination_config(to_failures())
    })
    .await;
    let got = lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .expect("get mapping");
    assert_eq!(got.bisect_batch_on_function_error(), Some(true));
    assert_eq!(got.maximum_retry_attempts(), Some(0));
    assert_eq!(
        got.destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|o| o.destination()),
        Some(FAILURES_ARN)
    );
    eventually("the poison record in the destination", 20, || async {
        !scan_all(&c, "failures").await.is_empty()
    })
    .await;
    eventually("every other version delivered", 20, || async {
        recorded(&c).await.len() == 7
    })
    .await;
    let deliveries = recorded(&c).await;
    // 8 fails -> halves of 4 and 2; [1,2] succeeds; [3,4] fails -> [3] ok, [4] fails once
    // (MaximumRetryAttempts 0) and is given up; then [5] [6] [7] [8] until past the batch.
    assert_eq!(
        batch_sizes(&deliveries),
        vec![
            vec![8, 4, 2],
            vec![2, 1],
            vec![1],
            vec![1],
            vec![1],
            vec![1],
            vec![1]
        ]
    );
    let seqs: Vec<u128> = deliveries.iter().map(|(s, _)| *s).collect();
    let failures = scan_all(&c, "failures").await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let f = &failures[0];
    assert_eq!(
        attr_s(f, &["requestContext", "condition"]),
        "RetryAttemptsExhausted"
    );
    assert_eq!(
        attr_s(f, &["requestContext", "approximateInvokeCount"]),
        "1"
    );
    assert!(attr_s(f, &["requestContext", "functionArn"]).ends_with(":function:rec"));
    assert_eq!(
        attr_s(f, &["responseContext", "functionError"]),
        "Unhandled"
    );
    assert_eq!(attr_s(f, &["DDBStreamBatchInfo", "batchSize"]), "1");
    assert_eq!(attr_s(f, &["DDBStreamBatchInfo", "streamArn"]), arn);
    // The poison record is version 4: between the deliveries of 3 and 5.
    let poison = attr_s(f, &["DDBStreamBatchInfo", "startSequenceNumber"]);
    assert_eq!(
        poison,
        attr_s(f, &["DDBStreamBatchInfo", "endSequenceNumber"])
    );
    assert_eq!(seq_number(seqs[2]), poison, "deliveries {seqs:?}");
    let versions_ok: Vec<u32> = deliveries
        .iter()
        .filter_map(|(_, events)| events.last())
        .flat_map(|e| record_versions(e).into_iter().map(|(_, v)| v))
        .collect();
    assert_eq!(versions_ok, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let (_, metrics) = http_get(server.addr, "/metrics").expect("metrics");
    assert!(
        metrics.contains("tributary_function_errors_total{function=\"rec\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("tributary_function_invocations_total{function=\"rec\"}"));
    assert!(metrics.contains("tributary_mapping_iterator_age_seconds"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_batch_item_failures_retries_from_the_failed_record() {
    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = tables(&c).await;
    deploy(&lambda, "rec", recorder(Recorder::ReportPoison), 5).await;
    versions(&c, "b", 8, &[3]).await;
    let uuid = map(&lambda, "rec", &arn, |m| {
        m.batch_size(8)
            .function_response_types(FunctionResponseType::ReportBatchItemFailures)
            .maximum_retry_attempts(1)
            .destination_config(to_failures())
    })
    .await;
    let got = lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.function_response_types(),
        &[FunctionResponseType::ReportBatchItemFailures]
    );
    eventually("the failed records in the destination", 20, || async {
        !scan_all(&c, "failures").await.is_empty()
    })
    .await;
    let deliveries = recorded(&c).await;
    // The whole batch once; then (attempt 2) from the reported record: 3..8; then given up.
    assert_eq!(batch_sizes(&deliveries), vec![vec![8], vec![6]]);
    let failures = scan_all(&c, "failures").await;
    assert_eq!(failures.len(), 1);
    let f = &failures[0];
    assert_eq!(
        attr_s(f, &["requestContext", "approximateInvokeCount"]),
        "2"
    );
    assert_eq!(attr_s(f, &["DDBStreamBatchInfo", "batchSize"]), "6");
    assert_eq!(
        attr_s(f, &["DDBStreamBatchInfo", "startSequenceNumber"]),
        seq_number(deliveries[1].0)
    );
    // Versions 1 and 2 were acknowledged and never delivered again.
    let retried: Vec<u32> = record_versions(&deliveries[1].1[0])
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(retried, vec![3, 4, 5, 6, 7, 8]);
}

/// A WAT handler whose `handle` is `body` (no imports).
fn misbehaving(body: &str) -> Vec<u8> {
    trigger_component(&guest("", "", body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trapping_looping_and_exhausting_handlers_fail_only_their_batches() {
    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = tables(&c).await;
    deploy(&lambda, "trap", misbehaving("unreachable"), 5).await;
    deploy(
        &lambda,
        "spin",
        misbehaving("(loop $l (br $l)) (i32.const 0)"),
        1,
    )
    .await;
    deploy(
        &lambda,
        "hog",
        misbehaving("(loop $l (drop (memory.grow (i32.const 16))) (br $l)) (i32.const 0)"),
        5,
    )
    .await;
    deploy(&lambda, "rec", recorder(Recorder::Ok), 5).await;
    for f in ["trap", "spin", "hog"] {
        map(&lambda, f, &arn, |m| {
            m.batch_size(100)
                .maximum_retry_attempts(0)
                .destination_config(to_failures())
        })
        .await;
    }
    map(&lambda, "rec", &arn, |m| m.batch_size(100)).await;
    for i in 0..6 {
        c.put_item()
            .table_name("events")
            .item("pk", s(&format!("k{i}")))
            .item("v", n("1"))
            .send()
            .await
            .expect("put");
    }
    eventually("the recorder to see all six records", 20, || async {
        recorded(&c)
            .await
            .iter()
            .flat_map(|(_, e)| e.iter().flat_map(record_versions))
            .count()
            == 6
    })
    .await;
    let given_up = |failures: &[HashMap<String, AttributeValue>], function: &str| -> usize {
        failures
            .iter()
            .filter(|f| attr_s(f, &["requestContext", "functionArn"]).ends_with(function))
            .map(|f| {
                attr_s(f, &["DDBStreamBatchInfo", "batchSize"])
                    .parse::<usize>()
                    .unwrap_or(0)
            })
            .sum()
    };
    eventually("every failing function's records given up", 40, || async {
        let failures = scan_all(&c, "failures").await;
        ["trap", "spin", "hog"]
            .iter()
            .all(|f| given_up(&failures, &format!(":function:{f}")) == 6)
    })
    .await;
    let failures = scan_all(&c, "failures").await;
    let mut by_function: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &failures {
        let function = attr_s(f, &["requestContext", "functionArn"]);
        let function = function.rsplit(':').next().unwrap_or("").to_owned();
        by_function
            .entry(function)
            .or_default()
            .push(attr_s(f, &["responseContext", "errorMessage"]));
    }
    assert_eq!(
        by_function.keys().cloned().collect::<Vec<_>>(),
        vec!["hog", "spin", "trap"]
    );
    assert!(
        by_function["spin"].iter().all(|m| m.contains("timed out")),
        "{by_function:?}"
    );
    assert!(
        by_function["hog"].iter().all(|m| m.contains("memory")),
        "{by_function:?}"
    );
    assert!(
        by_function["trap"].iter().all(|m| m.contains("trap")),
        "{by_function:?}"
    );
    // The server is fine.
    let (status, _) = http_get(server.addr, "/").expect("health");
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelization_factor_keeps_each_items_order() {
    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = tables(&c).await;
    deploy(&lambda, "rec", recorder(Recorder::Ok), 5).await;
    for v in 1..=5u32 {
        for k in 0..40 {
            c.put_item()
                .table_name("events")
                .item("pk", s(&format!("k{k:02}")))
                .item("v", n(&v.to_string()))
                .send()
                .await
                .expect("put");
        }
    }
    let uuid = map(&lambda, "rec", &arn, |m| {
        m.batch_size(100).parallelization_factor(4)
    })
    .await;
    let got = lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .expect("get");
    assert_eq!(got.parallelization_factor(), Some(4));
    eventually("all 200 records", 30, || async {
        recorded(&c)
            .await
            .iter()
            .flat_map(|(_, e)| e.iter().flat_map(record_versions))
            .count()
            >= 200
    })
    .await;
    let deliveries = recorded(&c).await;
    let mut per_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (_, events) in &deliveries {
        assert_eq!(events.len(), 1, "no retries expected");
        for (k, v) in record_versions(&events[0]) {
            per_key.entry(k).or_default().push(v);
        }
    }
    assert_eq!(per_key.len(), 40);
    for (k, vs) in &per_key {
        assert_eq!(vs, &vec![1, 2, 3, 4, 5], "order of {k}");
    }
    // 200 records in 4 shards at BatchSize 100: one batch per shard, split into lanes.
    assert!(
        deliveries.len() > 4,
        "batches were split across lanes: {} invocations",
        deliveries.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_window_gathers_records() {
    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = tables(&c).await;
    deploy(&lambda, "rec", recorder(Recorder::Ok), 5).await;
    map(&lambda, "rec", &arn, |m| {
        m.batch_size(100)
            .maximum_batching_window_in_seconds(2)
            .starting_position(EventSourcePosition::Latest)
    })
    .await;
    versions(&c, "w", 5, &[]).await;
    eventually("the gathered batch", 20, || async {
        !recorded(&c).await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(batch_sizes(&recorded(&c).await), vec![vec![5]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_loops_stop_after_sixteen_invocations() {
    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    tables(&c).await;
    c.update_table()
        .table_name("counter")
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .expect("spec"),
        )
        .send()
        .await
        .expect("enable stream");
    let arn = c
        .describe_table()
        .table_name("counter")
        .send()
        .await
        .expect("describe")
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("stream arn")
        .to_owned();
    deploy(&lambda, "loop", trigger_component(&counter_wat()), 5).await;
    map(&lambda, "loop", &arn, |m| m.batch_size(1)).await;
    c.put_item()
        .table_name("counter")
        .item("pk", s("start"))
        .send()
        .await
        .expect("put");
    eventually("sixteen invocations", 20, || async {
        counter_value(&c).await >= 16
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(counter_value(&c).await, 16, "the loop stopped at 16");
    assert!(server.log_text().contains("recursive loop detected"));
    let (_, metrics) = http_get(server.addr, "/metrics").expect("metrics");
    assert!(
        metrics.contains("tributary_function_recursive_loops_stopped_total{function=\"loop\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_parameters_are_validated() {
    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = tables(&c).await;
    deploy(&lambda, "rec", recorder(Recorder::Ok), 5).await;
    let base = || {
        lambda
            .create_event_source_mapping()
            .function_name("rec")
            .event_source_arn(&arn)
            .starting_position(EventSourcePosition::TrimHorizon)
    };
    // Outside the modeled bounds: ValidationException, as Lambda's request validation says.
    for (i, req) in [
        base().batch_size(0),
        base().batch_size(10_001),
        base().parallelization_factor(11),
        base().maximum_retry_attempts(10_001),
        base().maximum_batching_window_in_seconds(301),
    ]
    .into_iter()
    .enumerate()
    {
        let err = req.send().await.expect_err("invalid mapping");
        assert_eq!(err.code(), Some("ValidationException"), "case {i}: {err:?}");
    }
    let cases = [
        base().maximum_record_age_in_seconds(30),
        base().destination_config(
            DestinationConfig::builder()
                .on_failure(
                    OnFailure::builder()
                        .destination("arn:aws:sqs:us-east-1:000000000000:q")
                        .build(),
                )
                .build(),
        ),
        base().destination_config(
            DestinationConfig::builder()
                .on_failure(
                    OnFailure::builder()
                        .destination("arn:aws:dynamodb:us-east-1:000000000000:table/missing")
                        .build(),
                )
                .build(),
        ),
    ];
    for (i, req) in cases.into_iter().enumerate() {
        let err = req.send().await.expect_err("invalid mapping");
        assert_eq!(
            err.code(),
            Some("InvalidParameterValueException"),
            "case {i}: {err:?}"
        );
    }
    let err = lambda
        .create_event_source_mapping()
        .function_name("rec")
        .event_source_arn(&arn)
        .send()
        .await
        .expect_err("no starting position");
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    assert!(lambda
        .list_event_source_mappings()
        .send()
        .await
        .expect("list")
        .event_source_mappings()
        .is_empty());
    // Valid bounds are accepted and shown.
    let uuid = map(&lambda, "rec", &arn, |m| {
        m.batch_size(10_000)
            .parallelization_factor(10)
            .maximum_record_age_in_seconds(60)
            .maximum_retry_attempts(-1)
            .maximum_batching_window_in_seconds(300)
    })
    .await;
    let got = lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .expect("get");
    assert_eq!(got.batch_size(), Some(10_000));
    assert_eq!(got.maximum_record_age_in_seconds(), Some(60));
    assert_eq!(got.maximum_batching_window_in_seconds(), Some(300));
    let err = lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .parallelization_factor(0)
        .send()
        .await
        .expect_err("bad update");
    assert_eq!(err.code(), Some("ValidationException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_past_the_concurrency_limit_are_throttled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[functions]\nmax_concurrency = 1\n").expect("config");
    let server = Server::start_with(&["--config", config.to_str().expect("path")]);
    let lambda = lambda_client_for(&server.endpoint());
    deploy(
        &lambda,
        "spin",
        misbehaving("(loop $l (br $l)) (i32.const 0)"),
        2,
    )
    .await;
    let first = {
        let lambda = lambda.clone();
        tokio::spawn(async move {
            lambda
                .invoke()
                .function_name("spin")
                .send()
                .await
                .expect("first invoke")
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // No SDK retries: the throttle itself is under test.
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
    let out = first.await.expect("join");
    assert_eq!(out.function_error(), Some("Unhandled"));
    let (_, metrics) = http_get(server.addr, "/metrics").expect("metrics");
    assert!(
        metrics.contains("tributary_function_throttles_total{function=\"spin\"}"),
        "{metrics}"
    );
}

/// SIGKILL while the mapping is busy, restart: every version of every item reaches the
/// handler, and within each invocation an item's versions are in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_processing_skips_nothing() {
    let mut server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = tables(&c).await;
    deploy(&lambda, "rec", recorder(Recorder::Ok), 5).await;
    map(&lambda, "rec", &arn, |m| m.batch_size(5)).await;
    const KEYS: usize = 12;
    const VERSIONS: u32 = 25;
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            for v in 1..=VERSIONS {
                for k in 0..KEYS {
                    let r = c
                        .put_item()
                        .table_name("events")
                        .item("pk", s(&format!("k{k:02}")))
                        .item("v", n(&v.to_string()))
                        .send()
                        .await;
                    if r.is_err() {
                        return (v, k); // the server was killed: this write may be lost
                    }
                }
            }
            (VERSIONS + 1, 0)
        })
    };
    eventually("processing under way", 20, || async {
        recorded(&c).await.len() >= 10
    })
    .await;
    server.kill();
    let (stopped_at, _) = writer.await.expect("writer");
    server.start_again();
    let c = server.client();
    // Finish the writes after the restart (from the version the writer was on).
    for v in stopped_at.min(VERSIONS)..=VERSIONS {
        for k in 0..KEYS {
            c.put_item()
                .table_name("events")
                .item("pk", s(&format!("k{k:02}")))
                .item("v", n(&v.to_string()))
                .send()
                .await
                .expect("put after restart");
        }
    }
    let complete = |deliveries: &[(u128, Vec<Json>)]| {
        let mut seen: BTreeMap<String, std::collections::BTreeSet<u32>> = BTreeMap::new();
        for (_, events) in deliveries {
            for e in events {
                for (k, v) in record_versions(e) {
                    seen.entry(k).or_default().insert(v);
                }
            }
        }
        seen.len() == KEYS && seen.values().all(|vs| vs.len() == VERSIONS as usize)
    };
    eventually("every version of every item delivered", 60, || async {
        complete(&recorded(&c).await)
    })
    .await;
    for (_, events) in recorded(&c).await {
        for e in &events {
            let mut last: HashMap<String, u32> = HashMap::new();
            for (k, v) in record_versions(e) {
                let prev = last.insert(k.clone(), v).unwrap_or(0);
                assert!(v > prev, "{k}: version {v} after {prev} in one batch");
            }
        }
    }
}
