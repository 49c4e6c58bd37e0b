//! UpdateTable `ReplicaUpdates` (global tables, version 2019.11.21): the catalog side. The
//! table's replica set lists every region, this one included; a new replica starts CREATING
//! with this region as its source, and the replication service (root crate) waits for its
//! region to join, makes the table there, backfills it and marks it ACTIVE once that region
//! reports the backfill applied. The replica set carries a version `(hlc, origin)` so that
//! regions agree on the latest change whatever order they learn about changes in.

use serde_json::{json, Value as Json};

use crate::catalog::Replica;
use crate::error::{EngineError, Result};
use crate::request::Request;
use crate::store::Engine;

fn region_name(r: &Request, op: &str) -> Result<String> {
    let name = r.str("RegionName")?;
    let Some(name) = name else {
        return Err(EngineError::validation(format!(
            "1 validation error detected: Value null at 'replicaUpdates.member.{op}.regionName' failed to satisfy constraint: Member must not be null"
        )));
    };
    let valid = (1..=25).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(EngineError::validation(format!(
            "Invalid region name: {name}"
        )));
    }
    Ok(name.to_owned())
}

pub fn update_replicas(engine: &Engine, name: &str, updates: &Json) -> Result<Json> {
    let Some(updates) = updates.as_array() else {
        return Err(EngineError::Serialization(
            "Unexpected value type in payload: ReplicaUpdates must be a list".into(),
        ));
    };
    if updates.is_empty() {
        return Err(EngineError::validation(
            "1 validation error detected: Value '[]' at 'replicaUpdates' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    let _ddl = engine.ddl_lock();
    let table = engine
        .table(name)
        .ok_or_else(|| super::table_not_found(name))?;
    let here = engine.region().to_owned();
    let mut replicas = table.meta.replicas.clone();
    if replicas.is_empty() {
        replicas.push(Replica::active(here.clone()));
    }
    for update in updates {
        let u = Request::from_map(update.as_object().cloned().unwrap_or_default());
        let actions: Vec<&str> = ["Create", "Update", "Delete"]
            .into_iter()
            .filter(|a| u.raw(a).is_some())
            .collect();
        let [action] = actions[..] else {
            return Err(EngineError::validation(
                "One of Create, Update or Delete must be specified, and only one, in each ReplicaUpdates entry",
            ));
        };
        let body = Request::from_map(u.object(action)?.cloned().unwrap_or_default());
        let region = region_name(&body, &action.to_lowercase())?;
        let existing = replicas.iter().position(|r| r.region == region);
        match (action, existing) {
            ("Create", None) => replicas.push(Replica::creating(region, here.clone())),
            ("Create", Some(_)) => {
                return Err(EngineError::validation(format!(
                    "Failed to create a new replica of table with name: '{name}' because one or more replicas already existed as tables: {region}"
                )))
            }
            ("Delete", Some(_)) if region == here => {
                return Err(EngineError::validation(format!(
                    "Cannot delete the replica in {region} from {region}: delete the table, or remove this replica from another region"
                )))
            }
            ("Delete", Some(i)) => {
                replicas.remove(i);
            }
            ("Update", Some(_)) => {}
            (_, None) => {
                return Err(EngineError::validation(format!(
                    "Update global table operation failed because one or more replicas were not part of the global table: {region}"
                )))
            }
            _ => {}
        }
    }
    if replicas.len() == 1 && replicas[0].region == here {
        replicas.clear(); // only this region is left: no longer a global table
    }
    let mut meta = table.meta.clone();
    let hlc = engine.log().tick();
    if meta.replicas.is_empty() && !replicas.is_empty() {
        meta.global_since = hlc;
    }
    meta.replicas = replicas;
    meta.replicas_hlc = hlc;
    meta.replicas_origin = here;
    let table = engine.replace_meta(&table, meta)?;
    tracing::info!(table = %name, replicas = ?table.meta.replicas, "replica set changed");
    Ok(
        json!({"TableDescription": table.describe(engine.region(), engine.account(), crate::schema::TableStatus::Updating)}),
    )
}
