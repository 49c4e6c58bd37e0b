//! BatchGetItem and BatchWriteItem. Each element runs through the single-item operation it
//! stands for (GetItem, PutItem, DeleteItem) after the whole request was validated, so batch
//! and single-item calls share every rule and every error.

use std::collections::HashSet;

use serde_json::{json, Map, Value as Json};

use super::{items, wants_capacity, Outcome, MAX_ITEM_SIZE};
use crate::error::{EngineError, Result};
use crate::request::{Request, Violations};
use crate::store::Engine;
use crate::value::{item_from_json, item_size};

/// BatchGetItem keys per call.
const MAX_GET_KEYS: usize = 100;
/// BatchWriteItem requests per call.
const MAX_WRITES: usize = 25;
/// BatchGetItem returns at most this much item data; the keys whose items do not fit are
/// UnprocessedKeys.
const MAX_GET_BYTES: usize = 16 * 1024 * 1024;

fn request_items(req: &Request, max_per_table: usize) -> Result<&Map<String, Json>> {
    let items = req.object("RequestItems")?;
    let mut v = Violations::new();
    v.not_null(&items, "requestItems");
    if let Some(items) = items {
        if items.is_empty() {
            v.add(
                Some("{}"),
                "requestItems",
                "Member must have length greater than or equal to 1",
            );
        }
        // Keys are table names or table ARNs (`Engine::table` resolves both).
        for name in items.keys() {
            v.table_ref(Some(name), "requestItems");
        }
        if max_per_table > 0 {
            for list in items.values().filter_map(Json::as_array) {
                if list.is_empty() || list.len() > max_per_table {
                    v.add(
                        Some(&Json::Array(list.clone()).to_string()),
                        "requestItems",
                        &format!(
                            "Map value must satisfy constraint: [Member must have length less than or equal to {max_per_table}, Member must have length greater than or equal to 1]"
                        ),
                    );
                }
            }
        }
    }
    v.finish()?;
    items.ok_or_else(|| EngineError::validation("RequestItems is required"))
}

fn capacity_field(req: &Request) -> Option<Json> {
    req.raw("ReturnConsumedCapacity").cloned()
}

pub fn batch_get_item(engine: &Engine, req: &Request) -> Result<Outcome> {
    let tables = request_items(req, 0)?;
    let capacity = wants_capacity(req)?;
    // Validate everything first: counts, duplicates, tables, key schemas.
    let mut total = 0;
    let mut plan = Vec::new();
    // One table may be named twice (by name and by ARN): duplicates are per table.
    let mut seen = HashSet::new();
    for (name, block) in tables {
        let block = block.as_object().ok_or_else(|| {
            EngineError::serialization("Unexpected value type in payload for KeysAndAttributes")
        })?;
        let keys = block.get("Keys").and_then(Json::as_array).ok_or_else(|| {
            EngineError::validation(format!(
                "1 validation error detected: Value null at 'requestItems.{name}.member.keys' failed to satisfy constraint: Member must not be null"
            ))
        })?;
        if keys.is_empty() || keys.len() > MAX_GET_KEYS {
            return Err(EngineError::validation(format!(
                "1 validation error detected: Value '{}' at 'requestItems.{name}.member.keys' failed to satisfy constraint: Member must have length less than or equal to 100, Member must have length greater than or equal to 1",
                Json::Array(keys.clone())
            )));
        }
        let table = engine.require_table(name)?;
        for k in keys {
            total += 1;
            if total > MAX_GET_KEYS {
                return Err(EngineError::validation(
                    "Too many items requested for the BatchGetItem call",
                ));
            }
            let key = table.key_of_key(&item_from_json(k)?)?;
            if !seen.insert((table.meta.id, key)) {
                return Err(EngineError::validation(
                    "Provided list of item keys contains duplicates",
                ));
            }
        }
        plan.push((name, block, keys));
    }

    let mut responses = Map::new();
    let mut unprocessed = Map::new();
    let mut consumed: Vec<Json> = Vec::new();
    let mut bytes = 0usize;
    // Set once an item did not fit: every key from there on is left for the next call.
    let mut full = false;
    for (name, block, keys) in plan {
        let mut found = Vec::new();
        let mut left = Vec::new();
        let mut units = 0.0;
        for k in keys {
            if full {
                left.push(k.clone());
                continue;
            }
            let mut get = block.clone();
            get.remove("Keys");
            get.insert("TableName".into(), json!(name));
            get.insert("Key".into(), k.clone());
            if let Some(c) = capacity_field(req) {
                get.insert("ReturnConsumedCapacity".into(), c);
            }
            let out = items::get_item(engine, &Request::from_map(get))?;
            let body: Json = serde_json::from_slice(&out.body.into_bytes())?;
            units += body["ConsumedCapacity"]["CapacityUnits"]
                .as_f64()
                .unwrap_or(0.0);
            if let Some(item) = body.get("Item") {
                let size = item_size(&item_from_json(item)?);
                if bytes.saturating_add(size) > MAX_GET_BYTES {
                    full = true;
                    left.push(k.clone());
                    continue;
                }
                bytes += size;
                found.push(item.clone());
            }
        }
        responses.insert(name.clone(), Json::Array(found));
        if !left.is_empty() {
            let mut rest = block.clone();
            rest.insert("Keys".into(), Json::Array(left));
            unprocessed.insert(name.clone(), Json::Object(rest));
        }
        if capacity {
            consumed.push(json!({"TableName": name, "CapacityUnits": units}));
        }
    }
    let mut out = Map::new();
    out.insert("Responses".into(), Json::Object(responses));
    out.insert("UnprocessedKeys".into(), Json::Object(unprocessed));
    if capacity {
        out.insert("ConsumedCapacity".into(), Json::Array(consumed));
    }
    Ok(Outcome::read(Json::Object(out)))
}

pub fn batch_write_item(engine: &Engine, req: &Request) -> Result<Outcome> {
    let tables = request_items(req, MAX_WRITES)?;
    let capacity = wants_capacity(req)?;
    let metrics = req.str("ReturnItemCollectionMetrics")?;
    let mut v = Violations::new();
    v.one_of(metrics, "returnItemCollectionMetrics", &["SIZE", "NONE"]);
    v.finish()?;
    // Validate everything first, so that a bad element writes nothing.
    let mut total = 0;
    let mut plan = Vec::new();
    for (name, list) in tables {
        let list = list.as_array().ok_or_else(|| {
            EngineError::serialization("Unexpected value type in payload for WriteRequest list")
        })?;
        let mut checked = Vec::new();
        for w in list {
            let w = w.as_object().ok_or_else(|| {
                EngineError::serialization("Unexpected value type in payload for WriteRequest")
            })?;
            let put = w.get("PutRequest").filter(|p| !p.is_null());
            let del = w.get("DeleteRequest").filter(|p| !p.is_null());
            let (op, field, body) = match (put, del) {
                (Some(p), None) => ("PutItem", "Item", p),
                (None, Some(d)) => ("DeleteItem", "Key", d),
                _ => {
                    return Err(EngineError::validation(
                        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                    ))
                }
            };
            let value = body.get(field).filter(|v| !v.is_null()).ok_or_else(|| {
                EngineError::validation(format!(
                    "1 validation error detected: Value null at 'requestItems.{name}.member.{}.{}' failed to satisfy constraint: Member must not be null",
                    if op == "PutItem" { "putRequest" } else { "deleteRequest" },
                    field.to_lowercase()
                ))
            })?;
            let item = item_from_json(value)?;
            if op == "PutItem" && item_size(&item) > MAX_ITEM_SIZE {
                return Err(EngineError::validation(
                    "Item size has exceeded the maximum allowed size",
                ));
            }
            checked.push((op, field, value.clone(), item));
        }
        total += checked.len();
        if total > MAX_WRITES {
            return Err(EngineError::validation(
                "Too many items requested for the BatchWriteItem call",
            ));
        }
        plan.push((name, checked));
    }
    let mut seen = HashSet::new();
    for (name, checked) in &plan {
        let table = engine.require_table(name)?;
        for (op, _, _, item) in checked {
            let key = if *op == "PutItem" {
                let key = table.key_of_item(item)?;
                // Index keys too, so that an item no index can take fails the whole batch
                // before anything is written.
                for index in &table.indexes {
                    index.meta.check_item(item)?;
                }
                key
            } else {
                table.key_of_key(item)?
            };
            if !seen.insert((table.meta.id, key)) {
                return Err(EngineError::validation(
                    "Provided list of item keys contains duplicates",
                ));
            }
        }
    }

    let mut ticket = None;
    let mut consumed = Vec::new();
    for (name, checked) in plan {
        let mut units = 0.0;
        for (op, field, value, _) in checked {
            let mut single = Map::new();
            single.insert("TableName".into(), json!(name));
            single.insert(field.into(), value);
            if capacity {
                single.insert("ReturnConsumedCapacity".into(), json!("TOTAL"));
            }
            let single = Request::from_map(single);
            let out = if op == "PutItem" {
                items::put_item(engine, &single)?
            } else {
                items::delete_item(engine, &single)?
            };
            ticket = ticket.max(out.ticket);
            if capacity {
                let body: Json = serde_json::from_slice(&out.body.into_bytes())?;
                units += body["ConsumedCapacity"]["CapacityUnits"]
                    .as_f64()
                    .unwrap_or(0.0);
            }
        }
        if capacity {
            consumed.push(json!({"TableName": name, "CapacityUnits": units}));
        }
    }
    let mut out = Map::new();
    out.insert("UnprocessedItems".into(), json!({}));
    if capacity {
        out.insert("ConsumedCapacity".into(), Json::Array(consumed));
    }
    Ok(Outcome {
        body: Json::Object(out).into(),
        ticket,
    })
}
