//! UpdateExpression end to end: SET (with + and -, if_not_exists, list_append, nested paths,
//! list indexes past the end), REMOVE, ADD, DELETE, ExpressionAttributeNames/Values, and the
//! ValidationExceptions DynamoDB answers for bad expressions.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use common::*;

const T: &str = "upd";

fn seed_item() -> HashMap<String, AttributeValue> {
    item(&[
        ("pk", s("k")),
        ("sk", n("1")),
        ("num", n("10")),
        ("txt", s("hello")),
        ("tags", ss(&["red", "blue"])),
        ("scores", ns(&["1", "2"])),
        (
            "doc",
            m(&[(
                "a",
                m(&[("b", l(vec![n("0"), n("1"), n("2"), m(&[("c", s("deep"))])]))]),
            )]),
        ),
        ("items", l(vec![s("x"), s("y"), s("z")])),
        ("flag", boolean(true)),
    ])
}

async fn setup(c: &Client) {
    pk_sk_table(c, T).await;
    c.put_item()
        .table_name(T)
        .set_item(Some(seed_item()))
        .send()
        .await
        .expect("seed");
}

fn update(c: &Client, expr: &str) -> UpdateItemFluentBuilder {
    c.update_item()
        .table_name(T)
        .key("pk", s("k"))
        .key("sk", n("1"))
        .update_expression(expr)
        .return_values(ReturnValue::AllNew)
}

async fn apply(req: UpdateItemFluentBuilder) -> HashMap<String, AttributeValue> {
    let out = req.send().await.expect("update");
    normalize_item(out.attributes().expect("ALL_NEW"))
}

#[tokio::test]
async fn set_arithmetic_and_functions() {
    let server = Server::start();
    let c = server.client();
    setup(&c).await;
    let it =
        apply(update(&c, "SET num = num - :one").expression_attribute_values(":one", n("1"))).await;
    assert_eq!(it["num"], n("9"));
    let it =
        apply(update(&c, "SET num = num + :big").expression_attribute_values(":big", n("0.5")))
            .await;
    assert_eq!(it["num"], n("9.5"));
    let it = apply(
        update(&c, "SET added = :a + :b, neg = :a - num")
            .expression_attribute_values(":a", n("2"))
            .expression_attribute_values(":b", n("3")),
    )
    .await;
    assert_eq!(it["added"], n("5"));
    assert_eq!(it["neg"], n("-7.5"));
    // Exact decimal arithmetic at 38 digits.
    let it = apply(
        update(&c, "SET exact = :a + :b")
            .expression_attribute_values(":a", n("9999999999999999999999999999999999999"))
            .expression_attribute_values(":b", n("1")),
    )
    .await;
    assert_eq!(it["exact"], n("10000000000000000000000000000000000000"));

    // if_not_exists: the existing value wins, a missing one takes the default.
    let it = apply(
        update(
            &c,
            "SET txt = if_not_exists(txt, :x), fresh = if_not_exists(fresh, :x)",
        )
        .expression_attribute_values(":x", s("default")),
    )
    .await;
    assert_eq!(it["txt"], s("hello"));
    assert_eq!(it["fresh"], s("default"));
    let it = apply(
        update(&c, "SET ctr = if_not_exists(ctr, :zero) + :one")
            .expression_attribute_values(":zero", n("0"))
            .expression_attribute_values(":one", n("1")),
    )
    .await;
    assert_eq!(it["ctr"], n("1"));

    // list_append at either end, and onto a list that may not exist yet.
    let it = apply(
        update(&c, "SET #i = list_append(#i, :more)")
            .expression_attribute_names("#i", "items")
            .expression_attribute_values(":more", l(vec![s("w"), n("1")])),
    )
    .await;
    assert_eq!(it["items"], l(vec![s("x"), s("y"), s("z"), s("w"), n("1")]));
    let it = apply(
        update(&c, "SET #i = list_append(:front, #i)")
            .expression_attribute_names("#i", "items")
            .expression_attribute_values(":front", l(vec![s("first")])),
    )
    .await;
    assert_eq!(
        it["items"],
        l(vec![s("first"), s("x"), s("y"), s("z"), s("w"), n("1")])
    );
    let it = apply(
        update(
            &c,
            "SET journal = list_append(if_not_exists(journal, :empty), :entry)",
        )
        .expression_attribute_values(":empty", l(vec![]))
        .expression_attribute_values(":entry", l(vec![s("e1")])),
    )
    .await;
    assert_eq!(it["journal"], l(vec![s("e1")]));

    // SET copies another attribute.
    let it = apply(update(&c, "SET a1 = txt")).await;
    assert_eq!(it["a1"], s("hello"));
}

#[tokio::test]
async fn set_nested_paths_and_list_indexes() {
    let server = Server::start();
    let c = server.client();
    setup(&c).await;
    let it =
        apply(update(&c, "SET doc.a.b[3].c = :v").expression_attribute_values(":v", s("changed")))
            .await;
    assert_eq!(
        it["doc"],
        m(&[(
            "a",
            m(&[(
                "b",
                l(vec![n("0"), n("1"), n("2"), m(&[("c", s("changed"))])])
            )])
        )])
    );
    let it = apply(
        update(&c, "SET doc.a.newkey = :v, doc.a.b[0] = doc.a.b[0] + :one")
            .expression_attribute_values(":v", s("new"))
            .expression_attribute_values(":one", n("1")),
    )
    .await;
    let doc_a = |it: &HashMap<String, AttributeValue>| match &it["doc"] {
        AttributeValue::M(d) => d["a"].as_m().expect("a is a map").clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(doc_a(&it)["newkey"], s("new"));
    assert_eq!(doc_a(&it)["b"].as_l().expect("list")[0], n("1"));

    // An index past the end appends (no padding).
    let it = apply(
        update(&c, "SET #i[10] = :v")
            .expression_attribute_names("#i", "items")
            .expression_attribute_values(":v", s("end")),
    )
    .await;
    assert_eq!(it["items"], l(vec![s("x"), s("y"), s("z"), s("end")]));
    let it = apply(
        update(&c, "SET #i[1] = :v")
            .expression_attribute_names("#i", "items")
            .expression_attribute_values(":v", s("Y")),
    )
    .await;
    assert_eq!(it["items"], l(vec![s("x"), s("Y"), s("z"), s("end")]));

    // Names with dots are literal attribute names through ExpressionAttributeNames.
    let it = apply(
        update(&c, "SET #dotted = :v, #m.#k = :v")
            .expression_attribute_names("#dotted", "a.b")
            .expression_attribute_names("#m", "doc")
            .expression_attribute_names("#k", "x-y")
            .expression_attribute_values(":v", n("1")),
    )
    .await;
    assert_eq!(it["a.b"], n("1"));
    assert!(!it.contains_key("a"));
    assert_eq!(it["doc"].as_m().expect("doc")["x-y"], n("1"));

    // Paths through something missing or of the wrong type cannot be written.
    for expr in [
        "SET nothere.x = :v",
        "SET doc.nothere.x = :v",
        "SET txt.x = :v",
        "SET txt[0] = :v",
        "SET doc[0] = :v",
    ] {
        assert_service_error(
            update(&c, expr)
                .expression_attribute_values(":v", n("1"))
                .send()
                .await,
            "ValidationException",
            "The document path provided in the update expression is invalid for update",
        );
    }
}

#[tokio::test]
async fn remove_add_delete() {
    let server = Server::start();
    let c = server.client();
    setup(&c).await;
    // REMOVE top-level, nested key, list elements (indexes refer to the list before the update),
    // and something missing (a no-op).
    let it = apply(
        update(
            &c,
            "REMOVE flag, doc.a.b[3].c, #i[0], #i[2], absent, doc.nothere",
        )
        .expression_attribute_names("#i", "items"),
    )
    .await;
    assert!(!it.contains_key("flag"));
    assert_eq!(it["items"], l(vec![s("y")]));
    assert_eq!(
        it["doc"],
        m(&[("a", m(&[("b", l(vec![n("0"), n("1"), n("2"), m(&[])]))]))])
    );
    let it = apply(update(&c, "REMOVE doc.a.b[1], doc.a.b[7]")).await;
    assert_eq!(
        it["doc"],
        m(&[("a", m(&[("b", l(vec![n("0"), n("2"), m(&[])]))]))])
    );

    // ADD to numbers (a missing attribute counts as 0) and to sets (a missing one is created).
    let it = apply(
        update(&c, "ADD num :five, hits :five, tags :more, newset :nums")
            .expression_attribute_values(":five", n("-5"))
            .expression_attribute_values(":more", ss(&["green", "red"]))
            .expression_attribute_values(":nums", ns(&["3"])),
    )
    .await;
    assert_eq!(it["num"], n("5"));
    assert_eq!(it["hits"], n("-5"));
    assert_eq!(it["tags"], normalize(&ss(&["red", "blue", "green"])));
    assert_eq!(it["newset"], ns(&["3"]));

    // DELETE from sets; absent members are ignored; deleting every member removes the attribute.
    let it = apply(
        update(&c, "DELETE tags :gone, scores :one")
            .expression_attribute_values(":gone", ss(&["red", "purple"]))
            .expression_attribute_values(":one", ns(&["1"])),
    )
    .await;
    assert_eq!(it["tags"], normalize(&ss(&["blue", "green"])));
    assert_eq!(it["scores"], ns(&["2"]));
    let it = apply(
        update(&c, "DELETE scores :all").expression_attribute_values(":all", ns(&["2", "9"])),
    )
    .await;
    assert!(!it.contains_key("scores"));

    // Every clause at once, in any order, each at most once.
    let it = apply(
        update(
            &c,
            "REMOVE hits ADD num :one DELETE tags :blue SET txt = :t",
        )
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":blue", ss(&["blue"]))
        .expression_attribute_values(":t", s("all four")),
    )
    .await;
    assert!(!it.contains_key("hits"));
    assert_eq!(it["num"], n("6"));
    assert_eq!(it["tags"], ss(&["green"]));
    assert_eq!(it["txt"], s("all four"));
    // Keywords are case-insensitive.
    let it =
        apply(update(&c, "set txt = :t remove num").expression_attribute_values(":t", s("lower")))
            .await;
    assert_eq!(it["txt"], s("lower"));
    assert!(!it.contains_key("num"));
}

#[tokio::test]
async fn update_item_upserts() {
    let server = Server::start();
    let c = server.client();
    setup(&c).await;
    let out = c
        .update_item()
        .table_name(T)
        .key("pk", s("new"))
        .key("sk", n("2"))
        .update_expression("SET a = :a ADD cnt :one, tags :t")
        .expression_attribute_values(":a", s("x"))
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":t", ss(&["t"]))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect("upsert");
    assert_eq!(
        out.attributes().expect("ALL_NEW"),
        &item(&[
            ("pk", s("new")),
            ("sk", n("2")),
            ("a", s("x")),
            ("cnt", n("1")),
            ("tags", ss(&["t"]))
        ])
    );
    let got = c
        .get_item()
        .table_name(T)
        .key("pk", s("new"))
        .key("sk", n("2"))
        .send()
        .await
        .expect("get");
    assert_eq!(got.item(), out.attributes());
}

#[tokio::test]
async fn update_expression_errors() {
    let server = Server::start();
    let c = server.client();
    setup(&c).await;
    let v1 = |expr: &str| update(&c, expr).expression_attribute_values(":v", n("1"));
    assert_service_error(
        v1("SET num = :v")
            .expression_attribute_values(":extra", n("2"))
            .send()
            .await,
        "ValidationException",
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:extra}",
    );
    assert_service_error(
        v1("SET num = :v")
            .expression_attribute_names("#unused", "x")
            .send()
            .await,
        "ValidationException",
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}",
    );
    assert_service_error(
        update(&c, "SET num = :missing").send().await,
        "ValidationException",
        "An expression attribute value used in expression is not defined; attribute value: :missing",
    );
    assert_service_error(
        v1("SET #missing = :v").send().await,
        "ValidationException",
        "An expression attribute name used in the document path is not defined; attribute name: #missing",
    );
    for bad in [
        "SET num = ",
        "SET num :v",
        "SET = :v",
        "num = :v",
        "SET num = :v,",
        "REMOVE",
        "SET num = :v AND txt = :v",
        "ADD num",
    ] {
        assert_service_error(
            v1(bad).send().await,
            "ValidationException",
            "Invalid UpdateExpression: Syntax error",
        );
    }
    assert_service_error(
        v1("SET num = :v SET txt = :v").send().await,
        "ValidationException",
        "The \"SET\" section can only be used once in an update expression",
    );
    assert_service_error(
        v1("SET status = :v").send().await,
        "ValidationException",
        "Attribute name is a reserved keyword; reserved keyword: status",
    );
    assert_service_error(
        v1("SET doc.#k = :v, doc.#k2 = :v")
            .expression_attribute_names("#k", "ok")
            .send()
            .await,
        "ValidationException",
        "attribute name: #k2",
    );
    // Key attributes cannot be updated.
    assert_service_error(
        update(&c, "SET pk = :v")
            .expression_attribute_values(":v", s("x"))
            .send()
            .await,
        "ValidationException",
        "Cannot update attribute pk. This attribute is part of the key",
    );
    assert_service_error(
        update(&c, "REMOVE sk").send().await,
        "ValidationException",
        "Cannot update attribute sk. This attribute is part of the key",
    );
    assert_service_error(
        v1("ADD sk :v").send().await,
        "ValidationException",
        "This attribute is part of the key",
    );
    // Operand types known from the expression are checked before the item is read ...
    assert_service_error(
        update(&c, "SET num = :s + :n")
            .expression_attribute_values(":s", s("x"))
            .expression_attribute_values(":n", n("1"))
            .send()
            .await,
        "ValidationException",
        "Incorrect operand type for operator or function",
    );
    assert_service_error(
        update(&c, "SET #i = list_append(#i, :s)")
            .expression_attribute_names("#i", "items")
            .expression_attribute_values(":s", s("x"))
            .send()
            .await,
        "ValidationException",
        "Incorrect operand type for operator or function",
    );
    assert_service_error(
        update(&c, "ADD num :s")
            .expression_attribute_values(":s", s("x"))
            .send()
            .await,
        "ValidationException",
        "Incorrect operand type for operator or function",
    );
    assert_service_error(
        update(&c, "DELETE tags :s")
            .expression_attribute_values(":s", s("red"))
            .send()
            .await,
        "ValidationException",
        "Incorrect operand type for operator or function",
    );
    assert_service_error(
        v1("SET num = if_not_exists(:v, num)").send().await,
        "ValidationException",
        "",
    );
    assert_service_error(
        v1("SET num = nosuchfn(num)").send().await,
        "ValidationException",
        "Invalid function name; function: nosuchfn",
    );
    assert_service_error(
        v1("SET num = size(txt)").send().await,
        "ValidationException",
        "The function is not allowed in an update expression",
    );
    // ... the rest when applied to the item.
    for (expr, value) in [
        ("SET num = txt + :v", n("1")),
        ("SET #i = list_append(txt, :v)", l(vec![])),
        ("ADD txt :v", n("1")),
        ("ADD tags :v", ns(&["1"])),
        ("ADD #i :v", ss(&["a"])),
        ("DELETE scores :v", ss(&["1"])),
        ("DELETE num :v", ns(&["1"])),
    ] {
        let mut req = update(&c, expr).expression_attribute_values(":v", value);
        if expr.contains("#i") {
            req = req.expression_attribute_names("#i", "items");
        }
        assert_service_error(
            req.send().await,
            "ValidationException",
            "An operand in the update expression has an incorrect data type",
        );
    }
    assert_service_error(
        v1("SET num = absent + :v").send().await,
        "ValidationException",
        "The provided expression refers to an attribute that does not exist in the item",
    );
    // Overlapping and repeated paths.
    for expr in [
        "SET doc = :v REMOVE doc.a",
        "SET num = :v, num = :v",
        "SET #i[0] = :v REMOVE #i[0]",
        "SET doc.a = :v, doc.a.b = :v",
    ] {
        let mut req = v1(expr);
        if expr.contains("#i") {
            req = req.expression_attribute_names("#i", "items");
        }
        assert_service_error(
            req.send().await,
            "ValidationException",
            "Two document paths overlap with each other",
        );
    }
    assert_service_error(
        update(&c, "").send().await,
        "ValidationException",
        "UpdateExpression",
    );
    // The item is unchanged by every failed request.
    let got = c
        .get_item()
        .table_name(T)
        .key("pk", s("k"))
        .key("sk", n("1"))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(
        normalize_item(got.item().expect("item")),
        normalize_item(&seed_item())
    );
}
