//! Response caps: TransactGetItems reads at most 4 MB of items (DynamoDB refuses the whole
//! transaction beyond), BatchGetItem returns at most 16 MB and leaves the keys whose items do
//! not fit in UnprocessedKeys. After each, the server still answers.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Get, KeysAndAttributes, TransactGetItem};
use common::*;

/// About 390 KB per item: 10 fit in 4 MB, 11 do not; 42 fit in 16 MB, 43 do not.
const BLOB: usize = 399_350;

async fn fill(c: &aws_sdk_dynamodb::Client, table: &str, n: usize) {
    pk_sk_table(c, table).await;
    let blob = "x".repeat(BLOB);
    for i in 0..n {
        c.put_item()
            .table_name(table)
            .item("pk", s("p"))
            .item("sk", n_of(i))
            .item("d", s(&blob))
            .send()
            .await
            .expect("put");
    }
}

fn n_of(i: usize) -> AttributeValue {
    n(&i.to_string())
}

fn key(i: usize) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s("p")), ("sk".to_owned(), n_of(i))])
}

#[tokio::test]
async fn transact_get_items_reads_at_most_4_mb() {
    let server = Server::start();
    let c = server.client();
    fill(&c, "big", 11).await;
    let get = |count: usize| {
        c.transact_get_items().set_transact_items(Some(
            (0..count)
                .map(|i| {
                    TransactGetItem::builder()
                        .get(
                            Get::builder()
                                .table_name("big")
                                .set_key(Some(key(i)))
                                .build()
                                .expect("get"),
                        )
                        .build()
                })
                .collect(),
        ))
    };
    let ten = get(10).send().await.expect("10 items fit in 4 MB");
    assert_eq!(ten.responses().len(), 10);
    assert!(ten.responses().iter().all(|r| r.item().is_some()));
    assert_service_error(
        get(11).send().await,
        "ValidationException",
        "The aggregate size of the items in the transaction exceeded 4 MB",
    );
    // A projection does not change what the transaction reads.
    assert_service_error(
        c.transact_get_items()
            .set_transact_items(Some(
                (0..11)
                    .map(|i| {
                        TransactGetItem::builder()
                            .get(
                                Get::builder()
                                    .table_name("big")
                                    .set_key(Some(key(i)))
                                    .projection_expression("pk")
                                    .build()
                                    .expect("get"),
                            )
                            .build()
                    })
                    .collect(),
            ))
            .send()
            .await,
        "ValidationException",
        "The aggregate size of the items in the transaction exceeded 4 MB",
    );
    c.list_tables().send().await.expect("server still answers");
}

#[tokio::test]
async fn batch_get_item_returns_at_most_16_mb() {
    let server = Server::start();
    let c = server.client();
    fill(&c, "wide", 50).await;
    let mut request = HashMap::from([(
        "wide".to_owned(),
        KeysAndAttributes::builder()
            .set_keys(Some((0..50).map(key).collect()))
            .build()
            .expect("keys"),
    )]);
    let mut pages = Vec::new();
    let mut seen = Vec::new();
    while !request.is_empty() {
        let out = c
            .batch_get_item()
            .set_request_items(Some(request.clone()))
            .send()
            .await
            .expect("batch get");
        let items = out
            .responses()
            .and_then(|r| r.get("wide"))
            .cloned()
            .unwrap_or_default();
        let bytes: usize = items
            .iter()
            .map(|i| {
                i.get("d")
                    .and_then(|d| d.as_s().ok())
                    .map_or(0, String::len)
            })
            .sum();
        assert!(bytes <= 16 * 1024 * 1024, "{bytes} bytes in one answer");
        pages.push(items.len());
        seen.extend(items.iter().map(|i| i.get("sk").cloned().expect("sk")));
        request = out.unprocessed_keys().cloned().unwrap_or_default();
        assert!(pages.len() < 5, "no progress: {pages:?}");
    }
    assert_eq!(pages, [42, 8]);
    seen.sort_by_key(|v| v.as_n().ok().and_then(|n| n.parse::<usize>().ok()));
    assert_eq!(seen, (0..50).map(n_of).collect::<Vec<_>>());
    c.list_tables().send().await.expect("server still answers");
}
