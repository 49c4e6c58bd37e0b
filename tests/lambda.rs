//! Trigger functions through aws-sdk-lambda against the real binary: deploy a WAT component,
//! invoke it, map it to a table stream, and see it react to every change (in order, with the
//! checkpoint kept across disable/enable and a restart).

mod common;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::StreamViewType;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, EventSourcePosition, FunctionCode};
use base64::Engine as _;
use common::*;
use sha2::Digest;

/// The counter handler (tests/common `counter_wat`), or one that traps when `trap` is set.
fn counting_handler(trap: bool) -> Vec<u8> {
    if trap {
        trigger_component(&guest("", "", "unreachable"))
    } else {
        trigger_component(&counter_wat())
    }
}

async fn wait_for_counter(c: &aws_sdk_dynamodb::Client, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn put_events(c: &aws_sdk_dynamodb::Client, from: usize, n: usize) {
    for i in from..from + n {
        c.put_item()
            .table_name("events")
            .item("pk", s(&format!("e{i}")))
            .send()
            .await
            .expect("put event");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_invoke_and_map_a_function() {
    let mut server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = stream_table(&c, "events", false, StreamViewType::NewImage).await;
    create_table(
        &c,
        "counter",
        ("pk", aws_sdk_dynamodb::types::ScalarAttributeType::S),
        None,
    )
    .await;

    let code = counting_handler(false);
    let created = lambda
        .create_function()
        .function_name("count")
        .role("arn:aws:iam::000000000000:role/any")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(code.clone()))
                .build(),
        )
        .timeout(5)
        .environment(Environment::builder().variables("MODE", "test").build())
        .send()
        .await
        .expect("create function");
    assert_eq!(created.function_name(), Some("count"));
    assert_eq!(
        created.code_sha256(),
        Some(
            base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(&code))
                .as_str()
        )
    );
    assert_eq!(created.timeout(), Some(5));
    assert_eq!(created.memory_size(), Some(128));
    assert!(created
        .function_arn()
        .is_some_and(|a| a.ends_with(":function:count")));
    let err = lambda
        .create_function()
        .function_name("count")
        .role("r")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(code.clone()))
                .build(),
        )
        .send()
        .await
        .expect_err("duplicate");
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&err),
        Some("ResourceConflictException")
    );
    let err = lambda
        .create_function()
        .function_name("junk")
        .role("r")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(b"not wasm".to_vec()))
                .build(),
        )
        .send()
        .await
        .expect_err("bad code");
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&err),
        Some("InvalidParameterValueException")
    );
    let listed = lambda.list_functions().send().await.expect("list");
    assert_eq!(listed.functions().len(), 1);
    let got = lambda
        .get_function()
        .function_name("count")
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.configuration()
            .and_then(|c| c.environment())
            .and_then(|e| e.variables())
            .and_then(|v| v.get("MODE"))
            .map(String::as_str),
        Some("test")
    );

    // A direct invocation.
    let out = lambda
        .invoke()
        .function_name("count")
        .payload(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.status_code(), 200);
    assert!(out.function_error().is_none());
    assert_eq!(counter_value(&c).await, 1);

    // Mapped to the stream: one invocation per record (BatchSize 1), from LATEST.
    put_events(&c, 0, 2).await; // before the mapping: not delivered
    let mapping = lambda
        .create_event_source_mapping()
        .function_name("count")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::Latest)
        .batch_size(1)
        .send()
        .await
        .expect("create mapping");
    let uuid = mapping.uuid().expect("uuid").to_owned();
    assert_eq!(mapping.state(), Some("Enabled"));
    assert_eq!(mapping.batch_size(), Some(1));
    put_events(&c, 10, 5).await;
    wait_for_counter(&c, 6).await;

    // Disabled: records wait; enabled again: delivered from the checkpoint.
    lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(false)
        .send()
        .await
        .expect("disable");
    put_events(&c, 20, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(counter_value(&c).await, 6);
    let m = lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(true)
        .send()
        .await
        .expect("enable");
    assert_eq!(m.state(), Some("Enabled"));
    wait_for_counter(&c, 8).await;

    // Functions and mappings survive a restart; delivery resumes.
    server.restart();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let listed = lambda
        .list_event_source_mappings()
        .function_name("count")
        .send()
        .await
        .expect("list mappings");
    assert_eq!(listed.event_source_mappings().len(), 1);
    put_events(&c, 30, 3).await;
    wait_for_counter(&c, 11).await;

    // A trapping version fails its invocation with Lambda's error header.
    lambda
        .update_function_code()
        .function_name("count")
        .zip_file(Blob::new(counting_handler(true)))
        .send()
        .await
        .expect("update code");
    lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(false)
        .send()
        .await
        .expect("disable");
    let out = lambda
        .invoke()
        .function_name("count")
        .payload(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.function_error(), Some("Unhandled"));

    // Deletion.
    lambda
        .delete_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .expect("delete mapping");
    let err = lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .expect_err("gone");
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&err),
        Some("ResourceNotFoundException")
    );
    lambda
        .delete_function()
        .function_name("count")
        .send()
        .await
        .expect("delete function");
    let err = lambda
        .get_function()
        .function_name("count")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&err),
        Some("ResourceNotFoundException")
    );
}

/// FilterCriteria: only matching records reach the handler; the rest are skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_criteria_select_records() {
    let server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = stream_table(&c, "events", false, StreamViewType::NewImage).await;
    create_table(
        &c,
        "counter",
        ("pk", aws_sdk_dynamodb::types::ScalarAttributeType::S),
        None,
    )
    .await;
    lambda
        .create_function()
        .function_name("count")
        .role("r")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(counting_handler(false)))
                .build(),
        )
        .send()
        .await
        .expect("create function");
    let pattern = serde_json::json!({
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "keep"}]}}}
    });
    let err = lambda
        .create_event_source_mapping()
        .function_name("count")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .filter_criteria(
            aws_sdk_lambda::types::FilterCriteria::builder()
                .filters(
                    aws_sdk_lambda::types::Filter::builder()
                        .pattern("{oops")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect_err("bad pattern");
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&err),
        Some("InvalidParameterValueException")
    );
    lambda
        .create_event_source_mapping()
        .function_name("count")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(1)
        .filter_criteria(
            aws_sdk_lambda::types::FilterCriteria::builder()
                .filters(
                    aws_sdk_lambda::types::Filter::builder()
                        .pattern(pattern.to_string())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("mapping with filter");
    for pk in ["keep1", "drop1", "keep2", "drop2"] {
        c.put_item()
            .table_name("events")
            .item("pk", s(pk))
            .send()
            .await
            .expect("put");
    }
    c.put_item()
        .table_name("events")
        .item("pk", s("keep1"))
        .item("v", n("2"))
        .send()
        .await
        .expect("modify");
    c.put_item()
        .table_name("events")
        .item("pk", s("keep3"))
        .send()
        .await
        .expect("last");
    wait_for_counter(&c, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        counter_value(&c).await,
        3,
        "MODIFY and drop* records were filtered out"
    );
}
