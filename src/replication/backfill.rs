//! Backfill of a new replica: when this region adds a replica (UpdateTable ReplicaUpdates
//! Create), it publishes every item the table holds, each with its version, after the
//! replica set that tells the new region to create the table. Writes go on meanwhile: their
//! records follow through the publisher, and last writer wins sorts out the overlap. When
//! every item is acknowledged by JetStream, the replica becomes ACTIVE (a new replica set,
//! published after the items, so the new region sees ACTIVE only once it has them all).
//! A restart during a backfill starts it again (the replica is still CREATING).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use parking_lot::Mutex;
use tributary_engine::value::item_to_json;
use tributary_engine::{Engine, Item};

use super::message::{self, ItemChange, Message};

const PAGE: usize = 500;

pub fn spawn(
    engine: Arc<Engine>,
    js: jetstream::Context,
    table: String,
    running: Arc<Mutex<HashSet<String>>>,
) {
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(200);
        loop {
            match backfill(&engine, &js, &table).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(table = %table, "replication: backfill interrupted ({e}); starting it again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
        running.lock().remove(&table);
    });
}

fn key_attributes(item: &Item, names: &[String]) -> Item {
    names
        .iter()
        .filter_map(|n| item.get(n).map(|v| (n.clone(), v.clone())))
        .collect()
}

async fn backfill(
    engine: &Arc<Engine>,
    js: &jetstream::Context,
    table: &str,
) -> Result<(), String> {
    let Some(t) = engine.table(table) else {
        return Ok(()); // deleted meanwhile
    };
    let creating: Vec<String> = t
        .meta
        .replicas
        .iter()
        .filter(|r| r.status == "CREATING")
        .map(|r| r.region.clone())
        .collect();
    let mut key_names = vec![t.meta.hash_key.name.clone()];
    key_names.extend(t.meta.range_key.iter().map(|k| k.name.clone()));
    let region = engine.region().to_owned();
    let total = t.item_count();
    // Not held across the pages: the engine reopens its database after a storage failure only
    // once every table handle is let go.
    drop(t);
    tracing::info!(table, regions = ?creating, items = total, "replication: backfilling new replicas");
    let started = Instant::now();
    let mut after: Option<Vec<u8>> = None;
    let mut sent = 0usize;
    let mut next_report = 10_000;
    loop {
        let e = engine.clone();
        let name = table.to_owned();
        let from = after.clone();
        let (page, next) =
            tokio::task::spawn_blocking(move || e.backfill_page(&name, from.as_deref(), PAGE))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        let mut acks = Vec::with_capacity(page.len());
        for (item, version) in &page {
            let change = Message::Item(ItemChange {
                t: table.to_owned(),
                k: item_to_json(&key_attributes(item, &key_names)),
                n: Some(item_to_json(item)),
                h: version.hlc,
                o: version.origin.clone(),
                ms: 0,
            });
            let payload = serde_json::to_vec(&change).map_err(|e| e.to_string())?;
            acks.push(
                js.publish(message::item_subject(&region, table), payload.into())
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        for ack in acks {
            ack.await.map_err(|e| e.to_string())?;
        }
        sent += page.len();
        if sent >= next_report {
            tracing::info!(table, items = sent, of = total, "replication: backfilling");
            next_report = sent + 10_000;
        }
        match next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let e = engine.clone();
    let name = table.to_owned();
    let regions = creating.clone();
    tokio::task::spawn_blocking(move || e.activate_replicas(&name, &regions))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    tracing::info!(
        table,
        regions = ?creating,
        items = sent,
        seconds = format!("{secs:.1}"),
        rate = format!("{:.0}/s", sent as f64 / secs.max(1e-3)),
        "replication: backfill done; replicas ACTIVE"
    );
    Ok(())
}
