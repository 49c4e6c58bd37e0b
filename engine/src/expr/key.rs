//! KeyConditionExpression: a condition on the partition key (equality) and optionally the
//! sort key, turned into what a Query needs. For a GSI with multi-attribute keys: equality on
//! every partition attribute, and conditions on the sort attributes left to right, equality
//! on all but the last one used.

use super::ast::{CmpOp, Cond, Operand, Path};
use super::{parse_condition, ExprInput, ExprKind};
use crate::error::{EngineError, Result};
use crate::value::AttributeValue;

#[derive(Debug, Clone, PartialEq)]
pub enum SortKeyCondition {
    Eq(AttributeValue),
    Lt(AttributeValue),
    Le(AttributeValue),
    Gt(AttributeValue),
    Ge(AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

impl SortKeyCondition {
    pub fn matches(&self, v: &AttributeValue) -> bool {
        use std::cmp::Ordering::*;
        let cmp = |x: &AttributeValue| super::eval::compare(v, x);
        match self {
            SortKeyCondition::Eq(x) => cmp(x) == Some(Equal),
            SortKeyCondition::Lt(x) => cmp(x) == Some(Less),
            SortKeyCondition::Le(x) => matches!(cmp(x), Some(Less | Equal)),
            SortKeyCondition::Gt(x) => cmp(x) == Some(Greater),
            SortKeyCondition::Ge(x) => matches!(cmp(x), Some(Greater | Equal)),
            SortKeyCondition::Between(a, b) => {
                matches!(cmp(a), Some(Greater | Equal)) && matches!(cmp(b), Some(Less | Equal))
            }
            SortKeyCondition::BeginsWith(p) => match (v, p) {
                (AttributeValue::S(s), AttributeValue::S(p)) => s.starts_with(p.as_str()),
                (AttributeValue::B(s), AttributeValue::B(p)) => s.starts_with(p),
                _ => false,
            },
        }
    }

    fn values(&self) -> Vec<&AttributeValue> {
        match self {
            SortKeyCondition::Eq(x)
            | SortKeyCondition::Lt(x)
            | SortKeyCondition::Le(x)
            | SortKeyCondition::Gt(x)
            | SortKeyCondition::Ge(x)
            | SortKeyCondition::BeginsWith(x) => vec![x],
            SortKeyCondition::Between(a, b) => vec![a, b],
        }
    }
}

/// A parsed key condition. With a multi-attribute key (GSI), `partition` is the first
/// partition attribute and `partition_rest` the others; `sort_prefix` holds the equality
/// conditions on the leading sort attributes and `sort` the condition on the last sort
/// attribute the query uses (which may be a range).
#[derive(Debug, Clone)]
pub struct KeyCondition {
    pub partition: (String, AttributeValue),
    pub sort: Option<(String, SortKeyCondition)>,
    pub partition_rest: Vec<(String, AttributeValue)>,
    pub sort_prefix: Vec<(String, AttributeValue)>,
}

impl KeyCondition {
    /// The partition attributes' values in key-schema order.
    pub fn partition_values(&self) -> impl Iterator<Item = &AttributeValue> {
        std::iter::once(&self.partition.1).chain(self.partition_rest.iter().map(|(_, v)| v))
    }

    /// Every condition on a sort attribute, in key-schema order (equalities, then `sort`).
    pub fn sort_conditions(&self) -> Vec<(&str, SortKeyCondition)> {
        let mut out: Vec<(&str, SortKeyCondition)> = self
            .sort_prefix
            .iter()
            .map(|(n, v)| (n.as_str(), SortKeyCondition::Eq(v.clone())))
            .collect();
        if let Some((n, c)) = &self.sort {
            out.push((n.as_str(), c.clone()));
        }
        out
    }
}

fn invalid(msg: &str) -> EngineError {
    EngineError::validation(msg)
}

/// One simple condition `attr <op> value(s)`.
fn simple(c: Cond) -> Result<(String, SortKeyCondition)> {
    let attr_of = |p: &Path| -> Result<String> {
        if p.0.len() > 1 {
            return Err(invalid(
                "KeyConditionExpressions cannot have conditions on nested attributes",
            ));
        }
        Ok(p.head().to_owned())
    };
    let value_of = |o: Operand| -> Result<AttributeValue> {
        match o {
            Operand::Value(v) => Ok(v),
            Operand::Size(_) => Err(invalid("KeyConditionExpressions cannot contain nested operations")),
            _ => Err(invalid(
                "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
            )),
        }
    };
    match c {
        Cond::Cmp(op, a, b) => {
            let (path, value, op) = match (a, b) {
                (Operand::Path(p), v) => (p, v, op),
                (v, Operand::Path(p)) => {
                    let flipped = match op {
                        CmpOp::Lt => CmpOp::Gt,
                        CmpOp::Le => CmpOp::Ge,
                        CmpOp::Gt => CmpOp::Lt,
                        CmpOp::Ge => CmpOp::Le,
                        other => other,
                    };
                    (p, v, flipped)
                }
                (Operand::Size(_), _) | (_, Operand::Size(_)) => {
                    return Err(invalid("KeyConditionExpressions cannot contain nested operations"))
                }
                _ => return Err(invalid("Invalid condition in KeyConditionExpression: No key attribute specified")),
            };
            let v = value_of(value)?;
            let cond = match op {
                CmpOp::Eq => SortKeyCondition::Eq(v),
                CmpOp::Lt => SortKeyCondition::Lt(v),
                CmpOp::Le => SortKeyCondition::Le(v),
                CmpOp::Gt => SortKeyCondition::Gt(v),
                CmpOp::Ge => SortKeyCondition::Ge(v),
                CmpOp::Ne => return Err(invalid("Invalid operator used in KeyConditionExpression: <>")),
            };
            Ok((attr_of(&path)?, cond))
        }
        Cond::Between(x, lo, hi) => match x {
            Operand::Path(p) => Ok((attr_of(&p)?, SortKeyCondition::Between(value_of(lo)?, value_of(hi)?))),
            _ => Err(invalid(
                "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand",
            )),
        },
        Cond::BeginsWith(x, prefix) => match x {
            Operand::Path(p) => Ok((attr_of(&p)?, SortKeyCondition::BeginsWith(value_of(prefix)?))),
            _ => Err(invalid(
                "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand",
            )),
        },
        Cond::Or(..) => Err(invalid("Invalid operator used in KeyConditionExpression: OR")),
        Cond::Not(..) => Err(invalid("Invalid operator used in KeyConditionExpression: NOT")),
        Cond::In(..) => Err(invalid("Invalid operator used in KeyConditionExpression: IN")),
        Cond::Exists(_) => Err(invalid("Invalid operator used in KeyConditionExpression: attribute_exists")),
        Cond::NotExists(_) => Err(invalid("Invalid operator used in KeyConditionExpression: attribute_not_exists")),
        Cond::AttrType(..) => Err(invalid("Invalid operator used in KeyConditionExpression: attribute_type")),
        Cond::Contains(..) => Err(invalid("Invalid operator used in KeyConditionExpression: contains")),
        Cond::And(..) => Err(invalid("Invalid operator used in KeyConditionExpression: AND")),
    }
}

fn flatten(c: Cond, out: &mut Vec<Cond>) {
    match c {
        Cond::And(a, b) => {
            flatten(*a, out);
            flatten(*b, out);
        }
        other => out.push(other),
    }
}

impl KeyCondition {
    /// `partition_key` / `sort_key`: the key attribute names and types ("S", "N", "B").
    pub fn parse(
        expr: &str,
        input: &ExprInput,
        partition_key: (&str, &str),
        sort_key: Option<(&str, &str)>,
    ) -> Result<KeyCondition> {
        let sort: Vec<(&str, &str)> = sort_key.into_iter().collect();
        Self::parse_schema(expr, input, &[partition_key], &sort)
    }

    /// A key condition against a key schema given as (name, type) pairs in key-schema order:
    /// one partition attribute and at most one sort attribute, or (a GSI with multi-attribute
    /// keys) up to four of each. Every partition attribute needs an equality; sort attributes
    /// are used left to right without gaps, all with equality but the last one used, which may
    /// have any sort key condition.
    pub fn parse_schema(
        expr: &str,
        input: &ExprInput,
        partition: &[(&str, &str)],
        sort: &[(&str, &str)],
    ) -> Result<KeyCondition> {
        let cond = parse_condition(expr, ExprKind::KeyCondition, input)?;
        let mut parts = Vec::new();
        flatten(cond, &mut parts);
        let mut conds: Vec<(String, SortKeyCondition)> = Vec::new();
        for c in parts {
            let (attr, sc) = simple(c)?;
            if conds.iter().any(|(a, _)| *a == attr) {
                return Err(invalid(
                    "KeyConditionExpressions must only contain one condition per key",
                ));
            }
            conds.push((attr, sc));
        }
        match (partition, sort) {
            ([p], []) => single(conds, *p, None),
            ([p], [s]) => single(conds, *p, Some(*s)),
            _ => multi(conds, partition, sort),
        }
    }
}

/// A key schema of one partition attribute and at most one sort attribute.
fn single(
    mut conds: Vec<(String, SortKeyCondition)>,
    partition_key: (&str, &str),
    sort_key: Option<(&str, &str)>,
) -> Result<KeyCondition> {
    if conds.len() > 2 {
        return Err(invalid("Conditions can be of length 1 or 2 only"));
    }
    let (pk_name, pk_type) = partition_key;
    if sort_key.is_none() && conds.len() > 1 {
        return Err(invalid("Query key condition not supported"));
    }
    let Some(pos) = conds.iter().position(|(a, _)| a == pk_name) else {
        return Err(EngineError::validation(format!(
            "Query condition missed key schema element: {pk_name}"
        )));
    };
    let (_, pk_cond) = conds.remove(pos);
    let pk_value = partition_value(pk_cond, pk_type)?;
    let sort = match (conds.pop(), sort_key) {
        (None, _) => None,
        (Some((attr, sc)), Some((sk_name, sk_type))) => {
            if attr != sk_name {
                return Err(EngineError::validation(format!(
                    "Query condition missed key schema element: {sk_name}"
                )));
            }
            check_sort(&sc, sk_type)?;
            Some((attr, sc))
        }
        (Some(_), None) => return Err(invalid("Query key condition not supported")),
    };
    Ok(KeyCondition {
        partition: (pk_name.to_owned(), pk_value),
        sort,
        partition_rest: Vec::new(),
        sort_prefix: Vec::new(),
    })
}

/// A multi-attribute key schema (GSI).
fn multi(
    mut conds: Vec<(String, SortKeyCondition)>,
    partition: &[(&str, &str)],
    sort: &[(&str, &str)],
) -> Result<KeyCondition> {
    let total = partition.len() + sort.len();
    if conds.len() > total {
        return Err(EngineError::validation(format!(
            "Conditions can be of length {} to {total} only",
            partition.len()
        )));
    }
    let mut values = Vec::with_capacity(partition.len());
    for (name, ty) in partition {
        let Some((attr, c)) = take(&mut conds, name) else {
            return Err(EngineError::validation(format!(
                "Query condition missed key schema element: {name}"
            )));
        };
        values.push((attr, partition_value(c, ty)?));
    }
    // The sort attributes used: a prefix of the sort key, so as many as there are conditions.
    let used = conds.len();
    let mut sorts = Vec::with_capacity(used);
    for (name, ty) in sort.iter().take(used) {
        let Some((attr, c)) = take(&mut conds, name) else {
            return Err(EngineError::validation(format!(
                "Query condition missed key schema element: {name}"
            )));
        };
        check_sort(&c, ty)?;
        sorts.push((attr, c));
    }
    if !conds.is_empty() {
        // Conditions on attributes outside the key schema.
        return Err(invalid("Query key condition not supported"));
    }
    let last = sorts.pop();
    let mut sort_prefix = Vec::with_capacity(sorts.len());
    for (attr, c) in sorts {
        match c {
            SortKeyCondition::Eq(v) => sort_prefix.push((attr, v)),
            // A range condition on a sort attribute followed by conditions on later ones.
            _ => return Err(invalid("Query key condition not supported")),
        }
    }
    let mut values = values.into_iter();
    let Some(first) = values.next() else {
        return Err(invalid("Query key condition not supported"));
    };
    Ok(KeyCondition {
        partition: first,
        sort: last,
        partition_rest: values.collect(),
        sort_prefix,
    })
}

/// Removes and returns the condition on `name`.
fn take(
    conds: &mut Vec<(String, SortKeyCondition)>,
    name: &str,
) -> Option<(String, SortKeyCondition)> {
    let pos = conds.iter().position(|(a, _)| a == name)?;
    Some(conds.remove(pos))
}

/// The value of a partition attribute's condition, which must be an equality of its type.
fn partition_value(c: SortKeyCondition, ty: &str) -> Result<AttributeValue> {
    match c {
        SortKeyCondition::Eq(v) => {
            if v.type_name() != ty {
                return Err(invalid(
                    "One or more parameter values were invalid: Condition parameter type does not match schema type",
                ));
            }
            Ok(v)
        }
        other => {
            check_types(&other, ty)?;
            Err(invalid("Query key condition not supported"))
        }
    }
}

/// A sort attribute's condition: operand types, and begins_with only on strings and binaries.
fn check_sort(sc: &SortKeyCondition, ty: &str) -> Result<()> {
    check_types(sc, ty)?;
    if let SortKeyCondition::BeginsWith(_) = sc {
        if ty == "N" {
            return Err(invalid(
                "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
            ));
        }
    }
    Ok(())
}

fn check_types(sc: &SortKeyCondition, ty: &str) -> Result<()> {
    if sc.values().iter().any(|v| v.type_name() != ty) {
        return Err(invalid(
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::expr::Values;
    use crate::value::item_from_json;

    fn vals() -> Values {
        item_from_json(&json!({
            ":t": {"S": "WINTER"}, ":r": {"S": "EAST"}, ":round": {"S": "SEMI"},
            ":b": {"S": "UPPER"}, ":n": {"N": "3"}, ":m": {"N": "9"}
        }))
        .unwrap()
        .into_iter()
        .collect()
    }

    /// GSI: partition (t S, r S), sort (round S, bracket S, n N).
    fn multi(expr: &str) -> Result<KeyCondition> {
        let v = vals();
        let input = ExprInput::new(None, Some(&v));
        KeyCondition::parse_schema(
            expr,
            &input,
            &[("t", "S"), ("r", "S")],
            &[("round", "S"), ("bracket", "S"), ("n", "N")],
        )
    }

    fn err(r: Result<KeyCondition>) -> String {
        match r {
            Ok(k) => panic!("accepted: {k:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn multi_attribute_conditions() {
        let k = multi("t = :t AND r = :r").unwrap();
        assert_eq!(k.partition_values().count(), 2);
        assert!(k.sort.is_none() && k.sort_prefix.is_empty());

        let k = multi("r = :r AND round = :round AND t = :t AND bracket >= :b").unwrap();
        assert_eq!(k.partition.0, "t");
        assert_eq!(k.partition_rest[0].0, "r");
        assert_eq!(k.sort_prefix.len(), 1);
        assert!(matches!(k.sort, Some((ref n, SortKeyCondition::Ge(_))) if n == "bracket"));

        let k =
            multi("t = :t AND r = :r AND round = :round AND bracket = :b AND n BETWEEN :n AND :m")
                .unwrap();
        assert_eq!(k.sort_conditions().len(), 3);

        let k = multi("t = :t AND r = :r AND begins_with(round, :round)").unwrap();
        assert!(matches!(k.sort, Some((_, SortKeyCondition::BeginsWith(_)))));
    }

    #[test]
    fn multi_attribute_errors() {
        assert_eq!(
            err(multi("t = :t")),
            "Query condition missed key schema element: r"
        );
        assert_eq!(
            err(multi("t = :t AND r > :r")),
            "Query key condition not supported"
        );
        // A gap in the sort attributes.
        assert_eq!(
            err(multi("t = :t AND r = :r AND bracket = :b")),
            "Query condition missed key schema element: round"
        );
        // A range before the last sort attribute used.
        assert_eq!(
            err(multi(
                "t = :t AND r = :r AND round > :round AND bracket = :b"
            )),
            "Query key condition not supported"
        );
        assert_eq!(
            err(multi("t = :t AND r = :r AND n = :t AND round = :round AND bracket = :b")),
            "One or more parameter values were invalid: Condition parameter type does not match schema type"
        );
        assert_eq!(
            err(multi("t = :t AND r = :r AND round = :round AND bracket = :b AND begins_with(n, :n)")),
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
        );
        assert_eq!(
            err(multi("t = :t AND r = :r AND x = :b")),
            "Query condition missed key schema element: round"
        );
        assert_eq!(
            err(multi(
                "t = :t AND r = :r AND round = :round AND bracket = :b AND n = :n AND x = :b"
            )),
            "Conditions can be of length 2 to 5 only"
        );
    }

    #[test]
    fn single_attribute_schemas_keep_their_messages() {
        let v = vals();
        let input = ExprInput::new(None, Some(&v));
        let r = KeyCondition::parse("t = :t AND round = :round", &input, ("t", "S"), None);
        assert_eq!(err(r), "Query key condition not supported");
        let r = KeyCondition::parse(
            "t = :t AND r = :r AND round = :round",
            &input,
            ("t", "S"),
            Some(("round", "S")),
        );
        assert_eq!(err(r), "Conditions can be of length 1 or 2 only");
    }
}
