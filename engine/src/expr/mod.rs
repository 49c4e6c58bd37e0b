//! DynamoDB's expression language: condition and filter expressions, update expressions,
//! projection expressions and key condition expressions, with ExpressionAttributeNames/Values.
//!
//! `lex` tokenizes, `parse` builds the `ast` with DynamoDB's static checks, `eval` evaluates
//! conditions, `update` applies update actions, `project` applies projections, `key` turns a
//! key condition into the bounds of a Query.

pub mod ast;
pub mod eval;
pub mod key;
pub mod legacy;
pub mod lex;
pub mod parse;
pub mod project;
pub mod reserved;
pub mod update;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use crate::error::{EngineError, Result};
use crate::value::{AttributeValue, Item};

pub use key::{KeyCondition, SortKeyCondition};

/// ExpressionAttributeNames.
pub type Names = HashMap<String, String>;
/// ExpressionAttributeValues, already parsed.
pub type Values = HashMap<String, AttributeValue>;

/// The placeholders of one request, tracking which ones its expressions used.
pub struct ExprInput<'a> {
    names: Option<&'a Names>,
    values: Option<&'a Values>,
    used_names: RefCell<BTreeSet<String>>,
    used_values: RefCell<BTreeSet<String>>,
}

impl<'a> ExprInput<'a> {
    pub fn new(names: Option<&'a Names>, values: Option<&'a Values>) -> Self {
        ExprInput {
            names,
            values,
            used_names: RefCell::default(),
            used_values: RefCell::default(),
        }
    }

    pub(crate) fn name(&self, placeholder: &str) -> Option<String> {
        let n = self.names?.get(placeholder)?;
        self.used_names.borrow_mut().insert(placeholder.to_owned());
        Some(n.clone())
    }

    pub(crate) fn value(&self, placeholder: &str) -> Option<AttributeValue> {
        let v = self.values?.get(placeholder)?;
        self.used_values.borrow_mut().insert(placeholder.to_owned());
        Some(v.clone())
    }

    /// DynamoDB rejects placeholders that no expression of the request used.
    pub fn check_all_used(&self) -> Result<()> {
        let unused = |all: Option<Vec<&String>>, used: &BTreeSet<String>| -> Vec<String> {
            let mut v: Vec<String> = all
                .unwrap_or_default()
                .into_iter()
                .filter(|k| !used.contains(*k))
                .cloned()
                .collect();
            v.sort();
            v
        };
        let names = unused(
            self.names.map(|n| n.keys().collect()),
            &self.used_names.borrow(),
        );
        if !names.is_empty() {
            return Err(EngineError::validation(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                names.join(", ")
            )));
        }
        let values = unused(
            self.values.map(|v| v.keys().collect()),
            &self.used_values.borrow(),
        );
        if !values.is_empty() {
            return Err(EngineError::validation(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                values.join(", ")
            )));
        }
        Ok(())
    }
}

/// Which request parameter an expression came from (decides the message prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExprKind {
    Condition,
    Filter,
    KeyCondition,
    Update,
    Projection,
}

impl ExprKind {
    fn invalid(self, msg: String) -> EngineError {
        let name = match self {
            ExprKind::Condition => "ConditionExpression",
            ExprKind::Filter => "FilterExpression",
            ExprKind::KeyCondition => "KeyConditionExpression",
            ExprKind::Update => "UpdateExpression",
            ExprKind::Projection => "ProjectionExpression",
        };
        EngineError::validation(format!("Invalid {name}: {msg}"))
    }
}

/// A ConditionExpression or FilterExpression.
#[derive(Debug, Clone)]
pub struct Condition {
    cond: ast::Cond,
}

impl Condition {
    pub fn parse(expr: &str, kind: ExprKind, input: &ExprInput) -> Result<Condition> {
        let cond = parse_condition(expr, kind, input)?;
        Ok(Condition { cond })
    }

    /// Evaluates against an item (an absent item is an empty item).
    pub fn eval(&self, item: &Item) -> Result<bool> {
        Ok(eval::eval(&self.cond, item))
    }

    /// Whether the condition reads the top-level attribute `name`.
    pub fn reads(&self, name: &str) -> bool {
        self.cond.path_heads().contains(&name)
    }
}

pub(crate) fn parse_condition(expr: &str, kind: ExprKind, input: &ExprInput) -> Result<ast::Cond> {
    let mut p =
        parse::Parser::new(expr, input, parse::Mode::Condition).map_err(|m| kind.invalid(m))?;
    let cond = p.condition().map_err(|m| kind.invalid(m))?;
    p.expect_end().map_err(|m| kind.invalid(m))?;
    if let Some(e) = p.condition_error() {
        return Err(kind.invalid(e));
    }
    Ok(cond)
}

/// An UpdateExpression.
#[derive(Debug, Clone)]
pub struct Update {
    actions: Vec<ast::Action>,
}

impl Update {
    pub fn parse(expr: &str, input: &ExprInput) -> Result<Update> {
        let kind = ExprKind::Update;
        let mut p =
            parse::Parser::new(expr, input, parse::Mode::Update).map_err(|m| kind.invalid(m))?;
        let actions = p.update().map_err(|m| kind.invalid(m))?;
        if let Some(e) = p.update_error() {
            return Err(kind.invalid(e));
        }
        Ok(Update { actions })
    }

    /// Applies the update to `item`, as to a stored item (a REMOVE whose parent is missing is
    /// an invalid path); UpdateItem uses [`Update::apply_to`].
    pub fn apply(&self, item: &mut Item) -> Result<()> {
        update::apply(&self.actions, item, true).map(|_| ())
    }

    /// UpdateItem's new item: `old` (the stored item, if any) updated, or the item made of
    /// `key` when there was none.
    pub fn apply_to(&self, old: Option<&Item>, key: &Item) -> Result<Applied> {
        let mut item = old.cloned().unwrap_or_else(|| key.clone());
        let written = update::apply(&self.actions, &mut item, old.is_some())?;
        // An update that only removes (REMOVE, DELETE) does not create a missing item.
        let creates = self
            .actions
            .iter()
            .any(|a| matches!(a, ast::Action::Set(..) | ast::Action::Add(..)));
        Ok(Applied {
            item: (old.is_some() || creates).then_some(item),
            written: Projection {
                tree: project::Tree::new(written),
            },
        })
    }

    pub fn top_level_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .actions
            .iter()
            .map(|a| a.path().head().to_owned())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn updated_paths(&self) -> Projection {
        Projection {
            tree: project::Tree::new(self.actions.iter().map(|a| a.path().clone()).collect()),
        }
    }
}

/// What an update did to an item.
#[derive(Debug)]
pub struct Applied {
    /// The item after the update; `None` when there was no item and the update does not
    /// create one.
    pub item: Option<Item>,
    /// The paths the update wrote, where they are in the new item (ReturnValues UPDATED_NEW).
    pub written: Projection,
}

/// A ProjectionExpression (or the legacy AttributesToGet).
#[derive(Debug, Clone)]
pub struct Projection {
    tree: project::Tree,
}

impl Projection {
    pub fn parse(expr: &str, input: &ExprInput) -> Result<Projection> {
        let kind = ExprKind::Projection;
        let mut p = parse::Parser::new(expr, input, parse::Mode::Projection)
            .map_err(|m| kind.invalid(m))?;
        let paths = p.projection().map_err(|m| kind.invalid(m))?;
        if let Some(e) = p.projection_error() {
            return Err(kind.invalid(e));
        }
        Ok(Projection {
            tree: project::Tree::new(paths),
        })
    }

    pub fn from_attribute_names(names: &[String]) -> Projection {
        let paths = names
            .iter()
            .map(|n| ast::Path(vec![ast::Elem::Attr(n.clone())]))
            .collect();
        Projection {
            tree: project::Tree::new(paths),
        }
    }

    pub fn apply(&self, item: &Item) -> Item {
        self.tree.apply(item)
    }

    pub fn top_level_names(&self) -> Vec<String> {
        self.tree.top_level_names()
    }
}

#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod tests;
