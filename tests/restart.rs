//! Durability across restarts: tables and items survive a clean stop (SIGTERM) and every
//! acknowledged write survives SIGKILL.

mod common;

use aws_sdk_dynamodb::types::{BillingMode, ScalarAttributeType};
use aws_sdk_dynamodb::Client;
use common::*;

async fn query_count(c: &Client, table: &str, pk: &str) -> i32 {
    let mut total = 0;
    let mut start = None;
    loop {
        let out = c
            .query()
            .table_name(table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(pk))
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("query");
        total += out.count();
        match out.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return total,
        }
    }
}

#[tokio::test]
async fn tables_and_items_survive_sigterm() {
    let mut server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "durable").await;
    create_table(&c, "hash_only", ("id", ScalarAttributeType::N), None).await;
    c.update_table()
        .table_name("hash_only")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
                .read_capacity_units(3)
                .write_capacity_units(4)
                .build()
                .expect("pt"),
        )
        .send()
        .await
        .expect("update table");
    create_table(&c, "dropped", ("id", ScalarAttributeType::S), None).await;
    for i in 0..20 {
        c.put_item()
            .table_name("durable")
            .item("pk", s("p"))
            .item("sk", n(&i.to_string()))
            .item("v", s(&format!("value {i}")))
            .item(
                "doc",
                m(&[("list", l(vec![n(&i.to_string()), boolean(true)]))]),
            )
            .send()
            .await
            .expect("put");
    }
    c.put_item()
        .table_name("hash_only")
        .item("id", n("42"))
        .item("x", ss(&["a", "b"]))
        .send()
        .await
        .expect("put");
    c.delete_item()
        .table_name("durable")
        .key("pk", s("p"))
        .key("sk", n("19"))
        .send()
        .await
        .expect("delete");
    c.update_item()
        .table_name("durable")
        .key("pk", s("p"))
        .key("sk", n("7"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", s("updated"))
        .send()
        .await
        .expect("update");
    c.delete_table()
        .table_name("dropped")
        .send()
        .await
        .expect("delete table");

    server.restart();
    let c = server.client();

    let names = c
        .list_tables()
        .send()
        .await
        .expect("list")
        .table_names()
        .to_vec();
    assert_eq!(names, ["durable", "hash_only"]);
    let t = c
        .describe_table()
        .table_name("hash_only")
        .send()
        .await
        .expect("describe")
        .table
        .expect("table");
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::Provisioned)
    );
    assert_eq!(
        t.provisioned_throughput()
            .and_then(|p| p.write_capacity_units()),
        Some(4)
    );
    assert_eq!(t.key_schema().len(), 1);
    assert_eq!(
        t.attribute_definitions()[0].attribute_type(),
        &ScalarAttributeType::N
    );

    assert_eq!(query_count(&c, "durable", "p").await, 19);
    let got = c
        .get_item()
        .table_name("durable")
        .key("pk", s("p"))
        .key("sk", n("7"))
        .send()
        .await
        .expect("get");
    assert_eq!(got.item().and_then(|i| i.get("v")), Some(&s("updated")));
    let got = c
        .get_item()
        .table_name("durable")
        .key("pk", s("p"))
        .key("sk", n("3"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.item().and_then(|i| i.get("doc")),
        Some(&m(&[("list", l(vec![n("3"), boolean(true)]))]))
    );
    let got = c
        .get_item()
        .table_name("hash_only")
        .key("id", n("42"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.item().map(normalize_item),
        Some(normalize_item(&item(&[
            ("id", n("42")),
            ("x", ss(&["a", "b"]))
        ])))
    );

    // Still writable after the restart, and a second restart keeps that too.
    c.put_item()
        .table_name("durable")
        .item("pk", s("p"))
        .item("sk", n("100"))
        .send()
        .await
        .expect("put");
    server.restart();
    let c = server.client();
    assert_eq!(query_count(&c, "durable", "p").await, 20);
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let mut server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "crashy").await;
    // Concurrent writers, so that group commit is exercised too.
    let mut tasks = Vec::new();
    for w in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                c.put_item()
                    .table_name("crashy")
                    .item("pk", s(&format!("w{w}")))
                    .item("sk", n(&i.to_string()))
                    .item("payload", s(&"x".repeat(500)))
                    .send()
                    .await
                    .expect("put");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    c.update_item()
        .table_name("crashy")
        .key("pk", s("w0"))
        .key("sk", n("0"))
        .update_expression("ADD hits :one")
        .expression_attribute_values(":one", n("1"))
        .send()
        .await
        .expect("update");
    server.kill();
    server.start_again();
    let c = server.client();
    for w in 0..8 {
        assert_eq!(
            query_count(&c, "crashy", &format!("w{w}")).await,
            25,
            "writer {w}"
        );
    }
    let got = c
        .get_item()
        .table_name("crashy")
        .key("pk", s("w0"))
        .key("sk", n("0"))
        .send()
        .await
        .expect("get");
    assert_eq!(got.item().and_then(|i| i.get("hits")), Some(&n("1")));
}
