//! Expressions shaped to exhaust the server (deep nesting, thousands of operators, deep
//! document paths and JSON), through the HTTP API and through a WebAssembly handler's
//! `dynamodb.call`: each is DynamoDB's ValidationException and the server keeps answering.
//! Also the expression and UpdateItem behaviours DynamoDB has that these checks go with:
//! redundant parentheses, unordered comparisons, tokens, REMOVE/DELETE on missing items,
//! SET past the end of a list.

mod common;

use aws_sdk_dynamodb::types::{ReturnValue, ScalarAttributeType};
use aws_sdk_dynamodb::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::FunctionCode;
use common::*;

const T: &str = "deep";

async fn setup(c: &Client) {
    create_table(c, T, ("pk", ScalarAttributeType::S), None).await;
    c.put_item()
        .table_name(T)
        .item("pk", s("k"))
        .item("a", n("1"))
        .item("b", n("2"))
        .item("lst", l(vec![n("0")]))
        .send()
        .await
        .expect("seed");
}

/// The server still serves requests.
async fn still_answers(c: &Client) {
    let got = c
        .get_item()
        .table_name(T)
        .key("pk", s("k"))
        .consistent_read(true)
        .send()
        .await
        .expect("server still answers");
    assert!(got.item().is_some());
}

fn nest(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// FilterExpressions under 4 KB nested as deep as they fit, with DynamoDB's answers.
fn deep_filters() -> Vec<(String, &'static str)> {
    vec![
        (
            nest("(", "a = :v", ")", 1400),
            "Invalid FilterExpression: The expression has redundant parentheses;",
        ),
        (
            format!("{}a = :v", "NOT ".repeat(1000)),
            "Invalid FilterExpression: The expression contains too many operators; operator count: 301",
        ),
        (
            format!("a = :v {}", nest("OR (a = :v ", "", ")", 300)),
            "Invalid FilterExpression: The expression contains too many operators; operator count: 301",
        ),
        (
            format!("{}a = :v{}", "(".repeat(310), ") AND a = :v".repeat(310)),
            "Invalid FilterExpression: The expression contains too many operators; operator count: 301",
        ),
        (
            format!("a < {}", nest("f(", "b", ")", 1355)),
            "Invalid FilterExpression: Invalid function name; function: f",
        ),
        (
            format!("a < {}", nest("size(", "b", ")", 680)),
            "Invalid FilterExpression: Incorrect operand type for operator or function; operator or function: size, operand type: N",
        ),
        (
            format!("{} = :v", nest("(", "a", ").b", 100)),
            "Invalid FilterExpression: The document path has too many nesting levels; nesting levels: 33",
        ),
        (
            "(".repeat(4096),
            "Invalid FilterExpression: Syntax error; token: <EOF>, near: \"(\"",
        ),
    ]
}

#[tokio::test]
async fn deep_expressions_are_validation_errors_and_the_server_keeps_answering() {
    let server = Server::start();
    let c = server.client();
    setup(&c).await;
    for (expr, message) in deep_filters() {
        assert!(expr.len() <= 4096);
        assert_service_error(
            c.scan()
                .table_name(T)
                .filter_expression(&expr)
                .expression_attribute_values(":v", n("1"))
                .send()
                .await,
            "ValidationException",
            message,
        );
        still_answers(&c).await;
    }

    // At the limit: 299 operators nested 149 deep, a 32-level path.
    let out = c
        .scan()
        .table_name(T)
        .filter_expression(format!("a < b {}", nest("OR (a < b ", "", ")", 149)))
        .send()
        .await
        .expect("299 operators");
    assert_eq!(out.count(), 1);
    let out = c
        .get_item()
        .table_name(T)
        .key("pk", s("k"))
        .projection_expression(format!("a{}", ".b".repeat(31)))
        .send()
        .await
        .expect("32-level path");
    assert!(out.item().is_none_or(|i| i.is_empty()));

    // The other expressions of a request go through the same parser.
    assert_service_error(
        c.get_item()
            .table_name(T)
            .key("pk", s("k"))
            .projection_expression(format!("a{}", ".b".repeat(32)))
            .send()
            .await,
        "ValidationException",
        "Invalid ProjectionExpression: The document path has too many nesting levels; nesting levels: 33",
    );
    assert_service_error(
        c.query()
            .table_name(T)
            .key_condition_expression(nest("(", "pk = :k", ")", 2000))
            .expression_attribute_values(":k", s("k"))
            .send()
            .await,
        "ValidationException",
        "Invalid KeyConditionExpression: The expression has redundant parentheses;",
    );
    assert_service_error(
        c.update_item()
            .table_name(T)
            .key("pk", s("k"))
            .update_expression(format!(
                "SET c = {}",
                nest("if_not_exists(a, ", ":v", ")", 200)
            ))
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; function: if_not_exists",
    );
    assert_service_error(
        c.update_item()
            .table_name(T)
            .key("pk", s("k"))
            .update_expression(format!("SET c{} = :v", "[0]".repeat(40)))
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "Invalid UpdateExpression: The document path has too many nesting levels; nesting levels: 41",
    );
    assert_service_error(
        c.delete_item()
            .table_name(T)
            .key("pk", s("k"))
            .condition_expression(format!("{}a = :v{}", "NOT (".repeat(600), ")".repeat(600)))
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "Invalid ConditionExpression: The expression contains too many operators; operator count: 301",
    );
    still_answers(&c).await;

    // Legacy conditions become expressions too: many of them still work.
    let mut filter = std::collections::HashMap::new();
    for i in 0..80 {
        filter.insert(
            format!("x{i}"),
            aws_sdk_dynamodb::types::Condition::builder()
                .comparison_operator(aws_sdk_dynamodb::types::ComparisonOperator::Null)
                .build()
                .expect("condition"),
        );
    }
    let out = c
        .scan()
        .table_name(T)
        .set_scan_filter(Some(filter))
        .send()
        .await
        .expect("80 legacy conditions");
    assert_eq!(out.count(), 1);
}

#[tokio::test]
async fn deeply_nested_json_and_values_are_validation_errors() {
    let server = Server::start();
    let c = server.client();
    setup(&c).await;
    let nested = |depth: usize| {
        let mut v = r#"{"S":"leaf"}"#.to_owned();
        for _ in 0..depth {
            v = format!(r#"{{"M":{{"k":{v}}}}}"#);
        }
        v
    };
    for depth in [40, 100, 5000] {
        let r = raw_call(
            server.addr,
            "DynamoDB_20120810.PutItem",
            &format!(
                r#"{{"TableName":"{T}","Item":{{"pk":{{"S":"n"}},"v":{}}}}}"#,
                nested(depth)
            ),
        );
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        assert!(
            r.json["__type"]
                .as_str()
                .is_some_and(|t| t.ends_with("ValidationException")),
            "{}",
            r.json
        );
        assert_eq!(
            r.json["message"],
            "Nesting Levels have exceeded supported limits"
        );
        still_answers(&c).await;
    }
    // An update cannot nest a value deeper than a request could.
    let mut deep = s("leaf");
    for _ in 0..20 {
        deep = m(&[("k", deep)]);
    }
    c.update_item()
        .table_name(T)
        .key("pk", s("k"))
        .update_expression("SET d = :d")
        .expression_attribute_values(":d", deep.clone())
        .send()
        .await
        .expect("20 levels");
    assert_service_error(
        c.update_item()
            .table_name(T)
            .key("pk", s("k"))
            .update_expression(format!("SET d{} = :d", ".k".repeat(19)))
            .expression_attribute_values(":d", deep)
            .send()
            .await,
        "ValidationException",
        "Nesting Levels have exceeded supported limits",
    );
    still_answers(&c).await;
}

#[tokio::test]
async fn condition_and_update_expression_rules() {
    let server = Server::start();
    let c = server.client();
    setup(&c).await;
    let cond = |expr: &str| {
        let req = c
            .update_item()
            .table_name(T)
            .key("pk", s("k"))
            .update_expression("SET z = :v")
            .condition_expression(expr)
            .expression_attribute_values(":v", n("1"));
        if expr.contains(":l") {
            req.expression_attribute_values(":l", l(vec![n("1")]))
        } else {
            req
        }
    };
    // Redundant parentheses, where DynamoDB counts them.
    for expr in ["((a = :v))", "((a)) = :v", "a = ((:v))", "NOT ((a = :v))"] {
        assert_service_error(
            cond(expr).send().await,
            "ValidationException",
            "Invalid ConditionExpression: The expression has redundant parentheses;",
        );
    }
    for expr in [
        "(a = :v)",
        "(a) = (:v)",
        "((a = :v) AND b > :v)",
        "(lst)[0] <> :v",
    ] {
        cond(expr).send().await.expect(expr);
    }
    // Ordering a request value of an unordered type is an error; an attribute of such a
    // type is simply not ordered.
    assert_service_error(
        cond("a < :l").send().await,
        "ValidationException",
        "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: <, operand type: L",
    );
    assert_service_error(
        cond("a BETWEEN :l AND :l").send().await,
        "ValidationException",
        "operator or function: BETWEEN, operand type: L",
    );
    assert_service_error(
        cond("lst < :v OR a = :l").send().await,
        "ConditionalCheckFailedException",
        "The conditional request failed",
    );
    // Update expressions: tokens, unknown functions, one + or -.
    let upd = |expr: &str| {
        c.update_item()
            .table_name(T)
            .key("pk", s("k"))
            .update_expression(expr)
            .expression_attribute_values(":v", n("1"))
    };
    assert_service_error(
        upd("SET _a = :v").send().await,
        "ValidationException",
        "Invalid UpdateExpression: Syntax error; token: \"_\", near: \"SET _a\"",
    );
    assert_service_error(
        upd("SET a = f(b, :v)").send().await,
        "ValidationException",
        "Invalid UpdateExpression: Invalid function name; function: f",
    );
    assert_service_error(
        upd("SET a = :v + :v + :v").send().await,
        "ValidationException",
        "Invalid UpdateExpression: Syntax error; token: \"+\"",
    );
    assert_service_error(
        upd("SET a = if_not_exists(a, :v + :v)").send().await,
        "ValidationException",
        "Invalid UpdateExpression: Syntax error; token: \"+\"",
    );
    still_answers(&c).await;
}

#[tokio::test]
async fn update_item_on_missing_items_and_list_ends() {
    let server = Server::start();
    let c = server.client();
    setup(&c).await;
    let upd = |key: &str, expr: &str, rv: ReturnValue| {
        c.update_item()
            .table_name(T)
            .key("pk", s(key))
            .update_expression(expr)
            .return_values(rv)
    };
    let exists = |key: String| {
        let c = c.clone();
        async move {
            c.get_item()
                .table_name(T)
                .key("pk", s(&key))
                .consistent_read(true)
                .send()
                .await
                .expect("get")
                .item()
                .is_some()
        }
    };
    // REMOVE and DELETE alone do not create the item, whatever ReturnValues asks for.
    for (i, (expr, rv)) in [
        ("REMOVE a", ReturnValue::AllNew),
        ("REMOVE a.b, c[2]", ReturnValue::UpdatedNew),
        ("DELETE s :ss", ReturnValue::AllOld),
        ("REMOVE x DELETE s :ss", ReturnValue::UpdatedOld),
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("missing{i}");
        let mut req = upd(&key, expr, rv);
        if expr.contains(":ss") {
            req = req.expression_attribute_values(":ss", ss(&["x"]));
        }
        let out = req.send().await.expect(expr);
        assert!(out.attributes().is_none(), "{expr}: {:?}", out.attributes());
        assert!(!exists(key).await, "{expr} created the item");
    }
    // The same in a transaction: a REMOVE-only Update of a missing item creates nothing.
    c.transact_write_items()
        .transact_items(
            aws_sdk_dynamodb::types::TransactWriteItem::builder()
                .update(
                    aws_sdk_dynamodb::types::Update::builder()
                        .table_name(T)
                        .key("pk", s("missing-tx"))
                        .update_expression("REMOVE a.b, c")
                        .build()
                        .expect("update"),
                )
                .build(),
        )
        .send()
        .await
        .expect("transaction with a REMOVE-only update");
    assert!(
        !exists("missing-tx".into()).await,
        "the transaction created the item"
    );
    // SET and ADD do; a nested REMOVE on the missing item is ignored.
    let out = upd("new1", "SET a = :v REMOVE x.y", ReturnValue::AllNew)
        .expression_attribute_values(":v", n("5"))
        .send()
        .await
        .expect("SET creates");
    assert_eq!(
        normalize_item(out.attributes().expect("ALL_NEW")),
        item(&[("pk", s("new1")), ("a", n("5"))])
    );
    // On an existing item a nested REMOVE needs its parent.
    assert_service_error(
        upd("k", "REMOVE nope.x", ReturnValue::None).send().await,
        "ValidationException",
        "The document path provided in the update expression is invalid for update",
    );
    upd("k", "REMOVE lst[5], a.nope", ReturnValue::None)
        .send()
        .await
        .expect_err("a is a number");
    upd("k", "REMOVE lst[5]", ReturnValue::None)
        .send()
        .await
        .expect("missing element");

    // SET past the end of a list appends, in the order of the indexes.
    let out = upd(
        "k",
        "SET lst[84] = :one, lst[37] = :two, lst[50] = :three",
        ReturnValue::UpdatedNew,
    )
    .expression_attribute_values(":one", n("1"))
    .expression_attribute_values(":two", n("2"))
    .expression_attribute_values(":three", n("3"))
    .send()
    .await
    .expect("append");
    assert_eq!(
        out.attributes().expect("UPDATED_NEW")["lst"],
        l(vec![n("2"), n("3"), n("1")])
    );
    let got = c
        .get_item()
        .table_name(T)
        .key("pk", s("k"))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.item().expect("item")["lst"],
        l(vec![n("0"), n("2"), n("3"), n("1")])
    );
}

/// Escapes text for a WAT string literal.
fn wat_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A handler that sends `request` as a Scan through `dynamodb.call` and returns the error's
/// message as its result (and traps if the call succeeded).
fn scanning_handler(request: &str) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (import "tributary:function/dynamodb@0.1.0" "call" (func $call (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 256) "Scan")
  (data (i32.const 1024) "{}")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get 3)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "handle") (param i32 i32) (result i32)
    (call $call (i32.const 256) (i32.const 4) (i32.const 1024) (i32.const {}) (i32.const 64))
    (if (i32.eqz (i32.load8_u (i32.const 64))) (then unreachable))
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.load (i32.const 76)))
    (i32.store (i32.const 24) (i32.load (i32.const 80)))
    (i32.const 16)))"#,
        wat_str(request),
        request.len()
    );
    trigger_component(&wat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_expression_from_a_handler_is_a_validation_error() {
    let server = Server::start();
    let c = server.client();
    setup(&c).await;
    let lambda = lambda_client_for(&server.endpoint());
    let request = serde_json::json!({
        "TableName": T,
        "FilterExpression": nest("(", "a = :v", ")", 1400),
        "ExpressionAttributeValues": {":v": {"N": "1"}},
    })
    .to_string();
    lambda
        .create_function()
        .function_name("deep")
        .role("arn:aws:iam::000000000000:role/any")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(scanning_handler(&request)))
                .build(),
        )
        .send()
        .await
        .expect("create function");
    for _ in 0..2 {
        let out = lambda
            .invoke()
            .function_name("deep")
            .payload(Blob::new(b"{}".to_vec()))
            .send()
            .await
            .expect("invoke");
        assert!(out.function_error().is_none(), "{out:?}");
        let payload = out
            .payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&payload),
            "Invalid FilterExpression: The expression has redundant parentheses;"
        );
        still_answers(&c).await;
    }
}
