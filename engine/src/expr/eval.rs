//! Evaluating conditions against an item: document paths, comparisons and functions.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::hash::Hash;

use super::ast::{CmpOp, Cond, Elem, Operand, Path};
use crate::number::Number;
use crate::value::{AttributeValue, Item};

/// The value at a document path, if the item has one.
pub fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a AttributeValue> {
    let mut elems = path.0.iter();
    let mut cur = match elems.next()? {
        Elem::Attr(a) => item.get(a)?,
        Elem::Index(_) => return None,
    };
    for e in elems {
        cur = match (e, cur) {
            (Elem::Attr(a), AttributeValue::M(m)) => m.get(a)?,
            (Elem::Index(i), AttributeValue::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Ordering of two scalars of the same comparable type (S, N, B); `None` otherwise.
pub fn compare(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::S(x), AttributeValue::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (AttributeValue::N(x), AttributeValue::N(y)) => Some(x.cmp(y)),
        (AttributeValue::B(x), AttributeValue::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Deep equality; sets compare as sets.
pub fn equals(a: &AttributeValue, b: &AttributeValue) -> bool {
    use AttributeValue as V;
    /// Linear: sets may have a great many elements.
    fn same_set<T: Hash + Eq>(x: &[T], y: &[T]) -> bool {
        if x.len() != y.len() {
            return false;
        }
        let y: HashSet<&T> = y.iter().collect();
        x.iter().all(|e| y.contains(e))
    }
    match (a, b) {
        (V::Ss(x), V::Ss(y)) => same_set(x, y),
        (V::Ns(x), V::Ns(y)) => same_set(x, y),
        (V::Bs(x), V::Bs(y)) => same_set(x, y),
        (V::L(x), V::L(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equals(p, q)),
        (V::M(x), V::M(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equals(v, w)))
        }
        _ => a == b,
    }
}

/// How a scalar appears in DynamoDB's messages (`{N:5}`).
pub fn display_scalar(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        other => other.to_json().to_string(),
    }
}

/// The value of an operand, or `None` when it refers to a missing attribute.
fn operand<'a>(item: &'a Item, op: &'a Operand) -> Option<Cow<'a, AttributeValue>> {
    match op {
        Operand::Path(p) => resolve(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(inner) => {
            let v = operand(item, inner)?;
            let n = match v.as_ref() {
                AttributeValue::S(s) => s.len(),
                AttributeValue::B(b) => b.len(),
                AttributeValue::Ss(s) => s.len(),
                AttributeValue::Ns(s) => s.len(),
                AttributeValue::Bs(s) => s.len(),
                AttributeValue::L(l) => l.len(),
                AttributeValue::M(m) => m.len(),
                _ => return None,
            };
            Number::parse(&n.to_string())
                .ok()
                .map(|n| Cow::Owned(AttributeValue::N(n)))
        }
        // Update-only operands never appear in conditions.
        _ => None,
    }
}

fn contains(haystack: &AttributeValue, needle: &AttributeValue) -> bool {
    use AttributeValue as V;
    match (haystack, needle) {
        (V::S(h), V::S(n)) => h.contains(n.as_str()),
        (V::B(h), V::B(n)) => memchr::memmem::find(h, n).is_some(),
        (V::Ss(h), V::S(n)) => h.contains(n),
        (V::Ns(h), V::N(n)) => h.contains(n),
        (V::Bs(h), V::B(n)) => h.contains(n),
        (V::L(h), n) => h.iter().any(|e| equals(e, n)),
        _ => false,
    }
}

fn begins_with(v: &AttributeValue, prefix: &AttributeValue) -> bool {
    match (v, prefix) {
        (AttributeValue::S(s), AttributeValue::S(p)) => s.starts_with(p.as_str()),
        (AttributeValue::B(s), AttributeValue::B(p)) => s.starts_with(p),
        _ => false,
    }
}

/// Evaluates a condition; an absent item is an empty item. AND, OR and NOT are walked with
/// an explicit stack (left to right, short-circuiting), so any tree depth is fine.
pub fn eval(cond: &Cond, item: &Item) -> bool {
    enum Step<'a> {
        Eval(&'a Cond),
        Not,
        /// The right operand of an AND / OR, once the left one is known.
        And(&'a Cond),
        Or(&'a Cond),
    }
    let mut steps = vec![Step::Eval(cond)];
    let mut value = false;
    while let Some(step) = steps.pop() {
        match step {
            Step::Eval(Cond::And(a, b)) => {
                steps.push(Step::And(b));
                steps.push(Step::Eval(a));
            }
            Step::Eval(Cond::Or(a, b)) => {
                steps.push(Step::Or(b));
                steps.push(Step::Eval(a));
            }
            Step::Eval(Cond::Not(a)) => {
                steps.push(Step::Not);
                steps.push(Step::Eval(a));
            }
            Step::Eval(c) => value = eval_simple(c, item),
            Step::Not => value = !value,
            Step::And(b) => {
                if value {
                    steps.push(Step::Eval(b));
                }
            }
            Step::Or(b) => {
                if !value {
                    steps.push(Step::Eval(b));
                }
            }
        }
    }
    value
}

/// A comparison or function (never AND, OR or NOT).
fn eval_simple(cond: &Cond, item: &Item) -> bool {
    match cond {
        Cond::And(..) | Cond::Or(..) | Cond::Not(..) => eval(cond, item),
        Cond::Exists(p) => resolve(item, p).is_some(),
        Cond::NotExists(p) => resolve(item, p).is_none(),
        Cond::AttrType(p, t) => match (resolve(item, p), operand(item, t)) {
            (Some(v), Some(t)) => matches!(t.as_ref(), AttributeValue::S(t) if t == v.type_name()),
            _ => false,
        },
        Cond::BeginsWith(a, b) => match (operand(item, a), operand(item, b)) {
            (Some(a), Some(b)) => begins_with(&a, &b),
            _ => false,
        },
        Cond::Contains(a, b) => match (operand(item, a), operand(item, b)) {
            (Some(a), Some(b)) => contains(&a, &b),
            _ => false,
        },
        Cond::Cmp(op, a, b) => {
            let (a, b) = (operand(item, a), operand(item, b));
            match op {
                CmpOp::Eq => matches!((&a, &b), (Some(x), Some(y)) if equals(x, y)),
                CmpOp::Ne => !matches!((&a, &b), (Some(x), Some(y)) if equals(x, y)),
                _ => {
                    let ord = match (&a, &b) {
                        (Some(x), Some(y)) => compare(x, y),
                        _ => None,
                    };
                    match (op, ord) {
                        (_, None) => false,
                        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
                        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
                        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
                        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
                        _ => false,
                    }
                }
            }
        }
        Cond::Between(x, lo, hi) => {
            match (operand(item, x), operand(item, lo), operand(item, hi)) {
                (Some(x), Some(lo), Some(hi)) => {
                    compare(&x, &lo).is_some_and(|o| o != Ordering::Less)
                        && compare(&x, &hi).is_some_and(|o| o != Ordering::Greater)
                }
                _ => false,
            }
        }
        Cond::In(x, list) => match operand(item, x) {
            Some(x) => list
                .iter()
                .any(|o| operand(item, o).is_some_and(|v| equals(&x, &v))),
            None => false,
        },
    }
}
