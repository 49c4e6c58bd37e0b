//! The legacy parameters through the AWS SDK: Expected + ConditionalOperator, AttributeUpdates,
//! KeyConditions, QueryFilter, ScanFilter, AttributesToGet, and the mixing error.

mod common;

use aws_sdk_dynamodb::types::{
    AttributeAction, AttributeValueUpdate, ComparisonOperator, Condition, ConditionalOperator,
    ExpectedAttributeValue, ReturnValue,
};
use common::*;

fn cond(op: ComparisonOperator, values: Vec<aws_sdk_dynamodb::types::AttributeValue>) -> Condition {
    Condition::builder()
        .comparison_operator(op)
        .set_attribute_value_list(Some(values))
        .build()
        .expect("condition")
}

#[tokio::test]
async fn legacy_parameters_work_like_expressions() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "old").await;
    let exists_not = ExpectedAttributeValue::builder().exists(false).build();
    c.put_item()
        .table_name("old")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .item("color", s("red"))
        .item("qty", n("5"))
        .expected("pk", exists_not.clone())
        .send()
        .await
        .expect("conditional create");
    assert_service_error(
        c.put_item()
            .table_name("old")
            .item("pk", s("a"))
            .item("sk", n("1"))
            .expected("pk", exists_not)
            .send()
            .await,
        "ConditionalCheckFailedException",
        "The conditional request failed",
    );
    // OR of two conditions, one true.
    c.put_item()
        .table_name("old")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .item("color", s("blue"))
        .item("qty", n("5"))
        .expected(
            "color",
            ExpectedAttributeValue::builder()
                .comparison_operator(ComparisonOperator::Eq)
                .attribute_value_list(s("green"))
                .build(),
        )
        .expected(
            "qty",
            ExpectedAttributeValue::builder()
                .comparison_operator(ComparisonOperator::Ge)
                .attribute_value_list(n("5"))
                .build(),
        )
        .conditional_operator(ConditionalOperator::Or)
        .send()
        .await
        .expect("OR condition");

    // AttributeUpdates: PUT, ADD to a number and a set, DELETE an attribute.
    let upd = |action: AttributeAction, v: Option<aws_sdk_dynamodb::types::AttributeValue>| {
        AttributeValueUpdate::builder()
            .action(action)
            .set_value(v)
            .build()
    };
    let out = c
        .update_item()
        .table_name("old")
        .key("pk", s("a"))
        .key("sk", n("1"))
        .attribute_updates("size", upd(AttributeAction::Put, Some(s("L"))))
        .attribute_updates("qty", upd(AttributeAction::Add, Some(n("3"))))
        .attribute_updates("tags", upd(AttributeAction::Add, Some(ss(&["x", "y"]))))
        .attribute_updates("color", upd(AttributeAction::Delete, None))
        .expected(
            "qty",
            ExpectedAttributeValue::builder().value(n("5")).build(),
        )
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect("attribute updates");
    let a = out.attributes().expect("new item");
    assert_eq!(a["size"], s("L"));
    assert_eq!(a["qty"], n("8"));
    assert_eq!(normalize(&a["tags"]), normalize(&ss(&["x", "y"])));
    assert!(!a.contains_key("color"));

    for i in 2..=6 {
        c.put_item()
            .table_name("old")
            .item("pk", s("a"))
            .item("sk", n(&i.to_string()))
            .item("qty", n(&(i * 10).to_string()))
            .send()
            .await
            .expect("put");
    }
    // KeyConditions + QueryFilter + AttributesToGet.
    let q = c
        .query()
        .table_name("old")
        .key_conditions("pk", cond(ComparisonOperator::Eq, vec![s("a")]))
        .key_conditions(
            "sk",
            cond(ComparisonOperator::Between, vec![n("2"), n("5")]),
        )
        .query_filter("qty", cond(ComparisonOperator::Gt, vec![n("25")]))
        .attributes_to_get("sk")
        .send()
        .await
        .expect("legacy query");
    let sks: Vec<_> = q.items().iter().map(|i| i["sk"].clone()).collect();
    assert_eq!(sks, [n("3"), n("4"), n("5")]);
    assert_eq!(q.scanned_count(), 4);
    assert!(q.items().iter().all(|i| i.len() == 1));

    // ScanFilter with IN and NOT_NULL, AND-ed.
    let sc = c
        .scan()
        .table_name("old")
        .scan_filter(
            "qty",
            cond(ComparisonOperator::In, vec![n("20"), n("60"), n("8")]),
        )
        .scan_filter("size", cond(ComparisonOperator::NotNull, vec![]))
        .send()
        .await
        .expect("legacy scan");
    assert_eq!(sc.count(), 1);
    assert_eq!(sc.items()[0]["sk"], n("1"));

    // Errors.
    assert_service_error(
        c.put_item()
            .table_name("old")
            .item("pk", s("a"))
            .item("sk", n("9"))
            .expected(
                "pk",
                ExpectedAttributeValue::builder().exists(false).build(),
            )
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await,
        "ValidationException",
        "Can not use both expression and non-expression parameters in the same request",
    );
    assert_service_error(
        c.query()
            .table_name("old")
            .key_conditions("pk", cond(ComparisonOperator::Eq, vec![s("a"), s("b")]))
            .send()
            .await,
        "ValidationException",
        "Invalid number of argument(s) for the EQ ComparisonOperator",
    );
    assert_service_error(
        c.query()
            .table_name("old")
            .key_conditions("qty", cond(ComparisonOperator::Eq, vec![n("1")]))
            .send()
            .await,
        "ValidationException",
        "",
    );
}
