//! KeyConditionExpression: a condition on the partition key (equality) and optionally the
//! sort key, turned into what a Query needs.

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

#[derive(Debug, Clone)]
pub struct KeyCondition {
    pub partition: (String, AttributeValue),
    pub sort: Option<(String, SortKeyCondition)>,
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
        let pk_value = match pk_cond {
            SortKeyCondition::Eq(v) => v,
            other => {
                check_types(&other, pk_type)?;
                return Err(invalid("Query key condition not supported"));
            }
        };
        if pk_value.type_name() != pk_type {
            return Err(invalid(
                "One or more parameter values were invalid: Condition parameter type does not match schema type",
            ));
        }
        let sort = match (conds.pop(), sort_key) {
            (None, _) => None,
            (Some((attr, sc)), Some((sk_name, sk_type))) => {
                if attr != sk_name {
                    return Err(EngineError::validation(format!(
                        "Query condition missed key schema element: {sk_name}"
                    )));
                }
                check_types(&sc, sk_type)?;
                if let SortKeyCondition::BeginsWith(_) = sc {
                    if sk_type == "N" {
                        return Err(invalid(
                            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
                        ));
                    }
                }
                Some((attr, sc))
            }
            (Some(_), None) => return Err(invalid("Query key condition not supported")),
        };
        Ok(KeyCondition {
            partition: (pk_name.to_owned(), pk_value),
            sort,
        })
    }
}

fn check_types(sc: &SortKeyCondition, ty: &str) -> Result<()> {
    if sc.values().iter().any(|v| v.type_name() != ty) {
        return Err(invalid(
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ));
    }
    Ok(())
}
