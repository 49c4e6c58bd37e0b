//! Applying UpdateExpression actions to an item.
//!
//! As in DynamoDB, every operand is evaluated against the item as it was before the update,
//! then SET, REMOVE, ADD and DELETE are applied; list elements removed by index refer to the
//! original positions. SETs of list elements past the end append, in the order of their
//! indexes. On an item that does not exist yet, REMOVE of a path whose parent is missing is
//! ignored (on an existing item it is an invalid path).

use std::collections::HashSet;
use std::hash::Hash;

use super::ast::{Action, Elem, Operand, Path};
use super::eval::{equals, resolve};
use crate::error::{EngineError, Result};
use crate::value::{AttributeValue, Item, MAX_DEPTH};

fn bad_operand() -> EngineError {
    EngineError::validation("An operand in the update expression has an incorrect data type")
}

fn bad_path() -> EngineError {
    EngineError::validation(
        "The document path provided in the update expression is invalid for update",
    )
}

/// The value a SET operand evaluates to against the original item. Recursive (as deep as
/// calls nest, see `parse::MAX_CALL_NESTING`); chains of `if_not_exists` defaults are
/// followed in a loop.
fn value_of(item: &Item, op: &Operand) -> Result<AttributeValue> {
    let mut op = op;
    while let Operand::IfNotExists(p, default) = op {
        if let Some(v) = resolve(item, p) {
            return Ok(v.clone());
        }
        op = default;
    }
    match op {
        Operand::Value(v) => Ok(v.clone()),
        Operand::Path(p) => resolve(item, p).cloned().ok_or_else(|| {
            EngineError::validation(
                "The provided expression refers to an attribute that does not exist in the item",
            )
        }),
        Operand::ListAppend(a, b) => list_append(value_of(item, a)?, value_of(item, b)?),
        Operand::Plus(a, b) => arithmetic(true, value_of(item, a)?, value_of(item, b)?),
        Operand::Minus(a, b) => arithmetic(false, value_of(item, a)?, value_of(item, b)?),
        Operand::Size(_) | Operand::IfNotExists(..) => Err(bad_operand()),
    }
}

fn list_append(a: AttributeValue, b: AttributeValue) -> Result<AttributeValue> {
    match (a, b) {
        (AttributeValue::L(mut x), AttributeValue::L(y)) => {
            x.extend(y);
            Ok(AttributeValue::L(x))
        }
        _ => Err(bad_operand()),
    }
}

fn arithmetic(plus: bool, a: AttributeValue, b: AttributeValue) -> Result<AttributeValue> {
    match (a, b) {
        (AttributeValue::N(x), AttributeValue::N(y)) => Ok(AttributeValue::N(if plus {
            x.add(&y)?
        } else {
            x.sub(&y)?
        })),
        _ => Err(bad_operand()),
    }
}

/// The container holding the last element of `path`, created as DynamoDB allows (never).
fn parent_mut<'a>(item: &'a mut Item, path: &Path) -> Result<Option<&'a mut AttributeValue>> {
    let elems = &path.0;
    if elems.len() < 2 {
        return Ok(None);
    }
    let Some(Elem::Attr(head)) = elems.first() else {
        return Err(bad_path());
    };
    let mut cur = item.get_mut(head).ok_or_else(bad_path)?;
    for e in &elems[1..elems.len() - 1] {
        cur = match (e, cur) {
            (Elem::Attr(a), AttributeValue::M(m)) => m.get_mut(a).ok_or_else(bad_path)?,
            (Elem::Index(i), AttributeValue::L(l)) => l.get_mut(*i).ok_or_else(bad_path)?,
            _ => return Err(bad_path()),
        };
    }
    Ok(Some(cur))
}

/// Sets the value at `path`; returns the path the value took (a list element set past the
/// end of its list is appended, at the index it gets).
fn set_at(item: &mut Item, path: &Path, value: AttributeValue) -> Result<Path> {
    let last = path.0.last().ok_or_else(bad_path)?;
    match parent_mut(item, path)? {
        None => match last {
            Elem::Attr(a) => {
                item.insert(a.clone(), value);
                Ok(path.clone())
            }
            Elem::Index(_) => Err(bad_path()),
        },
        Some(parent) => match (last, parent) {
            (Elem::Attr(a), AttributeValue::M(m)) => {
                m.insert(a.clone(), value);
                Ok(path.clone())
            }
            (Elem::Index(i), AttributeValue::L(l)) => match l.get_mut(*i) {
                Some(slot) => {
                    *slot = value;
                    Ok(path.clone())
                }
                None => {
                    let at = l.len();
                    l.push(value);
                    let mut taken = path.clone();
                    if let Some(e) = taken.0.last_mut() {
                        *e = Elem::Index(at);
                    }
                    Ok(taken)
                }
            },
            _ => Err(bad_path()),
        },
    }
}

fn remove_at(item: &mut Item, path: &Path) -> Result<()> {
    let Some(last) = path.0.last() else {
        return Ok(());
    };
    match parent_mut(item, path)? {
        None => {
            if let Elem::Attr(a) = last {
                item.remove(a);
            }
            Ok(())
        }
        Some(parent) => match (last, parent) {
            (Elem::Attr(a), AttributeValue::M(m)) => {
                m.remove(a);
                Ok(())
            }
            (Elem::Index(i), AttributeValue::L(l)) => {
                if *i < l.len() {
                    l.remove(*i);
                }
                Ok(())
            }
            _ => Err(bad_path()),
        },
    }
}

/// `a` then the elements of `b` it lacks (linear: sets may have a great many elements).
fn union<T: Hash + Eq + Clone>(mut a: Vec<T>, b: &[T]) -> Vec<T> {
    let mut seen: HashSet<T> = a.iter().cloned().collect();
    for x in b {
        if seen.insert(x.clone()) {
            a.push(x.clone());
        }
    }
    a
}

fn add_value(current: Option<&AttributeValue>, v: &AttributeValue) -> Result<AttributeValue> {
    use AttributeValue as V;
    Ok(match (current, v) {
        (None, V::N(_) | V::Ss(_) | V::Ns(_) | V::Bs(_)) => v.clone(),
        (Some(V::N(x)), V::N(y)) => V::N(x.add(y)?),
        (Some(V::Ss(x)), V::Ss(y)) => V::Ss(union(x.clone(), y)),
        (Some(V::Ns(x)), V::Ns(y)) => V::Ns(union(x.clone(), y)),
        (Some(V::Bs(x)), V::Bs(y)) => V::Bs(union(x.clone(), y)),
        _ => return Err(bad_operand()),
    })
}

/// `None`: the set became empty and the attribute goes away.
fn delete_value(current: &AttributeValue, v: &AttributeValue) -> Result<Option<AttributeValue>> {
    use AttributeValue as V;
    fn minus<T: Hash + Eq + Clone>(a: &[T], b: &[T]) -> Vec<T> {
        let b: HashSet<&T> = b.iter().collect();
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    }
    let out = match (current, v) {
        (V::Ss(x), V::Ss(y)) => V::Ss(minus(x, y)),
        (V::Ns(x), V::Ns(y)) => V::Ns(minus(x, y)),
        (V::Bs(x), V::Bs(y)) => V::Bs(minus(x, y)),
        _ => return Err(bad_operand()),
    };
    let empty = match &out {
        V::Ss(s) => s.is_empty(),
        V::Ns(s) => s.is_empty(),
        V::Bs(s) => s.is_empty(),
        _ => false,
    };
    Ok((!empty).then_some(out))
}

/// Applies `actions` to `item` (`exists`: whether the item was stored, or is only its key);
/// returns the paths written, as they are in the new item.
pub fn apply(actions: &[Action], item: &mut Item, exists: bool) -> Result<Vec<Path>> {
    let original = item.clone();
    // Evaluate first, against the original item.
    let mut sets = Vec::new();
    for a in actions {
        if let Action::Set(p, op) = a {
            sets.push((p, value_of(&original, op)?));
        }
    }
    // Elements appended to one list go in the order of their indexes (DynamoDB sorts the
    // elements of one SET by element number); other SETs are independent of each other.
    sets.sort_by_key(|(p, _)| match p.0.split_last() {
        Some((Elem::Index(i), parent)) => (parent.to_vec(), *i),
        _ => (p.0.clone(), 0),
    });
    let mut written = Vec::with_capacity(actions.len());
    for (p, v) in sets {
        written.push(set_at(item, p, v)?);
    }
    if item.values().any(|v| v.depth() >= MAX_DEPTH) {
        return Err(EngineError::validation(
            "Nesting Levels have exceeded supported limits",
        ));
    }
    // Removals by list index refer to original positions: apply the highest index first.
    let mut removes: Vec<&Path> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove(p) => Some(p),
            _ => None,
        })
        .collect();
    removes.sort_by(|a, b| {
        b.0.len()
            .cmp(&a.0.len())
            .then_with(|| index_key(b).cmp(&index_key(a)))
    });
    for p in removes {
        match remove_at(item, p) {
            Err(_) if !exists => {}
            other => other?,
        }
        written.push(p.clone());
    }
    for a in actions {
        match a {
            Action::Add(p, Operand::Value(v)) => {
                let new = add_value(resolve(item, p), v)?;
                written.push(set_at(item, p, new)?);
            }
            Action::Delete(p, Operand::Value(v)) => {
                written.push(p.clone());
                if let Some(cur) = resolve(item, p) {
                    match delete_value(cur, v)? {
                        Some(new) => {
                            set_at(item, p, new)?;
                        }
                        None => remove_at(item, p)?,
                    }
                } else if !matches!(
                    v,
                    AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
                ) {
                    return Err(bad_operand());
                }
            }
            _ => {}
        }
    }
    Ok(written)
}

fn index_key(p: &Path) -> Vec<usize> {
    p.0.iter()
        .map(|e| match e {
            Elem::Index(i) => *i,
            Elem::Attr(_) => 0,
        })
        .collect()
}

/// Whether two values differ (used to report UPDATED_* values precisely).
pub fn differs(a: Option<&AttributeValue>, b: Option<&AttributeValue>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => !equals(x, y),
        (None, None) => false,
        _ => true,
    }
}
