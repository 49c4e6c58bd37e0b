//! Item operations through the AWS SDK: every attribute type, ReturnValues, projections,
//! conditions on writes.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use common::*;

fn every_type() -> HashMap<String, AttributeValue> {
    let mut deep = AttributeValue::S("bottom".into());
    for i in 0..30 {
        deep = if i % 2 == 0 {
            AttributeValue::L(vec![deep])
        } else {
            AttributeValue::M(HashMap::from([("k".to_string(), deep)]))
        };
    }
    HashMap::from([
        ("pk".to_string(), s("all-types")),
        ("sk".to_string(), n("1")),
        ("str".to_string(), s("héllo wörld")),
        (
            "num".to_string(),
            n("12345678901234567890123456789012345678"),
        ),
        ("tiny".to_string(), n("1E-130")),
        (
            "huge".to_string(),
            n("9.9999999999999999999999999999999999999E+125"),
        ),
        ("neg".to_string(), n("-0.000123")),
        (
            "bin".to_string(),
            AttributeValue::B(Blob::new(vec![0u8, 1, 2, 255])),
        ),
        ("yes".to_string(), AttributeValue::Bool(true)),
        ("nothing".to_string(), AttributeValue::Null(true)),
        (
            "list".to_string(),
            AttributeValue::L(vec![s("a"), n("2"), AttributeValue::Bool(false)]),
        ),
        (
            "map".to_string(),
            AttributeValue::M(HashMap::from([(
                "inside".to_string(),
                AttributeValue::L(vec![n("1")]),
            )])),
        ),
        (
            "strs".to_string(),
            AttributeValue::Ss(vec!["x".into(), "y".into()]),
        ),
        (
            "nums".to_string(),
            AttributeValue::Ns(vec!["1".into(), "2.5".into()]),
        ),
        (
            "bins".to_string(),
            AttributeValue::Bs(vec![Blob::new(vec![1u8]), Blob::new(vec![2u8])]),
        ),
        ("deep".to_string(), deep),
        ("empty_str".to_string(), s("")),
    ])
}

#[tokio::test]
async fn every_attribute_type_round_trips() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "types").await;
    let item = every_type();
    c.put_item()
        .table_name("types")
        .set_item(Some(item.clone()))
        .send()
        .await
        .expect("put");
    for consistent in [false, true] {
        let got = c
            .get_item()
            .table_name("types")
            .key("pk", s("all-types"))
            .key("sk", n("1"))
            .consistent_read(consistent)
            .send()
            .await
            .expect("get");
        let got = got.item().expect("item");
        assert_eq!(got.len(), item.len());
        for (k, v) in &item {
            match (v, &got[k]) {
                (AttributeValue::Ss(a), AttributeValue::Ss(b))
                | (AttributeValue::Ns(a), AttributeValue::Ns(b)) => {
                    let (mut a, mut b) = (a.clone(), b.clone());
                    a.sort();
                    b.sort();
                    assert_eq!(a, b, "{k}");
                }
                (AttributeValue::N(_), AttributeValue::N(b)) if k == "tiny" => {
                    assert_eq!(b.parse::<f64>().ok(), Some(1e-130))
                }
                (AttributeValue::N(_), AttributeValue::N(b)) if k == "huge" => {
                    // 38 nines, then zeros up to 126 integer digits.
                    assert_eq!(b, &format!("{}{}", "9".repeat(38), "0".repeat(88)))
                }
                (a, b) => assert_eq!(a, b, "{k}"),
            }
        }
    }
}

#[tokio::test]
async fn numbers_are_canonical_and_exact() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "nums").await;
    c.put_item()
        .table_name("nums")
        .item("pk", s("n"))
        .item("sk", n("1.50"))
        .item("a", n("0.1"))
        .item("b", n("1e3"))
        .item("c", n("-0"))
        .send()
        .await
        .expect("put");
    let got = c
        .get_item()
        .table_name("nums")
        .key("pk", s("n"))
        .key("sk", n("1.5"))
        .send()
        .await
        .expect("get")
        .item
        .expect("canonical sort key 1.50 == 1.5");
    // Leading and trailing zeros are trimmed; other spellings keep their numeric value.
    assert_eq!(got["sk"], n("1.5"));
    let num = |v: &AttributeValue| v.as_n().expect("N").parse::<f64>().expect("number");
    assert_eq!(num(&got["b"]), 1000.0);
    assert_eq!(num(&got["c"]), 0.0);
    // Numbers compare numerically: 1e3 = 1000.
    c.update_item()
        .table_name("nums")
        .key("pk", s("n"))
        .key("sk", n("1.5"))
        .update_expression("SET d = :d")
        .condition_expression("b = :thousand AND a < :big")
        .expression_attribute_values(":d", n("1"))
        .expression_attribute_values(":thousand", n("1000.000"))
        .expression_attribute_values(":big", n("1E+1"))
        .send()
        .await
        .expect("numeric comparison");
    let up = c
        .update_item()
        .table_name("nums")
        .key("pk", s("n"))
        .key("sk", n("1.5"))
        .update_expression("SET a = a + :x")
        .expression_attribute_values(":x", n("0.2"))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .expect("update");
    assert_eq!(up.attributes().expect("attrs")["a"], n("0.3"));
}

#[tokio::test]
async fn put_get_delete_and_return_values() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "rv_table").await;
    let put = c
        .put_item()
        .table_name("rv_table")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .item("v", s("first"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("put");
    assert!(put.attributes().is_none(), "no old item");
    let put = c
        .put_item()
        .table_name("rv_table")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .item("v", s("second"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("put");
    assert_eq!(put.attributes().expect("old")["v"], s("first"));
    assert_service_error(
        c.put_item()
            .table_name("rv_table")
            .item("pk", s("a"))
            .item("sk", n("1"))
            .return_values(ReturnValue::AllNew)
            .send()
            .await,
        "ValidationException",
        "Return values set to invalid value",
    );
    for rv in [ReturnValue::UpdatedOld, ReturnValue::UpdatedNew] {
        assert_service_error(
            c.delete_item()
                .table_name("rv_table")
                .key("pk", s("a"))
                .key("sk", n("1"))
                .return_values(rv)
                .send()
                .await,
            "ValidationException",
            "Return values set to invalid value",
        );
    }
    let none = c
        .put_item()
        .table_name("rv_table")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .item("v", s("second"))
        .return_values(ReturnValue::None)
        .send()
        .await
        .expect("put NONE");
    assert!(none.attributes().is_none());

    let missing = c
        .get_item()
        .table_name("rv_table")
        .key("pk", s("zz"))
        .key("sk", n("1"))
        .send()
        .await
        .expect("get");
    assert!(missing.item().is_none());

    // UpdateItem upserts, and every ReturnValues option.
    let new = c
        .update_item()
        .table_name("rv_table")
        .key("pk", s("b"))
        .key("sk", n("2"))
        .update_expression("SET x = :one, y = :two")
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":two", n("2"))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect("upsert");
    let attrs = new.attributes().expect("new");
    assert_eq!(attrs.len(), 4);
    assert_eq!(attrs["pk"], s("b"));
    let old = c
        .update_item()
        .table_name("rv_table")
        .key("pk", s("b"))
        .key("sk", n("2"))
        .update_expression("SET x = :five")
        .expression_attribute_values(":five", n("5"))
        .return_values(ReturnValue::UpdatedOld)
        .send()
        .await
        .expect("update");
    assert_eq!(
        old.attributes().expect("old"),
        &HashMap::from([("x".to_string(), n("1"))])
    );
    let upd_new = c
        .update_item()
        .table_name("rv_table")
        .key("pk", s("b"))
        .key("sk", n("2"))
        .update_expression("SET y = y + :five")
        .expression_attribute_values(":five", n("5"))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .expect("update");
    assert_eq!(
        upd_new.attributes().expect("new"),
        &HashMap::from([("y".to_string(), n("7"))])
    );
    let all_old = c
        .update_item()
        .table_name("rv_table")
        .key("pk", s("b"))
        .key("sk", n("2"))
        .update_expression("REMOVE y")
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("update");
    assert_eq!(all_old.attributes().expect("old").len(), 4);
    let none = c
        .update_item()
        .table_name("rv_table")
        .key("pk", s("b"))
        .key("sk", n("2"))
        .update_expression("SET z = :five")
        .expression_attribute_values(":five", n("5"))
        .send()
        .await
        .expect("update");
    assert!(none.attributes().is_none());

    let del = c
        .delete_item()
        .table_name("rv_table")
        .key("pk", s("b"))
        .key("sk", n("2"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.attributes().expect("old")["z"], n("5"));
    let gone = c
        .get_item()
        .table_name("rv_table")
        .key("pk", s("b"))
        .key("sk", n("2"))
        .send()
        .await
        .expect("get");
    assert!(gone.item().is_none());
    // Deleting a missing item is fine.
    c.delete_item()
        .table_name("rv_table")
        .key("pk", s("b"))
        .key("sk", n("2"))
        .send()
        .await
        .expect("delete again");
}

#[tokio::test]
async fn conditional_writes() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "cond").await;
    c.put_item()
        .table_name("cond")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .item("version", n("1"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect("first put");
    assert_service_error(
        c.put_item()
            .table_name("cond")
            .item("pk", s("a"))
            .item("sk", n("1"))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await,
        "ConditionalCheckFailedException",
        "The conditional request failed",
    );
    // ReturnValuesOnConditionCheckFailure returns the item.
    let err = c
        .update_item()
        .table_name("cond")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .update_expression("SET version = :v2")
        .condition_expression("version = :v0")
        .expression_attribute_values(":v2", n("2"))
        .expression_attribute_values(":v0", n("0"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .expect_err("condition fails");
    let svc = err.into_service_error();
    assert!(svc.is_conditional_check_failed_exception());
    let item = match svc {
        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(e) => e.item,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(item.expect("item returned")["version"], n("1"));

    c.update_item()
        .table_name("cond")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .update_expression("SET version = version + :one")
        .condition_expression("version = :v1")
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":v1", n("1"))
        .send()
        .await
        .expect("optimistic update");
    assert_service_error(
        c.delete_item()
            .table_name("cond")
            .key("pk", s("a"))
            .key("sk", n("1"))
            .condition_expression("version = :v1")
            .expression_attribute_values(":v1", n("1"))
            .send()
            .await,
        "ConditionalCheckFailedException",
        "",
    );
    c.delete_item()
        .table_name("cond")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .condition_expression("version = :v2")
        .expression_attribute_values(":v2", n("2"))
        .send()
        .await
        .expect("conditional delete");
    // A condition on a missing item sees an empty item.
    assert_service_error(
        c.update_item()
            .table_name("cond")
            .key("pk", s("a"))
            .key("sk", n("1"))
            .update_expression("SET x = :v")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ConditionalCheckFailedException",
        "",
    );
}

#[tokio::test]
async fn concurrent_conditional_increments_are_serialized() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "counter").await;
    c.put_item()
        .table_name("counter")
        .item("pk", s("c"))
        .item("sk", n("0"))
        .item("n", n("0"))
        .send()
        .await
        .expect("seed");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < 10 {
                let cur = c
                    .get_item()
                    .table_name("counter")
                    .key("pk", s("c"))
                    .key("sk", n("0"))
                    .consistent_read(true)
                    .send()
                    .await
                    .expect("get")
                    .item
                    .expect("item")["n"]
                    .clone();
                let AttributeValue::N(v) = &cur else {
                    panic!("not a number")
                };
                let next = (v.parse::<i64>().expect("int") + 1).to_string();
                let r = c
                    .update_item()
                    .table_name("counter")
                    .key("pk", s("c"))
                    .key("sk", n("0"))
                    .update_expression("SET n = :next")
                    .condition_expression("n = :cur")
                    .expression_attribute_values(":next", n(&next))
                    .expression_attribute_values(":cur", cur.clone())
                    .send()
                    .await;
                if r.is_ok() {
                    done += 1;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let got = c
        .get_item()
        .table_name("counter")
        .key("pk", s("c"))
        .key("sk", n("0"))
        .send()
        .await
        .expect("get");
    assert_eq!(got.item().expect("item")["n"], n("80"));
}

#[tokio::test]
async fn projections_on_get_item() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "proj").await;
    c.put_item()
        .table_name("proj")
        .set_item(Some(every_type()))
        .send()
        .await
        .expect("put");
    let got = c
        .get_item()
        .table_name("proj")
        .key("pk", s("all-types"))
        .key("sk", n("1"))
        .projection_expression("str, #m.inside[0], #l[2], #y, nope")
        .expression_attribute_names("#y", "yes")
        .expression_attribute_names("#m", "map")
        .expression_attribute_names("#l", "list")
        .send()
        .await
        .expect("get");
    let item = got.item().expect("item");
    assert_eq!(item.len(), 4);
    assert_eq!(
        item["map"],
        AttributeValue::M(HashMap::from([(
            "inside".to_string(),
            AttributeValue::L(vec![n("1")])
        )]))
    );
    assert_eq!(
        item["list"],
        AttributeValue::L(vec![AttributeValue::Bool(false)])
    );
    let got = c
        .get_item()
        .table_name("proj")
        .key("pk", s("all-types"))
        .key("sk", n("1"))
        .attributes_to_get("num")
        .attributes_to_get("bin")
        .send()
        .await
        .expect("get");
    assert_eq!(got.item().expect("item").len(), 2);
    assert_service_error(
        c.get_item()
            .table_name("proj")
            .key("pk", s("all-types"))
            .key("sk", n("1"))
            .attributes_to_get("num")
            .projection_expression("num")
            .send()
            .await,
        "ValidationException",
        "Can not use both expression and non-expression parameters",
    );
    let proj = |expr: &str| {
        c.get_item()
            .table_name("proj")
            .key("pk", s("all-types"))
            .key("sk", n("1"))
            .projection_expression(expr)
    };
    // Only missing attributes projected: the item exists, so an (empty) Item comes back.
    let got = proj("nope, str.x, #l[9]")
        .expression_attribute_names("#l", "list")
        .send()
        .await
        .expect("get");
    assert!(got.item().is_some_and(|i| i.is_empty()), "{got:?}");
    assert_service_error(
        proj("#m, #m.inside")
            .expression_attribute_names("#m", "map")
            .send()
            .await,
        "ValidationException",
        "Invalid ProjectionExpression: Two document paths overlap with each other",
    );
    assert_service_error(
        proj("str, str").send().await,
        "ValidationException",
        "Two document paths overlap with each other",
    );
    assert_service_error(
        proj("name").send().await,
        "ValidationException",
        "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name",
    );
    assert_service_error(
        proj("#x").send().await,
        "ValidationException",
        "An expression attribute name used in the document path is not defined; attribute name: #x",
    );
    assert_service_error(
        proj("str")
            .expression_attribute_names("#x", "x")
            .send()
            .await,
        "ValidationException",
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}",
    );
    assert_service_error(
        proj("str,").send().await,
        "ValidationException",
        "Invalid ProjectionExpression: Syntax error",
    );
}

#[tokio::test]
async fn updated_return_values_hold_only_the_touched_paths() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "upd").await;
    c.put_item()
        .table_name("upd")
        .set_item(Some(item(&[
            ("pk", s("u")),
            ("sk", n("1")),
            ("doc", m(&[("a", n("1")), ("b", s("keep"))])),
            ("list", l(vec![s("x"), s("y")])),
            ("spare", s("untouched")),
        ])))
        .send()
        .await
        .expect("put");
    let up = |rv: ReturnValue| {
        c.update_item()
            .table_name("upd")
            .key("pk", s("u"))
            .key("sk", n("1"))
            .return_values(rv)
    };
    let old = up(ReturnValue::UpdatedOld)
        .update_expression("SET doc.a = :two, #l[1] = :z")
        .expression_attribute_names("#l", "list")
        .expression_attribute_values(":two", n("2"))
        .expression_attribute_values(":z", s("z"))
        .send()
        .await
        .expect("update");
    assert_eq!(
        old.attributes().expect("UPDATED_OLD"),
        &item(&[("doc", m(&[("a", n("1"))])), ("list", l(vec![s("y")]))])
    );
    let new = up(ReturnValue::UpdatedNew)
        .update_expression("SET doc.a = doc.a + :one, brand_new = :one")
        .expression_attribute_values(":one", n("1"))
        .send()
        .await
        .expect("update");
    assert_eq!(
        new.attributes().expect("UPDATED_NEW"),
        &item(&[("doc", m(&[("a", n("3"))])), ("brand_new", n("1"))])
    );
    // A removed attribute has no new value: UPDATED_NEW is empty, UPDATED_OLD has it.
    let new = up(ReturnValue::UpdatedNew)
        .update_expression("REMOVE brand_new")
        .send()
        .await
        .expect("update");
    assert!(new.attributes().is_none_or(|a| a.is_empty()), "{new:?}");
    let old = up(ReturnValue::UpdatedOld)
        .update_expression("REMOVE spare")
        .send()
        .await
        .expect("update");
    assert_eq!(
        old.attributes().expect("UPDATED_OLD"),
        &item(&[("spare", s("untouched"))])
    );
    // ALL_NEW after all that.
    let all = up(ReturnValue::AllNew)
        .update_expression("SET doc.b = :b")
        .expression_attribute_values(":b", s("changed"))
        .send()
        .await
        .expect("update");
    assert_eq!(
        all.attributes().expect("ALL_NEW"),
        &item(&[
            ("pk", s("u")),
            ("sk", n("1")),
            ("doc", m(&[("a", n("3")), ("b", s("changed"))])),
            ("list", l(vec![s("x"), s("z")])),
        ])
    );
    let got = c
        .get_item()
        .table_name("upd")
        .key("pk", s("u"))
        .key("sk", n("1"))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(got.item(), all.attributes());
}

#[tokio::test]
async fn return_values_on_condition_check_failure_for_put_and_delete() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "rvcf").await;
    let stored = item(&[("pk", s("a")), ("sk", n("1")), ("v", s("stored"))]);
    c.put_item()
        .table_name("rvcf")
        .set_item(Some(stored.clone()))
        .send()
        .await
        .expect("put");

    let err = c
        .put_item()
        .table_name("rvcf")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .expect_err("condition fails");
    match err.into_service_error() {
        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(e) => {
            assert_eq!(e.message(), Some("The conditional request failed"));
            assert_eq!(e.item.as_ref(), Some(&stored));
        }
        other => panic!("unexpected {other:?}"),
    }

    let err = c
        .delete_item()
        .table_name("rvcf")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .condition_expression("v = :x")
        .expression_attribute_values(":x", s("other"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .expect_err("condition fails");
    match err.into_service_error() {
        aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(e) => {
            assert_eq!(e.item.as_ref(), Some(&stored));
        }
        other => panic!("unexpected {other:?}"),
    }

    // NONE (the default) returns no item with the failure.
    let err = c
        .delete_item()
        .table_name("rvcf")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .condition_expression("v = :x")
        .expression_attribute_values(":x", s("other"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
        .send()
        .await
        .expect_err("condition fails");
    match err.into_service_error() {
        aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(e) => {
            assert!(e.item.is_none());
        }
        other => panic!("unexpected {other:?}"),
    }

    // A failed condition on a missing item returns no item either.
    let err = c
        .put_item()
        .table_name("rvcf")
        .item("pk", s("missing"))
        .item("sk", n("1"))
        .condition_expression("attribute_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .expect_err("condition fails");
    match err.into_service_error() {
        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(e) => {
            assert!(e.item.is_none_or(|i| i.is_empty()));
        }
        other => panic!("unexpected {other:?}"),
    }
    // The stored item is unchanged by all of that.
    let got = c
        .get_item()
        .table_name("rvcf")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .send()
        .await
        .expect("get");
    assert_eq!(got.item(), Some(&stored));
}

#[tokio::test]
async fn binary_and_number_keys() {
    let server = Server::start();
    let c = server.client();
    create_table(
        &c,
        "binkeys",
        ("pk", aws_sdk_dynamodb::types::ScalarAttributeType::B),
        Some(("sk", aws_sdk_dynamodb::types::ScalarAttributeType::N)),
    )
    .await;
    let key = vec![0u8, 159, 146, 150, 255];
    c.put_item()
        .table_name("binkeys")
        .item("pk", b(&key))
        .item("sk", n("-12.5"))
        .item("v", bs(&[b"\x00", b"\xff"]))
        .send()
        .await
        .expect("put");
    let got = c
        .get_item()
        .table_name("binkeys")
        .key("pk", b(&key))
        .key("sk", n("-12.50"))
        .send()
        .await
        .expect("get");
    let got = got.item().expect("item");
    assert_eq!(got["pk"], b(&key));
    assert_eq!(normalize(&got["v"]), normalize(&bs(&[b"\x00", b"\xff"])));
    // Another byte string is another item.
    let other = c
        .get_item()
        .table_name("binkeys")
        .key("pk", b(&key[..4]))
        .key("sk", n("-12.5"))
        .send()
        .await
        .expect("get");
    assert!(other.item().is_none());
}
