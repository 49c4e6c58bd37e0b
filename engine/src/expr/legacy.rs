//! DynamoDB's legacy (pre-expression) parameters — `Expected`, `QueryFilter` / `ScanFilter`,
//! `KeyConditions`, `AttributeUpdates`, with `ConditionalOperator` — turned into the equivalent
//! expression strings with their own placeholders, so the expression engine evaluates them.
//!
//! Validation follows DynamoDB's order: wrong JSON types (SerializationException), then member
//! constraints (`ComparisonOperator`, `Action`, `ConditionalOperator` enums, reported together as
//! "N validation errors detected: ..."), then the `ConditionalOperator` rules, then each entry's
//! checks, with DynamoDB's messages.
//!
//! Placeholders are generated, `#l<k><n>` / `:l<k><n>`, with one `<k>` per function (`e`
//! Expected, `f` QueryFilter/ScanFilter, `k` KeyConditions, `u` AttributeUpdates), so the
//! results of two conversions used by one request (AttributeUpdates + Expected, KeyConditions +
//! QueryFilter) never collide and can be merged into one `ExprInput`. Every placeholder is used
//! by its expression. An empty map converts to an empty `expression` (no condition / no update).
//!
//! Semantics kept from the legacy API (they differ from the naive expression):
//! - `NOT_CONTAINS` is false when the attribute is missing (DynamoDB, as tested by ScyllaDB's
//!   Alternator suite against AWS): `attribute_exists(#a) AND NOT contains(#a, :v)`.
//! - `NE` is true when the attribute is missing (`#a <> :v` does the same).
//! - `IN` takes any number of values; more than 100 become several `IN` lists joined by OR.
//! - `AttributeUpdates` ADD of a list appends to it: `SET #a = list_append(if_not_exists(#a,
//!   :empty), :v)`.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Display;

use serde_json::{Map, Value as Json};

use crate::error::{EngineError, Result};
use crate::expr::eval::compare;
use crate::request::Violations;
use crate::value::AttributeValue;

/// An expression produced from legacy parameters, with its own placeholders.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Converted {
    pub expression: String,
    /// "#l…" -> attribute name.
    pub names: HashMap<String, String>,
    /// ":l…" -> value.
    pub values: HashMap<String, AttributeValue>,
}

/// The ComparisonOperator enum in the order DynamoDB lists it in its messages.
const OPERATOR_ENUM: [&str; 13] = [
    "IN",
    "NULL",
    "BETWEEN",
    "LT",
    "NOT_CONTAINS",
    "EQ",
    "GT",
    "NOT_NULL",
    "NE",
    "LE",
    "BEGINS_WITH",
    "GE",
    "CONTAINS",
];

const ACTION_ENUM: [&str; 3] = ["ADD", "PUT", "DELETE"];

const CONDITIONAL_OPERATOR_ENUM: [&str; 2] = ["OR", "AND"];

/// The expression parser's limit on the operands of one IN.
const MAX_IN_OPERANDS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Le,
    Lt,
    Ge,
    Gt,
    NotNull,
    Null,
    Contains,
    NotContains,
    BeginsWith,
    In,
    Between,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "EQ" => Op::Eq,
            "NE" => Op::Ne,
            "LE" => Op::Le,
            "LT" => Op::Lt,
            "GE" => Op::Ge,
            "GT" => Op::Gt,
            "NOT_NULL" => Op::NotNull,
            "NULL" => Op::Null,
            "CONTAINS" => Op::Contains,
            "NOT_CONTAINS" => Op::NotContains,
            "BEGINS_WITH" => Op::BeginsWith,
            "IN" => Op::In,
            "BETWEEN" => Op::Between,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Op::Eq => "EQ",
            Op::Ne => "NE",
            Op::Le => "LE",
            Op::Lt => "LT",
            Op::Ge => "GE",
            Op::Gt => "GT",
            Op::NotNull => "NOT_NULL",
            Op::Null => "NULL",
            Op::Contains => "CONTAINS",
            Op::NotContains => "NOT_CONTAINS",
            Op::BeginsWith => "BEGINS_WITH",
            Op::In => "IN",
            Op::Between => "BETWEEN",
        }
    }

    fn arity_ok(self, n: usize) -> bool {
        match self {
            Op::Null | Op::NotNull => n == 0,
            Op::In => n >= 1,
            Op::Between => n == 2,
            _ => n == 1,
        }
    }

    /// The AttributeValue types the operator accepts in its AttributeValueList.
    fn supports(self, ty: &str) -> bool {
        match self {
            Op::Eq | Op::Ne | Op::Null | Op::NotNull => true,
            Op::Contains | Op::NotContains => matches!(ty, "S" | "N" | "B" | "BOOL" | "NULL"),
            Op::BeginsWith => matches!(ty, "S" | "B"),
            Op::Le | Op::Lt | Op::Ge | Op::Gt | Op::In | Op::Between => {
                matches!(ty, "S" | "N" | "B")
            }
        }
    }

    /// Whether a Query can use the operator in KeyConditions.
    fn indexable(self) -> bool {
        matches!(
            self,
            Op::Eq | Op::Le | Op::Lt | Op::Ge | Op::Gt | Op::BeginsWith | Op::Between
        )
    }
}

fn invalid(msg: impl Display) -> EngineError {
    EngineError::validation(format!("One or more parameter values were invalid: {msg}"))
}

fn type_error(path: &str, expected: &str) -> EngineError {
    EngineError::serialization(format!(
        "Unexpected value type in payload: {path} must be {expected}"
    ))
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A member of a structure; JSON null counts as absent.
fn member<'a>(obj: &'a Map<String, Json>, key: &str) -> Option<&'a Json> {
    obj.get(key).filter(|v| !v.is_null())
}

/// One entry of a legacy map: a structure, or `None` for JSON null.
fn entry<'a>(param: &str, attr: &str, j: &'a Json) -> Result<Option<&'a Map<String, Json>>> {
    match j {
        Json::Null => Ok(None),
        Json::Object(m) => Ok(Some(m)),
        _ => Err(type_error(&format!("{param}.{attr}"), "a structure")),
    }
}

fn string_member<'a>(obj: &'a Map<String, Json>, key: &str, path: &str) -> Result<Option<&'a str>> {
    match member(obj, key) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(type_error(&format!("{path}.{key}"), "a string")),
    }
}

fn bool_member(obj: &Map<String, Json>, key: &str, path: &str) -> Result<Option<bool>> {
    match member(obj, key) {
        None => Ok(None),
        Some(Json::Bool(b)) => Ok(Some(*b)),
        Some(Json::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Json::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(type_error(&format!("{path}.{key}"), "a boolean")),
    }
}

/// `AttributeValueList`: `None` when absent (an empty list is present).
fn list_member(
    obj: &Map<String, Json>,
    key: &str,
    path: &str,
) -> Result<Option<Vec<AttributeValue>>> {
    match member(obj, key) {
        None => Ok(None),
        Some(Json::Array(a)) => a
            .iter()
            .map(AttributeValue::from_json)
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(type_error(&format!("{path}.{key}"), "a list")),
    }
}

fn value_member(obj: &Map<String, Json>, key: &str) -> Result<Option<AttributeValue>> {
    member(obj, key).map(AttributeValue::from_json).transpose()
}

/// DynamoDB's checks of a ComparisonOperator's AttributeValueList.
fn check_arguments(op: Op, values: &[AttributeValue]) -> Result<()> {
    if !op.arity_ok(values.len()) {
        return Err(invalid(format!(
            "Invalid number of argument(s) for the {} ComparisonOperator",
            op.name()
        )));
    }
    let first = values.first().map(AttributeValue::type_name);
    for v in values {
        let ty = v.type_name();
        if !op.supports(ty) {
            return Err(invalid(format!(
                "ComparisonOperator {} is not valid for {ty} AttributeValue type",
                op.name()
            )));
        }
        if Some(ty) != first {
            return Err(invalid(
                "AttributeValues inside AttributeValueList must be of same type",
            ));
        }
    }
    if let (Op::Between, [lo, hi]) = (op, values) {
        if compare(lo, hi) == Some(Ordering::Greater) {
            return Err(EngineError::validation(
                "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
            ));
        }
    }
    Ok(())
}

/// ConditionalOperator needs at least two conditions to combine.
fn check_conditional_operator(op: Option<&str>, conditions: usize) -> Result<()> {
    if op.is_none() {
        return Ok(());
    }
    match conditions {
        0 => Err(EngineError::validation(
            "ConditionalOperator cannot be used without Filter or Expected",
        )),
        1 => Err(EngineError::validation(
            "ConditionalOperator can only be used when Filter or Expected has two or more elements",
        )),
        _ => Ok(()),
    }
}

/// Collects placeholders and clauses.
struct Builder {
    tag: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    clauses: Vec<String>,
}

impl Builder {
    fn new(tag: &'static str) -> Builder {
        Builder {
            tag,
            names: HashMap::new(),
            values: HashMap::new(),
            clauses: Vec::new(),
        }
    }

    fn name(&mut self, attr: &str) -> String {
        let p = format!("#l{}{}", self.tag, self.names.len());
        self.names.insert(p.clone(), attr.to_owned());
        p
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let p = format!(":l{}{}", self.tag, self.values.len());
        self.values.insert(p.clone(), v);
        p
    }

    /// `attr <op> values` (already checked by [`check_arguments`]).
    fn comparison(&mut self, attr: &str, op: Op, values: Vec<AttributeValue>) {
        let a = self.name(attr);
        let vals: Vec<String> = values.into_iter().map(|v| self.value(v)).collect();
        let v0 = vals.first().cloned().unwrap_or_default();
        let v1 = vals.get(1).cloned().unwrap_or_default();
        let clause = match op {
            Op::Eq => format!("{a} = {v0}"),
            Op::Ne => format!("{a} <> {v0}"),
            Op::Le => format!("{a} <= {v0}"),
            Op::Lt => format!("{a} < {v0}"),
            Op::Ge => format!("{a} >= {v0}"),
            Op::Gt => format!("{a} > {v0}"),
            Op::NotNull => format!("attribute_exists({a})"),
            Op::Null => format!("attribute_not_exists({a})"),
            Op::Contains => format!("contains({a}, {v0})"),
            Op::NotContains => format!("attribute_exists({a}) AND NOT contains({a}, {v0})"),
            Op::BeginsWith => format!("begins_with({a}, {v0})"),
            Op::In => vals
                .chunks(MAX_IN_OPERANDS)
                .map(|c| format!("{a} IN ({})", c.join(", ")))
                .collect::<Vec<_>>()
                .join(" OR "),
            Op::Between => format!("{a} BETWEEN {v0} AND {v1}"),
        };
        self.clauses.push(clause);
    }

    /// The clauses joined by AND (or OR).
    fn condition(self, or: bool) -> Converted {
        let expression = match self.clauses.as_slice() {
            [one] => one.clone(),
            many => many
                .iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(if or { " OR " } else { " AND " }),
        };
        Converted {
            expression,
            names: self.names,
            values: self.values,
        }
    }
}

/// Whether ConditionalOperator (already validated) asks for OR.
fn is_or(op: Option<&str>) -> bool {
    op == Some("OR")
}

/// `Expected` (+ optional `ConditionalOperator`, "AND" default / "OR") -> a ConditionExpression.
pub fn expected(expected: &Map<String, Json>, op: Option<&str>) -> Result<Converted> {
    let mut violations = Violations::new();
    violations.one_of(op, "conditionalOperator", &CONDITIONAL_OPERATOR_ENUM);
    for (attr, j) in expected {
        let Some(obj) = entry("Expected", attr, j)? else {
            continue;
        };
        let path = format!("Expected.{attr}");
        bool_member(obj, "Exists", &path)?;
        let co = string_member(obj, "ComparisonOperator", &path)?;
        violations.one_of(
            co,
            &format!("expected.{attr}.member.comparisonOperator"),
            &OPERATOR_ENUM,
        );
    }
    violations.finish()?;
    check_conditional_operator(op, expected.len())?;

    let mut b = Builder::new("e");
    for (attr, j) in expected {
        let Some(obj) = entry("Expected", attr, j)? else {
            return Err(invalid(format!(
                "ExpectedAttributeValue must not be null for Attribute: {attr}"
            )));
        };
        let path = format!("Expected.{attr}");
        let co = string_member(obj, "ComparisonOperator", &path)?;
        let exists = bool_member(obj, "Exists", &path)?;
        let has_value = member(obj, "Value").is_some();
        let has_list = member(obj, "AttributeValueList").is_some();
        if exists.is_some() && co.is_some() {
            return Err(invalid(format!(
                "Exists and ComparisonOperator cannot be used together for Attribute: {attr}"
            )));
        }
        if has_value && has_list {
            return Err(invalid(format!(
                "Value and AttributeValueList cannot be used together for Attribute: {attr}"
            )));
        }
        if co.is_none() && has_list {
            return Err(invalid(format!(
                "AttributeValueList can only be used with a ComparisonOperator for Attribute: {attr}"
            )));
        }
        if exists == Some(false) && has_value {
            return Err(invalid(format!(
                "Value cannot be used when Exists is false for Attribute: {attr}"
            )));
        }
        if !has_value && !has_list {
            match (co, exists) {
                (Some(co), _) if co != "NULL" && co != "NOT_NULL" => {
                    return Err(invalid(format!(
                        "Value or AttributeValueList must be used with ComparisonOperator: {co} for Attribute: {attr}"
                    )));
                }
                (None, None) => {
                    return Err(invalid(format!(
                        "Value must be provided when Exists is null for Attribute: {attr}"
                    )));
                }
                (None, Some(true)) => {
                    return Err(invalid(format!(
                        "Value must be provided when Exists is true for Attribute: {attr}"
                    )));
                }
                _ => {}
            }
        }
        let value = value_member(obj, "Value")?;
        match co.and_then(Op::parse) {
            Some(op) => {
                let values = match value {
                    Some(v) => vec![v],
                    None => list_member(obj, "AttributeValueList", &path)?.unwrap_or_default(),
                };
                check_arguments(op, &values)?;
                b.comparison(attr, op, values);
            }
            None => match value {
                // Exists true (or absent) with a Value: the attribute must equal it.
                Some(v) => b.comparison(attr, Op::Eq, vec![v]),
                // Exists false without a Value: the attribute must be absent.
                None => b.comparison(attr, Op::Null, Vec::new()),
            },
        }
    }
    Ok(b.condition(is_or(op)))
}

/// Reads a `Condition` map (QueryFilter, ScanFilter, KeyConditions): the constraint pass,
/// then each entry's operator and checked values.
fn conditions<'a>(
    map: &'a Map<String, Json>,
    param: &str,
    op: Option<&str>,
    with_conditional_operator: bool,
) -> Result<Vec<(&'a str, Op, Vec<AttributeValue>)>> {
    let lower = lower_first(param);
    let mut violations = Violations::new();
    for (attr, j) in map {
        let Some(obj) = entry(param, attr, j)? else {
            continue;
        };
        let co = string_member(obj, "ComparisonOperator", &format!("{param}.{attr}"))?;
        let path = format!("{lower}.{attr}.member.comparisonOperator");
        violations.not_null(&co, &path);
        violations.one_of(co, &path, &OPERATOR_ENUM);
    }
    if with_conditional_operator {
        violations.one_of(op, "conditionalOperator", &CONDITIONAL_OPERATOR_ENUM);
    }
    violations.finish()?;
    if with_conditional_operator {
        check_conditional_operator(op, map.len())?;
    }

    let mut out = Vec::with_capacity(map.len());
    for (attr, j) in map {
        let Some(obj) = entry(param, attr, j)? else {
            return Err(EngineError::validation(format!(
                "The filter condition for an attribute cannot be null: {attr}"
            )));
        };
        let path = format!("{param}.{attr}");
        let co = string_member(obj, "ComparisonOperator", &path)?;
        let values = list_member(obj, "AttributeValueList", &path)?.unwrap_or_default();
        let Some(op) = co.and_then(Op::parse) else {
            // Unreachable: the constraint pass rejected a missing or unknown operator.
            return Err(EngineError::validation(format!(
                "Comparison type does not exist in DynamoDB: {}",
                co.unwrap_or_default()
            )));
        };
        check_arguments(op, &values)?;
        out.push((attr.as_str(), op, values));
    }
    Ok(out)
}

/// `QueryFilter` / `ScanFilter` (+ `ConditionalOperator`) -> a FilterExpression. `param` is
/// "QueryFilter" or "ScanFilter" (for messages).
pub fn filter(filter: &Map<String, Json>, op: Option<&str>, param: &str) -> Result<Converted> {
    let mut b = Builder::new("f");
    for (attr, cop, values) in conditions(filter, param, op, true)? {
        b.comparison(attr, cop, values);
    }
    Ok(b.condition(is_or(op)))
}

/// `KeyConditions` -> a KeyConditionExpression (only EQ on the hash key, and
/// EQ/LE/LT/GE/GT/BEGINS_WITH/BETWEEN on the range key are valid). Which attribute is which
/// key, and their types, are checked when the result is parsed with
/// [`KeyCondition::parse`](crate::expr::KeyCondition::parse).
pub fn key_conditions(conds: &Map<String, Json>) -> Result<Converted> {
    let parsed = conditions(conds, "KeyConditions", None, false)?;
    // Up to 8 for a GSI with multi-attribute keys; the key schema's own count is checked
    // when the rewritten expression is parsed.
    if parsed.is_empty() || parsed.len() > 8 {
        return Err(EngineError::validation(
            "Conditions can be of length 1 or 2 only",
        ));
    }
    if parsed.iter().any(|(_, op, _)| !op.indexable()) {
        return Err(EngineError::validation(
            "Attempted conditional constraint is not an indexable operation",
        ));
    }
    let mut b = Builder::new("k");
    for (attr, op, values) in parsed {
        b.comparison(attr, op, values);
    }
    Ok(b.condition(false))
}

/// `AttributeUpdates` -> an UpdateExpression (Action PUT default / ADD / DELETE; DELETE without
/// Value removes the attribute).
pub fn attribute_updates(updates: &Map<String, Json>) -> Result<Converted> {
    let mut violations = Violations::new();
    for (attr, j) in updates {
        let Some(obj) = entry("AttributeUpdates", attr, j)? else {
            continue;
        };
        let action = string_member(obj, "Action", &format!("AttributeUpdates.{attr}"))?;
        violations.one_of(
            action,
            &format!("attributeUpdates.{attr}.member.action"),
            &ACTION_ENUM,
        );
    }
    violations.finish()?;

    let mut b = Builder::new("u");
    let (mut set, mut remove, mut add, mut delete) = (vec![], vec![], vec![], vec![]);
    for (attr, j) in updates {
        let Some(obj) = entry("AttributeUpdates", attr, j)? else {
            return Err(EngineError::validation(format!(
                "Supplied AttributeValueUpdate is empty, must contain one of the supported actions: {attr} is null"
            )));
        };
        let path = format!("AttributeUpdates.{attr}");
        let action = string_member(obj, "Action", &path)?.unwrap_or("PUT");
        let value = value_member(obj, "Value")?;
        let ty = value.as_ref().map(AttributeValue::type_name);
        match (action, value) {
            ("DELETE", None) => {
                let a = b.name(attr);
                remove.push(a);
            }
            (_, None) => {
                return Err(invalid(
                    "Only DELETE action is allowed when no attribute value is specified",
                ));
            }
            ("DELETE", Some(v)) => {
                if !matches!(ty, Some("SS" | "NS" | "BS")) {
                    return Err(invalid(format!(
                        "DELETE action with value is not supported for the type {}",
                        ty.unwrap_or_default()
                    )));
                }
                let a = b.name(attr);
                let v = b.value(v);
                delete.push(format!("{a} {v}"));
            }
            ("ADD", Some(v)) => match ty {
                Some("L") => {
                    let a = b.name(attr);
                    let v = b.value(v);
                    let empty = b.value(AttributeValue::L(Vec::new()));
                    set.push(format!(
                        "{a} = list_append(if_not_exists({a}, {empty}), {v})"
                    ));
                }
                Some("N" | "SS" | "NS" | "BS") => {
                    let a = b.name(attr);
                    let v = b.value(v);
                    add.push(format!("{a} {v}"));
                }
                _ => {
                    return Err(invalid(format!(
                        "ADD action is not supported for the type {}",
                        ty.unwrap_or_default()
                    )));
                }
            },
            (_, Some(v)) => {
                let a = b.name(attr);
                let v = b.value(v);
                set.push(format!("{a} = {v}"));
            }
        }
    }
    let mut sections = Vec::new();
    for (keyword, actions) in [
        ("SET", set),
        ("REMOVE", remove),
        ("ADD", add),
        ("DELETE", delete),
    ] {
        if !actions.is_empty() {
            sections.push(format!("{keyword} {}", actions.join(", ")));
        }
    }
    Ok(Converted {
        expression: sections.join(" "),
        names: b.names,
        values: b.values,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::expr::{Condition, ExprInput, ExprKind, KeyCondition, SortKeyCondition, Update};
    use crate::value::{item_from_json, Item};

    fn map(j: Json) -> Map<String, Json> {
        match j {
            Json::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn item(j: Json) -> Item {
        item_from_json(&j).unwrap()
    }

    fn av(j: Json) -> AttributeValue {
        AttributeValue::from_json(&j).unwrap()
    }

    fn sample() -> Item {
        item(json!({
            "n": {"N": "5"}, "s": {"S": "hello"}, "b": {"B": "aGkgdGhlcmU="},
            "status": {"S": "active"}, "a.b": {"S": "dotted"},
            "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["2", "4", "7"]},
            "l": {"L": [{"N": "2"}, {"S": "z"}]}, "m": {"M": {"k": {"S": "v"}}},
            "t": {"BOOL": true}, "z": {"NULL": true}
        }))
    }

    /// Parses `c` as a condition of `kind` and evaluates it against `it`.
    fn eval(c: &Converted, kind: ExprKind, it: &Item) -> bool {
        let input = ExprInput::new(Some(&c.names), Some(&c.values));
        let cond = Condition::parse(&c.expression, kind, &input)
            .unwrap_or_else(|e| panic!("{:?} did not parse: {e}", c.expression));
        input.check_all_used().unwrap();
        cond.eval(it).unwrap()
    }

    fn exp(j: Json, op: Option<&str>, it: &Item) -> bool {
        eval(&expected(&map(j), op).unwrap(), ExprKind::Condition, it)
    }

    fn filt(j: Json, op: Option<&str>, it: &Item) -> bool {
        eval(
            &filter(&map(j), op, "ScanFilter").unwrap(),
            ExprKind::Filter,
            it,
        )
    }

    fn update(j: Json, it: &Item) -> Item {
        let c = attribute_updates(&map(j)).unwrap();
        let input = ExprInput::new(Some(&c.names), Some(&c.values));
        let u = Update::parse(&c.expression, &input)
            .unwrap_or_else(|e| panic!("{:?} did not parse: {e}", c.expression));
        input.check_all_used().unwrap();
        let mut out = it.clone();
        u.apply(&mut out).unwrap();
        out
    }

    fn key(j: Json) -> Result<KeyCondition> {
        let c = key_conditions(&map(j))?;
        let input = ExprInput::new(Some(&c.names), Some(&c.values));
        let k = KeyCondition::parse(&c.expression, &input, ("pk", "S"), Some(("sk", "N")))?;
        input.check_all_used()?;
        Ok(k)
    }

    fn err_msg(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(EngineError::Validation(m)) => m,
            other => panic!("expected a ValidationException, got {other:?}"),
        }
    }

    fn cmp(attr: &str, op: &str, vals: Json) -> Json {
        json!({attr: {"ComparisonOperator": op, "AttributeValueList": vals}})
    }

    const P: &str = "One or more parameter values were invalid: ";

    #[test]
    fn expected_value_and_exists() {
        let it = sample();
        assert!(exp(json!({"n": {"Value": {"N": "5.0"}}}), None, &it));
        assert!(!exp(json!({"n": {"Value": {"N": "6"}}}), None, &it));
        assert!(!exp(json!({"n": {"Value": {"S": "5"}}}), None, &it));
        assert!(!exp(json!({"nope": {"Value": {"N": "5"}}}), None, &it));
        assert!(exp(
            json!({"n": {"Exists": true, "Value": {"N": "5"}}}),
            None,
            &it
        ));
        assert!(!exp(
            json!({"n": {"Exists": true, "Value": {"N": "1"}}}),
            None,
            &it
        ));
        assert!(exp(json!({"nope": {"Exists": false}}), None, &it));
        assert!(!exp(json!({"n": {"Exists": false}}), None, &it));
        assert!(exp(json!({"nope": {"Exists": "false"}}), None, &it));
        // An absent item is an empty item.
        assert!(exp(json!({"n": {"Exists": false}}), None, &Item::new()));
        // Reserved words and dots are attribute names, not paths.
        assert!(exp(
            json!({"status": {"Value": {"S": "active"}}}),
            None,
            &it
        ));
        assert!(exp(json!({"a.b": {"Value": {"S": "dotted"}}}), None, &it));
        assert!(exp(
            json!({"m.k": {"Exists": false}, "m": {"Exists": true, "Value": {"M": {"k": {"S": "v"}}}}}),
            None,
            &it
        ));
        // Null members count as absent.
        assert!(exp(
            json!({"n": {"Value": {"N": "5"}, "Exists": null, "AttributeValueList": null, "ComparisonOperator": null}}),
            None,
            &it
        ));
    }

    #[test]
    fn expected_comparison_operators() {
        let it = sample();
        let e = |j: Json| exp(j, None, &it);
        // EQ / NE: any type, sets as sets, missing attribute is NE.
        assert!(e(cmp("n", "EQ", json!([{"N": "5"}]))));
        assert!(e(cmp("ss", "EQ", json!([{"SS": ["y", "x"]}]))));
        assert!(e(cmp("l", "EQ", json!([{"L": [{"N": "2"}, {"S": "z"}]}]))));
        assert!(e(cmp("t", "EQ", json!([{"BOOL": true}]))));
        assert!(!e(cmp("n", "EQ", json!([{"S": "5"}]))));
        assert!(e(cmp("n", "NE", json!([{"N": "6"}]))));
        assert!(e(cmp("n", "NE", json!([{"S": "5"}]))));
        assert!(e(cmp("nope", "NE", json!([{"N": "5"}]))));
        assert!(!e(cmp("n", "NE", json!([{"N": "5"}]))));
        // Ordering on S, N, B; other types never match.
        assert!(e(cmp("n", "LE", json!([{"N": "5"}]))));
        assert!(!e(cmp("n", "LT", json!([{"N": "5"}]))));
        assert!(e(cmp("n", "GE", json!([{"N": "5"}]))));
        assert!(e(cmp("n", "GT", json!([{"N": "4.99"}]))));
        assert!(e(cmp("s", "LT", json!([{"S": "world"}]))));
        assert!(e(cmp("b", "GT", json!([{"B": "aGk="}]))));
        assert!(!e(cmp("n", "LT", json!([{"S": "9"}]))));
        assert!(!e(cmp("nope", "GE", json!([{"N": "0"}]))));
        // NULL / NOT_NULL.
        assert!(e(json!({"n": {"ComparisonOperator": "NOT_NULL"}})));
        assert!(e(json!({"nope": {"ComparisonOperator": "NULL"}})));
        assert!(e(cmp("z", "NOT_NULL", json!([]))));
        assert!(!e(json!({"n": {"ComparisonOperator": "NULL"}})));
        // CONTAINS: substring, set member, list element.
        assert!(e(cmp("s", "CONTAINS", json!([{"S": "ell"}]))));
        assert!(e(cmp("ss", "CONTAINS", json!([{"S": "x"}]))));
        assert!(e(cmp("ns", "CONTAINS", json!([{"N": "4"}]))));
        assert!(e(cmp("l", "CONTAINS", json!([{"N": "2"}]))));
        assert!(e(cmp("b", "CONTAINS", json!([{"B": "dGhlcmU="}]))));
        assert!(!e(cmp("ns", "CONTAINS", json!([{"N": "1"}]))));
        assert!(!e(cmp("nope", "CONTAINS", json!([{"N": "1"}]))));
        // NOT_CONTAINS: false when the attribute is missing.
        assert!(e(cmp("s", "NOT_CONTAINS", json!([{"S": "dog"}]))));
        assert!(e(cmp("s", "NOT_CONTAINS", json!([{"N": "1"}]))));
        assert!(!e(cmp("ss", "NOT_CONTAINS", json!([{"S": "y"}]))));
        assert!(!e(cmp("nope", "NOT_CONTAINS", json!([{"S": "y"}]))));
        // BEGINS_WITH on S and B; a number attribute just doesn't match.
        assert!(e(cmp("s", "BEGINS_WITH", json!([{"S": "hell"}]))));
        assert!(e(cmp("b", "BEGINS_WITH", json!([{"B": "aGk="}]))));
        assert!(!e(cmp("n", "BEGINS_WITH", json!([{"S": "5"}]))));
        // IN: the attribute is one of the values (not set membership).
        assert!(e(cmp("n", "IN", json!([{"N": "1"}, {"N": "5"}]))));
        assert!(!e(cmp("n", "IN", json!([{"N": "1"}, {"N": "2"}]))));
        assert!(!e(cmp("ns", "IN", json!([{"N": "2"}]))));
        // BETWEEN, inclusive.
        assert!(e(cmp("n", "BETWEEN", json!([{"N": "5"}, {"N": "6"}]))));
        assert!(e(cmp("s", "BETWEEN", json!([{"S": "a"}, {"S": "z"}]))));
        assert!(!e(cmp("n", "BETWEEN", json!([{"N": "6"}, {"N": "9"}]))));
        assert!(!e(cmp("nope", "BETWEEN", json!([{"N": "0"}, {"N": "9"}]))));
        // Value is shorthand for a one-element AttributeValueList.
        assert!(e(
            json!({"n": {"ComparisonOperator": "GT", "Value": {"N": "1"}}})
        ));
        assert!(!e(
            json!({"n": {"ComparisonOperator": "GT", "Value": {"N": "9"}}})
        ));
    }

    #[test]
    fn in_takes_more_values_than_one_expression_in() {
        let it = sample();
        let mut vals: Vec<Json> = (100..350).map(|i| json!({"N": i.to_string()})).collect();
        assert!(!exp(cmp("n", "IN", Json::Array(vals.clone())), None, &it));
        vals.push(json!({"N": "5"}));
        let c = expected(&map(cmp("n", "IN", Json::Array(vals))), None).unwrap();
        assert_eq!(c.values.len(), 251);
        assert!(eval(&c, ExprKind::Condition, &it));
    }

    #[test]
    fn conditional_operator() {
        let it = sample();
        let two_true = json!({"n": {"Value": {"N": "5"}}, "s": {"Value": {"S": "hello"}}});
        let one_true = json!({"n": {"Value": {"N": "5"}}, "s": {"Value": {"S": "bye"}}});
        let none_true = json!({"n": {"Value": {"N": "1"}}, "s": {"Value": {"S": "bye"}}});
        assert!(exp(two_true.clone(), None, &it));
        assert!(exp(two_true, Some("AND"), &it));
        assert!(!exp(one_true.clone(), None, &it));
        assert!(!exp(one_true.clone(), Some("AND"), &it));
        assert!(exp(one_true, Some("OR"), &it));
        assert!(!exp(none_true, Some("OR"), &it));
        // NOT_CONTAINS's own AND stays inside its clause under OR.
        assert!(exp(
            json!({
                "nope": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "q"}]},
                "n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "5"}]},
                "s": {"ComparisonOperator": "NULL"}
            }),
            Some("OR"),
            &it
        ));
        assert!(filt(
            json!({"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "1"}]},
                   "s": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}}),
            Some("OR"),
            &it
        ));
        assert!(!filt(
            json!({"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "1"}]},
                   "s": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}}),
            None,
            &it
        ));
        // ConditionalOperator needs two or more conditions.
        for op in ["AND", "OR"] {
            assert_eq!(
                err_msg(expected(&Map::new(), Some(op))),
                "ConditionalOperator cannot be used without Filter or Expected"
            );
            assert_eq!(
                err_msg(filter(&Map::new(), Some(op), "QueryFilter")),
                "ConditionalOperator cannot be used without Filter or Expected"
            );
            assert_eq!(
                err_msg(expected(&map(json!({"n": {"Exists": false}})), Some(op))),
                "ConditionalOperator can only be used when Filter or Expected has two or more elements"
            );
            assert_eq!(
                err_msg(filter(&map(json!({"n": {"ComparisonOperator": "NULL"}})), Some(op), "ScanFilter")),
                "ConditionalOperator can only be used when Filter or Expected has two or more elements"
            );
        }
        assert_eq!(
            err_msg(expected(&map(json!({"a": {"Exists": false}, "b": {"Exists": false}})), Some("XOR"))),
            "1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]"
        );
        assert_eq!(
            err_msg(filter(&map(json!({"a": {"ComparisonOperator": "LIKE"}})), Some("XOR"), "QueryFilter")),
            "2 validation errors detected: Value 'LIKE' at 'queryFilter.a.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]; Value 'XOR' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]"
        );
    }

    #[test]
    fn empty_maps_convert_to_empty_expressions() {
        assert_eq!(expected(&Map::new(), None).unwrap(), Converted::default());
        assert_eq!(
            filter(&Map::new(), None, "ScanFilter").unwrap(),
            Converted::default()
        );
        assert_eq!(
            attribute_updates(&Map::new()).unwrap(),
            Converted::default()
        );
    }

    #[test]
    fn expected_errors() {
        let e = |j: Json| err_msg(expected(&map(j), None));
        assert_eq!(
            e(json!({"a": {}})),
            format!("{P}Value must be provided when Exists is null for Attribute: a")
        );
        assert_eq!(
            e(json!({"a": {"Exists": true}})),
            format!("{P}Value must be provided when Exists is true for Attribute: a")
        );
        assert_eq!(
            e(json!({"a": {"Exists": false, "Value": {"S": "a"}}})),
            format!("{P}Value cannot be used when Exists is false for Attribute: a")
        );
        assert_eq!(
            e(json!({"a": {"ComparisonOperator": "LT"}})),
            format!("{P}Value or AttributeValueList must be used with ComparisonOperator: LT for Attribute: a")
        );
        assert_eq!(
            e(json!({"a": {"Exists": true, "ComparisonOperator": "LT"}})),
            format!("{P}Exists and ComparisonOperator cannot be used together for Attribute: a")
        );
        assert_eq!(
            e(
                json!({"a": {"ComparisonOperator": "LT", "Value": {"S": "a"}, "AttributeValueList": [{"S": "a"}]}})
            ),
            format!("{P}Value and AttributeValueList cannot be used together for Attribute: a")
        );
        assert_eq!(
            e(json!({"a": {"AttributeValueList": [{"S": "a"}]}})),
            format!(
                "{P}AttributeValueList can only be used with a ComparisonOperator for Attribute: a"
            )
        );
        assert_eq!(
            e(json!({"a": {"Exists": true, "AttributeValueList": [{"S": "a"}]}})),
            format!(
                "{P}AttributeValueList can only be used with a ComparisonOperator for Attribute: a"
            )
        );
        assert_eq!(
            e(json!({"a": null})),
            format!("{P}ExpectedAttributeValue must not be null for Attribute: a")
        );
        assert_eq!(
            e(cmp("a", "EQ", json!([]))),
            format!("{P}Invalid number of argument(s) for the EQ ComparisonOperator")
        );
        assert_eq!(
            e(json!({"a": {"ComparisonOperator": "NULL", "Value": {"S": "a"}}})),
            format!("{P}Invalid number of argument(s) for the NULL ComparisonOperator")
        );
        assert_eq!(
            e(json!({"a": {"ComparisonOperator": "BETWEEN", "Value": {"S": "a"}}})),
            format!("{P}Invalid number of argument(s) for the BETWEEN ComparisonOperator")
        );
        assert_eq!(
            e(cmp("a", "LT", json!([{"SS": ["a"]}]))),
            format!("{P}ComparisonOperator LT is not valid for SS AttributeValue type")
        );
        assert_eq!(
            e(json!({"a": {"ComparisonOperator": "BEGINS_WITH", "Value": {"N": "3"}}})),
            format!("{P}ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type")
        );
        assert_eq!(
            e(cmp("a", "IN", json!([{"N": "3"}, {"S": "dog"}]))),
            format!("{P}AttributeValues inside AttributeValueList must be of same type")
        );
        assert_eq!(
            e(cmp("a", "BETWEEN", json!([{"N": "4"}, {"N": "3"}]))),
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
        );
        assert_eq!(
            e(json!({"a": {"ComparisonOperator": "GREATER", "Value": {"N": "1"}}})),
            "1 validation error detected: Value 'GREATER' at 'expected.a.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
        );
        // Invalid values keep the AttributeValue messages.
        assert_eq!(
            e(json!({"a": {"Value": {}}})),
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        );
        // Wrong JSON types are SerializationExceptions.
        for bad in [
            json!({"a": {"Exists": 3}}),
            json!({"a": {"ComparisonOperator": 3}}),
            json!({"a": {"ComparisonOperator": "IN", "AttributeValueList": {"S": "x"}}}),
            json!({"a": "EQ"}),
        ] {
            assert!(
                matches!(
                    expected(&map(bad.clone()), None),
                    Err(EngineError::Serialization(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn operator_type_rules() {
        let e = |op: &str, v: Json| {
            let vals = if op == "BETWEEN" {
                json!([v.clone(), v])
            } else {
                json!([v])
            };
            filter(&map(cmp("a", op, vals)), None, "ScanFilter")
        };
        let types = [
            json!({"S": "a"}),
            json!({"N": "1"}),
            json!({"B": "YQ=="}),
            json!({"SS": ["a"]}),
            json!({"NS": ["1"]}),
            json!({"BS": ["YQ=="]}),
            json!({"BOOL": true}),
            json!({"NULL": true}),
            json!({"L": []}),
            json!({"M": {}}),
        ];
        let allowed: [(&str, &[&str]); 11] = [
            (
                "EQ",
                &["S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL", "L", "M"],
            ),
            (
                "NE",
                &["S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL", "L", "M"],
            ),
            ("LE", &["S", "N", "B"]),
            ("LT", &["S", "N", "B"]),
            ("GE", &["S", "N", "B"]),
            ("GT", &["S", "N", "B"]),
            ("IN", &["S", "N", "B"]),
            ("BETWEEN", &["S", "N", "B"]),
            ("CONTAINS", &["S", "N", "B", "BOOL", "NULL"]),
            ("NOT_CONTAINS", &["S", "N", "B", "BOOL", "NULL"]),
            ("BEGINS_WITH", &["S", "B"]),
        ];
        for (op, ok) in allowed {
            for v in &types {
                let ty = av(v.clone()).type_name();
                let r = e(op, v.clone());
                if ok.contains(&ty) {
                    let c = r.unwrap_or_else(|e| panic!("{op} {ty}: {e}"));
                    // Every accepted combination is a valid expression.
                    eval(&c, ExprKind::Filter, &sample());
                } else {
                    assert_eq!(
                        err_msg(r),
                        format!(
                            "{P}ComparisonOperator {op} is not valid for {ty} AttributeValue type"
                        )
                    );
                }
            }
        }
    }

    #[test]
    fn filters() {
        let it = sample();
        assert!(filt(cmp("n", "EQ", json!([{"N": "5"}])), None, &it));
        assert!(filt(
            cmp("status", "BEGINS_WITH", json!([{"S": "act"}])),
            None,
            &it
        ));
        assert!(filt(
            json!({"n": {"ComparisonOperator": "NOT_NULL"}, "nope": {"ComparisonOperator": "NULL", "AttributeValueList": []}}),
            None,
            &it
        ));
        assert!(!filt(cmp("n", "IN", json!([{"N": "1"}])), None, &it));
        // Unknown members of a Condition are ignored.
        assert!(filt(
            json!({"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "5"}], "Exists": true}}),
            None,
            &it
        ));

        let f = |j: Json, param: &str| err_msg(filter(&map(j), None, param));
        assert_eq!(
            f(json!({"a": {}, "b": {"ComparisonOperator": ""}}), "ScanFilter"),
            "2 validation errors detected: Value null at 'scanFilter.a.member.comparisonOperator' failed to satisfy constraint: Member must not be null; Value '' at 'scanFilter.b.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
        );
        assert_eq!(
            f(json!({"a": {"ComparisonOperator": "EQ"}}), "QueryFilter"),
            format!("{P}Invalid number of argument(s) for the EQ ComparisonOperator")
        );
        assert_eq!(
            f(cmp("a", "NOT_NULL", json!([{"S": "a"}])), "ScanFilter"),
            format!("{P}Invalid number of argument(s) for the NOT_NULL ComparisonOperator")
        );
        assert_eq!(
            f(
                cmp("a", "LE", json!([{"S": "a"}, {"S": "a"}])),
                "ScanFilter"
            ),
            format!("{P}Invalid number of argument(s) for the LE ComparisonOperator")
        );
        assert_eq!(
            f(cmp("a", "IN", json!([])), "ScanFilter"),
            format!("{P}Invalid number of argument(s) for the IN ComparisonOperator")
        );
        assert_eq!(
            f(
                cmp("a", "BETWEEN", json!([{"S": "a"}, {"SS": ["a"]}])),
                "ScanFilter"
            ),
            format!("{P}ComparisonOperator BETWEEN is not valid for SS AttributeValue type")
        );
        assert_eq!(
            f(cmp("a", "BETWEEN", json!([{"S": "b"}, {"S": "a"}])), "ScanFilter"),
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
        );
        assert_eq!(
            f(cmp("a", "EQ", json!([{"N": "x"}])), "ScanFilter"),
            err_msg(AttributeValue::from_json(&json!({"N": "x"})))
        );
        assert_eq!(
            f(json!({"a": null}), "ScanFilter"),
            "The filter condition for an attribute cannot be null: a"
        );
    }

    #[test]
    fn key_conditions_convert_to_key_condition_expressions() {
        let pk = json!({"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}});
        let k = key(pk.clone()).unwrap();
        assert_eq!(k.partition, ("pk".to_owned(), av(json!({"S": "p"}))));
        assert_eq!(k.sort, None);
        let n = |s: &str| av(json!({"N": s}));
        for (op, vals, want) in [
            ("EQ", json!([{"N": "1"}]), SortKeyCondition::Eq(n("1"))),
            ("LE", json!([{"N": "1"}]), SortKeyCondition::Le(n("1"))),
            ("LT", json!([{"N": "1"}]), SortKeyCondition::Lt(n("1"))),
            ("GE", json!([{"N": "1"}]), SortKeyCondition::Ge(n("1"))),
            ("GT", json!([{"N": "1"}]), SortKeyCondition::Gt(n("1"))),
            (
                "BETWEEN",
                json!([{"N": "1"}, {"N": "2"}]),
                SortKeyCondition::Between(n("1"), n("2")),
            ),
        ] {
            let mut j = map(pk.clone());
            j.extend(map(cmp("sk", op, vals)));
            let k = key(Json::Object(j)).unwrap();
            assert_eq!(k.sort, Some(("sk".to_owned(), want)), "{op}");
        }
        // BEGINS_WITH on a string sort key (here: an S range key table).
        let c = key_conditions(&map(json!({
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "ab"}]}
        })))
        .unwrap();
        let input = ExprInput::new(Some(&c.names), Some(&c.values));
        let k = KeyCondition::parse(&c.expression, &input, ("pk", "S"), Some(("sk", "S"))).unwrap();
        assert_eq!(
            k.sort,
            Some((
                "sk".to_owned(),
                SortKeyCondition::BeginsWith(av(json!({"S": "ab"})))
            ))
        );
        // Reserved words as key names.
        let c = key_conditions(&map(
            json!({"status": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}}),
        ))
        .unwrap();
        let input = ExprInput::new(Some(&c.names), Some(&c.values));
        let k = KeyCondition::parse(&c.expression, &input, ("status", "S"), None).unwrap();
        assert_eq!(k.partition.0, "status");
    }

    #[test]
    fn key_condition_errors() {
        let pk =
            || map(json!({"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}}));
        let with = |extra: Json| {
            let mut j = pk();
            j.extend(map(extra));
            key(Json::Object(j))
        };
        for (op, vals) in [
            ("NULL", json!([])),
            ("NOT_NULL", json!([])),
            ("NE", json!([{"N": "1"}])),
            ("CONTAINS", json!([{"N": "1"}])),
            ("NOT_CONTAINS", json!([{"N": "1"}])),
            ("IN", json!([{"N": "1"}])),
        ] {
            assert_eq!(
                err_msg(with(cmp("sk", op, vals.clone()))),
                "Attempted conditional constraint is not an indexable operation",
                "{op}"
            );
            assert_eq!(
                err_msg(key(cmp("pk", op, vals))),
                "Attempted conditional constraint is not an indexable operation",
                "{op}"
            );
        }
        assert_eq!(
            err_msg(key(json!({}))),
            "Conditions can be of length 1 or 2 only"
        );
        assert_eq!(
            err_msg(with(json!({
                "sk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]},
                "x": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}
            }))),
            "Conditions can be of length 1 or 2 only"
        );
        assert_eq!(
            err_msg(with(cmp("sk", "BETWEEN", json!([{"N": "1"}])))),
            format!("{P}Invalid number of argument(s) for the BETWEEN ComparisonOperator")
        );
        assert_eq!(
            err_msg(with(cmp("sk", "BEGINS_WITH", json!([{"N": "1"}])))),
            format!("{P}ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type")
        );
        assert_eq!(
            err_msg(with(cmp("sk", "LE", json!([{"SS": ["a"]}])))),
            format!("{P}ComparisonOperator LE is not valid for SS AttributeValue type")
        );
        assert_eq!(
            err_msg(key(json!({"pk": {}}))),
            "1 validation error detected: Value null at 'keyConditions.pk.member.comparisonOperator' failed to satisfy constraint: Member must not be null"
        );
        // Schema checks happen when the expression is parsed against the key schema.
        assert_eq!(
            err_msg(key(cmp("pk", "LE", json!([{"S": "p"}])))),
            "Query key condition not supported"
        );
        assert_eq!(
            err_msg(key(cmp("sk", "EQ", json!([{"N": "1"}])))),
            "Query condition missed key schema element: pk"
        );
        assert_eq!(
            err_msg(with(cmp("sk", "EQ", json!([{"S": "1"}])))),
            format!("{P}Condition parameter type does not match schema type")
        );
    }

    #[test]
    fn attribute_updates_apply() {
        let it = sample();
        // PUT is the default; reserved words and dotted names are plain attributes.
        let out = update(
            json!({
                "status": {"Value": {"S": "done"}},
                "a.b": {"Action": "PUT", "Value": {"N": "1"}},
                "new": {"Action": "PUT", "Value": {"M": {"x": {"L": []}}}}
            }),
            &it,
        );
        assert_eq!(out["status"], av(json!({"S": "done"})));
        assert_eq!(out["a.b"], av(json!({"N": "1"})));
        assert_eq!(out["new"], av(json!({"M": {"x": {"L": []}}})));
        assert_eq!(out["n"], it["n"]);
        // ADD: numbers add, sets union, lists append; missing attributes are created.
        let out = update(
            json!({
                "n": {"Action": "ADD", "Value": {"N": "-2.5"}},
                "cnt": {"Action": "ADD", "Value": {"N": "1"}},
                "ss": {"Action": "ADD", "Value": {"SS": ["y", "w"]}},
                "l": {"Action": "ADD", "Value": {"L": [{"BOOL": false}]}},
                "l2": {"Action": "ADD", "Value": {"L": [{"N": "9"}]}}
            }),
            &it,
        );
        assert_eq!(out["n"], av(json!({"N": "2.5"})));
        assert_eq!(out["cnt"], av(json!({"N": "1"})));
        assert_eq!(out["ss"], av(json!({"SS": ["x", "y", "w"]})));
        assert_eq!(
            out["l"],
            av(json!({"L": [{"N": "2"}, {"S": "z"}, {"BOOL": false}]}))
        );
        assert_eq!(out["l2"], av(json!({"L": [{"N": "9"}]})));
        // DELETE with a set removes elements (an emptied set goes away); without one, the
        // attribute; deleting from a missing attribute changes nothing.
        let out = update(
            json!({
                "ns": {"Action": "DELETE", "Value": {"NS": ["4", "99"]}},
                "ss": {"Action": "DELETE", "Value": {"SS": ["x", "y"]}},
                "s": {"Action": "DELETE"},
                "nope": {"Action": "DELETE"},
                "nope2": {"Action": "DELETE", "Value": {"BS": ["YQ=="]}}
            }),
            &it,
        );
        assert_eq!(out["ns"], av(json!({"NS": ["2", "7"]})));
        assert!(!out.contains_key("ss"));
        assert!(!out.contains_key("s"));
        assert!(!out.contains_key("nope") && !out.contains_key("nope2"));
        // All four sections in one expression.
        let c = attribute_updates(&map(json!({
            "a": {"Value": {"S": "x"}}, "b": {"Action": "DELETE"},
            "c": {"Action": "ADD", "Value": {"N": "1"}},
            "d": {"Action": "DELETE", "Value": {"SS": ["q"]}}
        })))
        .unwrap();
        assert_eq!(
            c.expression,
            "SET #lu0 = :lu0 REMOVE #lu1 ADD #lu2 :lu1 DELETE #lu3 :lu2"
        );
        let out = update(
            json!({"t": {"Value": {"S": "x"}}, "z": {"Action": "DELETE"},
                   "n": {"Action": "ADD", "Value": {"N": "1"}}, "ss": {"Action": "DELETE", "Value": {"SS": ["x"]}}}),
            &it,
        );
        assert_eq!(out["t"], av(json!({"S": "x"})));
        assert!(!out.contains_key("z"));
        assert_eq!(out["n"], av(json!({"N": "6"})));
        assert_eq!(out["ss"], av(json!({"SS": ["y"]})));
    }

    #[test]
    fn attribute_update_errors() {
        let u = |j: Json| err_msg(attribute_updates(&map(j)));
        assert_eq!(
            u(json!({"a": {"x": "whatever"}})),
            format!("{P}Only DELETE action is allowed when no attribute value is specified")
        );
        assert_eq!(
            u(json!({"a": {"Action": "ADD"}})),
            format!("{P}Only DELETE action is allowed when no attribute value is specified")
        );
        for v in [
            json!({"S": "1"}),
            json!({"N": "1"}),
            json!({"B": "Yg=="}),
            json!({"NULL": true}),
            json!({"BOOL": true}),
            json!({"M": {}}),
            json!({"L": []}),
        ] {
            let ty = av(v.clone()).type_name();
            assert_eq!(
                u(json!({"a": {"Action": "DELETE", "Value": v}})),
                format!("{P}DELETE action with value is not supported for the type {ty}")
            );
        }
        for v in [
            json!({"S": "1"}),
            json!({"B": "Yg=="}),
            json!({"NULL": true}),
            json!({"BOOL": true}),
            json!({"M": {}}),
        ] {
            let ty = av(v.clone()).type_name();
            assert_eq!(
                u(json!({"a": {"Action": "ADD", "Value": v}})),
                format!("{P}ADD action is not supported for the type {ty}")
            );
        }
        assert_eq!(
            u(json!({"a": {"Action": "REPLACE", "Value": {"S": "1"}}, "b": {"Action": "put", "Value": {"S": "1"}}})),
            "2 validation errors detected: Value 'REPLACE' at 'attributeUpdates.a.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]; Value 'put' at 'attributeUpdates.b.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
        );
        assert_eq!(
            u(json!({"a": null})),
            "Supplied AttributeValueUpdate is empty, must contain one of the supported actions: a is null"
        );
        assert_eq!(
            u(json!({"a": {"Value": {"SS": []}}})),
            err_msg(AttributeValue::from_json(&json!({"SS": []})))
        );
        assert!(matches!(
            attribute_updates(&map(json!({"a": {"Action": 1}}))),
            Err(EngineError::Serialization(_))
        ));
    }

    #[test]
    fn conversions_merge_without_collisions() {
        let upd = attribute_updates(&map(json!({"a": {"Value": {"S": "x"}}}))).unwrap();
        let cond = expected(&map(json!({"a": {"Value": {"S": "old"}}})), None).unwrap();
        let mut names = upd.names.clone();
        names.extend(cond.names.clone());
        let mut values = upd.values.clone();
        values.extend(cond.values.clone());
        assert_eq!(names.len(), 2);
        assert_eq!(values.len(), 2);
        let input = ExprInput::new(Some(&names), Some(&values));
        let u = Update::parse(&upd.expression, &input).unwrap();
        let c = Condition::parse(&cond.expression, ExprKind::Condition, &input).unwrap();
        input.check_all_used().unwrap();
        let mut it = item(json!({"a": {"S": "old"}}));
        assert!(c.eval(&it).unwrap());
        u.apply(&mut it).unwrap();
        assert_eq!(it["a"], av(json!({"S": "x"})));
    }
}
