//! Tests of the expression language's limits and of input shaped to exhaust the stack: every
//! expression up to DynamoDB's 4 KB limit is parsed and evaluated in a small, fixed stack and
//! deep input gives DynamoDB's ValidationException; plus property tests over random and
//! deeply nested expressions.

use proptest::prelude::*;
use serde_json::json;

use super::parse::MAX_CALL_NESTING;
use super::*;
use crate::value::item_from_json;

/// The stack the checks below run in: far less than any thread that serves requests (2 MiB,
/// minus what a WebAssembly guest may use before it calls `dynamodb.call`).
const SMALL_STACK: usize = 256 * 1024;

/// Runs `f` on a thread with [`SMALL_STACK`] of stack (an overflow aborts the test binary).
fn in_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic")
}

fn values() -> Values {
    item_from_json(&json!({
        ":v": {"N": "1"}, ":s": {"S": "x"}, ":l": {"L": [{"N": "1"}]},
        ":m": {"M": {"a": {"N": "1"}}}, ":t": {"BOOL": true}, ":ss": {"SS": ["a"]},
        ":e": {"L": []}
    }))
    .expect("values")
    .into_iter()
    .collect()
}

fn item() -> Item {
    item_from_json(&json!({"a": {"N": "1"}, "b": {"N": "2"}, "s": {"S": "x"}})).expect("item")
}

/// Parses `expr` as a FilterExpression and evaluates it against [`item`].
fn filter(expr: &str) -> Result<bool> {
    let v = values();
    let input = ExprInput::new(None, Some(&v));
    Condition::parse(expr, ExprKind::Filter, &input)?.eval(&item())
}

fn filter_error(expr: &str) -> String {
    match filter(expr) {
        Err(EngineError::Validation(m)) => m,
        other => panic!(
            "{:.60}...: expected a ValidationException, got {other:?}",
            expr
        ),
    }
}

fn update(expr: &str) -> Result<Item> {
    let v = values();
    let input = ExprInput::new(None, Some(&v));
    let mut it = item();
    Update::parse(expr, &input)?.apply(&mut it)?;
    Ok(it)
}

fn update_error(expr: &str) -> String {
    match update(expr) {
        Err(EngineError::Validation(m)) => m,
        other => panic!(
            "{:.60}...: expected a ValidationException, got {other:?}",
            expr
        ),
    }
}

fn nest(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// Deep expressions under 4 KB and the message DynamoDB gives for each.
fn deep_filters() -> Vec<(String, &'static str)> {
    let redundant = "Invalid FilterExpression: The expression has redundant parentheses;";
    let operators =
        "Invalid FilterExpression: The expression contains too many operators; operator count: 301";
    vec![
        (nest("(", "a<b", ")", 2046), redundant),
        (nest("(", "a = :v", ")", 1400), redundant),
        (format!("{} = :v", nest("(", "a", ")", 2000)), redundant),
        (format!("{}a<b", "NOT ".repeat(1000)), operators),
        (format!("a<b {}", nest("or (a<b ", "", ")", 454)), operators),
        (format!("a<b {}", nest("AND (a<b ", "", ")", 400)), operators),
        (format!("{}a<b{}", "(".repeat(360), ") AND a<b".repeat(360)), operators),
        (format!("{}a<b{}", "NOT (".repeat(600), ")".repeat(600)), operators),
        (format!("a<b{}", " AND a<b".repeat(450)), operators),
        (format!("a IN ({})", [":v"; 101].join(",")), "Invalid FilterExpression: The IN operator is provided with too many operands; number of operands: 101"),
        (
            format!("a < {}", nest("f(", "b", ")", 1355)),
            "Invalid FilterExpression: Invalid function name; function: f",
        ),
        (
            format!("a < {}", nest("size(", "b", ")", 680)),
            "Invalid FilterExpression: Incorrect operand type for operator or function; operator or function: size, operand type: N",
        ),
        (
            format!("a < {}", nest("size(", "b", ")", 2)),
            "Invalid FilterExpression: Incorrect operand type for operator or function; operator or function: size, operand type: N",
        ),
        (
            nest("contains(", "a, :v", ")", 400),
            "Invalid FilterExpression: The function is not allowed to be used this way in an expression; function: contains",
        ),
        (
            format!("{} = :v", nest("(", "a", ").b", 40)),
            "Invalid FilterExpression: The document path has too many nesting levels; nesting levels: 33",
        ),
        (
            format!("a{} = :v", ".b".repeat(40)),
            "Invalid FilterExpression: The document path has too many nesting levels; nesting levels: 41",
        ),
        (
            format!("a{} = :v", "[0]".repeat(32)),
            "Invalid FilterExpression: The document path has too many nesting levels; nesting levels: 33",
        ),
        ("(".repeat(4096), "Invalid FilterExpression: Syntax error; token: <EOF>, near: \"(\""),
        (format!("a < {}", "f(".repeat(2000)), "Invalid FilterExpression: Syntax error; token: <EOF>, near: \"(\""),
        (format!("a = :v AND {}", "((".repeat(1000)), "Invalid FilterExpression: Syntax error; token: <EOF>, near: \"(\""),
    ]
}

#[test]
fn deep_conditions_are_validation_errors_in_a_small_stack() {
    for (expr, want) in deep_filters() {
        assert!(expr.len() <= 4096, "{} bytes", expr.len());
        let got = in_small_stack({
            let expr = expr.clone();
            move || filter_error(&expr)
        });
        assert_eq!(got, want, "for {:.80}...", expr);
    }
}

#[test]
fn nesting_within_the_limits_parses_and_evaluates_in_a_small_stack() {
    in_small_stack(|| {
        // 299 operators: the most a condition may have.
        let or_chain = format!("a<b {}", nest("or (a<b ", "", ")", 149));
        assert!(filter(&or_chain).unwrap());
        let nots = format!("{}a<b", "NOT ".repeat(299));
        assert!(!filter(&nots).unwrap());
        let not_groups = format!("{}a<b{}", "NOT (".repeat(150), ")".repeat(150));
        assert!(filter(&not_groups).unwrap());
        let left = format!("{}a<b{}", "(".repeat(149), ") AND a<b".repeat(149));
        assert!(filter(&left).unwrap());
        // Functions are not operators: 300 ANDs of them.
        let functions = format!(
            "attribute_exists(a){}",
            " AND attribute_exists(a)".repeat(parse::MAX_OPERATORS)
        );
        assert!(filter(&functions).unwrap());
        // A grouped path of 32 elements.
        let grouped = format!("{} = :v", nest("(", "a", ").b", 31));
        assert!(!filter(&grouped).unwrap());
        // Update functions nest up to the limit.
        let deep = format!(
            "SET c = {}",
            nest("if_not_exists(a, ", ":s", ")", MAX_CALL_NESTING)
        );
        assert_eq!(update(&deep).unwrap()["c"], item()["a"]);
        let deep = format!(
            "SET c = {}",
            nest("if_not_exists(z, ", ":s", ")", MAX_CALL_NESTING)
        );
        assert_eq!(update(&deep).unwrap()["c"], values()[":s"]);
    });
}

#[test]
fn operator_limit_counts_comparisons_logic_and_arithmetic() {
    // 150 comparisons and 149 ANDs: 299 operators; one AND more is the limit.
    let ok = format!("a<b{}", " AND a<b".repeat(149));
    assert!(filter(&ok).unwrap());
    assert!(filter(&format!("{ok} AND attribute_exists(a)")).unwrap());
    let over = format!("{ok} AND a<b");
    assert_eq!(
        filter_error(&over),
        "Invalid FilterExpression: The expression contains too many operators; operator count: 301"
    );
    let between = format!("a BETWEEN :v AND :v{}", " OR a IN (:v)".repeat(150));
    assert!(filter_error(&between).ends_with("operator count: 301"));
    // SET's `=` is not an operator; `+` and `-` are.
    let sets: Vec<String> = (0..300).map(|i| format!("x{i} = a + :v")).collect();
    assert!(update(&format!("SET {}", sets.join(", "))).is_ok());
    let sets: Vec<String> = (0..301).map(|i| format!("x{i} = a - :v")).collect();
    assert!(update_error(&format!("SET {}", sets.join(", "))).ends_with("operator count: 301"));
}

#[test]
fn deep_update_expressions_are_validation_errors() {
    assert_eq!(
        update_error(&format!("SET c = {}", nest("f(", ":v", ")", 2000))),
        "Invalid UpdateExpression: Invalid function name; function: f"
    );
    assert_eq!(
        update_error(&format!("SET c = {}", nest("list_append(", ":e, :e", ")", 300))),
        "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; function: list_append"
    );
    assert_eq!(
        update_error(&format!("SET c{} = :v", ".d".repeat(32))),
        "Invalid UpdateExpression: The document path has too many nesting levels; nesting levels: 33"
    );
    assert_eq!(
        update_error(&format!("REMOVE c{}", "[1]".repeat(32))),
        "Invalid UpdateExpression: The document path has too many nesting levels; nesting levels: 33"
    );
    assert!(
        update_error(&format!("SET c = {}", nest("(", ":v", ")", 2000)))
            .starts_with("Invalid UpdateExpression: Syntax error; token: \"(\"")
    );
    let input = ExprInput::new(None, None);
    let deep = format!("a{}", ".b".repeat(32));
    match Projection::parse(&deep, &input) {
        Err(EngineError::Validation(m)) => assert_eq!(
            m,
            "Invalid ProjectionExpression: The document path has too many nesting levels; nesting levels: 33"
        ),
        other => panic!("{other:?}"),
    }
    assert!(Projection::parse(&format!("a{}", ".b".repeat(31)), &input).is_ok());
}

#[test]
fn huge_sets_compare_add_and_delete_in_linear_time() {
    let set =
        |from: usize, to: usize| AttributeValue::Ss((from..to).map(|i| i.to_string()).collect());
    let v: Values = [
        (":a".to_owned(), set(0, 40_000)),
        (":b".to_owned(), set(20_000, 60_000)),
    ]
    .into_iter()
    .collect();
    let input = ExprInput::new(None, Some(&v));
    let mut it: Item = [("s".to_owned(), set(0, 40_000))].into_iter().collect();
    let c = Condition::parse("s = :a AND s <> :b", ExprKind::Condition, &input).unwrap();
    assert!(c.eval(&it).unwrap());
    Update::parse("ADD s :b", &input)
        .unwrap()
        .apply(&mut it)
        .unwrap();
    assert_eq!(it["s"], set(0, 60_000));
    Update::parse("DELETE s :a", &input)
        .unwrap()
        .apply(&mut it)
        .unwrap();
    assert_eq!(it["s"], set(40_000, 60_000));
}

#[test]
fn contains_on_large_binaries_is_linear() {
    // A 400 KB attribute and a 200 KB needle that matches nowhere until the very end: a
    // window scan compares 10^10 bytes.
    let mut hay = vec![0u8; 400 * 1024];
    hay.push(1);
    let mut needle = vec![0u8; 200 * 1024];
    needle.push(1);
    let v: Values = [(":n".to_owned(), AttributeValue::B(needle))]
        .into_iter()
        .collect();
    let input = ExprInput::new(None, Some(&v));
    let it: Item = [("b".to_owned(), AttributeValue::B(hay))]
        .into_iter()
        .collect();
    let c = Condition::parse("contains(b, :n)", ExprKind::Filter, &input).unwrap();
    assert!(c.eval(&it).unwrap());
}

/// An expression of random shape, nested up to `depth` levels: what a fuzzer would send.
fn arb_condition(depth: u32) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("a < :v".to_owned()),
        Just("a = b".to_owned()),
        Just("attribute_exists(a.b[1])".to_owned()),
        Just("size(s) >= :v".to_owned()),
        Just("s IN (:s, :v)".to_owned()),
        Just("a BETWEEN :v AND :v".to_owned()),
        Just("begins_with(s, :s)".to_owned()),
        Just("(a) <> (:v)".to_owned()),
        Just("f(a)".to_owned()),
        Just("a < :l".to_owned()),
    ];
    leaf.prop_recursive(depth, 2048, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| format!("({c})")),
            inner.clone().prop_map(|c| format!("NOT {c}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("{a} OR ({b})")),
        ]
    })
}

/// A run of tokens of the expression language (and some that are not), without structure.
fn arb_tokens() -> impl Strategy<Value = String> {
    let tok = prop_oneof![
        Just("("),
        Just(")"),
        Just("a"),
        Just("#n"),
        Just(":v"),
        Just("."),
        Just("[1]"),
        Just("["),
        Just(","),
        Just("="),
        Just("<"),
        Just("+"),
        Just("-"),
        Just("AND"),
        Just("OR"),
        Just("NOT"),
        Just("IN"),
        Just("BETWEEN"),
        Just("size("),
        Just("f("),
        Just("if_not_exists("),
        Just("list_append("),
        Just("SET"),
        Just("REMOVE"),
        Just("ADD"),
        Just("_"),
        Just("é"),
    ];
    proptest::collection::vec(tok, 0..300).prop_map(|t| t.join(" "))
}

/// Parses `s` as every kind of expression, evaluating what parses; returns the results'
/// errors, which must all be ValidationExceptions.
fn parse_everything(s: &str) -> Vec<EngineError> {
    let n: Names = [("#n".to_owned(), "a".to_owned())].into_iter().collect();
    let v = values();
    let input = ExprInput::new(Some(&n), Some(&v));
    let mut it = item();
    let mut errors = Vec::new();
    match Condition::parse(s, ExprKind::Filter, &input) {
        Ok(c) => {
            if let Err(e) = c.eval(&it) {
                errors.push(e);
            }
        }
        Err(e) => errors.push(e),
    }
    match Update::parse(s, &input) {
        Ok(u) => {
            if let Err(e) = u.apply_to(Some(&it.clone()), &it) {
                errors.push(e);
            }
            if let Err(e) = u.apply(&mut it) {
                errors.push(e);
            }
        }
        Err(e) => errors.push(e),
    }
    match Projection::parse(s, &input) {
        Ok(p) => {
            p.apply(&it);
        }
        Err(e) => errors.push(e),
    }
    if let Err(e) = KeyCondition::parse(s, &input, ("a", "N"), Some(("b", "N"))) {
        errors.push(e);
    }
    errors
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_conditions_parse_or_fail_cleanly(c in arb_condition(12)) {
        let errors = in_small_stack(move || parse_everything(&c));
        for e in errors {
            prop_assert!(matches!(e, EngineError::Validation(_)), "{e:?}");
        }
    }

    #[test]
    fn random_token_runs_parse_or_fail_cleanly(s in arb_tokens()) {
        let errors = in_small_stack(move || parse_everything(&s));
        for e in errors {
            prop_assert!(matches!(e, EngineError::Validation(_)), "{e:?}");
        }
    }

    #[test]
    fn deep_nesting_of_any_construct_is_a_validation_error(
        open in prop_oneof![
            Just("("), Just("NOT "), Just("NOT ("), Just("f("), Just("size("),
            Just("a < size("), Just("(a<b AND "), Just("contains("), Just("if_not_exists(a, "),
        ],
        close in prop_oneof![Just(")"), Just(""), Just(") AND a<b"), Just(").b")],
        inner in prop_oneof![Just("a<b"), Just("a"), Just(":v"), Just("")],
        depth in 300usize..2048,
    ) {
        let expr = format!("{}{inner}{}", open.repeat(depth), close.repeat(depth));
        let expr = expr.chars().take(4096).collect::<String>();
        let errors = in_small_stack(move || parse_everything(&expr));
        prop_assert!(!errors.is_empty());
        for e in errors {
            prop_assert!(matches!(e, EngineError::Validation(_)), "{e:?}");
        }
    }
}
