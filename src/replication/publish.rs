//! Sends this region's changes to the other regions: follows the change log of every global
//! table from a persisted position per shard, and publishes the records of local writes
//! (never replicated ones: those came from another region) to JetStream, with a message id
//! `<region>-<sequence number>` so that JetStream drops the duplicates a restart resends.
//! The position moves only after JetStream acknowledged the records, so while NATS is away
//! the change log is the queue. Also publishes a global table's replica set when this region
//! changed it; for the replicas this region added, waits for their regions to join (the
//! reason in DescribeTable meanwhile, a warning in the log) and starts their backfill.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use parking_lot::Mutex;
use tributary_engine::catalog::{Replica, TableMeta};
use tributary_engine::log::{LogRecord, SHARDS};
use tributary_engine::schema::ReplicaStatus;
use tributary_engine::value::item_to_json;
use tributary_engine::{AuxKeyspace, Engine};

use super::backfill;
use super::error::{ReplicationError, Result};
use super::message::{self, ItemChange, Message, TableState};
use super::presence::Presence;

/// Records read from one shard at a time.
const PAGE: usize = 1000;
/// Counter: item changes published.
pub const PUBLISHED: &str = "tributary_replication_published_total";

/// Where the publisher is: kept in the `replication` keyspace and cached in memory (every
/// commit wakes the publisher); losing it only resends.
pub struct Progress {
    /// Resolved on the engine's current database at each call.
    ks: AuxKeyspace,
    cache: Mutex<HashMap<Vec<u8>, u64>>,
}

impl Progress {
    pub fn new(ks: AuxKeyspace) -> Progress {
        Progress {
            ks,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cursor_key(table_id: u64, shard: u16) -> Vec<u8> {
        let mut k = b"p/".to_vec();
        k.extend_from_slice(&table_id.to_be_bytes());
        k.extend_from_slice(&shard.to_be_bytes());
        k
    }

    fn read_u64(&self, key: &[u8]) -> Result<u64> {
        if let Some(v) = self.cache.lock().get(key) {
            return Ok(*v);
        }
        let stored = self.ks.get(key)?;
        let v = stored
            .and_then(|v| <[u8; 8]>::try_from(&v[..]).ok())
            .map_or(0, u64::from_be_bytes);
        self.cache.lock().insert(key.to_vec(), v);
        Ok(v)
    }

    fn write_u64(&self, key: Vec<u8>, v: u64) -> Result<()> {
        self.ks.insert(key.clone(), v.to_be_bytes().to_vec())?;
        self.cache.lock().insert(key, v);
        Ok(())
    }

    /// The next sequence number to publish in a shard.
    pub fn cursor(&self, table_id: u64, shard: u16) -> Result<u64> {
        self.read_u64(&Self::cursor_key(table_id, shard))
    }

    pub fn set_cursor(&self, table_id: u64, shard: u16, next: u64) -> Result<()> {
        self.write_u64(Self::cursor_key(table_id, shard), next)
    }

    /// The version of the last replica set published for a table.
    pub fn table_state(&self, table: &str) -> Result<u64> {
        self.read_u64(format!("t/{table}").as_bytes())
    }

    pub fn set_table_state(&self, table: &str, hlc: u64) -> Result<()> {
        self.write_u64(format!("t/{table}").into_bytes(), hlc)
    }

    fn backfill_key(table_id: u64, region: &str) -> Vec<u8> {
        let mut k = b"b/".to_vec();
        k.extend_from_slice(&table_id.to_be_bytes());
        k.extend_from_slice(region.as_bytes());
        k
    }

    /// The id of the last backfill of a replica whose end JetStream acknowledged (0: none).
    pub fn backfill_sent(&self, table_id: u64, region: &str) -> Result<u64> {
        self.read_u64(&Self::backfill_key(table_id, region))
    }

    pub fn set_backfill_sent(&self, table_id: u64, region: &str, id: u64) -> Result<()> {
        self.write_u64(Self::backfill_key(table_id, region), id)
    }
}

pub struct Publisher {
    pub engine: Arc<Engine>,
    pub js: jetstream::Context,
    pub progress: Arc<Progress>,
    pub presence: Arc<Presence>,
    /// The replication stream.
    pub stream: String,
    /// Tables whose backfill runs now.
    pub backfilling: Arc<Mutex<HashSet<String>>>,
    /// (table, region) of replicas whose region was found missing (warned once).
    pub warned: Mutex<HashSet<(String, String)>>,
}

impl Publisher {
    pub async fn run(self) {
        let mut sub = self.engine.log().subscribe();
        let mut backoff = Duration::from_millis(100);
        let mut failing = false;
        loop {
            let seen = sub.last();
            match self.publish_pending().await {
                Ok(more) => {
                    if failing {
                        tracing::info!("replication: publishing again");
                        failing = false;
                    }
                    backoff = Duration::from_millis(100);
                    if more {
                        continue;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!("replication: {e}; local changes wait in the change log and are sent when it works again");
                        failing = true;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
            // New records, or a look at the catalog now and then (replica sets, backfills).
            tokio::select! {
                _ = sub.after(seen) => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// One pass over every table. Returns whether a shard had more records than one page.
    async fn publish_pending(&self) -> Result<bool> {
        let region = self.engine.region().to_owned();
        let mut more = false;
        for name in self.engine.table_names() {
            let Some(mut table) = self.engine.table(&name) else {
                continue;
            };
            if self.await_regions(&name, &table.meta).await? {
                match self.engine.table(&name) {
                    Some(t) => table = t,
                    None => continue,
                }
            }
            let meta = &table.meta;
            let ours = meta.replicas_origin == region;
            if ours && meta.replicas_hlc > self.progress.table_state(&name)? {
                let state = Message::Table(TableState {
                    table: name.clone(),
                    replicas: meta.replicas.clone(),
                    hlc: meta.replicas_hlc,
                    origin: region.clone(),
                    create: table.create_request(),
                });
                let payload = serde_json::to_vec(&state).map_err(ReplicationError::publish)?;
                self.js
                    .publish(message::table_subject(&region), payload.into())
                    .await
                    .map_err(ReplicationError::publish)?
                    .await
                    .map_err(ReplicationError::publish)?;
                let (progress, table_name, hlc) =
                    (self.progress.clone(), name.clone(), meta.replicas_hlc);
                tokio::task::spawn_blocking(move || progress.set_table_state(&table_name, hlc))
                    .await??;
                tracing::info!(table = %name, replicas = ?meta.replicas, "replication: replica set sent to the other regions");
            }
            if !backfill::pending(&self.progress, meta, &region)?.is_empty()
                && self.backfilling.lock().insert(name.clone())
            {
                backfill::Backfiller {
                    engine: self.engine.clone(),
                    js: self.js.clone(),
                    progress: self.progress.clone(),
                    stream: self.stream.clone(),
                }
                .spawn(name.clone(), self.backfilling.clone());
            }
            if !meta.is_global() {
                continue;
            }
            for shard in 0..SHARDS {
                let from = self
                    .progress
                    .cursor(meta.id, shard)?
                    .max(self.engine.log().trim_horizon(meta.id, shard));
                // fjall reads and writes run on the blocking pool, not on an async worker.
                let (engine, id) = (self.engine.clone(), meta.id);
                let records = tokio::task::spawn_blocking(move || {
                    engine.log().read(id, shard, from, u64::MAX, PAGE)
                })
                .await??;
                let Some(last) = records.last().map(|r| r.seq) else {
                    continue;
                };
                let mut acks = Vec::new();
                for r in records
                    .iter()
                    .filter(|r| r.origin == region && r.hlc >= meta.global_since)
                {
                    acks.push(self.send(r).await?);
                }
                let sent = acks.len();
                for ack in acks {
                    ack.await.map_err(ReplicationError::publish)?;
                }
                metrics::counter!(PUBLISHED).increment(sent as u64);
                let progress = self.progress.clone();
                tokio::task::spawn_blocking(move || progress.set_cursor(id, shard, last + 1))
                    .await??;
                more |= records.len() == PAGE;
            }
        }
        Ok(more)
    }

    /// The CREATING replicas this region is the source of and that have no backfill yet:
    /// each whose region has joined gets a backfill id (the backfill starts), each whose
    /// region never joined gets the reason in its description and a warning in the log
    /// (once). Returns whether the replica set changed.
    async fn await_regions(&self, name: &str, meta: &TableMeta) -> Result<bool> {
        let here = self.engine.region().to_owned();
        let waiting: Vec<Replica> = meta
            .replicas
            .iter()
            .filter(|r| {
                r.status == ReplicaStatus::Creating
                    && r.backfill.is_none()
                    && r.region != here
                    && meta.backfiller(r) == here
            })
            .cloned()
            .collect();
        let mut changed = false;
        for r in waiting {
            let Some(joined) = self.presence.joined(&r.region).await else {
                continue; // NATS cannot tell now
            };
            let description = if joined {
                tracing::info!(table = name, region = %r.region, "replication: the new replica's region has joined; backfilling it");
                backfill::copying_reason(&here, &r.region)
            } else {
                if self
                    .warned
                    .lock()
                    .insert((name.to_owned(), r.region.clone()))
                {
                    tracing::warn!(
                        table = name,
                        region = %r.region,
                        "replication: replica region {} has never joined: no tributary region with that name has connected to NATS; the replica stays CREATING until it does (a typo? remove it with UpdateTable ReplicaUpdates Delete)",
                        r.region
                    );
                }
                let why = backfill::waiting_reason(&r.region);
                if r.description.as_deref() == Some(why.as_str()) {
                    continue;
                }
                why
            };
            let (e, table, region, here) = (
                self.engine.clone(),
                name.to_owned(),
                r.region.clone(),
                here.clone(),
            );
            changed |= tokio::task::spawn_blocking(move || {
                e.update_replica_set(&table, |meta, replicas, hlc| {
                    let Some(i) = replicas.iter().position(|x| x.region == region) else {
                        return false;
                    };
                    let x = &replicas[i];
                    if x.status != ReplicaStatus::Creating
                        || x.backfill.is_some()
                        || meta.backfiller(x) != here
                    {
                        return false;
                    }
                    replicas[i].description = Some(description);
                    if joined {
                        replicas[i].backfill = Some(hlc);
                    }
                    true
                })
            })
            .await??;
        }
        Ok(changed)
    }

    async fn send(&self, r: &LogRecord) -> Result<jetstream::context::PublishAckFuture> {
        let change = Message::Item(ItemChange {
            t: r.table.clone(),
            k: item_to_json(&r.keys),
            n: r.new.as_ref().map(item_to_json),
            h: r.hlc,
            o: r.origin.clone(),
            ms: r.created_ms,
        });
        let payload = serde_json::to_vec(&change).map_err(ReplicationError::publish)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{}-{}", r.origin, r.seq).as_str(),
        );
        self.js
            .publish_with_headers(
                message::item_subject(&r.origin, &r.table),
                headers,
                payload.into(),
            )
            .await
            .map_err(ReplicationError::publish)
    }
}
