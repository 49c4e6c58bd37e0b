//! Global tables declared in the config file (`[[replication.tables]]`): at start, each is
//! created when missing (PAY_PER_REQUEST) and given its replica set (this region and its
//! peers unless listed), every replica ACTIVE. Every region declares the same tables, so
//! nothing is backfilled; to add a region to a table that holds items, use UpdateTable.

use serde_json::json;
use tributary_engine::catalog::Replica;
use tributary_engine::{Engine, EngineError};

use crate::config::{GlobalTableDecl, ReplicationConfig};

/// Why the declared global tables stop the start.
#[derive(Debug, thiserror::Error)]
pub enum DeclaredTablesError {
    #[error("[[replication.tables]] {table}: key {spec:?} must be NAME:S, NAME:N or NAME:B")]
    Key { table: String, spec: String },
    #[error("[[replication.tables]] declares global tables, but no NATS server is configured (replication.nats or --nats)")]
    NoNats,
    /// CreateTable or setting the replicas failed.
    #[error("[[replication.tables]] {table}: {source}")]
    Engine { table: String, source: EngineError },
    #[error("CreateTable is unknown")]
    NoCreateTable,
    #[error("table {0} vanished")]
    Vanished(String),
}

fn key_attribute(spec: &str, table: &str) -> Result<(String, String), DeclaredTablesError> {
    match spec.rsplit_once(':') {
        Some((name, ty @ ("S" | "N" | "B"))) if !name.is_empty() => {
            Ok((name.to_owned(), ty.to_owned()))
        }
        _ => Err(DeclaredTablesError::Key {
            table: table.to_owned(),
            spec: spec.to_owned(),
        }),
    }
}

fn create_request(d: &GlobalTableDecl) -> Result<serde_json::Value, DeclaredTablesError> {
    let (pk, pk_type) = key_attribute(&d.partition_key, &d.name)?;
    let mut keys = vec![json!({"AttributeName": pk, "KeyType": "HASH"})];
    let mut defs = vec![json!({"AttributeName": pk, "AttributeType": pk_type})];
    if let Some(sk) = &d.sort_key {
        let (sk, sk_type) = key_attribute(sk, &d.name)?;
        keys.push(json!({"AttributeName": sk, "KeyType": "RANGE"}));
        defs.push(json!({"AttributeName": sk, "AttributeType": sk_type}));
    }
    Ok(json!({
        "TableName": d.name,
        "KeySchema": keys,
        "AttributeDefinitions": defs,
        "BillingMode": "PAY_PER_REQUEST",
    }))
}

/// Creates the declared tables and sets their replicas. Runs before the server listens.
pub fn apply(config: &ReplicationConfig, engine: &Engine) -> Result<(), DeclaredTablesError> {
    if !config.tables.is_empty() && config.nats.is_empty() {
        return Err(DeclaredTablesError::NoNats);
    }
    let here = engine.region().to_owned();
    for d in &config.tables {
        if engine.table(&d.name).is_none() {
            let body = create_request(d)?.to_string();
            match engine.call("CreateTable", body.as_bytes()) {
                Some(Ok(_)) => tracing::info!(table = %d.name, "created declared global table"),
                Some(Err(source)) => {
                    return Err(DeclaredTablesError::Engine {
                        table: d.name.clone(),
                        source,
                    })
                }
                None => return Err(DeclaredTablesError::NoCreateTable),
            }
        }
        let mut regions: Vec<String> = if d.replicas.is_empty() {
            config.peers.clone()
        } else {
            d.replicas.clone()
        };
        if !regions.contains(&here) {
            regions.push(here.clone());
        }
        regions.sort();
        regions.dedup();
        let table = engine
            .table(&d.name)
            .ok_or_else(|| DeclaredTablesError::Vanished(d.name.clone()))?;
        let mut current: Vec<String> = table
            .meta
            .replicas
            .iter()
            .map(|r| r.region.clone())
            .collect();
        current.sort();
        if current != regions && regions.len() > 1 {
            let replicas = regions.into_iter().map(Replica::active).collect();
            engine.set_replicas(&d.name, replicas).map_err(|source| {
                DeclaredTablesError::Engine {
                    table: d.name.clone(),
                    source,
                }
            })?;
            tracing::info!(table = %d.name, "declared global table: replicas set");
        }
    }
    Ok(())
}
