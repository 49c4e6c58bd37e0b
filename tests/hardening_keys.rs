//! Keys and secondary indexes under hostile input: index key values held to the table key
//! limits on every write path (a 70 KB GSI key used to make fjall assert and drop the
//! connection), the backfill leaving out what cannot be indexed, attribute name lengths,
//! BatchWriteItem writing nothing when one item cannot be indexed, and malformed or
//! out-of-range ExclusiveStartKeys. Each case asserts DynamoDB's error and that the server
//! still answers afterwards.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, PutRequest, ScalarAttributeType, TransactWriteItem,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use common::*;

const HASHKEY_TOO_BIG: &str =
    "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes";
const RANGEKEY_TOO_BIG: &str =
    "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes";

fn ks(name: &str, kt: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kt)
        .build()
        .expect("key")
}

fn def(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .expect("def")
}

/// Table `name`: pk (S); GSI `by_g` on g (S) with sort key r (S).
async fn gsi_table(c: &Client, name: &str) {
    c.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(ks("pk", KeyType::Hash))
        .attribute_definitions(def("pk", ScalarAttributeType::S))
        .attribute_definitions(def("g", ScalarAttributeType::S))
        .attribute_definitions(def("r", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_g")
                .key_schema(ks("g", KeyType::Hash))
                .key_schema(ks("r", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("gsi"),
        )
        .send()
        .await
        .expect("create");
    wait_active(c, name).await;
}

/// The server still serves reads and writes.
async fn still_answers(c: &Client, table: &str) {
    c.put_item()
        .table_name(table)
        .item("pk", s("alive"))
        .send()
        .await
        .expect("server still answers PutItem");
    let got = c
        .get_item()
        .table_name(table)
        .key("pk", s("alive"))
        .send()
        .await
        .expect("server still answers GetItem");
    assert!(got.item().is_some());
}

async fn exists(c: &Client, table: &str, pk: &str) -> bool {
    c.get_item()
        .table_name(table)
        .key("pk", s(pk))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item()
        .is_some()
}

async fn index_count(c: &Client, table: &str, index: &str) -> i32 {
    c.scan()
        .table_name(table)
        .index_name(index)
        .send()
        .await
        .expect("scan index")
        .count()
}

async fn wait_index_active(c: &Client, table: &str, index: &str) {
    for _ in 0..400 {
        let d = c
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("describe");
        let status = d
            .table()
            .and_then(|t| {
                t.global_secondary_indexes()
                    .iter()
                    .find(|g| g.index_name() == Some(index))
            })
            .and_then(|g| g.index_status().cloned());
        if status == Some(IndexStatus::Active) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("index {index} never became ACTIVE");
}

#[tokio::test]
async fn index_keys_are_held_to_key_limits_on_every_write_path() {
    let server = Server::start();
    let c = server.client();
    gsi_table(&c, "limits").await;
    let huge = "x".repeat(70_000);

    // Limits themselves are fine, and the items are queryable.
    c.put_item()
        .table_name("limits")
        .item("pk", s("ok"))
        .item("g", s(&"g".repeat(2048)))
        .item("r", s(&"r".repeat(1024)))
        .send()
        .await
        .expect("keys at the limits");
    let q = c
        .query()
        .table_name("limits")
        .index_name("by_g")
        .key_condition_expression("g = :g")
        .expression_attribute_values(":g", s(&"g".repeat(2048)))
        .send()
        .await
        .expect("query at the limit");
    assert_eq!(q.count(), 1);

    // PutItem: one byte over, and far over (fjall's own limit is 65,535 bytes).
    for (g, r, msg) in [
        ("g".repeat(2049), "r".to_owned(), HASHKEY_TOO_BIG),
        (huge.clone(), "r".to_owned(), HASHKEY_TOO_BIG),
        ("g".to_owned(), "r".repeat(1025), RANGEKEY_TOO_BIG),
        ("g".to_owned(), huge.clone(), RANGEKEY_TOO_BIG),
    ] {
        let r = c
            .put_item()
            .table_name("limits")
            .item("pk", s("big"))
            .item("g", s(&g))
            .item("r", s(&r))
            .send()
            .await;
        assert_service_error(r, "ValidationException", msg);
    }
    // A binary where the index has a string: the type is checked before the size.
    let r = c
        .put_item()
        .table_name("limits")
        .item("pk", s("big"))
        .item("g", s("g"))
        .item("r", b(&vec![7u8; 70_000]))
        .send()
        .await;
    assert_service_error(
        r,
        "ValidationException",
        "Type mismatch for Index Key r Expected: S Actual: B IndexName: by_g",
    );
    assert!(!exists(&c, "limits", "big").await);

    // UpdateItem: the item is left as it was.
    let r = c
        .update_item()
        .table_name("limits")
        .key("pk", s("ok"))
        .update_expression("SET g = :g")
        .expression_attribute_values(":g", s(&huge))
        .send()
        .await;
    assert_service_error(r, "ValidationException", HASHKEY_TOO_BIG);
    let r = c
        .update_item()
        .table_name("limits")
        .key("pk", s("new"))
        .update_expression("SET r = :r")
        .expression_attribute_values(":r", s(&huge))
        .send()
        .await;
    assert_service_error(r, "ValidationException", RANGEKEY_TOO_BIG);
    assert!(!exists(&c, "limits", "new").await);

    // TransactWriteItems: nothing of the transaction is written.
    let put = |pk: &str, g: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name("limits")
                    .item("pk", s(pk))
                    .item("g", s(g))
                    .item("r", s("r"))
                    .build()
                    .expect("put"),
            )
            .build()
    };
    let r = c
        .transact_write_items()
        .transact_items(put("t1", "fine"))
        .transact_items(put("t2", &huge))
        .send()
        .await;
    assert_service_error(r, "ValidationException", HASHKEY_TOO_BIG);
    assert!(!exists(&c, "limits", "t1").await);

    // A Query whose sort key condition value no sort key could have.
    let r = c
        .query()
        .table_name("limits")
        .index_name("by_g")
        .key_condition_expression("g = :g AND r > :r")
        .expression_attribute_values(":g", s("g"))
        .expression_attribute_values(":r", s(&huge))
        .send()
        .await;
    assert_service_error(r, "ValidationException", RANGEKEY_TOO_BIG);
    let r = c
        .query()
        .table_name("limits")
        .index_name("by_g")
        .key_condition_expression("g = :g")
        .expression_attribute_values(":g", s(&huge))
        .send()
        .await;
    assert_service_error(r, "ValidationException", HASHKEY_TOO_BIG);

    assert_eq!(index_count(&c, "limits", "by_g").await, 1);
    still_answers(&c, "limits").await;
}

#[tokio::test]
async fn batch_write_with_one_unindexable_item_writes_nothing() {
    let server = Server::start();
    let c = server.client();
    gsi_table(&c, "batch").await;
    let put = |pk: &str, g: AttributeValue| {
        WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .item("pk", s(pk))
                    .item("g", g)
                    .item("r", s("r"))
                    .build()
                    .expect("put"),
            )
            .build()
    };
    for (bad, msg) in [
        (
            s(""),
            "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by_g, IndexKey: g",
        ),
        (
            n("3"),
            "One or more parameter values were invalid: Type mismatch for Index Key g Expected: S Actual: N IndexName: by_g",
        ),
        (s(&"g".repeat(3000)), HASHKEY_TOO_BIG),
    ] {
        let r = c
            .batch_write_item()
            .request_items(
                "batch",
                vec![put("b1", s("one")), put("b2", bad), put("b3", s("three"))],
            )
            .send()
            .await;
        assert_service_error(r, "ValidationException", msg);
        for pk in ["b1", "b2", "b3"] {
            assert!(!exists(&c, "batch", pk).await, "{pk} was written");
        }
    }
    assert_eq!(index_count(&c, "batch", "by_g").await, 0);
    still_answers(&c, "batch").await;
}

#[tokio::test]
async fn backfill_leaves_out_what_cannot_be_indexed() {
    let server = Server::start();
    let c = server.client();
    create_table(&c, "late", ("pk", ScalarAttributeType::S), None).await;
    let huge = "x".repeat(70_000);
    for (pk, g) in [
        ("good", s("g1")),
        ("huge", s(&huge)),
        ("long", s(&"g".repeat(2049))),
        ("typed", n("5")),
        ("empty", s("")),
    ] {
        c.put_item()
            .table_name("late")
            .item("pk", s(pk))
            .item("g", g)
            .send()
            .await
            .expect("put before the index exists");
    }
    c.put_item()
        .table_name("late")
        .item("pk", s("absent"))
        .send()
        .await
        .expect("put without g");
    c.update_table()
        .table_name("late")
        .attribute_definitions(def("g", ScalarAttributeType::S))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by_g")
                        .key_schema(ks("g", KeyType::Hash))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::KeysOnly)
                                .build(),
                        )
                        .build()
                        .expect("create"),
                )
                .build(),
        )
        .send()
        .await
        .expect("add the index");
    wait_index_active(&c, "late", "by_g").await;
    let scan = c
        .scan()
        .table_name("late")
        .index_name("by_g")
        .send()
        .await
        .expect("scan index");
    let pks: Vec<_> = scan
        .items()
        .iter()
        .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    assert_eq!(pks, vec!["good".to_owned()]);

    // Writes keep refusing what the index cannot take; removing the attribute or the item
    // never builds an oversized key from the old item.
    let r = c
        .update_item()
        .table_name("late")
        .key("pk", s("huge"))
        .update_expression("SET note = :o")
        .expression_attribute_values(":o", n("1"))
        .send()
        .await;
    assert_service_error(r, "ValidationException", HASHKEY_TOO_BIG);
    for pk in ["huge", "typed"] {
        c.update_item()
            .table_name("late")
            .key("pk", s(pk))
            .update_expression("REMOVE g")
            .send()
            .await
            .expect("removing the attribute the index left out");
    }
    for pk in ["huge", "long", "typed", "empty"] {
        c.delete_item()
            .table_name("late")
            .key("pk", s(pk))
            .send()
            .await
            .expect("delete of an item left out of the index");
    }
    assert_eq!(index_count(&c, "late", "by_g").await, 1);
    still_answers(&c, "late").await;
}

#[tokio::test]
async fn attribute_names_have_limits() {
    let server = Server::start();
    let c = server.client();
    create_table(&c, "names", ("pk", ScalarAttributeType::S), None).await;

    // Key attribute names: 255 bytes.
    let long_key = "k".repeat(256);
    let r = c
        .create_table()
        .table_name("longkey")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(ks(&long_key, KeyType::Hash))
        .attribute_definitions(def(&long_key, ScalarAttributeType::S))
        .send()
        .await;
    assert_service_error(
        r,
        "ValidationException",
        "failed to satisfy constraint: Member must have length less than or equal to 255",
    );
    let r = c
        .create_table()
        .table_name("longgsi")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(ks("pk", KeyType::Hash))
        .attribute_definitions(def("pk", ScalarAttributeType::S))
        .attribute_definitions(def("short", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("gsi")
                .key_schema(ks(&long_key, KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("gsi"),
        )
        .send()
        .await;
    assert_service_error(
        r,
        "ValidationException",
        "Member must have length less than or equal to 255",
    );
    let ok_key = "k".repeat(255);
    c.create_table()
        .table_name("okkey")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(ks(&ok_key, KeyType::Hash))
        .attribute_definitions(def(&ok_key, ScalarAttributeType::S))
        .send()
        .await
        .expect("255-byte key name");

    // Other attribute names: 1 to 65,535 bytes, nested map keys included.
    c.put_item()
        .table_name("names")
        .item("pk", s("a"))
        .item("n".repeat(65_535), n("1"))
        .send()
        .await
        .expect("65,535-byte attribute name");
    let r = c
        .put_item()
        .table_name("names")
        .item("pk", s("b"))
        .item("n".repeat(65_536), n("1"))
        .send()
        .await;
    assert_service_error(r, "ValidationException", "65536");
    let r = c
        .put_item()
        .table_name("names")
        .item("pk", s("b"))
        .item("m", m(&[(&"n".repeat(65_536), n("1"))]))
        .send()
        .await;
    assert_service_error(r, "ValidationException", "65536");
    let r = c
        .put_item()
        .table_name("names")
        .item("pk", s("b"))
        .item("", n("1"))
        .send()
        .await;
    assert_service_error(
        r,
        "ValidationException",
        "One or more parameter values were invalid: An attribute name cannot be empty",
    );
    assert!(!exists(&c, "names", "b").await);
    still_answers(&c, "names").await;
}

#[tokio::test]
async fn malformed_exclusive_start_keys() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "esk").await;
    for i in 0..40 {
        c.put_item()
            .table_name("esk")
            .item("pk", s(&format!("p{}", i % 8)))
            .item("sk", n(&i.to_string()))
            .send()
            .await
            .expect("put");
    }
    let start =
        |pairs: &[(&str, AttributeValue)]| -> HashMap<String, AttributeValue> { item(pairs) };
    let query = |esk: HashMap<String, AttributeValue>, cond: &str| {
        c.query()
            .table_name("esk")
            .key_condition_expression(cond)
            .expression_attribute_values(":p", s("p1"))
            .set_exclusive_start_key(Some(esk))
    };

    // Query: wrong attribute count, missing attribute, wrong type, out of range.
    for (esk, msg) in [
        (
            start(&[("pk", s("p1"))]),
            "The provided starting key is invalid",
        ),
        (
            start(&[("pk", s("p1")), ("x", n("1"))]),
            "The provided starting key is invalid",
        ),
        (
            start(&[("pk", n("1")), ("sk", n("1"))]),
            "The provided key element does not match the schema",
        ),
        (
            start(&[("pk", s("p1")), ("sk", s("1"))]),
            "The provided key element does not match the schema",
        ),
        (
            start(&[("pk", s("p2")), ("sk", n("2"))]),
            "The provided starting key is outside query boundaries based on provided conditions",
        ),
    ] {
        let r = query(esk, "pk = :p").send().await;
        assert_service_error(r, "ValidationException", msg);
    }
    let r = query(
        start(&[("pk", s("p1")), ("sk", n("1"))]),
        "pk = :p AND sk > :s",
    )
    .expression_attribute_values(":s", n("10"))
    .send()
    .await;
    assert_service_error(
        r,
        "ValidationException",
        "The provided starting key does not match the range key predicate",
    );
    // A valid one pages on.
    let page = query(start(&[("pk", s("p1")), ("sk", n("1"))]), "pk = :p")
        .send()
        .await
        .expect("resume");
    assert_eq!(page.count(), 4);

    // Scan: DynamoDB words the table case differently.
    let r = c
        .scan()
        .table_name("esk")
        .set_exclusive_start_key(Some(start(&[("pk", s("p1"))])))
        .send()
        .await;
    assert_service_error(
        r,
        "ValidationException",
        "The provided starting key is invalid: The provided key element does not match the schema",
    );
    let r = c
        .scan()
        .table_name("esk")
        .set_exclusive_start_key(Some(start(&[("pk", s("p1")), ("x", n("1"))])))
        .send()
        .await;
    assert_service_error(
        r,
        "ValidationException",
        "The provided starting key is invalid: The provided key element does not match the schema",
    );

    // Parallel scan: a start key of another segment.
    let first = c
        .scan()
        .table_name("esk")
        .segment(1)
        .total_segments(2)
        .limit(1)
        .send()
        .await
        .expect("segment 1");
    let key = first
        .last_evaluated_key()
        .cloned()
        .expect("a key of segment 1");
    let r = c
        .scan()
        .table_name("esk")
        .segment(0)
        .total_segments(2)
        .set_exclusive_start_key(Some(key.clone()))
        .send()
        .await;
    assert_service_error(
        r,
        "ValidationException",
        "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: 2 Segment: 0",
    );
    c.scan()
        .table_name("esk")
        .segment(1)
        .total_segments(2)
        .set_exclusive_start_key(Some(key))
        .send()
        .await
        .expect("the same segment resumes");
    still_answers_pk_sk(&c).await;
}

async fn still_answers_pk_sk(c: &Client) {
    let out = c
        .query()
        .table_name("esk")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p0"))
        .send()
        .await
        .expect("server still answers");
    assert_eq!(out.count(), 5);
}

#[tokio::test]
async fn malformed_exclusive_start_keys_on_indexes() {
    let server = Server::start();
    let c = server.client();
    gsi_table(&c, "eski").await;
    for i in 0..10 {
        c.put_item()
            .table_name("eski")
            .item("pk", s(&format!("p{i}")))
            .item("g", s("g"))
            .item("r", s(&format!("r{i}")))
            .send()
            .await
            .expect("put");
    }
    let query = |esk: HashMap<String, AttributeValue>| {
        c.query()
            .table_name("eski")
            .index_name("by_g")
            .key_condition_expression("g = :g")
            .expression_attribute_values(":g", s("g"))
            .set_exclusive_start_key(Some(esk))
            .send()
    };
    for (esk, msg) in [
        // The index's attributes without the table's.
        (
            item(&[("g", s("g")), ("r", s("r1"))]),
            "The provided starting key is invalid",
        ),
        (
            item(&[("pk", s("p1")), ("g", n("1")), ("r", s("r1"))]),
            "The provided key element does not match the schema",
        ),
        (
            item(&[("x", s("p1")), ("g", s("g")), ("r", s("r1"))]),
            "The provided starting key is invalid: The provided key element does not match the schema",
        ),
        (
            item(&[("pk", s("p1")), ("g", s("h")), ("r", s("r1"))]),
            "The provided starting key is outside query boundaries based on provided conditions",
        ),
        (
            item(&[("pk", s("p1")), ("g", s(&"h".repeat(70_000))), ("r", s("r1"))]),
            HASHKEY_TOO_BIG,
        ),
    ] {
        assert_service_error(query(esk).await, "ValidationException", msg);
    }
    let page = query(item(&[("pk", s("p3")), ("g", s("g")), ("r", s("r3"))]))
        .await
        .expect("resume on the index");
    assert_eq!(page.count(), 6);

    let scan = |index: &str, esk: HashMap<String, AttributeValue>| {
        c.scan()
            .table_name("eski")
            .index_name(index)
            .set_exclusive_start_key(Some(esk))
            .send()
    };
    assert_service_error(
        scan("by_g", item(&[("pk", s("p1"))])).await,
        "ValidationException",
        "The provided starting key is invalid",
    );
    assert_service_error(
        scan("nope", item(&[("pk", s("p1"))])).await,
        "ValidationException",
        "The provided starting key is invalid",
    );
    let all = scan(
        "by_g",
        item(&[("pk", s("p3")), ("g", s("g")), ("r", s("r3"))]),
    )
    .await
    .expect("scan resumes on the index");
    assert_eq!(all.count(), 6);
    still_answers(&c, "eski").await;
}
