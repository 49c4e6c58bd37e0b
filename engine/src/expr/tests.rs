//! Tests of the expression language: parsing, DynamoDB's messages, evaluation and updates.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::value::item_from_json;

fn item(j: serde_json::Value) -> Item {
    item_from_json(&j).unwrap()
}

fn vals(j: serde_json::Value) -> Values {
    item(j).into_iter().collect()
}

fn names(pairs: &[(&str, &str)]) -> Names {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn cond(expr: &str, v: &Values, it: &Item) -> Result<bool> {
    let n = names(&[("#s", "status"), ("#a", "a")]);
    let input = ExprInput::new(Some(&n), Some(v));
    Condition::parse(expr, ExprKind::Condition, &input)?.eval(it)
}

fn err_msg(r: Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(EngineError::Validation(m)) => m,
        other => panic!("expected a ValidationException, got {other:?}"),
    }
}

fn sample() -> Item {
    item(json!({
        "a": {"N": "5"}, "s": {"S": "hello"}, "b": {"B": "AAEC"},
        "status": {"S": "active"},
        "m": {"M": {"x": {"N": "1"}, "l": {"L": [{"S": "p"}, {"N": "2"}]}}},
        "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2"]}, "l": {"L": [{"S": "z"}, {"N": "10"}]},
        "t": {"BOOL": true}, "z": {"NULL": true}
    }))
}

#[test]
fn comparisons_and_logic() {
    let v = vals(
        json!({":five": {"N": "5.0"}, ":ten": {"N": "10"}, ":h": {"S": "hello"}, ":x": {"S": "x"}}),
    );
    let it = sample();
    assert!(cond("a = :five", &v, &it).unwrap());
    assert!(cond("a < :ten AND s = :h", &v, &it).unwrap());
    assert!(!cond("a > :ten OR s <> :h", &v, &it).unwrap());
    assert!(cond("NOT a > :ten", &v, &it).unwrap());
    assert!(cond("a BETWEEN :five AND :ten", &v, &it).unwrap());
    assert!(cond("a IN (:ten, :five)", &v, &it).unwrap());
    assert!(cond("(a = :ten OR a = :five) AND s = :h", &v, &it).unwrap());
    // NOT binds tighter than AND, AND tighter than OR.
    assert!(cond("a = :ten AND s = :h OR a = :five", &v, &it).unwrap());
    assert!(!cond("NOT a = :five AND a = :five", &v, &it).unwrap());
    // Different types are not equal and not ordered.
    assert!(!cond("s < :ten", &v, &it).unwrap());
    assert!(cond("s <> :ten", &v, &it).unwrap());
    assert!(cond("nope <> :ten", &v, &it).unwrap());
    assert!(!cond("nope = :ten", &v, &it).unwrap());
    assert!(cond("m.l[1] < :ten AND m.x < a", &v, &it).unwrap());
    assert!(cond("#s = #s OR a = :five", &v, &it).is_err());
}

#[test]
fn functions() {
    let v = vals(
        json!({":he": {"S": "he"}, ":x": {"S": "x"}, ":S": {"S": "S"}, ":NS": {"S": "NS"}, ":two": {"N": "2"}, ":ten": {"N": "10"}, ":z": {"S": "z"}, ":ell": {"S": "ell"}}),
    );
    let it = sample();
    assert!(cond(
        "attribute_exists(m.l[0]) AND attribute_not_exists(m.l[5])",
        &v,
        &it
    )
    .unwrap());
    assert!(cond("attribute_type(s, :S) AND attribute_type(ns, :NS)", &v, &it).unwrap());
    assert!(cond("begins_with(s, :he)", &v, &it).unwrap());
    assert!(cond(
        "contains(s, :ell) AND contains(ss, :x) AND contains(ns, :two) AND contains(l, :z)",
        &v,
        &it
    )
    .unwrap());
    assert!(cond(
        "size(s) > :two AND size(ss) = :two AND size(m) = :two",
        &v,
        &it
    )
    .unwrap());
    assert!(cond("size(l) < :ten", &v, &it).unwrap());
    assert!(!cond("size(a) > :two", &v, &it).unwrap());
}

#[test]
fn static_errors_use_dynamodb_messages() {
    let v = vals(json!({":n": {"N": "1"}, ":s": {"S": "a"}, ":big": {"N": "9"}}));
    let it = Item::new();
    assert_eq!(
        err_msg(cond("a = :nope", &v, &it)),
        "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope"
    );
    assert_eq!(
        err_msg(cond("#nope = :n", &v, &it)),
        "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #nope"
    );
    assert_eq!(
        err_msg(cond("status = :s", &v, &it)),
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"
    );
    assert_eq!(
        err_msg(cond("foo(a)", &v, &it)),
        "Invalid ConditionExpression: Invalid function name; function: foo"
    );
    assert_eq!(
        err_msg(cond("begins_with(a)", &v, &it)),
        "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1"
    );
    assert_eq!(
        err_msg(cond("begins_with(a, :n)", &v, &it)),
        "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
    );
    assert_eq!(
        err_msg(cond("attribute_exists(:s)", &v, &it)),
        "Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_exists"
    );
    assert_eq!(
        err_msg(cond("size(a)", &v, &it)),
        "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: size"
    );
    assert_eq!(
        err_msg(cond("a = a", &v, &it)),
        "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"
    );
    assert!(err_msg(cond("a BETWEEN :big AND :n", &v, &it))
        .contains("upper bound to be greater than or equal to lower bound"));
    assert!(err_msg(cond("a BETWEEN :s AND :n", &v, &it)).contains("same data type"));
    assert!(err_msg(cond("attribute_type(a, :s)", &v, &it))
        .contains("Invalid attribute type name found; type: a"));
    assert_eq!(
        err_msg(cond("", &v, &it)),
        "Invalid ConditionExpression: The expression can not be empty;"
    );
}

#[test]
fn syntax_errors_name_the_token() {
    let v = vals(json!({":n": {"N": "1"}}));
    let it = Item::new();
    assert_eq!(
        err_msg(cond("a = :n AND", &v, &it)),
        "Invalid ConditionExpression: Syntax error; token: <EOF>, near: \"AND\""
    );
    assert_eq!(
        err_msg(cond("a == :n", &v, &it)),
        "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"== :n\""
    );
    assert!(err_msg(cond("a = :n)", &v, &it)).contains("Syntax error; token: \")\""));
    assert!(err_msg(cond("a ! :n", &v, &it)).contains("Syntax error; token: \"!\""));
}

#[test]
fn unused_placeholders_are_rejected() {
    let v = vals(json!({":n": {"N": "1"}, ":unused": {"N": "2"}}));
    let n = names(&[("#a", "a"), ("#b", "b")]);
    let input = ExprInput::new(Some(&n), Some(&v));
    Condition::parse("#a = :n", ExprKind::Condition, &input).unwrap();
    assert_eq!(
        err_msg(input.check_all_used()),
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
    );
    let input = ExprInput::new(None, Some(&v));
    Condition::parse("a = :n", ExprKind::Condition, &input).unwrap();
    assert_eq!(
        err_msg(input.check_all_used()),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"
    );
}

fn update(expr: &str, v: &Values, it: &mut Item) -> Result<()> {
    let n = names(&[("#n", "name"), ("#m", "m")]);
    let input = ExprInput::new(Some(&n), Some(v));
    let u = Update::parse(expr, &input)?;
    u.apply(it)
}

#[test]
fn update_actions() {
    let v = vals(json!({
        ":one": {"N": "1"}, ":s": {"S": "new"}, ":l": {"L": [{"N": "3"}]},
        ":ss": {"SS": ["y", "w"]}, ":del": {"SS": ["x"]}, ":half": {"N": "0.5"}
    }));
    let mut it = sample();
    update("SET a = a + :one, s = :s, #n = if_not_exists(#n, :s), l = list_append(l, :l) REMOVE t, m.l[0] ADD ss :ss, cnt :half", &v, &mut it).unwrap();
    update("DELETE ss :del", &v, &mut it).unwrap();
    assert_eq!(
        it["a"],
        AttributeValue::N(crate::Number::parse("6").unwrap())
    );
    assert_eq!(it["s"], AttributeValue::S("new".into()));
    assert_eq!(it["name"], AttributeValue::S("new".into()));
    assert_eq!(
        it["l"].to_json(),
        json!({"L": [{"S": "z"}, {"N": "10"}, {"N": "3"}]})
    );
    assert!(!it.contains_key("t"));
    assert_eq!(
        it["m"].to_json(),
        json!({"M": {"x": {"N": "1"}, "l": {"L": [{"N": "2"}]}}})
    );
    assert_eq!(it["ss"].to_json(), json!({"SS": ["y", "w"]}));
    assert!(err_msg(update("ADD ss :ss DELETE ss :del", &v, &mut it)).contains("overlap"));
    assert_eq!(it["cnt"].to_json(), json!({"N": "0.5"}));
    // SET of a list index past the end appends; nested SET into a map.
    update("SET l[10] = :one, #m.x = :s, #m.nw = :one", &v, &mut it).unwrap();
    assert_eq!(
        it["l"].to_json(),
        json!({"L": [{"S": "z"}, {"N": "10"}, {"N": "3"}, {"N": "1"}]})
    );
    assert_eq!(
        it["m"].to_json(),
        json!({"M": {"x": {"S": "new"}, "nw": {"N": "1"}, "l": {"L": [{"N": "2"}]}}})
    );
    // Removing the last elements of a set removes the attribute.
    let v2 = vals(json!({":all": {"SS": ["y", "w"]}}));
    update("DELETE ss :all", &v2, &mut it).unwrap();
    assert!(!it.contains_key("ss"));
}

#[test]
fn update_runtime_and_static_errors() {
    let v = vals(json!({":one": {"N": "1"}, ":s": {"S": "x"}, ":l": {"L": []}}));
    let mut it = sample();
    assert_eq!(
        err_msg(update("SET s = s + :one", &v, &mut it)),
        "An operand in the update expression has an incorrect data type"
    );
    assert_eq!(
        err_msg(update("SET nope.x = :one", &v, &mut it)),
        "The document path provided in the update expression is invalid for update"
    );
    assert!(
        err_msg(update("SET q = nope + :one", &v, &mut it)).contains("does not exist in the item")
    );
    assert_eq!(
        err_msg(update("SET a = :s + :one", &v, &mut it)),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, operand type: S"
    );
    assert_eq!(
        err_msg(update("ADD a :s", &v, &mut it)),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING"
    );
    assert_eq!(
        err_msg(update("SET a = :one SET s = :s", &v, &mut it)),
        "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;"
    );
    assert_eq!(
        err_msg(update("SET m = :one REMOVE m.x", &v, &mut it)),
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [m], path two: [m, x]"
    );
    assert!(err_msg(update("SET l[0] = :one REMOVE l.x", &v, &mut it))
        .contains("Two document paths conflict"));
    assert!(
        err_msg(update("SET a = list_append(:one, :l)", &v, &mut it))
            .contains("list_append, operand type: N")
    );
    assert!(err_msg(update("SET a :one", &v, &mut it)).contains("Syntax error; token: \":one\""));
    assert!(err_msg(update("UPSERT a = :one", &v, &mut it)).contains("Syntax error"));
    assert!(err_msg(update("SET date = :one", &v, &mut it)).contains("reserved keyword: date"));
}

#[test]
fn projections() {
    let input = ExprInput::new(None, None);
    let p = Projection::parse("a, m.l[1], m.x, l[0], nope, m.l[7]", &input).unwrap();
    assert_eq!(
        crate::value::item_to_json(&p.apply(&sample())),
        json!({"a": {"N": "5"}, "m": {"M": {"x": {"N": "1"}, "l": {"L": [{"N": "2"}]}}}, "l": {"L": [{"S": "z"}]}})
    );
    assert!(err_msg(Projection::parse("a, a.b", &input)).contains("overlap"));
    assert!(err_msg(Projection::parse("a,", &input)).contains("Syntax error"));
}

fn key(expr: &str, v: &Values) -> Result<KeyCondition> {
    let input = ExprInput::new(None, Some(v));
    KeyCondition::parse(expr, &input, ("pk", "S"), Some(("sk", "N")))
}

#[test]
fn key_conditions() {
    let v = vals(json!({":p": {"S": "x"}, ":a": {"N": "1"}, ":b": {"N": "5"}, ":s": {"S": "q"}}));
    let k = key("pk = :p AND sk BETWEEN :a AND :b", &v).unwrap();
    assert_eq!(k.partition.1, AttributeValue::S("x".into()));
    assert!(matches!(k.sort, Some((_, SortKeyCondition::Between(..)))));
    let k = key(":a < sk AND :p = pk", &v).unwrap();
    assert!(matches!(k.sort, Some((_, SortKeyCondition::Gt(_)))));
    assert_eq!(
        err_msg(key("sk = :a", &v)),
        "Query condition missed key schema element: pk"
    );
    assert_eq!(
        err_msg(key("pk = :p OR sk = :a", &v)),
        "Invalid operator used in KeyConditionExpression: OR"
    );
    assert_eq!(
        err_msg(key("pk = :p AND x1 = :a", &v)),
        "Query condition missed key schema element: sk"
    );
    assert_eq!(
        err_msg(key("pk = :a", &v)),
        "One or more parameter values were invalid: Condition parameter type does not match schema type"
    );
    assert_eq!(
        err_msg(key("pk < :p", &v)),
        "Query key condition not supported"
    );
    assert!(
        err_msg(key("pk = :p AND begins_with(sk, :s)", &v)).contains("does not match schema type")
    );
    assert!(err_msg(key("pk = :p AND begins_with(sk, :a)", &v))
        .contains("begins_with, operand type: N"));
}

proptest! {
    #[test]
    fn parsers_never_panic(s in "[a-z#:()\\[\\]0-9 ,.=<>+\\-]{0,40}|.{0,20}") {
        let n = names(&[("#a", "a")]);
        let v = vals(json!({":v": {"N": "1"}, ":l": {"L": [{"S": "x"}]}}));
        let input = ExprInput::new(Some(&n), Some(&v));
        let mut it = sample();
        if let Ok(c) = Condition::parse(&s, ExprKind::Filter, &input) {
            let _ = c.eval(&it);
        }
        if let Ok(u) = Update::parse(&s, &input) {
            let _ = u.apply(&mut it);
        }
        if let Ok(p) = Projection::parse(&s, &input) {
            let _ = p.apply(&it);
        }
        let _ = KeyCondition::parse(&s, &input, ("a", "S"), Some(("b", "N")));
    }

    #[test]
    fn numeric_comparison_agrees_with_number_order(a in -1000i64..1000, b in -1000i64..1000, scale in 0u32..4) {
        let fa = format!("{}e-{scale}", a);
        let v = vals(json!({":b": {"N": b.to_string()}}));
        let it = item(json!({"x": {"N": fa}}));
        let na = crate::Number::parse(&format!("{}e-{scale}", a)).unwrap();
        let nb = crate::Number::parse(&b.to_string()).unwrap();
        prop_assert_eq!(cond("x < :b", &v, &it).unwrap(), na < nb);
        prop_assert_eq!(cond("x >= :b", &v, &it).unwrap(), na >= nb);
    }
}

#[test]
fn redundant_parentheses_are_rejected_where_dynamodb_counts_them() {
    let v = vals(json!({":n": {"N": "5"}, ":s": {"S": "x"}}));
    let it = sample();
    let redundant = "Invalid ConditionExpression: The expression has redundant parentheses;";
    for expr in [
        "((a = :n))",
        "((a = :n)) AND s = :s",
        "NOT ((a = :n))",
        "((a)) = :n",
        "a = ((:n))",
        "(((a))) = :n",
        "a BETWEEN ((:n)) AND :n",
        "size(((s))) > :n",
        "a IN (((:n)), :n)",
        "((((a = :n) OR s = :s)))",
    ] {
        assert_eq!(err_msg(cond(expr, &v, &it)), redundant, "{expr}");
    }
    // One pair around a condition, an operand or a path prefix is fine, as are the
    // parentheses of functions and IN around a group.
    for expr in [
        "(a = :n)",
        "((a = :n) AND s = :s)",
        "(a = :n) AND (s = :s)",
        "NOT (a <> :n)",
        "(a) = (:n)",
        "(m.l)[1] = :n OR (m).x = :n OR ((m).l[0]) = :s",
        "size((s)) < :n",
        "a IN ((:n), :s)",
        "attribute_exists((m.x))",
        "(a BETWEEN (:n) AND :n)",
    ] {
        assert!(
            cond(expr, &v, &it).is_ok(),
            "{expr}: {:?}",
            cond(expr, &v, &it)
        );
    }
    assert!(cond("(m).x = (:n)", &v, &it).is_ok());
    // Syntax errors still win over redundant parentheses.
    assert!(err_msg(cond("((a = :n)) AND", &v, &it)).contains("Syntax error; token: <EOF>"));
}

#[test]
fn ordering_values_of_unordered_types_is_a_validation_error() {
    let v = vals(json!({
        ":n": {"N": "5"}, ":l": {"L": []}, ":m": {"M": {}}, ":t": {"BOOL": true},
        ":z": {"NULL": true}, ":ss": {"SS": ["a"]}, ":ns": {"NS": ["1"]}
    }));
    let it = sample();
    for (expr, ty) in [
        ("a < :l", "L"),
        (":m > a", "M"),
        ("a <= :t", "BOOL"),
        ("a >= :z", "NULL"),
        ("ss < :ss", "SS"),
        ("size(l) > :ns", "NS"),
    ] {
        let op = expr.split_whitespace().nth(1).unwrap_or_default();
        assert_eq!(
            err_msg(cond(expr, &v, &it)),
            format!("Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: {op}, operand type: {ty}"),
        );
    }
    assert_eq!(
        err_msg(cond("a BETWEEN :l AND :l", &v, &it)),
        "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: BETWEEN, operand type: L"
    );
    // Equality takes any type; an attribute of an unordered type is simply not ordered.
    assert!(!cond("a = :l OR a <> :n", &v, &it).unwrap());
    assert!(!cond("l < :n OR m >= :n OR l BETWEEN :n AND :n", &v, &it).unwrap());
}

#[test]
fn tokens_follow_dynamodb_lexical_rules() {
    let v = vals(json!({":v": {"N": "1"}, ":_": {"N": "2"}, ":1a": {"N": "3"}}));
    let mut it = sample();
    assert_eq!(
        err_msg(update("SET _abc = :v", &v, &mut it)),
        "Invalid UpdateExpression: Syntax error; token: \"_\", near: \"SET _abc\""
    );
    assert_eq!(
        err_msg(update("SET a = _f(:v)", &v, &mut it)),
        "Invalid UpdateExpression: Syntax error; token: \"_\", near: \"= _f\""
    );
    assert_eq!(
        err_msg(update("SET hi$there = :v", &v, &mut it)),
        "Invalid UpdateExpression: Syntax error; token: \"$\", near: \"hi$there\""
    );
    for bad in [
        "SET :v = :v",
        "SET a[:v] = :v",
        "SET a[#n] = :v",
        "SET # = :v",
        "SET a = :",
        "SET a = :v!",
        "REMOVE :v",
        "ADD a b",
        "SET a = :v + :v + :v",
        "SET a = if_not_exists(a, :v + :v)",
        "SET a = list_append()",
        "SET a = (((:v)))",
        "SET set = :v",
        "SET a = remove",
    ] {
        assert!(
            err_msg(update(bad, &v, &mut it)).contains("Syntax error"),
            "{bad}"
        );
    }
    update(
        "SET a = :_ , s = :1a, #n = (:v), x = ((:v)), y = (a + :v), z = (a) - (:v)",
        &v,
        &mut it,
    )
    .unwrap();
    assert_eq!(it["y"].to_json(), json!({"N": "6"}));
    assert_eq!(it["z"].to_json(), json!({"N": "4"}));
    assert_eq!(it["x"], it["name"]);
    // Unknown functions parse, then fail as DynamoDB reports them.
    assert_eq!(
        err_msg(update("SET a = f(b, c, d)", &v, &mut it)),
        "Invalid UpdateExpression: Invalid function name; function: f"
    );
    assert_eq!(
        err_msg(update("SET a = LIST_APPEND(l, l)", &v, &mut it)),
        "Invalid UpdateExpression: Invalid function name; function: LIST_APPEND"
    );
    assert_eq!(
        err_msg(update("SET a = list_append(list_append(l, l), l)", &v, &mut it)),
        "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; function: list_append"
    );
    assert_eq!(
        err_msg(update("SET a = size(l)", &v, &mut it)),
        "Invalid UpdateExpression: The function is not allowed in an update expression; function: size"
    );
    assert!(cond("a = :v AND _x = :v", &v, &it).is_err());
    assert!(err_msg(cond("a = :v AND b.AND = :v", &v, &it)).contains("Syntax error"));
}

fn apply_to(expr: &str, v: &Values, old: Option<&Item>) -> Result<Applied> {
    let n = names(&[("#n", "name")]);
    let input = ExprInput::new(Some(&n), Some(v));
    let key = item(json!({"pk": {"S": "k"}}));
    Update::parse(expr, &input)?.apply_to(old, &key)
}

#[test]
fn updates_of_missing_items_and_list_ends_follow_dynamodb() {
    let v = vals(json!({
        ":one": {"N": "1"}, ":two": {"N": "2"}, ":three": {"N": "3"}, ":four": {"N": "4"},
        ":ss": {"SS": ["a"]}
    }));
    // REMOVE and DELETE do not create a missing item, even on nested paths.
    for expr in [
        "REMOVE a",
        "REMOVE a.b, c[3]",
        "DELETE s :ss",
        "REMOVE x DELETE s :ss",
    ] {
        let applied = apply_to(expr, &v, None).unwrap();
        assert!(applied.item.is_none(), "{expr}");
    }
    // SET and ADD do; REMOVE of a nested path of a missing item is ignored.
    let applied = apply_to("SET a = :one REMOVE x.y, z[2]", &v, None).unwrap();
    assert_eq!(
        crate::value::item_to_json(&applied.item.unwrap()),
        json!({"pk": {"S": "k"}, "a": {"N": "1"}})
    );
    let applied = apply_to("ADD n :one", &v, None).unwrap();
    assert!(applied.item.is_some());
    // On an existing item, a nested REMOVE needs the parent; a missing leaf is ignored.
    let old = item(
        json!({"pk": {"S": "k"}, "m": {"M": {"x": {"N": "1"}}}, "l": {"L": [{"N": "0"}]}, "s": {"S": "v"}}),
    );
    for expr in ["REMOVE c.c", "REMOVE s.c", "REMOVE s[0]", "REMOVE c[0]"] {
        assert_eq!(
            err_msg(apply_to(expr, &v, Some(&old))),
            "The document path provided in the update expression is invalid for update",
            "{expr}"
        );
    }
    let applied = apply_to("REMOVE m.y, l[7], nope", &v, Some(&old)).unwrap();
    assert_eq!(applied.item.as_ref(), Some(&old));
    // SET past the end of a list appends, elements in the order of their indexes.
    let applied = apply_to(
        "SET l[84] = :one, l[37] = :two, l[0] = :three, l[50] = :four",
        &v,
        Some(&old),
    )
    .unwrap();
    let new = applied.item.unwrap();
    assert_eq!(
        new["l"].to_json(),
        json!({"L": [{"N": "3"}, {"N": "2"}, {"N": "4"}, {"N": "1"}]})
    );
    // UPDATED_NEW sees the appended elements where they went.
    assert_eq!(
        crate::value::item_to_json(&applied.written.apply(&new)),
        json!({"l": {"L": [{"N": "3"}, {"N": "2"}, {"N": "4"}, {"N": "1"}]}})
    );
    let applied = apply_to("SET l[10] = :two", &v, Some(&old)).unwrap();
    let new = applied.item.unwrap();
    assert_eq!(
        crate::value::item_to_json(&applied.written.apply(&new)),
        json!({"l": {"L": [{"N": "2"}]}})
    );
    // A SET of an index on a missing list or a non-list is an invalid path.
    assert!(err_msg(apply_to("SET nope[0] = :one", &v, Some(&old))).contains("invalid for update"));
    assert!(err_msg(apply_to("SET s[0] = :one", &v, None)).contains("invalid for update"));
}
