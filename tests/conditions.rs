//! ConditionExpression end to end: every comparator, BETWEEN, IN, AND/OR/NOT precedence,
//! parentheses and the functions, evaluated the way DynamoDB does, plus condition errors.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use common::*;

/// (condition, expression attribute values, expected outcome).
type Case<'a> = (&'a str, Vec<(&'a str, AttributeValue)>, bool);

const T: &str = "cond";

async fn seed(c: &Client) {
    pk_sk_table(c, T).await;
    c.put_item()
        .table_name(T)
        .set_item(Some(item(&[
            ("pk", s("k")),
            ("sk", n("1")),
            ("num", n("10")),
            ("txt", s("hello world")),
            ("bin", b(b"\x01\x02\x03")),
            ("tags", ss(&["red", "blue"])),
            ("scores", ns(&["1", "2"])),
            ("blobs", bs(&[b"\x01", b"\x02"])),
            (
                "doc",
                m(&[(
                    "a",
                    m(&[("b", l(vec![n("0"), n("1"), n("2"), m(&[("c", s("deep"))])]))]),
                )]),
            ),
            ("items", l(vec![s("x"), s("y"), s("z")])),
            ("flag", boolean(true)),
            ("nothing", null()),
            ("emptystr", s("")),
        ])))
        .send()
        .await
        .expect("seed");
}

/// Runs a condition against the seeded item as a conditional update that changes nothing
/// that a condition looks at: true when the condition held, false on
/// ConditionalCheckFailedException; any other error fails the test.
async fn holds(
    c: &Client,
    cond: &str,
    values: &[(&str, AttributeValue)],
    names: &[(&str, &str)],
) -> bool {
    let mut req = c
        .update_item()
        .table_name(T)
        .key("pk", s("k"))
        .key("sk", n("1"))
        .update_expression("SET touched = :touched")
        .expression_attribute_values(":touched", boolean(true))
        .condition_expression(cond);
    for (k, v) in values {
        req = req.expression_attribute_values(*k, v.clone());
    }
    for (k, v) in names {
        req = req.expression_attribute_names(*k, *v);
    }
    match req.send().await {
        Ok(_) => true,
        Err(e) => {
            let svc = e.into_service_error();
            assert!(
                svc.is_conditional_check_failed_exception(),
                "{cond}: {svc:?}"
            );
            false
        }
    }
}

#[tokio::test]
async fn comparators() {
    let server = Server::start();
    let c = server.client();
    seed(&c).await;
    let cases: Vec<Case> = vec![
        ("num = :v", vec![(":v", n("10"))], true),
        ("num = :v", vec![(":v", n("10.000"))], true),
        ("num = :v", vec![(":v", s("10"))], false),
        ("num <> :v", vec![(":v", n("10"))], false),
        ("num <> :v", vec![(":v", n("11"))], true),
        ("num < :v", vec![(":v", n("10"))], false),
        ("num < :v", vec![(":v", n("9.5E1"))], true),
        ("num <= :v", vec![(":v", n("10"))], true),
        ("num > :v", vec![(":v", n("9"))], true),
        ("num > :v", vec![(":v", n("-100"))], true),
        ("num >= :v", vec![(":v", n("10"))], true),
        ("num >= :v", vec![(":v", n("10.0000001"))], false),
        // Strings compare by UTF-8 bytes, binaries by unsigned bytes.
        ("txt > :v", vec![(":v", s("hello"))], true),
        ("txt < :v", vec![(":v", s("Hello world"))], false),
        ("bin > :v", vec![(":v", b(b"\x01\x02"))], true),
        ("bin < :v", vec![(":v", b(b"\xff"))], true),
        // Values of different types are never equal or ordered.
        ("num > txt", vec![], false),
        ("num < txt", vec![], false),
        ("num <> txt", vec![], true),
        // Missing attributes compare false (and <> true).
        ("absent = :v", vec![(":v", n("1"))], false),
        ("absent < :v", vec![(":v", n("1"))], false),
        ("absent <> :v", vec![(":v", n("1"))], true),
        // Whole documents compare by value; sets ignore order.
        ("tags = :v", vec![(":v", ss(&["blue", "red"]))], true),
        (
            "#items = :v",
            vec![(":v", l(vec![s("x"), s("y"), s("z")]))],
            true,
        ),
        (
            "#items = :v",
            vec![(":v", l(vec![s("z"), s("y"), s("x")]))],
            false,
        ),
        (
            "doc.a.b[3] = :v",
            vec![(":v", m(&[("c", s("deep"))]))],
            true,
        ),
        ("flag = :v", vec![(":v", boolean(true))], true),
        ("nothing = :v", vec![(":v", null())], true),
        ("emptystr = :v", vec![(":v", s(""))], true),
        // Paths on both sides.
        ("doc.a.b[1] < doc.a.b[2]", vec![], true),
        // BETWEEN is inclusive.
        (
            "num BETWEEN :a AND :b",
            vec![(":a", n("10")), (":b", n("10"))],
            true,
        ),
        (
            "num BETWEEN :a AND :b",
            vec![(":a", n("-1")), (":b", n("9.99"))],
            false,
        ),
        (
            "txt BETWEEN :a AND :b",
            vec![(":a", s("h")), (":b", s("i"))],
            true,
        ),
        // IN
        (
            "num IN (:a, :b)",
            vec![(":a", n("9")), (":b", n("2"))],
            false,
        ),
        (
            "num IN (:a, :b)",
            vec![(":a", n("9")), (":b", n("10"))],
            true,
        ),
        ("num IN (:a)", vec![(":a", n("10"))], true),
        (
            "txt IN (:a, :b)",
            vec![(":a", n("10")), (":b", s("hello world"))],
            true,
        ),
    ];
    for (cond, values, want) in cases {
        let names: Vec<(&str, &str)> = if cond.contains("#items") {
            vec![("#items", "items")]
        } else {
            vec![]
        };
        assert_eq!(
            holds(&c, cond, &values, &names).await,
            want,
            "{cond} {values:?}"
        );
    }
}

#[tokio::test]
async fn logical_operators_precedence_and_parentheses() {
    let server = Server::start();
    let c = server.client();
    seed(&c).await;
    let v = || {
        vec![
            (":ten", n("10")),
            (":nine", n("9")),
            (":t", boolean(true)),
            (":f", boolean(false)),
        ]
    };
    let cases: Vec<(&str, bool)> = vec![
        ("num = :ten AND flag = :t", true),
        ("num = :ten AND flag = :f", false),
        ("num = :nine OR flag = :t", true),
        ("num = :nine OR flag = :f", false),
        ("NOT num = :nine", true),
        ("NOT num = :ten", false),
        ("NOT NOT num = :ten", true),
        // AND binds tighter than OR: true OR (false AND false).
        ("num = :ten OR num = :nine AND flag = :f", true),
        ("(num = :ten OR num = :nine) AND flag = :f", false),
        // NOT binds tighter than AND: (NOT false) AND false.
        ("NOT num = :nine AND flag = :f", false),
        ("NOT (num = :nine AND flag = :f)", true),
        // Precedence, lowest to highest: OR, AND, NOT, then the rest.
        (
            "flag = :f AND num = :nine OR num = :ten AND NOT flag = :f",
            true,
        ),
        // (Redundant pairs such as `((num = :ten))` are rejected: tests/hardening_expr.rs.)
        ("((num = :ten) AND (flag <> :f))", true),
        (
            "num = :ten AND (flag = :f OR (num = :nine OR NOT flag = :f))",
            true,
        ),
        ("nOt num = :nine and FLAG = :f or num = :ten", true),
    ];
    for (cond, want) in cases {
        // "FLAG" is an attribute name, names are case-sensitive: FLAG does not exist.
        let tokens: Vec<&str> = cond
            .split(|ch: char| !(ch.is_alphanumeric() || ch == ':'))
            .collect();
        let cond_values: Vec<(&str, AttributeValue)> = v()
            .into_iter()
            .filter(|(k, _)| tokens.contains(k))
            .collect();
        assert_eq!(holds(&c, cond, &cond_values, &[]).await, want, "{cond}");
    }
}

#[tokio::test]
async fn functions() {
    let server = Server::start();
    let c = server.client();
    seed(&c).await;
    let cases: Vec<Case> = vec![
        ("attribute_exists(num)", vec![], true),
        ("attribute_exists(absent)", vec![], false),
        ("attribute_exists(doc.a.b[3].c)", vec![], true),
        ("attribute_exists(doc.a.b[4])", vec![], false),
        ("attribute_exists(nothing)", vec![], true),
        ("attribute_not_exists(absent)", vec![], true),
        ("attribute_not_exists(doc.a.b[9])", vec![], true),
        ("attribute_not_exists(doc.a.x)", vec![], true),
        ("attribute_not_exists(txt)", vec![], false),
        ("attribute_type(tags, :t)", vec![(":t", s("SS"))], true),
        ("attribute_type(scores, :t)", vec![(":t", s("NS"))], true),
        ("attribute_type(blobs, :t)", vec![(":t", s("BS"))], true),
        ("attribute_type(num, :t)", vec![(":t", s("N"))], true),
        ("attribute_type(num, :t)", vec![(":t", s("S"))], false),
        ("attribute_type(txt, :t)", vec![(":t", s("S"))], true),
        ("attribute_type(bin, :t)", vec![(":t", s("B"))], true),
        ("attribute_type(flag, :t)", vec![(":t", s("BOOL"))], true),
        ("attribute_type(nothing, :t)", vec![(":t", s("NULL"))], true),
        ("attribute_type(doc, :t)", vec![(":t", s("M"))], true),
        ("attribute_type(#items, :t)", vec![(":t", s("L"))], true),
        ("attribute_type(absent, :t)", vec![(":t", s("S"))], false),
        ("begins_with(txt, :p)", vec![(":p", s("hello"))], true),
        ("begins_with(txt, :p)", vec![(":p", s("hello world"))], true),
        ("begins_with(txt, :p)", vec![(":p", s("world"))], false),
        ("begins_with(txt, :p)", vec![(":p", s("Hello"))], false),
        ("begins_with(bin, :p)", vec![(":p", b(b"\x01\x02"))], true),
        ("begins_with(num, :p)", vec![(":p", s("1"))], false),
        ("begins_with(absent, :p)", vec![(":p", s("a"))], false),
        ("contains(txt, :v)", vec![(":v", s("o w"))], true),
        ("contains(txt, :v)", vec![(":v", s("xyz"))], false),
        ("contains(bin, :v)", vec![(":v", b(b"\x02\x03"))], true),
        ("contains(tags, :v)", vec![(":v", s("red"))], true),
        ("contains(tags, :v)", vec![(":v", s("re"))], false),
        ("contains(scores, :v)", vec![(":v", n("2"))], true),
        ("contains(scores, :v)", vec![(":v", s("2"))], false),
        ("contains(blobs, :v)", vec![(":v", b(b"\x02"))], true),
        ("contains(#items, :v)", vec![(":v", s("y"))], true),
        ("contains(#items, :v)", vec![(":v", s("w"))], false),
        ("contains(absent, :v)", vec![(":v", s("a"))], false),
        ("size(txt) = :v", vec![(":v", n("11"))], true),
        ("size(bin) = :v", vec![(":v", n("3"))], true),
        ("size(tags) = :v", vec![(":v", n("2"))], true),
        ("size(#items) > :v", vec![(":v", n("2"))], true),
        ("size(doc) = :v", vec![(":v", n("1"))], true),
        (
            "size(doc.a.b) BETWEEN :a AND :b",
            vec![(":a", n("4")), (":b", n("4"))],
            true,
        ),
        ("size(emptystr) = :v", vec![(":v", n("0"))], true),
        ("size(absent) = :v", vec![(":v", n("0"))], false),
        ("size(txt) > size(tags)", vec![], true),
        // Functions combine with logic.
        (
            "attribute_exists(num) AND NOT contains(tags, :v)",
            vec![(":v", s("green"))],
            true,
        ),
    ];
    for (cond, values, want) in cases {
        let names: Vec<(&str, &str)> = if cond.contains("#items") {
            vec![("#items", "items")]
        } else {
            vec![]
        };
        assert_eq!(
            holds(&c, cond, &values, &names).await,
            want,
            "{cond} {values:?}"
        );
    }
}

#[tokio::test]
async fn conditions_guard_writes() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, T).await;
    c.put_item()
        .table_name(T)
        .item("pk", s("a"))
        .item("sk", n("1"))
        .item("version", n("1"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect("first put");
    assert_service_error(
        c.put_item()
            .table_name(T)
            .item("pk", s("a"))
            .item("sk", n("1"))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await,
        "ConditionalCheckFailedException",
        "The conditional request failed",
    );
    c.update_item()
        .table_name(T)
        .key("pk", s("a"))
        .key("sk", n("1"))
        .update_expression("SET version = version + :one")
        .condition_expression("version = :v")
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":v", n("1"))
        .send()
        .await
        .expect("optimistic update");
    assert_service_error(
        c.delete_item()
            .table_name(T)
            .key("pk", s("a"))
            .key("sk", n("1"))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ConditionalCheckFailedException",
        "The conditional request failed",
    );
    c.delete_item()
        .table_name(T)
        .key("pk", s("a"))
        .key("sk", n("1"))
        .condition_expression("version = :v")
        .expression_attribute_values(":v", n("2"))
        .send()
        .await
        .expect("conditional delete");
    // A condition on a missing item sees no attributes: attribute_exists fails, and no item
    // is created by the failed update.
    assert_service_error(
        c.update_item()
            .table_name(T)
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
    let got = c
        .get_item()
        .table_name(T)
        .key("pk", s("a"))
        .key("sk", n("1"))
        .send()
        .await
        .expect("get");
    assert!(got.item().is_none());
    // ... and attribute_not_exists holds, so a conditional upsert creates it.
    c.update_item()
        .table_name(T)
        .key("pk", s("a"))
        .key("sk", n("1"))
        .update_expression("SET x = :v")
        .condition_expression("attribute_not_exists(x)")
        .expression_attribute_values(":v", n("1"))
        .send()
        .await
        .expect("conditional upsert");
}

#[tokio::test]
async fn condition_errors() {
    let server = Server::start();
    let c = server.client();
    seed(&c).await;
    let put = |cond: &str| {
        c.put_item()
            .table_name(T)
            .item("pk", s("k"))
            .item("sk", n("2"))
            .condition_expression(cond)
    };
    assert_service_error(
        put("num = :v").send().await,
        "ValidationException",
        "An expression attribute value used in expression is not defined; attribute value: :v",
    );
    assert_service_error(
        put("#n = :v")
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "An expression attribute name used in the document path is not defined; attribute name: #n",
    );
    assert_service_error(
        put("num = :v")
            .expression_attribute_values(":v", n("1"))
            .expression_attribute_values(":w", n("2"))
            .send()
            .await,
        "ValidationException",
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}",
    );
    assert_service_error(
        put("num = :v")
            .expression_attribute_values(":v", n("1"))
            .expression_attribute_names("#x", "x")
            .send()
            .await,
        "ValidationException",
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}",
    );
    assert_service_error(
        put("num = ").send().await,
        "ValidationException",
        "Invalid ConditionExpression: Syntax error",
    );
    assert_service_error(
        put("num == :v")
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "Syntax error",
    );
    assert_service_error(
        put("(num = :v")
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "Syntax error",
    );
    assert_service_error(
        put("status = :v")
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "Attribute name is a reserved keyword; reserved keyword: status",
    );
    assert_service_error(
        put("name = :v")
            .expression_attribute_values(":v", s("1"))
            .send()
            .await,
        "ValidationException",
        "reserved keyword: name",
    );
    assert_service_error(
        put("num = num").send().await,
        "ValidationException",
        "The first operand must be distinct from the remaining operands for this operator or function",
    );
    assert_service_error(
        put("foo(num)").send().await,
        "ValidationException",
        "Invalid function name; function: foo",
    );
    assert_service_error(
        put("attribute_exists(:v)")
            .expression_attribute_values(":v", s("x"))
            .send()
            .await,
        "ValidationException",
        "Operator or function requires a document path",
    );
    assert_service_error(
        put("attribute_type(num, :t)")
            .expression_attribute_values(":t", s("XX"))
            .send()
            .await,
        "ValidationException",
        "Invalid attribute type name found",
    );
    assert_service_error(
        put("begins_with(txt, :v)").expression_attribute_values(":v", n("1")).send().await,
        "ValidationException",
        "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
    );
    assert_service_error(put("size(num)").send().await, "ValidationException", "");
    assert_service_error(
        put("num = :v AND num")
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.put_item()
            .table_name(T)
            .item("pk", s("k"))
            .item("sk", n("2"))
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "ExpressionAttributeValues can only be specified when using expressions",
    );
    assert_service_error(
        c.put_item()
            .table_name(T)
            .item("pk", s("k"))
            .item("sk", n("2"))
            .expression_attribute_names("#n", "num")
            .send()
            .await,
        "ValidationException",
        "ExpressionAttributeNames can only be specified when using expressions",
    );
    assert_service_error(
        put("").send().await,
        "ValidationException",
        "ConditionExpression",
    );
    // Nothing was written by any failed request.
    let scan = c.scan().table_name(T).send().await.expect("scan");
    assert_eq!(scan.count(), 1);
}
