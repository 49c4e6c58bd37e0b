//! Regions and NATS (real nats-server processes on free ports): a region configured with
//! `--nats` starts and serves local reads and writes while NATS is down, connects when it
//! comes up, creates the replication stream, and keeps serving when NATS goes away again.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::ScalarAttributeType;
use common::*;

fn wait_for_log(server: &Server, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log_text().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in the log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metrics(server: &Server) -> String {
    http_get(server.addr, "/metrics").expect("metrics").1
}

async fn put_and_get(c: &aws_sdk_dynamodb::Client, pk: &str) {
    c.put_item()
        .table_name("local")
        .item("pk", s(pk))
        .send()
        .await
        .expect("put while NATS is away");
    let got = c
        .get_item()
        .table_name("local")
        .key("pk", s(pk))
        .send()
        .await
        .expect("get");
    assert!(got.item().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_works_without_nats_and_joins_when_it_comes() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let server = Server::start_with(&["--nats", &url]);
    let c = server.client();
    create_table(&c, "local", ("pk", ScalarAttributeType::S), None).await;
    put_and_get(&c, "before").await;
    wait_for_log(
        &server,
        "replication: joining other regions through NATS JetStream",
    );
    assert!(metrics(&server).contains("tributary_replication_nats_connected 0"));

    let mut nats = NatsServer::start_on(port);
    wait_for_log(&server, "replication: stream ready");
    assert!(metrics(&server).contains("tributary_replication_nats_connected 1"));
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let mut stream = js
        .get_stream("TRIBUTARY_REPLICATION")
        .await
        .expect("the replication stream exists");
    let info = stream.info().await.expect("info");
    assert_eq!(info.config.subjects, vec!["tributary.repl.>".to_owned()]);

    nats.kill();
    wait_for_log(&server, "NATS connection lost");
    put_and_get(&c, "after").await;
}
