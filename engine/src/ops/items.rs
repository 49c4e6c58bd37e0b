//! Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.

use serde_json::{Map, Value as Json};

use super::{
    condition_failed, consumed, put_attributes, read_units, return_old_on_failure, return_values,
    table_name_and, wants_capacity, write_units, ExprParams, Outcome, MAX_ITEM_SIZE,
};
use crate::catalog::Table;
use crate::durability::Ticket;
use crate::error::{EngineError, Result};
use crate::expr::{Condition, ExprInput, ExprKind, Projection, Update};
use crate::request::Request;
use crate::store::{Engine, Mutation};
use crate::value::{item_size, item_to_json, Item};

fn parse_condition(req: &Request, input: &ExprInput) -> Result<Option<Condition>> {
    req.str("ConditionExpression")?
        .map(|c| Condition::parse(c, ExprKind::Condition, input))
        .transpose()
}

/// What a conditional write leaves for the response: the item before and after, what the
/// new item's computation returned, and the durability ticket to wait for.
struct Written<T> {
    old: Option<Item>,
    new: Option<Item>,
    extra: T,
    ticket: Option<Ticket>,
}

/// The one write sequence of PutItem, UpdateItem and DeleteItem: lock the item, read it, check
/// the condition against it (a missing item is an empty one), compute the new item from the old
/// (`None` deletes) and commit. A write that changes nothing (a delete of a missing item, an
/// update that creates nothing) commits nothing but still waits for the durability of the state
/// it observed.
fn conditional_write<T>(
    engine: &Engine,
    table: &Table,
    key: Vec<u8>,
    cond: Option<&Condition>,
    return_old: bool,
    compute: impl FnOnce(Option<&Item>) -> Result<(Option<Item>, T)>,
) -> Result<Written<T>> {
    let guard = engine.lock_item(table, &key);
    let old = engine.get_item(table, &key)?;
    if let Some(c) = cond {
        if !c.eval(old.as_ref().unwrap_or(&Item::new()))? {
            return Err(condition_failed(old.as_ref(), return_old));
        }
    }
    let (new, extra) = compute(old.as_ref())?;
    let mutation = [Mutation {
        table,
        key,
        old,
        new,
        user_identity: None,
        remote: None,
    }];
    let ticket = engine.commit(&mutation)?;
    drop(guard);
    // The items go back to the caller for ReturnValues, without copies.
    let [Mutation { old, new, .. }] = mutation;
    Ok(Written {
        old,
        new,
        extra,
        ticket,
    })
}

/// A write's response: the attributes ReturnValues asked for (`out`), with ConsumedCapacity
/// for `size` bytes when asked.
fn write_outcome(
    mut out: Map<String, Json>,
    table: &Table,
    capacity: bool,
    size: usize,
    ticket: Option<Ticket>,
) -> Outcome {
    if capacity {
        out.insert(
            "ConsumedCapacity".into(),
            consumed(table, write_units(size)),
        );
    }
    Outcome {
        body: Json::Object(out).into(),
        ticket,
    }
}

pub fn put_item(engine: &Engine, req: &Request) -> Result<Outcome> {
    let name = table_name_and(req, &[("Item", "item")])?;
    let item = req.item("Item")?.unwrap_or_default();
    let rv = return_values(
        req,
        &["NONE", "ALL_OLD"],
        "Return values set to invalid value",
    )?;
    let return_old = return_old_on_failure(req)?;
    let capacity = wants_capacity(req)?;
    let params = ExprParams::read(
        req,
        &["ConditionExpression"],
        &["Expected", "ConditionalOperator"],
    )?;
    if let Some(rewritten) = super::legacy::rewrite(req)? {
        return put_item(engine, &rewritten);
    }
    let input = ExprInput::new(params.names.as_ref(), params.values.as_ref());
    let cond = parse_condition(req, &input)?;
    input.check_all_used()?;

    let table = engine.require_table(&name)?;
    let key = table.key_of_item(&item)?;
    let size = item_size(&item);
    if size > MAX_ITEM_SIZE {
        return Err(EngineError::validation(
            "Item size has exceeded the maximum allowed size",
        ));
    }

    let w = conditional_write(engine, &table, key, cond.as_ref(), return_old, |_| {
        Ok((Some(item), ()))
    })?;
    let mut out = Map::new();
    if rv == "ALL_OLD" {
        put_attributes(&mut out, w.old.as_ref());
    }
    Ok(write_outcome(out, &table, capacity, size, w.ticket))
}

pub fn get_item(engine: &Engine, req: &Request) -> Result<Outcome> {
    let name = table_name_and(req, &[("Key", "key")])?;
    let key_item = req.item("Key")?.unwrap_or_default();
    let consistent = req.bool("ConsistentRead")?.unwrap_or(false);
    let capacity = wants_capacity(req)?;
    let params = ExprParams::read(req, &["ProjectionExpression"], &["AttributesToGet"])?;
    let input = ExprInput::new(params.names.as_ref(), params.values.as_ref());
    let projection = projection(req, &input)?;
    input.check_all_used()?;

    let table = engine.require_table(&name)?;
    let key = table.key_of_key(&key_item)?;
    let stored = engine.get_stored(&table, &key)?;
    // The response is written by hand so that a whole item's stored JSON is spliced in as is.
    let mut out = b"{".to_vec();
    if capacity {
        let size = stored.as_ref().map(|s| s.size()).unwrap_or(0);
        out.extend_from_slice(b"\"ConsumedCapacity\":");
        out.extend(serde_json::to_vec(&consumed(
            &table,
            read_units(size, consistent),
        ))?);
    }
    if let Some(stored) = stored {
        if capacity {
            out.push(b',');
        }
        out.extend_from_slice(b"\"Item\":");
        match &projection {
            Some(p) => out.extend(serde_json::to_vec(&item_to_json(
                &p.apply(&stored.decode()?),
            ))?),
            None => out.extend_from_slice(stored.json()),
        }
    }
    out.push(b'}');
    Ok(Outcome::raw(out))
}

/// ProjectionExpression or the legacy AttributesToGet.
pub fn projection(req: &Request, input: &ExprInput) -> Result<Option<Projection>> {
    if let Some(p) = req.str("ProjectionExpression")? {
        return Projection::parse(p, input).map(Some);
    }
    if let Some(list) = req.array("AttributesToGet")? {
        let mut names = Vec::with_capacity(list.len());
        let mut seen = std::collections::HashSet::with_capacity(list.len());
        for v in list {
            let s = v.as_str().ok_or_else(|| {
                EngineError::serialization(
                    "Unexpected value type in payload: AttributesToGet must be a list of strings",
                )
            })?;
            if !seen.insert(s) {
                return Err(EngineError::validation(format!(
                    "One or more parameter values were invalid: Duplicate value in attribute name: {s}"
                )));
            }
            names.push(s.to_owned());
        }
        if names.is_empty() {
            return Err(EngineError::validation(
                "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        return Ok(Some(Projection::from_attribute_names(&names)));
    }
    Ok(None)
}

pub fn delete_item(engine: &Engine, req: &Request) -> Result<Outcome> {
    let name = table_name_and(req, &[("Key", "key")])?;
    let key_item = req.item("Key")?.unwrap_or_default();
    let rv = return_values(
        req,
        &["NONE", "ALL_OLD"],
        "Return values set to invalid value",
    )?;
    let return_old = return_old_on_failure(req)?;
    let capacity = wants_capacity(req)?;
    let params = ExprParams::read(
        req,
        &["ConditionExpression"],
        &["Expected", "ConditionalOperator"],
    )?;
    if let Some(rewritten) = super::legacy::rewrite(req)? {
        return delete_item(engine, &rewritten);
    }
    let input = ExprInput::new(params.names.as_ref(), params.values.as_ref());
    let cond = parse_condition(req, &input)?;
    input.check_all_used()?;

    let table = engine.require_table(&name)?;
    let key = table.key_of_key(&key_item)?;
    let w = conditional_write(engine, &table, key, cond.as_ref(), return_old, |_| {
        Ok((None, ()))
    })?;
    let mut out = Map::new();
    if rv == "ALL_OLD" {
        put_attributes(&mut out, w.old.as_ref());
    }
    let size = w.old.as_ref().map(item_size).unwrap_or(0);
    Ok(write_outcome(out, &table, capacity, size, w.ticket))
}

pub fn update_item(engine: &Engine, req: &Request) -> Result<Outcome> {
    let name = table_name_and(req, &[("Key", "key")])?;
    let key_item = req.item("Key")?.unwrap_or_default();
    let rv = return_values(
        req,
        &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        "ReturnValues is invalid",
    )?;
    let return_old = return_old_on_failure(req)?;
    let capacity = wants_capacity(req)?;
    let params = ExprParams::read(
        req,
        &["UpdateExpression", "ConditionExpression"],
        &["AttributeUpdates", "Expected", "ConditionalOperator"],
    )?;
    if let Some(rewritten) = super::legacy::rewrite(req)? {
        return update_item(engine, &rewritten);
    }
    let input = ExprInput::new(params.names.as_ref(), params.values.as_ref());
    let update = req
        .str("UpdateExpression")?
        .map(|u| Update::parse(u, &input))
        .transpose()?;
    let cond = parse_condition(req, &input)?;
    input.check_all_used()?;

    let table = engine.require_table(&name)?;
    let key = table.key_of_key(&key_item)?;
    if let Some(u) = &update {
        for attr in u.top_level_names() {
            if table.is_key_attribute(&attr) {
                return Err(EngineError::validation(format!(
                    "One or more parameter values were invalid: Cannot update attribute {attr}. This attribute is part of the key"
                )));
            }
        }
    }

    let w = conditional_write(engine, &table, key, cond.as_ref(), return_old, |old| {
        // Without an UpdateExpression the item is created with its key alone.
        let (new, written) = match &update {
            Some(u) => {
                let applied = u.apply_to(old, &key_item)?;
                (applied.item, Some(applied.written))
            }
            None => (Some(old.cloned().unwrap_or_else(|| key_item.clone())), None),
        };
        let size = new.as_ref().map(item_size).unwrap_or(0);
        if size > MAX_ITEM_SIZE {
            return Err(EngineError::validation(
                "Item size to update has exceeded the maximum allowed size",
            ));
        }
        Ok((new, (written, size)))
    })?;
    let (written, size) = &w.extra;
    let (old, new) = (w.old.as_ref(), w.new.as_ref());
    let mut out = Map::new();
    match (rv.as_str(), &update) {
        ("ALL_OLD", _) => put_attributes(&mut out, old),
        ("ALL_NEW", _) => put_attributes(&mut out, new),
        ("UPDATED_OLD", Some(u)) => {
            let projected = old.map(|i| u.updated_paths().apply(i));
            put_attributes(&mut out, projected.as_ref());
        }
        ("UPDATED_NEW", Some(_)) => {
            let projected = new.zip(written.as_ref()).map(|(i, w)| w.apply(i));
            put_attributes(&mut out, projected.as_ref());
        }
        _ => {}
    }
    Ok(write_outcome(out, &table, capacity, *size, w.ticket))
}
