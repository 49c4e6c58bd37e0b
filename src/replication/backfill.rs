//! Backfill of a new replica. The region that adds a replica (UpdateTable ReplicaUpdates
//! Create) is its source: it waits until the replica's region has joined (`presence`), then
//! gives the replica a backfill id (a new version of the replica set) and sends, in stream
//! order:
//! 1. the table's current replica set and schema, so the new region has the table before its
//!    items arrive;
//! 2. once this region has applied everything the stream held before that (so the items
//!    below include the other regions' changes that the new region skipped while it had no
//!    table), every item the table holds, each with its version;
//! 3. `BackfillDone`, naming the regions and their backfill ids.
//!
//! Writes go on meanwhile: their records follow through the publisher, and last writer wins
//! sorts out the overlap. The new region applies the items, then, once they are durable
//! there, publishes `BackfillApplied`; only then does the source turn the replica ACTIVE (a
//! new replica set, see `apply.rs`), so a replica is never ACTIVE without its items. This
//! region remembers which backfill it has sent (`b/<table id><region>` in the `replication`
//! keyspace): a restart before `BackfillDone` was acknowledged sends it again, and a restart
//! after waits for the report, which the durable consumers keep for it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use parking_lot::Mutex;
use tributary_engine::catalog::TableMeta;
use tributary_engine::schema::ReplicaStatus;
use tributary_engine::value::item_to_json;
use tributary_engine::{Engine, Item};

use super::error::{ReplicationError, Result};
use super::message::{self, BackfillDone, ItemChange, Message, TableState};
use super::publish::Progress;

const PAGE: usize = 500;

/// DescribeTable's reason for a replica whose region has never joined.
pub fn waiting_reason(region: &str) -> String {
    format!("Waiting for region {region} to join (no tributary region with that name has connected to NATS)")
}

/// DescribeTable's reason for a replica being backfilled.
pub fn copying_reason(from: &str, region: &str) -> String {
    format!("Copying the table's items from {from}; ACTIVE once {region} has applied them all")
}

/// The backfills this region owes for a table: the CREATING replicas it is the source of
/// that have a backfill id it has not sent yet, with that id.
pub fn pending(progress: &Progress, meta: &TableMeta, here: &str) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for r in &meta.replicas {
        if r.status != ReplicaStatus::Creating || meta.backfiller(r) != here {
            continue;
        }
        if let Some(id) = r.backfill {
            if progress.backfill_sent(meta.id, &r.region)? != id {
                out.push((r.region.clone(), id));
            }
        }
    }
    Ok(out)
}

/// What a backfill needs.
#[derive(Clone)]
pub struct Backfiller {
    pub engine: Arc<Engine>,
    pub js: jetstream::Context,
    pub progress: Arc<Progress>,
    /// The replication stream (this region's consumer on it tells how far it has applied).
    pub stream: String,
}

impl Backfiller {
    /// Runs the table's pending backfills in the background, again after a failure, and
    /// removes the table from `running` when done.
    pub fn spawn(self, table: String, running: Arc<Mutex<HashSet<String>>>) {
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(200);
            loop {
                match self.backfill(&table).await {
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

    async fn publish(&self, subject: String, m: &Message) -> Result<u64> {
        let payload = serde_json::to_vec(m)?;
        let ack = self
            .js
            .publish(subject, payload.into())
            .await
            .map_err(ReplicationError::nats)?
            .await
            .map_err(ReplicationError::nats)?;
        Ok(ack.sequence)
    }

    /// Waits until this region's consumer has applied the stream up to `seq`.
    async fn applied_up_to(&self, seq: u64) -> Result<()> {
        let durable = super::apply::consumer_name(self.engine.region());
        let started = Instant::now();
        let mut told = false;
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(ReplicationError::nats)?;
        loop {
            let info =
                stream
                    .consumer_info(&durable)
                    .await
                    .map_err(|e| ReplicationError::Consumer {
                        durable: durable.clone(),
                        source: Box::new(e),
                    })?;
            let caught_up = info.ack_floor.stream_sequence >= seq
                || (info.num_ack_pending == 0 && info.delivered.stream_sequence >= seq);
            if caught_up {
                return Ok(());
            }
            if !told && started.elapsed() > Duration::from_secs(10) {
                tracing::info!(
                    applied = info.ack_floor.stream_sequence,
                    needed = seq,
                    "replication: backfill waits for this region to apply the other regions' changes first"
                );
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn backfill(&self, table: &str) -> Result<()> {
        let engine = &self.engine;
        let region = engine.region().to_owned();
        let Some(t) = engine.table(table) else {
            return Ok(()); // deleted meanwhile
        };
        let targets = pending(&self.progress, &t.meta, &region)?;
        if targets.is_empty() {
            return Ok(());
        }
        let regions: Vec<&str> = targets.iter().map(|(r, _)| r.as_str()).collect();
        let total = t.item_count();
        tracing::info!(
            table,
            ?regions,
            items = total,
            "replication: backfilling new replicas"
        );
        let started = Instant::now();
        // 1. The table.
        let state = Message::Table(TableState {
            table: table.to_owned(),
            replicas: t.meta.replicas.clone(),
            hlc: t.meta.replicas_hlc,
            origin: t.meta.replicas_origin.clone(),
            create: t.create_request(),
        });
        let mut key_names = vec![t.meta.hash_key.name.clone()];
        key_names.extend(t.meta.range_key.iter().map(|k| k.name.clone()));
        let table_id = t.meta.id;
        // Not held across the awaits below: the engine reopens its database after a storage
        // failure only once every table handle is let go.
        drop(t);
        let mark = self
            .publish(message::table_subject(&region), &state)
            .await?;
        // 2. Its items, once everything before is applied here.
        self.applied_up_to(mark).await?;
        let mut after: Option<Vec<u8>> = None;
        let mut sent = 0u64;
        let mut next_report = 10_000;
        loop {
            let e = engine.clone();
            let name = table.to_owned();
            let from = after.clone();
            let (page, next) =
                tokio::task::spawn_blocking(move || e.backfill_page(&name, from.as_deref(), PAGE))
                    .await??;
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
                let payload = serde_json::to_vec(&change)?;
                acks.push(
                    self.js
                        .publish(message::item_subject(&region, table), payload.into())
                        .await
                        .map_err(ReplicationError::nats)?,
                );
            }
            for ack in acks {
                ack.await.map_err(ReplicationError::nats)?;
            }
            sent += page.len() as u64;
            if sent >= next_report {
                tracing::info!(table, items = sent, of = total, "replication: backfilling");
                next_report = sent + 10_000;
            }
            match next {
                Some(k) => after = Some(k),
                None => break,
            }
        }
        // 3. Its end.
        let done = Message::BackfillDone(BackfillDone {
            table: table.to_owned(),
            from: region.clone(),
            regions: targets.clone(),
            items: sent,
        });
        self.publish(message::table_subject(&region), &done).await?;
        let (progress, sent_to) = (self.progress.clone(), targets.clone());
        tokio::task::spawn_blocking(move || {
            sent_to
                .iter()
                .try_for_each(|(r, id)| progress.set_backfill_sent(table_id, r, *id))
        })
        .await??;
        let secs = started.elapsed().as_secs_f64();
        tracing::info!(
            table,
            ?regions,
            items = sent,
            seconds = format!("{secs:.1}"),
            rate = format!("{:.0}/s", sent as f64 / secs.max(1e-3)),
            "replication: backfill sent; each replica turns ACTIVE once its region has applied it"
        );
        Ok(())
    }
}

fn key_attributes(item: &Item, names: &[String]) -> Item {
    names
        .iter()
        .filter_map(|n| item.get(n).map(|v| (n.clone(), v.clone())))
        .collect()
}
