//! TransactWriteItems and TransactGetItems.
//!
//! Isolation: a transaction takes the stripe locks of all its items (in stripe order, so two
//! transactions cannot deadlock), reads them, evaluates every condition, and commits all its
//! changes in one fjall batch before releasing the locks. Single-item writes take the same
//! locks, so writes are serializable; readers see a batch entirely or not at all (fjall
//! applies a batch atomically), so no read observes half a transaction.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde_json::{json, Map, Value as Json};

use super::{wants_capacity, write_units, ExprParams, Outcome, MAX_ITEM_SIZE};
use crate::catalog::Table;
use crate::error::{EngineError, Result};
use crate::expr::{Condition, ExprInput, ExprKind, Projection, Update};
use crate::request::{Request, Violations};
use crate::store::{Engine, Mutation};
use crate::value::{item_size, item_to_json, Item};

const MAX_ACTIONS: usize = 100;
/// The aggregate size of the items a TransactGetItems reads may not exceed 4 MB.
const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
/// How long a ClientRequestToken makes a retried TransactWriteItems idempotent.
pub const TOKEN_TTL: Duration = Duration::from_secs(600);

enum Kind {
    Check,
    Put(Item),
    Delete,
    Update(Update),
}

struct Action {
    table: std::sync::Arc<Table>,
    key: Vec<u8>,
    key_item: Item,
    kind: Kind,
    condition: Option<Condition>,
    return_old: bool,
}

fn transact_items(req: &Request) -> Result<&Vec<Json>> {
    let items = req.array("TransactItems")?;
    let mut v = Violations::new();
    v.not_null(&items, "transactItems");
    if let Some(list) = items {
        if list.is_empty() || list.len() > MAX_ACTIONS {
            v.add(
                Some(&Json::Array(list.clone()).to_string()),
                "transactItems",
                if list.is_empty() {
                    "Member must have length greater than or equal to 1"
                } else {
                    "Member must have length less than or equal to 100"
                },
            );
        }
    }
    v.finish()?;
    items.ok_or_else(|| EngineError::validation("TransactItems is required"))
}

fn one_of(entry: &Json, allowed: &[&'static str]) -> Result<(&'static str, Request)> {
    let obj = entry.as_object().ok_or_else(|| {
        EngineError::serialization("Unexpected value type in payload for TransactItem")
    })?;
    let present: Vec<&'static str> = allowed
        .iter()
        .copied()
        .filter(|k| obj.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    if present.len() != 1 {
        return Err(EngineError::validation(if allowed.len() == 1 {
            "TransactItems can only contain one of Get".to_owned()
        } else {
            "TransactItems can only contain one of Check, Put, Update or Delete".to_owned()
        }));
    }
    let kind = present[0];
    let body = obj
        .get(kind)
        .and_then(Json::as_object)
        .cloned()
        .ok_or_else(|| EngineError::serialization(format!("Unexpected value type for {kind}")))?;
    Ok((kind, Request::from_map(body)))
}

fn parse_action(engine: &Engine, kind: &str, req: &Request) -> Result<Action> {
    let name = super::table_name_and(
        req,
        match kind {
            "Put" => &[("Item", "item")],
            _ => &[("Key", "key")],
        },
    )?;
    let exprs: &[&str] = match kind {
        "Update" => &["UpdateExpression", "ConditionExpression"],
        _ => &["ConditionExpression"],
    };
    let params = ExprParams::read(req, exprs, &[])?;
    let input = ExprInput::new(params.names.as_ref(), params.values.as_ref());
    let condition = req
        .str("ConditionExpression")?
        .map(|c| Condition::parse(c, ExprKind::Condition, &input))
        .transpose()?;
    if kind == "ConditionCheck" && condition.is_none() {
        return Err(EngineError::validation(
            "1 validation error detected: Value null at 'transactItems.1.member.conditionCheck.conditionExpression' failed to satisfy constraint: Member must not be null",
        ));
    }
    let update = match kind {
        "Update" => Some(Update::parse(
            req.str("UpdateExpression")?.ok_or_else(|| {
                EngineError::validation(
                    "1 validation error detected: Value null at 'transactItems.1.member.update.updateExpression' failed to satisfy constraint: Member must not be null",
                )
            })?,
            &input,
        )?),
        _ => None,
    };
    input.check_all_used()?;
    let return_old = super::return_old_on_failure(req)?;
    let table = engine.require_table(&name)?;
    let (key, key_item, kind) = match kind {
        "Put" => {
            let item = req.item("Item")?.unwrap_or_default();
            if item_size(&item) > MAX_ITEM_SIZE {
                return Err(EngineError::validation(
                    "Item size has exceeded the maximum allowed size",
                ));
            }
            let key = table.key_of_item(&item)?;
            (key, table.key_attributes(&item), Kind::Put(item))
        }
        other => {
            let key_item = req.item("Key")?.unwrap_or_default();
            let key = table.key_of_key(&key_item)?;
            let kind = match (other, update) {
                ("Update", Some(u)) => {
                    for attr in u.top_level_names() {
                        if table.is_key_attribute(&attr) {
                            return Err(EngineError::validation(format!(
                                "One or more parameter values were invalid: Cannot update attribute {attr}. This attribute is part of the key"
                            )));
                        }
                    }
                    Kind::Update(u)
                }
                ("Delete", _) => Kind::Delete,
                _ => Kind::Check,
            };
            (key, key_item, kind)
        }
    };
    Ok(Action {
        table,
        key,
        key_item,
        kind,
        condition,
        return_old,
    })
}

fn check_distinct<'a>(keys: impl Iterator<Item = (u64, &'a [u8])>) -> Result<()> {
    let mut seen = HashSet::new();
    for k in keys {
        if !seen.insert(k) {
            return Err(EngineError::validation(
                "Transaction request cannot include multiple operations on one item",
            ));
        }
    }
    Ok(())
}

fn request_hash(items: &[Json]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    Json::Array(items.to_vec()).to_string().hash(&mut h);
    h.finish()
}

pub fn transact_write_items(engine: &Engine, req: &Request) -> Result<Outcome> {
    let items = transact_items(req)?;
    let capacity = wants_capacity(req)?;
    let token = req.str("ClientRequestToken")?;
    let mut v = Violations::new();
    if let Some(t) = token {
        if t.is_empty() || t.len() > 36 {
            v.add(
                Some(t),
                "clientRequestToken",
                "Member must have length less than or equal to 36",
            );
        }
    }
    v.finish()?;
    let mut actions = Vec::with_capacity(items.len());
    for entry in items {
        let (kind, sub) = one_of(entry, &["ConditionCheck", "Put", "Delete", "Update"])?;
        actions.push(parse_action(engine, kind, &sub)?);
    }
    check_distinct(actions.iter().map(|a| (a.table.meta.id, a.key.as_slice())))?;

    let hash = request_hash(items);
    if let Some(t) = token {
        match engine.transaction_token(t, hash, TOKEN_TTL) {
            Some(true) => return Ok(tx_response(&actions, capacity, None)),
            Some(false) => {
                return Err(EngineError::IdempotentParameterMismatch(
                    "Request parameters do not match the parameters of a previous request with the same ClientRequestToken"
                        .into(),
                ))
            }
            None => {}
        }
    }

    let guards = engine.lock_items(actions.iter().map(|a| (a.table.as_ref(), a.key.as_slice())));
    let mut reasons = Vec::with_capacity(actions.len());
    let mut failed = false;
    let mut mutations = Vec::new();
    for a in &actions {
        let old = engine.get_item(&a.table, &a.key)?;
        let empty = Item::new();
        if let Some(c) = &a.condition {
            if !c.eval(old.as_ref().unwrap_or(&empty))? {
                failed = true;
                let mut r = json!({"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"});
                if let (true, Some(o)) = (a.return_old, &old) {
                    r["Item"] = item_to_json(o);
                }
                reasons.push(r);
                continue;
            }
        }
        let new = match &a.kind {
            Kind::Check => {
                reasons.push(json!({"Code": "None"}));
                continue;
            }
            Kind::Put(item) => Some(item.clone()),
            Kind::Delete => None,
            Kind::Update(u) => {
                // As UpdateItem: a REMOVE/DELETE-only update does not create a missing item
                // (`None` then: the commit drops the no-op).
                match u
                    .apply_to(old.as_ref(), &a.key_item)
                    .map(|applied| applied.item)
                {
                    Ok(new) if new.as_ref().map_or(0, item_size) <= MAX_ITEM_SIZE => new,
                    Ok(_) => {
                        failed = true;
                        reasons.push(json!({"Code": "ValidationError", "Message": "Item size to update has exceeded the maximum allowed size"}));
                        continue;
                    }
                    Err(e) => {
                        failed = true;
                        reasons.push(json!({"Code": "ValidationError", "Message": e.to_string()}));
                        continue;
                    }
                }
            }
        };
        reasons.push(json!({"Code": "None"}));
        mutations.push(Mutation {
            table: &a.table,
            key: a.key.clone(),
            old,
            new,
            user_identity: None,
            remote: None,
        });
    }
    if failed {
        drop(guards);
        let codes: Vec<&str> = reasons
            .iter()
            .map(|r| r["Code"].as_str().unwrap_or("None"))
            .collect();
        return Err(EngineError::TransactionCanceled {
            message: format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
            reasons,
        });
    }
    let ticket = engine.commit(&mutations)?;
    drop(guards);
    if let Some(t) = token {
        engine.remember_transaction_token(t, hash);
    }
    Ok(tx_response(&actions, capacity, ticket))
}

fn tx_response(
    actions: &[Action],
    capacity: bool,
    ticket: Option<crate::durability::Ticket>,
) -> Outcome {
    let mut out = Map::new();
    if capacity {
        let mut per_table: Vec<(String, f64)> = Vec::new();
        for a in actions {
            let size = match &a.kind {
                Kind::Put(item) => item_size(item),
                _ => 0,
            };
            // Transactional writes cost twice a normal write.
            let units = 2.0 * write_units(size);
            match per_table.iter_mut().find(|(n, _)| *n == a.table.meta.name) {
                Some((_, u)) => *u += units,
                None => per_table.push((a.table.meta.name.clone(), units)),
            }
        }
        out.insert(
            "ConsumedCapacity".into(),
            Json::Array(
                per_table
                    .into_iter()
                    .map(|(t, u)| json!({"TableName": t, "CapacityUnits": u, "WriteCapacityUnits": u}))
                    .collect(),
            ),
        );
    }
    Outcome {
        body: Json::Object(out).into(),
        ticket,
    }
}

pub fn transact_get_items(engine: &Engine, req: &Request) -> Result<Outcome> {
    let items = transact_items(req)?;
    let capacity = wants_capacity(req)?;
    let mut gets = Vec::with_capacity(items.len());
    for entry in items {
        let (_, sub) = one_of(entry, &["Get"])?;
        let name = super::table_name_and(&sub, &[("Key", "key")])?;
        let params = ExprParams::read(&sub, &["ProjectionExpression"], &[])?;
        let input = ExprInput::new(params.names.as_ref(), params.values.as_ref());
        let projection = sub
            .str("ProjectionExpression")?
            .map(|p| Projection::parse(p, &input))
            .transpose()?;
        input.check_all_used()?;
        let table = engine.require_table(&name)?;
        let key_item = sub.item("Key")?.unwrap_or_default();
        let key = table.key_of_key(&key_item)?;
        gets.push((table, key, projection));
    }
    check_distinct(gets.iter().map(|(t, k, _)| (t.meta.id, k.as_slice())))?;
    let guards = engine.lock_items(gets.iter().map(|(t, k, _)| (t.as_ref(), k.as_slice())));
    let mut responses = Vec::with_capacity(gets.len());
    let mut units: Vec<(String, f64)> = Vec::new();
    let mut total = 0usize;
    for (table, key, projection) in &gets {
        let stored = engine.get_stored(table, key)?;
        let size = stored.as_ref().map(|s| s.size()).unwrap_or(0);
        // Checked before the item is decoded, so an oversized answer is never built.
        total = total.saturating_add(size);
        if total > MAX_TRANSACTION_BYTES {
            return Err(EngineError::validation(
                "The aggregate size of the items in the transaction exceeded 4 MB",
            ));
        }
        let item = stored.map(|s| s.decode()).transpose()?;
        let u = 2.0 * super::read_units(size, true);
        match units.iter_mut().find(|(n, _)| *n == table.meta.name) {
            Some((_, x)) => *x += u,
            None => units.push((table.meta.name.clone(), u)),
        }
        responses.push(match item {
            Some(i) => {
                let i = match projection {
                    Some(p) => p.apply(&i),
                    None => i,
                };
                json!({"Item": item_to_json(&i)})
            }
            None => json!({}),
        });
    }
    drop(guards);
    let mut out = Map::new();
    out.insert("Responses".into(), Json::Array(responses));
    if capacity {
        out.insert(
            "ConsumedCapacity".into(),
            Json::Array(
                units
                    .into_iter()
                    .map(|(t, u)| json!({"TableName": t, "CapacityUnits": u, "ReadCapacityUnits": u}))
                    .collect(),
            ),
        );
    }
    Ok(Outcome::read(Json::Object(out)))
}
