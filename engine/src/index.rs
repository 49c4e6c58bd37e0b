//! Secondary indexes (global and local): their metadata, entry keys, projections and the
//! checks DynamoDB makes on index key attributes.
//!
//! Each index has its own keyspace `x<id>`. An entry's key is the item's index key encoded
//! like a table key (`hash ‖ enc(index pk) ‖ enc(index sk)`) followed by the item's table
//! storage key, which makes entries unique; its value is the projected item in the table's
//! stored form (`u32 size ‖ JSON`). Items without the index key attributes have no entry
//! (sparse indexes). Entries are written in the same batch as the item (see `Engine::commit`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use crate::catalog::{KeyAttr, TableMeta, TableStats};
use crate::error::{EngineError, Result};
use crate::keys;
use crate::value::{AttributeValue, Item};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IndexMeta {
    pub name: String,
    /// Names the index keyspace (`x<id>`); from the same counter as table ids.
    pub id: u64,
    pub global: bool,
    pub hash_key: KeyAttr,
    pub range_key: Option<KeyAttr>,
    /// "ALL", "KEYS_ONLY" or "INCLUDE".
    pub projection: String,
    pub non_key_attributes: Vec<String>,
    pub read_capacity: u64,
    pub write_capacity: u64,
    /// "CREATING" while being backfilled, then "ACTIVE".
    pub status: String,
}

/// An index as the engine uses it.
pub struct Index {
    pub meta: IndexMeta,
    pub ks: fjall::Keyspace,
    pub stats: Arc<TableStats>,
}

pub fn keyspace_name(id: u64) -> String {
    format!("x{id}")
}

impl IndexMeta {
    pub fn key_attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        std::iter::once(&self.hash_key).chain(self.range_key.as_ref())
    }

    /// Whether the index holds every attribute of its items.
    pub fn projects_all(&self) -> bool {
        self.projection == "ALL"
    }

    /// Checks an item's index key attributes as DynamoDB does on every write.
    pub fn check_item(&self, item: &Item) -> Result<()> {
        for attr in self.key_attrs() {
            let Some(v) = item.get(&attr.name) else {
                continue;
            };
            if v.type_name() != attr.ty {
                return Err(EngineError::validation(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                    attr.name,
                    attr.ty,
                    v.type_name(),
                    self.name
                )));
            }
            let empty = match v {
                AttributeValue::S(s) => s.is_empty(),
                AttributeValue::B(b) => b.is_empty(),
                _ => false,
            };
            if empty {
                return Err(EngineError::validation(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {} value. IndexName: {}, IndexKey: {}",
                    if attr.ty == "S" { "string" } else { "binary" },
                    self.name,
                    attr.name
                )));
            }
        }
        Ok(())
    }

    /// The item's entry key, or `None` when it lacks an index key attribute.
    pub fn entry_key(&self, table_key: &[u8], item: &Item) -> Option<Vec<u8>> {
        let pk = item.get(&self.hash_key.name)?;
        let sk = match &self.range_key {
            Some(r) => Some(item.get(&r.name)?),
            None => None,
        };
        let mut k = keys::item_key(pk, sk);
        k.extend_from_slice(table_key);
        Some(k)
    }

    /// The attributes of an item the index holds.
    pub fn project(&self, table: &TableMeta, item: &Item) -> Item {
        if self.projects_all() {
            return item.clone();
        }
        item.iter()
            .filter(|(name, _)| {
                *name == &table.hash_key.name
                    || table.range_key.as_ref().is_some_and(|r| &r.name == *name)
                    || self.key_attrs().any(|k| &k.name == *name)
                    || self.non_key_attributes.contains(name)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Key attributes of an index entry: the table's and the index's (LastEvaluatedKey).
    pub fn entry_key_attributes(&self, table: &TableMeta, item: &Item) -> Item {
        let mut out = Item::new();
        let names = std::iter::once(&table.hash_key)
            .chain(table.range_key.as_ref())
            .chain(self.key_attrs());
        for attr in names {
            if let Some(v) = item.get(&attr.name) {
                out.insert(attr.name.clone(), v.clone());
            }
        }
        out
    }

    pub fn key_schema_json(&self) -> Json {
        let mut ks = vec![json!({"AttributeName": self.hash_key.name, "KeyType": "HASH"})];
        if let Some(r) = &self.range_key {
            ks.push(json!({"AttributeName": r.name, "KeyType": "RANGE"}));
        }
        Json::Array(ks)
    }

    pub fn projection_json(&self) -> Json {
        let mut p = Map::new();
        p.insert("ProjectionType".into(), json!(self.projection));
        if !self.non_key_attributes.is_empty() {
            p.insert("NonKeyAttributes".into(), json!(self.non_key_attributes));
        }
        Json::Object(p)
    }
}

impl Index {
    /// The index's entry in DescribeTable.
    pub fn describe(&self, table_arn: &str, billing_provisioned: bool) -> Json {
        let m = &self.meta;
        let mut d = Map::new();
        d.insert("IndexName".into(), json!(m.name));
        d.insert("KeySchema".into(), m.key_schema_json());
        d.insert("Projection".into(), m.projection_json());
        d.insert(
            "IndexSizeBytes".into(),
            json!(self.stats.size_bytes.load(Ordering::Relaxed).max(0)),
        );
        d.insert(
            "ItemCount".into(),
            json!(self.stats.item_count.load(Ordering::Relaxed).max(0)),
        );
        d.insert(
            "IndexArn".into(),
            json!(format!("{table_arn}/index/{}", m.name)),
        );
        if m.global {
            d.insert("IndexStatus".into(), json!(m.status));
            if m.status == "CREATING" {
                d.insert("Backfilling".into(), json!(true));
            }
            d.insert(
                "ProvisionedThroughput".into(),
                json!({
                    "NumberOfDecreasesToday": 0,
                    "ReadCapacityUnits": if billing_provisioned { m.read_capacity } else { 0 },
                    "WriteCapacityUnits": if billing_provisioned { m.write_capacity } else { 0 },
                }),
            );
        }
        Json::Object(d)
    }
}
