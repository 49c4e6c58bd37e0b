//! Global and local secondary indexes through the AWS SDK: definitions, maintenance on every
//! write path, Query/Scan with IndexName, projections, paging, sparse indexes, errors, and the
//! backfill of a GSI added to a table of 100,000 items while writes continue.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    IndexStatus, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection, ProjectionType,
    PutRequest, ScalarAttributeType, Select, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use common::*;

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

fn projection(t: ProjectionType, non_key: &[&str]) -> Projection {
    let mut p = Projection::builder().projection_type(t);
    for n in non_key {
        p = p.non_key_attributes(*n);
    }
    p.build()
}

fn gsi(name: &str, hash: &str, range: Option<&str>, p: Projection) -> GlobalSecondaryIndex {
    let mut b = GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(ks(hash, KeyType::Hash))
        .projection(p);
    if let Some(r) = range {
        b = b.key_schema(ks(r, KeyType::Range));
    }
    b.build().expect("gsi")
}

/// orders: pk=customer (S), sk=order id (N); GSI by_state (state S, amount N) ALL;
/// GSI by_region (region S) KEYS_ONLY; GSI by_day (day S) INCLUDE [amount];
/// LSI by_amount (customer, amount N) KEYS_ONLY.
async fn orders_table(c: &Client) {
    c.create_table()
        .table_name("orders")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(ks("customer", KeyType::Hash))
        .key_schema(ks("oid", KeyType::Range))
        .attribute_definitions(def("customer", ScalarAttributeType::S))
        .attribute_definitions(def("oid", ScalarAttributeType::N))
        .attribute_definitions(def("state", ScalarAttributeType::S))
        .attribute_definitions(def("amount", ScalarAttributeType::N))
        .attribute_definitions(def("region", ScalarAttributeType::S))
        .attribute_definitions(def("day", ScalarAttributeType::S))
        .global_secondary_indexes(gsi(
            "by_state",
            "state",
            Some("amount"),
            projection(ProjectionType::All, &[]),
        ))
        .global_secondary_indexes(gsi(
            "by_region",
            "region",
            None,
            projection(ProjectionType::KeysOnly, &[]),
        ))
        .global_secondary_indexes(gsi(
            "by_day",
            "day",
            None,
            projection(ProjectionType::Include, &["amount"]),
        ))
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by_amount")
                .key_schema(ks("customer", KeyType::Hash))
                .key_schema(ks("amount", KeyType::Range))
                .projection(projection(ProjectionType::KeysOnly, &[]))
                .build()
                .expect("lsi"),
        )
        .send()
        .await
        .expect("create orders");
    wait_active(c, "orders").await;
}

async fn put_order(c: &Client, customer: &str, oid: i64, state: Option<&str>, total: i64) {
    let mut p = c
        .put_item()
        .table_name("orders")
        .item("customer", s(customer))
        .item("oid", n(&oid.to_string()))
        .item("amount", n(&total.to_string()))
        .item("region", s(if oid % 2 == 0 { "eu" } else { "us" }))
        .item("day", s(&format!("d{}", oid % 3)))
        .item("note", s("note"));
    if let Some(st) = state {
        p = p.item("state", s(st));
    }
    p.send().await.expect("put order");
}

fn nums(items: &[HashMap<String, AttributeValue>], attr: &str) -> Vec<i64> {
    items
        .iter()
        .map(|i| match &i[attr] {
            AttributeValue::N(v) => v.parse().expect("number"),
            other => panic!("{attr}: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn secondary_indexes_are_maintained_and_queried() {
    let server = Server::start();
    let c = server.client();
    orders_table(&c).await;
    let d = c
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .expect("describe");
    let t = d.table().expect("table");
    assert_eq!(t.global_secondary_indexes().len(), 3);
    assert_eq!(t.local_secondary_indexes().len(), 1);
    let g = &t.global_secondary_indexes()[0];
    assert_eq!(g.index_name(), Some("by_state"));
    assert_eq!(g.index_status(), Some(&IndexStatus::Active));
    assert!(g
        .index_arn()
        .is_some_and(|a| a.ends_with("table/orders/index/by_state")));
    assert_eq!(
        t.local_secondary_indexes()[0]
            .projection()
            .and_then(|p| p.projection_type()),
        Some(&ProjectionType::KeysOnly)
    );

    // alice: 5 orders, 3 open; bob: 2 orders, 1 open; one order without state (sparse).
    for (cust, oid, state, total) in [
        ("alice", 1, Some("open"), 30),
        ("alice", 2, Some("open"), 10),
        ("alice", 3, Some("shipped"), 50),
        ("alice", 4, Some("open"), 20),
        ("alice", 5, None, 40),
        ("bob", 1, Some("open"), 25),
        ("bob", 2, Some("shipped"), 5),
    ] {
        put_order(&c, cust, oid, state, total).await;
    }
    let q = |index: &str, expr: &str, vals: &[(&str, AttributeValue)]| {
        let mut b = c
            .query()
            .table_name("orders")
            .index_name(index)
            .key_condition_expression(expr);
        for (k, v) in vals {
            b = b.expression_attribute_values(*k, v.clone());
        }
        b
    };
    let open = q("by_state", "#s = :s", &[(":s", s("open"))])
        .expression_attribute_names("#s", "state")
        .send()
        .await
        .expect("query gsi");
    assert_eq!(
        nums(open.items(), "amount"),
        [10, 20, 25, 30],
        "sorted by index range key"
    );
    assert!(
        open.items().iter().all(|i| i.contains_key("note")),
        "ALL projection"
    );
    let big = q(
        "by_state",
        "#s = :s AND amount BETWEEN :a AND :b",
        &[(":s", s("open")), (":a", n("15")), (":b", n("26"))],
    )
    .expression_attribute_names("#s", "state")
    .scan_index_forward(false)
    .send()
    .await
    .expect("range query");
    assert_eq!(nums(big.items(), "amount"), [25, 20]);

    // Paging through an index: LastEvaluatedKey holds table and index keys.
    let page = q("by_state", "#s = :s", &[(":s", s("open"))])
        .expression_attribute_names("#s", "state")
        .limit(2)
        .send()
        .await
        .expect("page 1");
    let lek = page.last_evaluated_key().expect("more").clone();
    let mut names: Vec<&str> = lek.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["amount", "customer", "oid", "state"]);
    let rest = q("by_state", "#s = :s", &[(":s", s("open"))])
        .expression_attribute_names("#s", "state")
        .set_exclusive_start_key(Some(lek))
        .send()
        .await
        .expect("page 2");
    assert_eq!(nums(rest.items(), "amount"), [25, 30]);

    // KEYS_ONLY and INCLUDE projections; ALL_ATTRIBUTES is refused on such a GSI.
    let eu = q("by_region", "#r = :r", &[(":r", s("eu"))])
        .expression_attribute_names("#r", "region")
        .send()
        .await
        .expect("keys only");
    assert_eq!(eu.count(), 3);
    for i in eu.items() {
        let mut k: Vec<&str> = i.keys().map(String::as_str).collect();
        k.sort();
        assert_eq!(k, ["customer", "oid", "region"]);
    }
    assert_service_error(
        q("by_region", "#r = :r", &[(":r", s("eu"))])
            .expression_attribute_names("#r", "region")
            .select(Select::AllAttributes)
            .send()
            .await,
        "ValidationException",
        "Select type ALL_ATTRIBUTES is not supported for global secondary index by_region",
    );
    let d0 = q("by_day", "#d = :d", &[(":d", s("d0"))])
        .expression_attribute_names("#d", "day")
        .send()
        .await
        .expect("include");
    assert!(d0
        .items()
        .iter()
        .all(|i| i.contains_key("amount") && !i.contains_key("note")));

    // Local index: strongly consistent reads, and ALL_ATTRIBUTES fetched from the table.
    let lsi = q(
        "by_amount",
        "customer = :c AND amount > :t",
        &[(":c", s("alice")), (":t", n("15"))],
    )
    .consistent_read(true)
    .select(Select::AllAttributes)
    .send()
    .await
    .expect("lsi");
    assert_eq!(nums(lsi.items(), "amount"), [20, 30, 40, 50]);
    assert!(lsi.items().iter().all(|i| i.contains_key("note")));
    assert_service_error(
        q("by_state", "#s = :s", &[(":s", s("open"))])
            .expression_attribute_names("#s", "state")
            .consistent_read(true)
            .send()
            .await,
        "ValidationException",
        "Consistent reads are not supported on global secondary indexes",
    );
    assert_service_error(
        q("nosuch", "customer = :c", &[(":c", s("alice"))])
            .send()
            .await,
        "ValidationException",
        "The table does not have the specified index: nosuch",
    );
    assert_service_error(
        q("by_state", "customer = :c", &[(":c", s("alice"))])
            .send()
            .await,
        "ValidationException",
        "",
    );

    // Updates move entries, deletes remove them, the sparse item appears once it has a state.
    c.update_item()
        .table_name("orders")
        .key("customer", s("alice"))
        .key("oid", n("1"))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "state")
        .expression_attribute_values(":s", s("shipped"))
        .send()
        .await
        .expect("ship");
    c.delete_item()
        .table_name("orders")
        .key("customer", s("bob"))
        .key("oid", n("1"))
        .send()
        .await
        .expect("delete");
    c.update_item()
        .table_name("orders")
        .key("customer", s("alice"))
        .key("oid", n("5"))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "state")
        .expression_attribute_values(":s", s("open"))
        .send()
        .await
        .expect("open the sparse one");
    let open = q("by_state", "#s = :s", &[(":s", s("open"))])
        .expression_attribute_names("#s", "state")
        .send()
        .await
        .expect("query");
    assert_eq!(nums(open.items(), "amount"), [10, 20, 40]);
    let scan = c
        .scan()
        .table_name("orders")
        .index_name("by_state")
        .send()
        .await
        .expect("scan index");
    assert_eq!(scan.count(), 6, "every item with a state");

    // Wrong type for an index key attribute is refused on every write path.
    assert_service_error(
        c.put_item()
            .table_name("orders")
            .item("customer", s("carol"))
            .item("oid", n("1"))
            .item("amount", s("lots"))
            .send()
            .await,
        "ValidationException",
        "Type mismatch for Index Key amount Expected: N Actual: S",
    );
    assert_service_error(
        c.update_item()
            .table_name("orders")
            .key("customer", s("alice"))
            .key("oid", n("2"))
            .update_expression("SET #s = :s")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":s", s(""))
            .send()
            .await,
        "ValidationException",
        "A value specified for a secondary index key is not supported",
    );

    // Counts survive a restart.
    let mut server = server;
    server.restart();
    let c = server.client();
    let d = c
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .expect("describe");
    let by_state = d.table().expect("t").global_secondary_indexes()[0].clone();
    assert_eq!(by_state.item_count(), Some(6));
    assert!(by_state.index_size_bytes().is_some_and(|b| b > 0));
}

#[tokio::test]
async fn index_definition_errors() {
    let server = Server::start();
    let c = server.client();
    let base = || {
        c.create_table()
            .table_name("bad")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(ks("pk", KeyType::Hash))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
    };
    assert_service_error(
        base()
            .attribute_definitions(def("g", ScalarAttributeType::S))
            .local_secondary_indexes(
                LocalSecondaryIndex::builder()
                    .index_name("lsi")
                    .key_schema(ks("pk", KeyType::Hash))
                    .key_schema(ks("g", KeyType::Range))
                    .projection(projection(ProjectionType::All, &[]))
                    .build()
                    .expect("lsi"),
            )
            .send()
            .await,
        "ValidationException",
        "Table KeySchema does not have a range key",
    );
    assert_service_error(
        base()
            .global_secondary_indexes(gsi(
                "gi1",
                "undefined",
                None,
                projection(ProjectionType::All, &[]),
            ))
            .send()
            .await,
        "ValidationException",
        "Some index key attributes are not defined in AttributeDefinitions",
    );
    assert_service_error(
        base()
            .attribute_definitions(def("g", ScalarAttributeType::S))
            .attribute_definitions(def("unused", ScalarAttributeType::S))
            .global_secondary_indexes(gsi("gi1", "g", None, projection(ProjectionType::All, &[])))
            .send()
            .await,
        "ValidationException",
        "Some AttributeDefinitions are not used",
    );
    assert_service_error(
        base()
            .attribute_definitions(def("g", ScalarAttributeType::S))
            .global_secondary_indexes(gsi("gi1", "g", None, projection(ProjectionType::All, &[])))
            .global_secondary_indexes(gsi("gi1", "g", None, projection(ProjectionType::All, &[])))
            .send()
            .await,
        "ValidationException",
        "Duplicate index name: gi1",
    );
    assert_service_error(
        base()
            .attribute_definitions(def("g", ScalarAttributeType::S))
            .global_secondary_indexes(gsi(
                "gi1",
                "g",
                None,
                projection(ProjectionType::All, &["x"]),
            ))
            .send()
            .await,
        "ValidationException",
        "ProjectionType is ALL, but NonKeyAttributes is specified",
    );
}

/// A GSI added to a table holding 100,000 items while writers keep changing them: once ACTIVE,
/// the index holds exactly the entries the table's items call for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gsi_backfill_on_100k_items_while_writing() {
    const ITEMS: usize = 100_000;
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "big").await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            let mut batch = Vec::new();
            while i < ITEMS {
                batch.push(
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item(&[
                                    ("pk", s(&format!("p{}", i % 1000))),
                                    ("sk", n(&i.to_string())),
                                    ("g", s(&format!("g{}", i % 50))),
                                ])))
                                .build()
                                .expect("put"),
                        )
                        .build(),
                );
                if batch.len() == 25 {
                    c.batch_write_item()
                        .request_items("big", std::mem::take(&mut batch))
                        .send()
                        .await
                        .expect("load");
                }
                i += 8;
            }
            if !batch.is_empty() {
                c.batch_write_item()
                    .request_items("big", batch)
                    .send()
                    .await
                    .expect("load");
            }
        }));
    }
    for t in tasks {
        t.await.expect("loader");
    }
    eprintln!(
        "loaded {ITEMS} items in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    c.update_table()
        .table_name("big")
        .attribute_definitions(def("g", ScalarAttributeType::S))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by_g")
                        .key_schema(ks("g", KeyType::Hash))
                        .key_schema(ks("sk", KeyType::Range))
                        .projection(projection(ProjectionType::KeysOnly, &[]))
                        .build()
                        .expect("create"),
                )
                .build(),
        )
        .send()
        .await
        .expect("add gsi");
    // Writers change index keys (and delete some items) during the backfill.
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut changed = 0;
            for i in (0..ITEMS).step_by(97) {
                let (pk, sk) = (format!("p{}", i % 1000), i.to_string());
                if i % 2 == 0 {
                    c.update_item()
                        .table_name("big")
                        .key("pk", s(&pk))
                        .key("sk", n(&sk))
                        .update_expression("SET g = :g")
                        .expression_attribute_values(":g", s("moved"))
                        .send()
                        .await
                        .expect("update");
                } else {
                    c.delete_item()
                        .table_name("big")
                        .key("pk", s(&pk))
                        .key("sk", n(&sk))
                        .send()
                        .await
                        .expect("delete");
                }
                changed += 1;
            }
            changed
        })
    };
    let mut saw_creating = false;
    loop {
        let d = c
            .describe_table()
            .table_name("big")
            .send()
            .await
            .expect("describe");
        let status = d.table().expect("t").global_secondary_indexes()[0]
            .index_status()
            .cloned();
        match status {
            Some(IndexStatus::Active) => break,
            Some(IndexStatus::Creating) => saw_creating = true,
            other => panic!("unexpected index status {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "backfill too slow"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let backfill = started.elapsed();
    let changed = writer.await.expect("writer");
    assert!(saw_creating);
    eprintln!(
        "GSI backfill of {ITEMS} items: {:.1}s ({:.0} items/s), {changed} concurrent changes",
        backfill.as_secs_f64(),
        ITEMS as f64 / backfill.as_secs_f64()
    );

    // Expected entries from a full table scan; actual from a full index scan.
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name("big")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan table");
        for i in page.items() {
            if let AttributeValue::S(g) = &i["g"] {
                *expected.entry(g.clone()).or_default() += 1;
            }
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    let mut actual: BTreeMap<String, usize> = BTreeMap::new();
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name("big")
            .index_name("by_g")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan index");
        for i in page.items() {
            if let AttributeValue::S(g) = &i["g"] {
                *actual.entry(g.clone()).or_default() += 1;
            }
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    assert_eq!(actual, expected);
    let total: usize = actual.values().sum();
    assert!(total > ITEMS - 1100 && total < ITEMS, "{total}");
    let moved = c
        .query()
        .table_name("big")
        .index_name("by_g")
        .key_condition_expression("g = :g")
        .expression_attribute_values(":g", s("moved"))
        .select(Select::Count)
        .send()
        .await
        .expect("query moved");
    assert_eq!(moved.count() as usize, expected["moved"]);

    // And the index can be deleted.
    c.update_table()
        .table_name("big")
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("by_g")
                        .build()
                        .expect("delete"),
                )
                .build(),
        )
        .send()
        .await
        .expect("delete gsi");
    let d = c
        .describe_table()
        .table_name("big")
        .send()
        .await
        .expect("describe");
    assert!(d.table().expect("t").global_secondary_indexes().is_empty());
}
