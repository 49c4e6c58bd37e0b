//! BatchGetItem, BatchWriteItem, TransactWriteItems and TransactGetItems through the AWS SDK,
//! including the concurrent transfer test: many clients move amounts between accounts with
//! transactions while others read all accounts transactionally; the total never changes.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Get, KeysAndAttributes, Put, PutRequest,
    ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure, StreamViewType, TransactGetItem,
    TransactWriteItem, Update, WriteRequest,
};
use common::*;

fn key(pk: &str, sk: i64) -> HashMap<String, AttributeValue> {
    item(&[("pk", s(pk)), ("sk", n(&sk.to_string()))])
}

fn put_req(pk: &str, sk: i64, v: &str) -> WriteRequest {
    let mut i = key(pk, sk);
    i.insert("v".into(), s(v));
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(i))
                .build()
                .expect("put"),
        )
        .build()
}

fn del_req(pk: &str, sk: i64) -> WriteRequest {
    WriteRequest::builder()
        .delete_request(
            aws_sdk_dynamodb::types::DeleteRequest::builder()
                .set_key(Some(key(pk, sk)))
                .build()
                .expect("delete"),
        )
        .build()
}

#[tokio::test]
async fn batch_write_and_get() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "one").await;
    pk_sk_table(&c, "two").await;
    let writes: Vec<WriteRequest> = (0..20).map(|i| put_req("p", i, "x")).collect();
    let out = c
        .batch_write_item()
        .request_items("one", writes)
        .request_items("two", vec![put_req("q", 1, "y"), put_req("q", 2, "z")])
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("batch write");
    assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    assert_eq!(out.consumed_capacity().len(), 2);
    // Deletes and puts mixed.
    c.batch_write_item()
        .request_items(
            "one",
            vec![del_req("p", 0), del_req("p", 1), put_req("p", 100, "new")],
        )
        .send()
        .await
        .expect("batch write 2");

    let got = c
        .batch_get_item()
        .request_items(
            "one",
            KeysAndAttributes::builder()
                .set_keys(Some(vec![key("p", 0), key("p", 2), key("p", 100)]))
                .projection_expression("sk, v")
                .consistent_read(true)
                .build()
                .expect("keys"),
        )
        .request_items(
            "two",
            KeysAndAttributes::builder()
                .set_keys(Some(vec![key("q", 1), key("q", 2), key("q", 3)]))
                .build()
                .expect("keys"),
        )
        .send()
        .await
        .expect("batch get");
    let responses = got.responses().expect("responses");
    let mut one: Vec<_> = responses["one"]
        .iter()
        .map(|i| (i["sk"].clone(), i["v"].clone(), i.contains_key("pk")))
        .collect();
    one.sort_by_key(|(sk, _, _)| format!("{sk:?}"));
    assert_eq!(
        one,
        [(n("100"), s("new"), false), (n("2"), s("x"), false)],
        "deleted item missing, projection applied"
    );
    assert_eq!(responses["two"].len(), 2);
    assert!(got.unprocessed_keys().is_none_or(|u| u.is_empty()));

    // Errors.
    let too_many: Vec<WriteRequest> = (0..26).map(|i| put_req("p", i, "x")).collect();
    assert_service_error(
        c.batch_write_item()
            .request_items("one", too_many)
            .send()
            .await,
        "ValidationException",
        "Member must have length less than or equal to 25",
    );
    assert_service_error(
        c.batch_write_item()
            .request_items("one", (0..13).map(|i| put_req("p", i, "x")).collect())
            .request_items("two", (0..13).map(|i| put_req("p", i, "x")).collect())
            .send()
            .await,
        "ValidationException",
        "Too many items requested for the BatchWriteItem call",
    );
    assert_service_error(
        c.batch_write_item()
            .request_items("one", vec![put_req("p", 1, "a"), del_req("p", 1)])
            .send()
            .await,
        "ValidationException",
        "Provided list of item keys contains duplicates",
    );
    assert_service_error(
        c.batch_write_item()
            .request_items("missing", vec![put_req("p", 1, "a")])
            .send()
            .await,
        "ResourceNotFoundException",
        "Requested resource not found",
    );
    // A bad element writes nothing at all.
    let bad = WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item(&[("pk", s("p"))])))
                .build()
                .expect("put"),
        )
        .build();
    assert_service_error(
        c.batch_write_item()
            .request_items("one", vec![put_req("p", 500, "a"), bad])
            .send()
            .await,
        "ValidationException",
        "Missing the key sk",
    );
    let none = c
        .get_item()
        .table_name("one")
        .set_key(Some(key("p", 500)))
        .send()
        .await
        .expect("get");
    assert!(none.item().is_none());
    let keys: Vec<_> = (0..101).map(|i| key("p", i)).collect();
    assert_service_error(
        c.batch_get_item()
            .request_items(
                "one",
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .build()
                    .expect("keys"),
            )
            .send()
            .await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.batch_get_item()
            .request_items(
                "one",
                KeysAndAttributes::builder()
                    .set_keys(Some(vec![key("p", 1), key("p", 1)]))
                    .build()
                    .expect("keys"),
            )
            .send()
            .await,
        "ValidationException",
        "Provided list of item keys contains duplicates",
    );
    assert_service_error(
        c.batch_get_item()
            .request_items(
                "one",
                KeysAndAttributes::builder()
                    .set_keys(Some(vec![item(&[("pk", s("p"))])]))
                    .build()
                    .expect("keys"),
            )
            .send()
            .await,
        "ValidationException",
        "The provided key element does not match the schema",
    );
}

fn update_bal(
    table: &str,
    pk: &str,
    expr: &str,
    amount: i64,
    cond: Option<&str>,
) -> TransactWriteItem {
    let mut u = Update::builder()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", n("0"))
        .update_expression(expr)
        .expression_attribute_values(":x", n(&amount.to_string()));
    if let Some(c) = cond {
        u = u.condition_expression(c);
    }
    TransactWriteItem::builder()
        .update(u.build().expect("update"))
        .build()
}

fn cancellation_codes(
    e: aws_sdk_dynamodb::error::SdkError<
        TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Vec<(String, Option<HashMap<String, AttributeValue>>)> {
    match e.into_service_error() {
        TransactWriteItemsError::TransactionCanceledException(t) => {
            assert!(
                t.message()
                    .is_some_and(|m| m.contains("Transaction cancelled")),
                "{t:?}"
            );
            t.cancellation_reasons()
                .iter()
                .map(|r| (r.code().unwrap_or_default().to_owned(), r.item().cloned()))
                .collect()
        }
        other => panic!("expected TransactionCanceledException, got {other:?}"),
    }
}

#[tokio::test]
async fn transactions_all_or_nothing_idempotency_and_errors() {
    let server = Server::start();
    let c = server.client();
    let arn = stream_table(&c, "accounts", true, StreamViewType::NewImage).await;
    pk_sk_table(&c, "audit").await;
    for (pk, bal) in [("alice", 100), ("bob", 50)] {
        c.put_item()
            .table_name("accounts")
            .item("pk", s(pk))
            .item("sk", n("0"))
            .item("bal", n(&bal.to_string()))
            .send()
            .await
            .expect("seed");
    }
    let audit_put = |id: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name("audit")
                    .item("pk", s(id))
                    .item("sk", n("0"))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .expect("put"),
            )
            .build()
    };
    // Success over two tables with every action type.
    c.transact_write_items()
        .transact_items(update_bal(
            "accounts",
            "alice",
            "SET bal = bal - :x",
            30,
            Some("bal >= :x"),
        ))
        .transact_items(update_bal(
            "accounts",
            "bob",
            "SET bal = bal + :x",
            30,
            None,
        ))
        .transact_items(audit_put("t1"))
        .send()
        .await
        .expect("transfer");
    c.put_item()
        .table_name("audit")
        .item("pk", s("junk"))
        .item("sk", n("0"))
        .send()
        .await
        .expect("put junk");
    c.transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name("accounts")
                        .key("pk", s("alice"))
                        .key("sk", n("0"))
                        .condition_expression("bal = :x")
                        .expression_attribute_values(":x", n("70"))
                        .build()
                        .expect("check"),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name("audit")
                        .key("pk", s("junk"))
                        .key("sk", n("0"))
                        .build()
                        .expect("delete"),
                )
                .build(),
        )
        .send()
        .await
        .expect("check + delete");

    // A failing condition cancels everything, with reasons in order.
    let err = c
        .transact_write_items()
        .transact_items(update_bal(
            "accounts",
            "bob",
            "SET bal = bal + :x",
            1000,
            None,
        ))
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name("accounts")
                        .key("pk", s("alice"))
                        .key("sk", n("0"))
                        .update_expression("SET bal = bal - :x")
                        .condition_expression("bal >= :x")
                        .expression_attribute_values(":x", n("1000"))
                        .return_values_on_condition_check_failure(
                            ReturnValuesOnConditionCheckFailure::AllOld,
                        )
                        .build()
                        .expect("update"),
                )
                .build(),
        )
        .transact_items(audit_put("t2"))
        .send()
        .await
        .expect_err("overdraft");
    let reasons = cancellation_codes(err);
    assert_eq!(
        reasons.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["None", "ConditionalCheckFailed", "None"]
    );
    assert_eq!(reasons[1].1.as_ref().expect("old item")["bal"], n("70"));
    let bal = |pk: &'static str| {
        let c = c.clone();
        async move {
            c.get_item()
                .table_name("accounts")
                .key("pk", s(pk))
                .key("sk", n("0"))
                .consistent_read(true)
                .send()
                .await
                .expect("get")
                .item()
                .expect("item")["bal"]
                .clone()
        }
    };
    assert_eq!(bal("alice").await, n("70"));
    assert_eq!(bal("bob").await, n("80"), "first action not applied");
    let t2 = c
        .get_item()
        .table_name("audit")
        .key("pk", s("t2"))
        .key("sk", n("0"))
        .send()
        .await
        .expect("get");
    assert!(t2.item().is_none());

    // ClientRequestToken: a retry does not apply twice; other parameters are a mismatch.
    let tx = |amount: i64| {
        c.transact_write_items()
            .client_request_token("token-1")
            .transact_items(update_bal("accounts", "bob", "ADD bal :x", amount, None))
    };
    tx(5).send().await.expect("first");
    tx(5).send().await.expect("retry");
    assert_eq!(bal("bob").await, n("85"));
    let err = tx(6).send().await.expect_err("mismatch");
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&err),
        Some("IdempotentParameterMismatchException")
    );

    // Validation.
    assert_service_error(
        c.transact_write_items()
            .transact_items(update_bal("accounts", "bob", "ADD bal :x", 1, None))
            .transact_items(update_bal("accounts", "bob", "ADD bal :x", 2, None))
            .send()
            .await,
        "ValidationException",
        "Transaction request cannot include multiple operations on one item",
    );
    assert_service_error(
        c.transact_write_items()
            .transact_items(update_bal("nosuch", "bob", "ADD bal :x", 1, None))
            .send()
            .await,
        "ResourceNotFoundException",
        "Requested resource not found",
    );
    assert_service_error(
        c.transact_write_items()
            .set_transact_items(Some(
                (0..101)
                    .map(|i| update_bal("accounts", &format!("a{i}"), "ADD bal :x", 1, None))
                    .collect(),
            ))
            .send()
            .await,
        "ValidationException",
        "Member must have length less than or equal to 100",
    );

    // TransactGetItems, with a projection and a missing item.
    let got = c
        .transact_get_items()
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("accounts")
                        .key("pk", s("alice"))
                        .key("sk", n("0"))
                        .projection_expression("bal")
                        .build()
                        .expect("get"),
                )
                .build(),
        )
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("audit")
                        .key("pk", s("none"))
                        .key("sk", n("0"))
                        .build()
                        .expect("get"),
                )
                .build(),
        )
        .send()
        .await
        .expect("transact get");
    let r = got.responses();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].item().expect("item"), &item(&[("bal", n("70"))]));
    assert!(r[1].item().is_none());

    // Transactional writes are in the change log like any other.
    let st = streams_client_for(&server.endpoint());
    let recs = read_stream(&st, &arn).await;
    // 2 seeds + 2 transfer updates + 1 token update (the retry, the mismatch and the
    // cancelled transaction add none).
    assert_eq!(recs.len(), 5, "{recs:#?}");
}

/// Many clients move money between accounts in transactions, while readers sum all accounts
/// with TransactGetItems: every read sees the same total, and so does the end state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_keep_the_total() {
    const ACCOUNTS: usize = 10;
    const START: i64 = 1000;
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "bank").await;
    for i in 0..ACCOUNTS {
        c.put_item()
            .table_name("bank")
            .item("pk", s(&format!("acct{i}")))
            .item("sk", n("0"))
            .item("bal", n(&START.to_string()))
            .send()
            .await
            .expect("seed");
    }
    let committed = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let (c, committed, cancelled) = (c.clone(), committed.clone(), cancelled.clone());
        tasks.push(tokio::spawn(async move {
            let mut seed = w * 7919 + 1;
            for _ in 0..60 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let from = (seed >> 33) as usize % ACCOUNTS;
                let to = (from + 1 + (seed >> 40) as usize % (ACCOUNTS - 1)) % ACCOUNTS;
                let amount = 1 + (seed >> 50) as i64 % 300;
                let result = c
                    .transact_write_items()
                    .transact_items(update_bal(
                        "bank",
                        &format!("acct{from}"),
                        "SET bal = bal - :x",
                        amount,
                        Some("bal >= :x"),
                    ))
                    .transact_items(update_bal(
                        "bank",
                        &format!("acct{to}"),
                        "SET bal = bal + :x",
                        amount,
                        None,
                    ))
                    .send()
                    .await;
                match result {
                    Ok(_) => committed.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        let codes = cancellation_codes(e);
                        assert!(codes.iter().any(|(c, _)| c == "ConditionalCheckFailed"));
                        cancelled.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    let reader = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut reads = 0;
            for _ in 0..60 {
                let got = c
                    .transact_get_items()
                    .set_transact_items(Some(
                        (0..ACCOUNTS)
                            .map(|i| {
                                TransactGetItem::builder()
                                    .get(
                                        Get::builder()
                                            .table_name("bank")
                                            .key("pk", s(&format!("acct{i}")))
                                            .key("sk", n("0"))
                                            .build()
                                            .expect("get"),
                                    )
                                    .build()
                            })
                            .collect(),
                    ))
                    .send()
                    .await
                    .expect("transact get");
                let total = sum(got.responses().iter().filter_map(|r| r.item()));
                assert_eq!(
                    total,
                    START * ACCOUNTS as i64,
                    "a read saw a partial transfer"
                );
                reads += 1;
            }
            reads
        })
    };
    for t in tasks {
        t.await.expect("writer");
    }
    assert_eq!(reader.await.expect("reader"), 60);
    let scan = c
        .scan()
        .table_name("bank")
        .consistent_read(true)
        .send()
        .await
        .expect("scan");
    assert_eq!(sum(scan.items().iter()), START * ACCOUNTS as i64);
    assert!(scan.items().iter().all(
        |i| matches!(&i["bal"], AttributeValue::N(v) if v.parse::<i64>().is_ok_and(|b| b >= 0))
    ));
    let (ok, no) = (
        committed.load(Ordering::Relaxed),
        cancelled.load(Ordering::Relaxed),
    );
    assert_eq!(ok + no, 480);
    assert!(
        ok > 100,
        "most transfers commit ({ok} committed, {no} cancelled)"
    );
}

fn sum<'a>(items: impl Iterator<Item = &'a HashMap<String, AttributeValue>>) -> i64 {
    items
        .map(|i| match &i["bal"] {
            AttributeValue::N(v) => v.parse::<i64>().expect("integer balance"),
            other => panic!("bad balance {other:?}"),
        })
        .sum()
}
