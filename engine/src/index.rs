//! Secondary indexes (global and local): their metadata, entry keys, projections and the
//! checks DynamoDB makes on index key attributes.
//!
//! Each index has its own keyspace `x<id>`. An entry's key is the item's index key encoded
//! like a table key (`hash ‖ enc(index pk) ‖ enc(index sk)`; with a multi-attribute key, the
//! attributes' encodings in key-schema order, see `keys`) followed by the item's table storage
//! key, which makes entries unique; its value is the projected item in the table's stored form
//! (`u32 size ‖ JSON`). Items without every index key attribute have no entry (sparse
//! indexes). Entries are written in the same batch as the item (see `Engine::commit`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use crate::error::{EngineError, Result};
use crate::key_schema::{check_key_value, KeyAttr, PrimaryKey};
use crate::keys;
use crate::schema::{IndexStatus, KeyType, ProjectionType, ScalarType};
use crate::stats::TableStats;
use crate::value::{AttributeValue, Item};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "StoredIndexMeta", into = "StoredIndexMeta")]
pub struct IndexMeta {
    pub name: String,
    /// Names the index keyspace (`x<id>`); from the same counter as table ids.
    pub id: u64,
    pub global: bool,
    /// The partition key attributes in key-schema order: one, or up to four for a GSI with a
    /// multi-attribute key.
    pub hash_keys: Vec<KeyAttr>,
    /// The sort key attributes in key-schema order: none, one, or up to four (GSI).
    pub range_keys: Vec<KeyAttr>,
    pub projection: ProjectionType,
    pub non_key_attributes: Vec<String>,
    pub read_capacity: u64,
    pub write_capacity: u64,
    /// CREATING while being backfilled, then ACTIVE.
    pub status: IndexStatus,
}

/// How an index is stored in the catalog's table JSON. The first partition and sort attributes
/// keep the fields data directories written before multi-attribute keys have
/// (`hash_key`, `range_key`); further attributes are in fields that default to empty.
#[derive(Clone, Serialize, Deserialize)]
struct StoredIndexMeta {
    name: String,
    id: u64,
    global: bool,
    hash_key: KeyAttr,
    range_key: Option<KeyAttr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    more_hash_keys: Vec<KeyAttr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    more_range_keys: Vec<KeyAttr>,
    projection: ProjectionType,
    non_key_attributes: Vec<String>,
    read_capacity: u64,
    write_capacity: u64,
    status: IndexStatus,
}

impl From<IndexMeta> for StoredIndexMeta {
    fn from(m: IndexMeta) -> Self {
        let mut hash = m.hash_keys.into_iter();
        let mut range = m.range_keys.into_iter();
        StoredIndexMeta {
            name: m.name,
            id: m.id,
            global: m.global,
            // An IndexMeta always has a partition key (see `TryFrom` and `ops::indexes`).
            hash_key: hash.next().unwrap_or(KeyAttr {
                name: String::new(),
                ty: ScalarType::S,
            }),
            range_key: range.next(),
            more_hash_keys: hash.collect(),
            more_range_keys: range.collect(),
            projection: m.projection,
            non_key_attributes: m.non_key_attributes,
            read_capacity: m.read_capacity,
            write_capacity: m.write_capacity,
            status: m.status,
        }
    }
}

// A String error on purpose: serde's `try_from` reports it as the catalog's deserialization
// error (`serde::de::Error::custom`), the only place it goes.
impl TryFrom<StoredIndexMeta> for IndexMeta {
    type Error = String;

    fn try_from(s: StoredIndexMeta) -> std::result::Result<Self, String> {
        if s.hash_key.name.is_empty() {
            return Err(format!("index {} has no partition key", s.name));
        }
        Ok(IndexMeta {
            name: s.name,
            id: s.id,
            global: s.global,
            hash_keys: std::iter::once(s.hash_key)
                .chain(s.more_hash_keys)
                .collect(),
            range_keys: s.range_key.into_iter().chain(s.more_range_keys).collect(),
            projection: s.projection,
            non_key_attributes: s.non_key_attributes,
            read_capacity: s.read_capacity,
            write_capacity: s.write_capacity,
            status: s.status,
        })
    }
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

/// Why an item's index key attribute cannot be indexed, if it cannot (checked on every write,
/// and by the backfill, which leaves such items out of the index as DynamoDB does).
fn key_value_problem(
    index: &str,
    attr: &KeyAttr,
    v: &AttributeValue,
    is_hash: bool,
) -> Option<EngineError> {
    if v.type_name() != attr.ty.as_str() {
        return Some(EngineError::validation(format!(
            "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
            attr.name,
            attr.ty,
            v.type_name(),
            index
        )));
    }
    let len = match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.len(),
        _ => return None,
    };
    if len == 0 {
        return Some(EngineError::validation(format!(
            "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {} value. IndexName: {}, IndexKey: {}",
            if attr.ty == ScalarType::S { "string" } else { "binary" },
            index,
            attr.name
        )));
    }
    // The table's messages: DynamoDB holds index keys to the same limits.
    check_key_value(v, &attr.name, is_hash).err()
}

impl IndexMeta {
    /// Every key attribute of the index: partition attributes, then sort attributes.
    pub fn key_attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        self.hash_keys.iter().chain(&self.range_keys)
    }

    /// Key attributes with whether each belongs to the partition key.
    fn key_attrs_typed(&self) -> impl Iterator<Item = (&KeyAttr, bool)> {
        self.hash_keys
            .iter()
            .map(|k| (k, true))
            .chain(self.range_keys.iter().map(|k| (k, false)))
    }

    /// Whether the partition or the sort key has more than one attribute.
    pub fn is_multi_attribute(&self) -> bool {
        self.hash_keys.len() > 1 || self.range_keys.len() > 1
    }

    /// Whether the index holds every attribute of its items.
    pub fn projects_all(&self) -> bool {
        self.projection == ProjectionType::All
    }

    /// Checks an item's index key attributes as DynamoDB does on every write: type, empty
    /// string/binary, size. Attributes the item lacks are fine (it is then not indexed).
    pub fn check_item(&self, item: &Item) -> Result<()> {
        for (attr, is_hash) in self.key_attrs_typed() {
            if let Some(v) = item.get(&attr.name) {
                if let Some(e) = key_value_problem(&self.name, attr, v, is_hash) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The item's entry key (`index key ‖ table key`), or `None` when the item is not in the
    /// index: it lacks one of the key attributes, or one of them could not be indexed (wrong
    /// type, empty, too long: writes refuse such items, but an item written before the index
    /// existed may have them). So no key built from an item can exceed fjall's limit.
    pub fn entry_key(&self, table_key: &[u8], item: &Item) -> Option<Vec<u8>> {
        for (attr, is_hash) in self.key_attrs_typed() {
            let v = item.get(&attr.name)?;
            if key_value_problem(&self.name, attr, v, is_hash).is_some() {
                return None;
            }
        }
        let value = |k: &KeyAttr| item.get(&k.name);
        let pks: Vec<&AttributeValue> = self.hash_keys.iter().filter_map(value).collect();
        let sks: Vec<&AttributeValue> = self.range_keys.iter().filter_map(value).collect();
        let mut k = keys::composite_key(pks, sks);
        k.extend_from_slice(table_key);
        Some(k)
    }

    /// The attributes of an item the index holds.
    pub fn project(&self, table: PrimaryKey<'_>, item: &Item) -> Item {
        if self.projects_all() {
            return item.clone();
        }
        item.iter()
            .filter(|(name, _)| {
                *name == &table.hash.name
                    || table.range.is_some_and(|r| &r.name == *name)
                    || self.key_attrs().any(|k| &k.name == *name)
                    || self.non_key_attributes.contains(name)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Key attributes of an index entry: the table's and the index's (LastEvaluatedKey).
    pub fn entry_key_attributes(&self, table: PrimaryKey<'_>, item: &Item) -> Item {
        let mut out = Item::new();
        let names = std::iter::once(table.hash)
            .chain(table.range)
            .chain(self.key_attrs());
        for attr in names {
            if let Some(v) = item.get(&attr.name) {
                out.insert(attr.name.clone(), v.clone());
            }
        }
        out
    }

    /// KeySchema as DescribeTable shows it: the partition attributes (HASH) in order, then the
    /// sort attributes (RANGE) in order.
    pub fn key_schema_json(&self) -> Json {
        Json::Array(
            self.key_attrs_typed()
                .map(|(k, is_hash)| {
                    json!({"AttributeName": k.name, "KeyType": if is_hash { KeyType::Hash } else { KeyType::Range }})
                })
                .collect(),
        )
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
            if m.status == IndexStatus::Creating {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::value::item_from_json;

    fn attr(name: &str, ty: &str) -> KeyAttr {
        KeyAttr {
            name: name.into(),
            ty: ScalarType::parse(ty).expect("a scalar type"),
        }
    }

    #[test]
    fn index_metadata_written_before_multi_attribute_keys_still_loads() {
        let old = json!({
            "name": "by_state", "id": 7, "global": true,
            "hash_key": {"name": "state", "ty": "S"},
            "range_key": {"name": "amount", "ty": "N"},
            "projection": "ALL", "non_key_attributes": [],
            "read_capacity": 0, "write_capacity": 0, "status": "ACTIVE"
        });
        let m: IndexMeta = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(m.hash_keys, vec![attr("state", "S")]);
        assert_eq!(m.range_keys, vec![attr("amount", "N")]);
        // Written back in the same shape, so older binaries can read single-attribute indexes.
        assert_eq!(serde_json::to_value(&m).unwrap(), old);

        let multi = IndexMeta {
            hash_keys: vec![attr("a", "S"), attr("b", "N")],
            range_keys: vec![attr("c", "B"), attr("d", "S"), attr("e", "N")],
            ..m
        };
        let back: IndexMeta =
            serde_json::from_value(serde_json::to_value(&multi).unwrap()).unwrap();
        assert_eq!(back, multi);
    }

    #[test]
    fn entry_keys_need_every_valid_key_attribute() {
        let m = IndexMeta {
            name: "gsi".into(),
            id: 1,
            global: true,
            hash_keys: vec![attr("a", "S"), attr("b", "N")],
            range_keys: vec![attr("c", "S")],
            projection: ProjectionType::All,
            non_key_attributes: vec![],
            read_capacity: 0,
            write_capacity: 0,
            status: IndexStatus::Active,
        };
        let item = |j| item_from_json(&j).unwrap();
        let full = item(json!({"a": {"S": "x"}, "b": {"N": "1"}, "c": {"S": "y"}}));
        assert!(m.entry_key(b"t", &full).is_some());
        assert!(m.check_item(&full).is_ok());
        // Sparse: missing any one attribute.
        let partial = item(json!({"a": {"S": "x"}, "c": {"S": "y"}}));
        assert!(m.entry_key(b"t", &partial).is_none());
        assert!(m.check_item(&partial).is_ok());
        // Wrong type, empty, too long: refused on writes, never indexed.
        let long = "x".repeat(70_000);
        for bad in [
            json!({"a": {"N": "1"}, "b": {"N": "1"}, "c": {"S": "y"}}),
            json!({"a": {"S": ""}, "b": {"N": "1"}, "c": {"S": "y"}}),
            json!({"a": {"S": long}, "b": {"N": "1"}, "c": {"S": "y"}}),
            json!({"a": {"S": "x"}, "b": {"N": "1"}, "c": {"S": "y".repeat(1025)}}),
        ] {
            let bad = item(bad);
            assert!(m.entry_key(b"t", &bad).is_none());
            assert!(m.check_item(&bad).is_err());
        }
    }
}
