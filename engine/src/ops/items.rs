//! Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.

use serde_json::{Map, Value as Json};

use super::{
    condition_failed, consumed, put_attributes, read_units, return_old_on_failure, return_values,
    table_name_and, wants_capacity, write_units, ExprParams, Outcome, MAX_ITEM_SIZE,
};
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

    let guard = engine.lock_item(&table, &key);
    let old = engine.get_item(&table, &key)?;
    if let Some(c) = &cond {
        if !c.eval(old.as_ref().unwrap_or(&Item::new()))? {
            return Err(condition_failed(old.as_ref(), return_old));
        }
    }
    let ticket = engine.commit(&[Mutation {
        table: &table,
        key,
        old: old.clone(),
        new: Some(item),
        user_identity: None,
        remote: None,
    }])?;
    drop(guard);

    let mut out = Map::new();
    if rv == "ALL_OLD" {
        put_attributes(&mut out, old.as_ref());
    }
    if capacity {
        out.insert(
            "ConsumedCapacity".into(),
            consumed(&table, write_units(size)),
        );
    }
    Ok(Outcome {
        body: Json::Object(out).into(),
        ticket,
    })
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
    let guard = engine.lock_item(&table, &key);
    let old = engine.get_item(&table, &key)?;
    if let Some(c) = &cond {
        if !c.eval(old.as_ref().unwrap_or(&Item::new()))? {
            return Err(condition_failed(old.as_ref(), return_old));
        }
    }
    // A delete of a missing item changes nothing (commit records nothing for it) but still
    // waits for the durability of the state it observed.
    let ticket = engine.commit(&[Mutation {
        table: &table,
        key,
        old: old.clone(),
        new: None,
        user_identity: None,
        remote: None,
    }])?;
    drop(guard);

    let mut out = Map::new();
    if rv == "ALL_OLD" {
        put_attributes(&mut out, old.as_ref());
    }
    if capacity {
        let size = old.as_ref().map(item_size).unwrap_or(0);
        out.insert(
            "ConsumedCapacity".into(),
            consumed(&table, write_units(size)),
        );
    }
    Ok(Outcome {
        body: Json::Object(out).into(),
        ticket,
    })
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

    let guard = engine.lock_item(&table, &key);
    let old = engine.get_item(&table, &key)?;
    if let Some(c) = &cond {
        if !c.eval(old.as_ref().unwrap_or(&Item::new()))? {
            return Err(condition_failed(old.as_ref(), return_old));
        }
    }
    // Without an UpdateExpression the item is created with its key alone.
    let (new, written) = match &update {
        Some(u) => {
            let applied = u.apply_to(old.as_ref(), &key_item)?;
            (applied.item, Some(applied.written))
        }
        None => (Some(old.clone().unwrap_or_else(|| key_item.clone())), None),
    };
    let size = new.as_ref().map(item_size).unwrap_or(0);
    if size > MAX_ITEM_SIZE {
        return Err(EngineError::validation(
            "Item size to update has exceeded the maximum allowed size",
        ));
    }
    // An update that creates nothing (REMOVE/DELETE on a missing item) commits nothing but
    // still waits for the durability of the state it observed.
    let ticket = engine.commit(&[Mutation {
        table: &table,
        key,
        old: old.clone(),
        new: new.clone(),
        user_identity: None,
        remote: None,
    }])?;
    drop(guard);

    let mut out = Map::new();
    match (rv.as_str(), &update) {
        ("ALL_OLD", _) => put_attributes(&mut out, old.as_ref()),
        ("ALL_NEW", _) => put_attributes(&mut out, new.as_ref()),
        ("UPDATED_OLD", Some(u)) => {
            let projected = old.as_ref().map(|i| u.updated_paths().apply(i));
            put_attributes(&mut out, projected.as_ref());
        }
        ("UPDATED_NEW", Some(_)) => {
            let projected = new.as_ref().zip(written.as_ref()).map(|(i, w)| w.apply(i));
            put_attributes(&mut out, projected.as_ref());
        }
        _ => {}
    }
    if capacity {
        out.insert(
            "ConsumedCapacity".into(),
            consumed(&table, write_units(size)),
        );
    }
    Ok(Outcome {
        body: Json::Object(out).into(),
        ticket,
    })
}
