//! The `tributary function` CLI against a running server (build a component from WAT,
//! deploy with --table, list, invoke, update, delete), and functions declared in the config
//! file, deployed at start.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{ScalarAttributeType, StreamViewType};
use common::*;

fn tributary(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(args)
        .output()
        .expect("run tributary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn wait_counter_at_least(c: &aws_sdk_dynamodb::Client, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while counter_value(c).await < want {
        assert!(Instant::now() < deadline, "counter below {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn put(c: &aws_sdk_dynamodb::Client, pk: &str) {
    c.put_item()
        .table_name("events")
        .item("pk", s(pk))
        .send()
        .await
        .expect("put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_cli_and_declared_functions() {
    let mut server = Server::start();
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let arn = stream_table(&c, "events", false, StreamViewType::NewImage).await;
    create_table(&c, "counter", ("pk", ScalarAttributeType::S), None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let wat = dir.path().join("counter.wat");
    let wasm = dir.path().join("counter.wasm");
    std::fs::write(&wat, counter_wat()).expect("write wat");
    let endpoint = server.endpoint();
    let ep = ["--endpoint", endpoint.as_str()];

    let (ok, out) = tributary(&[
        "function",
        "build",
        wat.to_str().expect("path"),
        "-o",
        wasm.to_str().expect("path"),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("trigger component"), "{out}");
    let (ok, out) = tributary(&["function", "build", "/nonexistent.wat", "-o", "/tmp/x"]);
    assert!(!ok && out.contains("cannot read"), "{out}");

    let mut deploy = vec![
        "function",
        "deploy",
        "count",
        wasm.to_str().expect("path"),
        "--table",
        "events",
        "--batch-size",
        "1",
        "--starting-position",
        "TRIM_HORIZON",
        "--timeout",
        "5",
        "--env",
        "MODE=cli",
    ];
    deploy.extend(ep);
    let (ok, out) = tributary(&deploy);
    assert!(ok, "{out}");
    assert!(out.contains("created function count"), "{out}");
    assert!(out.contains(&format!("mapped count to {arn}")), "{out}");
    let f = lambda
        .get_function()
        .function_name("count")
        .send()
        .await
        .expect("get function");
    let conf = f.configuration().expect("configuration");
    assert_eq!(conf.timeout(), Some(5));
    for pk in ["a", "b", "c"] {
        put(&c, pk).await;
    }
    wait_counter_at_least(&c, 3).await;

    let mut list = vec!["function", "list"];
    list.extend(ep);
    let (ok, out) = tributary(&list);
    assert!(ok, "{out}");
    assert!(
        out.contains("count") && out.contains(&format!("<- {arn}")),
        "{out}"
    );

    let mut invoke = vec!["function", "invoke", "count", "--payload", "{}"];
    invoke.extend(ep);
    let (ok, out) = tributary(&invoke);
    assert!(ok, "{out}");
    wait_counter_at_least(&c, 4).await;

    // Deploying again updates the function and keeps the one mapping.
    let (ok, out) = tributary(&deploy);
    assert!(ok && out.contains("updated function count"), "{out}");
    let mappings = lambda
        .list_event_source_mappings()
        .function_name("count")
        .send()
        .await
        .expect("list mappings");
    assert_eq!(mappings.event_source_mappings().len(), 1);

    let mut delete = vec!["function", "delete", "count"];
    delete.extend(ep);
    let (ok, out) = tributary(&delete);
    assert!(ok, "{out}");
    assert!(lambda
        .list_functions()
        .send()
        .await
        .expect("list")
        .functions()
        .is_empty());
    assert!(lambda
        .list_event_source_mappings()
        .send()
        .await
        .expect("list")
        .event_source_mappings()
        .is_empty());
    let mut missing = vec!["function", "invoke", "count"];
    missing.extend(ep);
    let (ok, out) = tributary(&missing);
    assert!(!ok && out.contains("ResourceNotFoundException"), "{out}");

    // Declared in the config file: deployed at start, with its mapping; idempotent.
    let config = dir.path().join("functions.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[functions.deploy]]
name = "declared"
code = "{}"
timeout = 7
environment = {{ MODE = "config" }}
[[functions.deploy.mappings]]
table = "events"
starting_position = "LATEST"
batch_size = 10
maximum_retry_attempts = 3
"#,
            wasm.display()
        ),
    )
    .expect("config");
    server.set_extra_args(&["--config", config.to_str().expect("path")]);
    for _ in 0..2 {
        server.restart();
    }
    let c = server.client();
    let lambda = lambda_client_for(&server.endpoint());
    let f = lambda
        .get_function()
        .function_name("declared")
        .send()
        .await
        .expect("declared function");
    assert_eq!(f.configuration().and_then(|c| c.timeout()), Some(7));
    let mappings = lambda
        .list_event_source_mappings()
        .function_name("declared")
        .send()
        .await
        .expect("list");
    assert_eq!(
        mappings.event_source_mappings().len(),
        1,
        "one mapping after two starts"
    );
    let m = &mappings.event_source_mappings()[0];
    assert_eq!(m.batch_size(), Some(10));
    assert_eq!(m.maximum_retry_attempts(), Some(3));
    assert_eq!(m.event_source_arn(), Some(arn.as_str()));
    let before = counter_value(&c).await;
    put(&c, "d").await;
    wait_counter_at_least(&c, before + 1).await;

    // A declared function whose code is missing stops the start with a clear message.
    std::fs::write(
        &config,
        "[[functions.deploy]]\nname = \"broken\"\ncode = \"/nonexistent.wasm\"\n",
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["serve", "--config", config.to_str().expect("path")])
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(dir.path().join("other"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("functions.deploy broken") && text.contains("/nonexistent.wasm"),
        "{text}"
    );
}
