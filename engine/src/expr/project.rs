//! Applying a projection (a set of document paths) to an item.

use std::collections::BTreeMap;

use super::ast::{Elem, Path};
use crate::value::{AttributeValue, Item};

/// The selected paths as a tree, so that `a[1].b, a[1].c, a[3]` share their prefixes.
#[derive(Default, Debug, Clone)]
struct Node {
    whole: bool,
    attrs: BTreeMap<String, Node>,
    indexes: BTreeMap<usize, Node>,
}

impl Node {
    fn insert(&mut self, elems: &[Elem]) {
        match elems.split_first() {
            None => self.whole = true,
            Some((Elem::Attr(a), rest)) => self.attrs.entry(a.clone()).or_default().insert(rest),
            Some((Elem::Index(i), rest)) => self.indexes.entry(*i).or_default().insert(rest),
        }
    }

    /// The part of `v` this node selects, if any.
    fn select(&self, v: &AttributeValue) -> Option<AttributeValue> {
        if self.whole {
            return Some(v.clone());
        }
        match v {
            AttributeValue::M(m) if !self.attrs.is_empty() => {
                let out: Item = self
                    .attrs
                    .iter()
                    .filter_map(|(k, n)| m.get(k).and_then(|c| n.select(c)).map(|c| (k.clone(), c)))
                    .collect();
                (!out.is_empty()).then_some(AttributeValue::M(out))
            }
            AttributeValue::L(l) if !self.indexes.is_empty() => {
                let out: Vec<AttributeValue> = self
                    .indexes
                    .iter()
                    .filter_map(|(i, n)| l.get(*i).and_then(|c| n.select(c)))
                    .collect();
                (!out.is_empty()).then_some(AttributeValue::L(out))
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tree {
    root: Node,
    paths: Vec<Path>,
}

impl Tree {
    pub fn new(paths: Vec<Path>) -> Tree {
        let mut root = Node::default();
        for p in &paths {
            root.insert(&p.0);
        }
        Tree { root, paths }
    }

    pub fn apply(&self, item: &Item) -> Item {
        self.root
            .attrs
            .iter()
            .filter_map(|(k, n)| {
                item.get(k)
                    .and_then(|v| n.select(v))
                    .map(|v| (k.clone(), v))
            })
            .collect()
    }

    pub fn top_level_names(&self) -> Vec<String> {
        self.root.attrs.keys().cloned().collect()
    }

    pub fn paths(&self) -> &[Path] {
        &self.paths
    }
}
