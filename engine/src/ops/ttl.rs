//! Time to live: UpdateTimeToLive, DescribeTimeToLive, and the sweep that deletes expired
//! items (the server runs [`Engine::sweep_expired`] periodically).
//!
//! As in DynamoDB, reads do not hide expired items: they stay readable until the sweep deletes
//! them. An item expires when its TTL attribute is a Number of epoch seconds not after now and
//! not more than five years in the past. Each deletion is an ordinary delete through the one
//! write path, recorded in the change log with the service's user identity.

use serde_json::{json, Value as Json};

use super::table_not_found;
use super::tables::table_name;
use crate::error::{EngineError, Result};
use crate::request::{Request, Violations};
use crate::storage::Stored;
use crate::store::{Engine, Mutation};
use crate::value::AttributeValue;

/// Items whose TTL is older than this are ignored, as DynamoDB does.
const FIVE_YEARS_SECS: f64 = 5.0 * 365.0 * 24.0 * 3600.0;

pub fn update_time_to_live(engine: &Engine, req: &Request) -> Result<Json> {
    let name = table_name(req)?;
    let spec = req.object("TimeToLiveSpecification")?;
    let mut v = Violations::new();
    v.not_null(&spec, "timeToLiveSpecification");
    v.finish()?;
    let spec = Request::from_map(spec.cloned().unwrap_or_default());
    let enabled = spec.bool("Enabled")?;
    let attr = spec.str("AttributeName")?;
    let mut v = Violations::new();
    v.not_null(&enabled, "timeToLiveSpecification.enabled");
    v.not_null(&attr, "timeToLiveSpecification.attributeName");
    if let Some(a) = attr {
        if a.is_empty() || a.len() > 255 {
            v.add(
                Some(a),
                "timeToLiveSpecification.attributeName",
                "Member must have length less than or equal to 255, Member must have length greater than or equal to 1",
            );
        }
    }
    v.finish()?;
    let (enabled, attr) = (enabled.unwrap_or(false), attr.unwrap_or_default());
    let _ddl = engine.ddl_lock();
    let table = engine.table(&name).ok_or_else(|| table_not_found(&name))?;
    let mut meta = table.meta.clone();
    match (&meta.ttl_attribute, enabled) {
        (Some(_), true) => return Err(EngineError::validation("TimeToLive is already enabled")),
        (None, false) => return Err(EngineError::validation("TimeToLive is already disabled")),
        (Some(current), false) if current != attr => {
            return Err(EngineError::validation(format!(
            "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
        )))
        }
        _ => {}
    }
    meta.ttl_attribute = enabled.then(|| attr.to_owned());
    engine.replace_meta(&table, meta)?;
    Ok(json!({"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attr}}))
}

pub fn describe_time_to_live(engine: &Engine, req: &Request) -> Result<Json> {
    let name = table_name(req)?;
    let table = engine.table(&name).ok_or_else(|| table_not_found(&name))?;
    Ok(match &table.meta.ttl_attribute {
        Some(a) => {
            json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": a}})
        }
        None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
    })
}

fn expired(item: &crate::value::Item, attr: &str, now: f64) -> bool {
    match item.get(attr) {
        Some(AttributeValue::N(n)) => n
            .to_string()
            .parse::<f64>()
            .is_ok_and(|t| t <= now && t >= now - FIVE_YEARS_SECS),
        _ => false,
    }
}

impl Engine {
    /// Deletes every expired item of every table with TTL enabled; returns how many.
    pub fn sweep_expired(&self) -> Result<usize> {
        let now = crate::clock::now_secs();
        let identity = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
        let mut deleted = 0;
        for name in self.table_names() {
            let Some(table) = self.table(&name) else {
                continue;
            };
            let Some(attr) = table.meta.ttl_attribute.clone() else {
                continue;
            };
            let mut candidates = Vec::new();
            for guard in table.items.iter() {
                let (k, v) = guard.into_inner()?;
                if expired(&Stored::new(v)?.decode()?, &attr, now) {
                    candidates.push(k.to_vec());
                }
            }
            for key in candidates {
                // Re-check under the item's lock: it may have been rewritten since.
                let _guard = self.lock_item(&table, &key);
                let Some(old) = self.get_item(&table, &key)? else {
                    continue;
                };
                if !expired(&old, &attr, now) {
                    continue;
                }
                self.commit(&[Mutation {
                    table: &table,
                    key,
                    old: Some(old),
                    new: None,
                    user_identity: Some(identity.clone()),
                    remote: None,
                }])?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}
