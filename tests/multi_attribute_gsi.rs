//! Global secondary indexes with multi-attribute keys (DynamoDB, November 2025): up to four
//! partition-key and four sort-key attributes per GSI. CreateTable/UpdateTable validation,
//! DescribeTable, Query (equality on every partition attribute, sort attributes left to right
//! with a range only on the last one used), sparse indexes, paging, backfill, restart.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ComparisonOperator, Condition,
    CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    IndexStatus, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection, ProjectionType,
    ScalarAttributeType,
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

fn all() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

fn gsi(name: &str, schema: &[(&str, KeyType)]) -> GlobalSecondaryIndex {
    let mut b = GlobalSecondaryIndex::builder()
        .index_name(name)
        .projection(all());
    for (n, t) in schema {
        b = b.key_schema(ks(n, t.clone()));
    }
    b.build().expect("gsi")
}

const H: KeyType = KeyType::Hash;
const R: KeyType = KeyType::Range;

/// matches: pk matchId (S); GSI `by_bracket`: partition (tournamentId S, region S), sort
/// (round S, bracket S, seq N); GSI `by_player`: partition player (S), sort (matchDay N, round S).
async fn matches_table(c: &Client) {
    c.create_table()
        .table_name("matches")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(ks("matchId", H))
        .attribute_definitions(def("matchId", ScalarAttributeType::S))
        .attribute_definitions(def("tournamentId", ScalarAttributeType::S))
        .attribute_definitions(def("region", ScalarAttributeType::S))
        .attribute_definitions(def("round", ScalarAttributeType::S))
        .attribute_definitions(def("bracket", ScalarAttributeType::S))
        .attribute_definitions(def("seq", ScalarAttributeType::N))
        .attribute_definitions(def("player", ScalarAttributeType::S))
        .attribute_definitions(def("matchDay", ScalarAttributeType::N))
        .global_secondary_indexes(gsi(
            "by_bracket",
            &[
                ("tournamentId", H),
                ("region", H),
                ("round", R),
                ("bracket", R),
                ("seq", R),
            ],
        ))
        .global_secondary_indexes(gsi(
            "by_player",
            &[("player", H), ("matchDay", R), ("round", R)],
        ))
        .send()
        .await
        .expect("create");
    wait_active(c, "matches").await;
}

/// 2 tournaments x 2 regions x 3 rounds x 2 brackets x 3 seqs = 72 matches.
async fn load(c: &Client) {
    let mut i = 0;
    for t in ["WINTER", "SUMMER"] {
        for r in ["EAST", "WEST"] {
            for round in ["FINAL", "QUARTER", "SEMI"] {
                for bracket in ["LOWER", "UPPER"] {
                    for seq in [1, 2, 10] {
                        c.put_item()
                            .table_name("matches")
                            .item("matchId", s(&format!("m{i:03}")))
                            .item("tournamentId", s(t))
                            .item("region", s(r))
                            .item("round", s(round))
                            .item("bracket", s(bracket))
                            .item("seq", n(&seq.to_string()))
                            .item("player", s(&format!("p{}", i % 4)))
                            .item("matchDay", n(&(i % 9).to_string()))
                            .send()
                            .await
                            .expect("put");
                        i += 1;
                    }
                }
            }
        }
    }
}

fn vals(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The given attribute of each item, in order.
fn column(items: &[HashMap<String, AttributeValue>], attr: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| match i.get(attr) {
            Some(AttributeValue::S(v)) | Some(AttributeValue::N(v)) => v.clone(),
            other => panic!("{attr}: {other:?}"),
        })
        .collect()
}

async fn query(
    c: &Client,
    index: &str,
    cond: &str,
    values: &[(&str, AttributeValue)],
) -> Result<
    aws_sdk_dynamodb::operation::query::QueryOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::query::QueryError>,
> {
    let mut q = c
        .query()
        .table_name("matches")
        .index_name(index)
        .key_condition_expression(cond)
        .set_expression_attribute_values(Some(vals(values)));
    if cond.contains("#r") {
        q = q.expression_attribute_names("#r", "region");
    }
    q.send().await
}

#[tokio::test]
async fn multi_attribute_gsi_describe_query_and_sparse() {
    let server = Server::start();
    let c = server.client();
    matches_table(&c).await;

    // DescribeTable lists the attributes in key-schema order: HASH ones, then RANGE ones.
    let d = c
        .describe_table()
        .table_name("matches")
        .send()
        .await
        .expect("describe");
    let t = d.table().expect("table");
    let g = t
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some("by_bracket"))
        .expect("gsi");
    let schema: Vec<(String, String)> = g
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        schema,
        [
            ("tournamentId", "HASH"),
            ("region", "HASH"),
            ("round", "RANGE"),
            ("bracket", "RANGE"),
            ("seq", "RANGE"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(t.attribute_definitions().len(), 8);

    load(&c).await;
    let (wt, east) = ((":t", s("WINTER")), (":r", s("EAST")));

    // Every partition attribute: the whole partition, sorted by round, bracket, seq (numeric).
    let out = query(
        &c,
        "by_bracket",
        "tournamentId = :t AND #r = :r",
        &[wt.clone(), east.clone()],
    )
    .await
    .expect("partition");
    assert_eq!(out.count(), 18);
    let rounds = column(out.items(), "round");
    let mut sorted = rounds.clone();
    sorted.sort();
    assert_eq!(rounds, sorted);
    assert_eq!(column(&out.items()[..3], "seq"), ["1", "2", "10"]);

    // Leading sort attributes with equality, then a range on the next one.
    let out = query(
        &c,
        "by_bracket",
        "tournamentId = :t AND #r = :r AND round = :round",
        &[wt.clone(), east.clone(), (":round", s("SEMI"))],
    )
    .await
    .expect("first sort attribute");
    assert_eq!(out.count(), 6);
    let out = query(
        &c,
        "by_bracket",
        "tournamentId = :t AND #r = :r AND round = :round AND bracket = :b AND seq > :s",
        &[
            wt.clone(),
            east.clone(),
            (":round", s("SEMI")),
            (":b", s("UPPER")),
            (":s", n("1")),
        ],
    )
    .await
    .expect("range on the last attribute");
    assert_eq!(column(out.items(), "seq"), ["2", "10"]);
    let out = query(
        &c,
        "by_bracket",
        "tournamentId = :t AND #r = :r AND round = :round AND bracket BETWEEN :a AND :b",
        &[
            wt.clone(),
            east.clone(),
            (":round", s("QUARTER")),
            (":a", s("A")),
            (":b", s("M")),
        ],
    )
    .await
    .expect("between on the second sort attribute");
    assert_eq!(column(out.items(), "bracket"), ["LOWER"; 3]);
    let out = query(
        &c,
        "by_bracket",
        "tournamentId = :t AND #r = :r AND begins_with(round, :p)",
        &[wt.clone(), east.clone(), (":p", s("S"))],
    )
    .await
    .expect("begins_with");
    assert_eq!(out.count(), 6);
    let out = query(
        &c,
        "by_bracket",
        "tournamentId = :t AND #r = :r AND round < :round",
        &[wt.clone(), east.clone(), (":round", s("QUARTER"))],
    )
    .await
    .expect("less than");
    assert_eq!(column(out.items(), "round"), ["FINAL"; 6]);

    // Backwards, in pages whose LastEvaluatedKey holds every key attribute.
    let mut seen = Vec::new();
    let mut start = None;
    loop {
        let page = c
            .query()
            .table_name("matches")
            .index_name("by_bracket")
            .key_condition_expression("tournamentId = :t AND #r = :r AND round = :round")
            .expression_attribute_names("#r", "region")
            .set_expression_attribute_values(Some(vals(&[
                wt.clone(),
                east.clone(),
                (":round", s("FINAL")),
            ])))
            .scan_index_forward(false)
            .limit(4)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("page");
        seen.extend(column(page.items(), "matchId"));
        start = page.last_evaluated_key().cloned();
        match &start {
            Some(k) => {
                let mut names: Vec<&str> = k.keys().map(String::as_str).collect();
                names.sort();
                assert_eq!(
                    names,
                    [
                        "bracket",
                        "matchId",
                        "region",
                        "round",
                        "seq",
                        "tournamentId"
                    ]
                );
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 6);

    // Sparse: an item lacking any one key attribute is not in the index.
    for (id, skip) in [("x1", "region"), ("x2", "bracket"), ("x3", "seq")] {
        let mut p = c.put_item().table_name("matches").item("matchId", s(id));
        for (a, v) in [
            ("tournamentId", s("WINTER")),
            ("region", s("EAST")),
            ("round", s("FINAL")),
            ("bracket", s("UPPER")),
            ("seq", n("99")),
        ] {
            if a != skip {
                p = p.item(a, v);
            }
        }
        p.send().await.expect("sparse put");
    }
    let out = query(
        &c,
        "by_bracket",
        "tournamentId = :t AND #r = :r",
        &[wt.clone(), east.clone()],
    )
    .await
    .expect("partition");
    assert_eq!(out.count(), 18);
    // Completing one brings it in; changing a sort attribute moves its entry.
    c.update_item()
        .table_name("matches")
        .key("matchId", s("x3"))
        .update_expression("SET seq = :s")
        .expression_attribute_values(":s", n("0"))
        .send()
        .await
        .expect("complete");
    c.update_item()
        .table_name("matches")
        .key("matchId", s("x3"))
        .update_expression("SET bracket = :b")
        .expression_attribute_values(":b", s("ZED"))
        .send()
        .await
        .expect("move");
    let out = query(
        &c,
        "by_bracket",
        "tournamentId = :t AND #r = :r AND round = :round AND bracket = :b",
        &[
            wt.clone(),
            east.clone(),
            (":round", s("FINAL")),
            (":b", s("ZED")),
        ],
    )
    .await
    .expect("moved");
    assert_eq!(column(out.items(), "matchId"), ["x3"]);
    let out = query(
        &c,
        "by_bracket",
        "tournamentId = :t AND #r = :r",
        &[wt, east],
    )
    .await
    .expect("partition");
    assert_eq!(out.count(), 19);

    // The second index: a numeric first sort attribute.
    let out = query(
        &c,
        "by_player",
        "player = :p AND matchDay BETWEEN :a AND :b",
        &[(":p", s("p1")), (":a", n("2")), (":b", n("5"))],
    )
    .await
    .expect("numeric range");
    let days: Vec<i64> = column(out.items(), "matchDay")
        .iter()
        .map(|d| d.parse().expect("matchDay"))
        .collect();
    assert!(!days.is_empty() && days.windows(2).all(|w| w[0] <= w[1]));
    assert!(days.iter().all(|d| (2..=5).contains(d)));

    // Legacy KeyConditions: one condition per key attribute used.
    let out = c
        .query()
        .table_name("matches")
        .index_name("by_bracket")
        .key_conditions(
            "tournamentId",
            Condition::builder()
                .comparison_operator(ComparisonOperator::Eq)
                .attribute_value_list(s("SUMMER"))
                .build()
                .expect("cond"),
        )
        .key_conditions(
            "region",
            Condition::builder()
                .comparison_operator(ComparisonOperator::Eq)
                .attribute_value_list(s("WEST"))
                .build()
                .expect("cond"),
        )
        .key_conditions(
            "round",
            Condition::builder()
                .comparison_operator(ComparisonOperator::Gt)
                .attribute_value_list(s("FINAL"))
                .build()
                .expect("cond"),
        )
        .send()
        .await
        .expect("KeyConditions");
    assert_eq!(out.count(), 12);

    let scanned = c
        .scan()
        .table_name("matches")
        .index_name("by_bracket")
        .send()
        .await
        .expect("scan index");
    assert_eq!(scanned.count(), 73);
}

#[tokio::test]
async fn multi_attribute_query_errors() {
    let server = Server::start();
    let c = server.client();
    matches_table(&c).await;
    load(&c).await;
    let (wt, east) = ((":t", s("WINTER")), (":r", s("EAST")));
    for (cond, values, msg) in [
        (
            "tournamentId = :t",
            vec![wt.clone()],
            "Query condition missed key schema element: region",
        ),
        (
            "tournamentId = :t AND #r > :r",
            vec![wt.clone(), east.clone()],
            "Query key condition not supported",
        ),
        (
            "tournamentId = :t AND #r = :r AND bracket = :b",
            vec![wt.clone(), east.clone(), (":b", s("UPPER"))],
            "Query condition missed key schema element: round",
        ),
        (
            "tournamentId = :t AND #r = :r AND round > :round AND bracket = :b",
            vec![wt.clone(), east.clone(), (":round", s("A")), (":b", s("UPPER"))],
            "Query key condition not supported",
        ),
        (
            "tournamentId = :t AND #r = :r AND round = :round AND bracket = :b AND begins_with(seq, :s)",
            vec![
                wt.clone(),
                east.clone(),
                (":round", s("A")),
                (":b", s("UPPER")),
                (":s", n("1")),
            ],
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
        ),
        (
            "tournamentId = :t AND #r = :r AND round = :round",
            vec![wt.clone(), east.clone(), (":round", n("1"))],
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
    ] {
        let r = query(&c, "by_bracket", cond, &values).await;
        assert_service_error(r, "ValidationException", msg);
    }
    // A start key from another partition.
    let r = c
        .query()
        .table_name("matches")
        .index_name("by_bracket")
        .key_condition_expression("tournamentId = :t AND #r = :r")
        .expression_attribute_names("#r", "region")
        .set_expression_attribute_values(Some(vals(&[wt.clone(), east.clone()])))
        .set_exclusive_start_key(Some(vals(&[
            ("matchId", s("m000")),
            ("tournamentId", s("WINTER")),
            ("region", s("WEST")),
            ("round", s("FINAL")),
            ("bracket", s("LOWER")),
            ("seq", n("1")),
        ])))
        .send()
        .await;
    assert_service_error(
        r,
        "ValidationException",
        "The provided starting key is outside query boundaries based on provided conditions",
    );
    // The server still answers.
    let out = query(
        &c,
        "by_bracket",
        "tournamentId = :t AND #r = :r",
        &[wt, east],
    )
    .await
    .expect("still answers");
    assert_eq!(out.count(), 18);
}

#[tokio::test]
async fn multi_attribute_key_schema_validation() {
    let server = Server::start();
    let c = server.client();
    let attrs = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    let create = |schema: Vec<(&'static str, KeyType)>,
                  lsi: Option<Vec<(&'static str, KeyType)>>| {
        let mut req = c
            .create_table()
            .table_name(unique_name("bad"))
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(ks("pk", H))
            .key_schema(ks("sk", R))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
            .attribute_definitions(def("sk", ScalarAttributeType::S));
        for a in attrs {
            req = req.attribute_definitions(def(a, ScalarAttributeType::S));
        }
        match lsi {
            None => req = req.global_secondary_indexes(gsi("gsi", &schema)),
            Some(l) => {
                let mut b = LocalSecondaryIndex::builder()
                    .index_name("lsi")
                    .projection(all());
                for (n, t) in l {
                    b = b.key_schema(ks(n, t));
                }
                req = req.local_secondary_indexes(b.build().expect("lsi"));
            }
        }
        req.send()
    };
    for (schema, msg) in [
        (
            vec![("a", H), ("b", H), ("c", H), ("d", H), ("e", H)],
            "One or more parameter values were invalid: Invalid KeySchema: The number of HASH key elements exceeds the limit of 4; index: gsi",
        ),
        (
            vec![("a", H), ("b", R), ("c", R), ("d", R), ("e", R), ("f", R)],
            "One or more parameter values were invalid: Invalid KeySchema: The number of RANGE key elements exceeds the limit of 4; index: gsi",
        ),
        (
            vec![("a", H), ("b", R), ("c", H)],
            "One or more parameter values were invalid: Invalid KeySchema: HASH key elements must come before RANGE key elements; index: gsi",
        ),
        (
            vec![("a", R), ("b", H)],
            "One or more parameter values were invalid: Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ),
        (
            vec![("a", H), ("b", H), ("a", R)],
            "One or more parameter values were invalid: Invalid KeySchema: Duplicate attribute in KeySchema: a; index: gsi",
        ),
        (
            vec![
                ("a", H),
                ("b", H),
                ("c", H),
                ("d", H),
                ("e", R),
                ("f", R),
                ("g", R),
                ("h", R),
                ("i", R),
            ],
            "One or more parameter values were invalid: Invalid KeySchema: index gsi must have between 1 and 8 key elements",
        ),
        (
            vec![("a", H), ("zz", R)],
            "Some index key attributes are not defined in AttributeDefinitions. Keys: [a, zz]",
        ),
    ] {
        assert_service_error(create(schema, None).await, "ValidationException", msg);
    }
    // Local indexes keep one partition (the table's) and one sort attribute.
    assert_service_error(
        create(vec![], Some(vec![("pk", H), ("a", H)])).await,
        "ValidationException",
        "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
    );
    assert_service_error(
        create(vec![], Some(vec![("pk", H), ("a", R), ("b", R)])).await,
        "ValidationException",
        "Invalid KeySchema: index lsi must have 1 or 2 key elements",
    );
    // Four and four is the most.
    let name = unique_name("ok");
    let mut req = c
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(ks("pk", H))
        .attribute_definitions(def("pk", ScalarAttributeType::S));
    for a in &attrs[..8] {
        req = req.attribute_definitions(def(a, ScalarAttributeType::S));
    }
    req.global_secondary_indexes(gsi(
        "gsi",
        &[
            ("a", H),
            ("b", H),
            ("c", H),
            ("d", H),
            ("e", R),
            ("f", R),
            ("g", R),
            ("h", R),
        ],
    ))
    .send()
    .await
    .expect("4 + 4 attributes");
    wait_active(&c, &name).await;
    c.list_tables().send().await.expect("still answers");
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
async fn multi_attribute_gsi_backfill_and_restart() {
    let mut server = Server::start();
    let c = server.client();
    create_table(&c, "orders", ("id", ScalarAttributeType::S), None).await;
    for i in 0..60 {
        let mut p = c
            .put_item()
            .table_name("orders")
            .item("id", s(&format!("o{i:02}")))
            .item("tenant", s(&format!("t{}", i % 3)))
            .item("year", n(&(2020 + i % 4).to_string()));
        // Every tenth item lacks the sort attribute, one has it with the wrong type.
        if i % 10 != 0 {
            p = p.item("month", n(&(i % 12).to_string()));
        } else if i == 30 {
            p = p.item("month", s("june"));
        }
        p.send().await.expect("put");
    }
    let r = c
        .update_table()
        .table_name("orders")
        .attribute_definitions(def("tenant", ScalarAttributeType::S))
        .attribute_definitions(def("year", ScalarAttributeType::N))
        .attribute_definitions(def("month", ScalarAttributeType::N))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by_tenant_year")
                        .key_schema(ks("tenant", H))
                        .key_schema(ks("year", H))
                        .key_schema(ks("month", R))
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
        .await;
    r.expect("add a multi-attribute GSI");
    wait_index_active(&c, "orders", "by_tenant_year").await;

    let count = |c: Client| async move {
        c.query()
            .table_name("orders")
            .index_name("by_tenant_year")
            .key_condition_expression("tenant = :t AND #y = :y AND #m >= :m")
            .expression_attribute_names("#y", "year")
            .expression_attribute_names("#m", "month")
            .expression_attribute_values(":t", s("t1"))
            .expression_attribute_values(":y", n("2021"))
            .expression_attribute_values(":m", n("0"))
            .send()
            .await
            .expect("query")
            .count()
    };
    // tenant t1 and year 2021: i % 3 == 1 and i % 4 == 1, i.e. i in {1, 13, 25, 37, 49}.
    assert_eq!(count(c.clone()).await, 5);
    let total = c
        .scan()
        .table_name("orders")
        .index_name("by_tenant_year")
        .send()
        .await
        .expect("scan")
        .count();
    assert_eq!(total, 54);

    // The definition and the entries survive a restart.
    server.restart();
    let c = server.client();
    let d = c
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .expect("describe after restart");
    let g = &d.table().expect("table").global_secondary_indexes()[0];
    let schema: Vec<&str> = g.key_schema().iter().map(|k| k.attribute_name()).collect();
    assert_eq!(schema, ["tenant", "year", "month"]);
    assert_eq!(count(c.clone()).await, 5);
}
