//! The engine: the catalog of tables, item locks and the single write path, over the fjall
//! database of `storage.rs`.
//!
//! Storage layout (one fjall database under the data directory):
//! - keyspace `catalog`: `table/<name>` → TableMeta JSON, `next_table_id` → u64;
//! - keyspace `t<id>` per table: storage key (see `keys`) → `u32 size ‖ item JSON`.
//!
//! Every change to items goes through [`Engine::commit`], which writes one fjall batch.
//! Everything that refers to the database lives in [`Core`] (`engine_core.rs`), shared with
//! the storage monitor (`recovery.rs`), which replaces the database when fjall poisoned it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use fjall::{Keyspace, KeyspaceCreateOptions};
use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard};

use crate::aux_keyspace::AuxKeyspace;
use crate::catalog::{Table, TableMeta, TableStats};
use crate::config::EngineConfig;
use crate::durability::{DatabaseSource, Syncer, Ticket};
use crate::engine_core::Core;
use crate::error::{EngineError, Result};
use crate::health::Health;
use crate::keys;
use crate::log::{Change, ChangeLog, Trimmer};
use crate::recovery::Monitor;
use crate::storage::{
    encode_stored, item_keyspace_options, items_keyspace, open_indexes, Storage, Stored, NEXT_ID,
    TABLE_PREFIX,
};
use crate::value::{self, Item};

const LOCK_STRIPES: usize = 1024;

/// One change to one item, as the write path records it.
pub struct Mutation<'a> {
    pub table: &'a Table,
    pub key: Vec<u8>,
    pub old: Option<Item>,
    /// `None` deletes the item.
    pub new: Option<Item>,
    /// Streams' `userIdentity` for changes the service makes itself (TTL deletions).
    pub user_identity: Option<serde_json::Value>,
    /// Set for a change replicated from another region: its clock and origin.
    pub remote: Option<crate::versions::Remote>,
}

pub struct Engine {
    /// Declared first: stops before everything it rebuilds is dropped.
    _monitor: Monitor,
    /// Declared before `core` so it stops before the database is dropped.
    _trimmer: Trimmer,
    core: Arc<Core>,
    /// Item locks, striped by key hash: held from reading an item's old state to committing.
    locks: Box<[Mutex<()>]>,
    tx_tokens: Mutex<crate::tx_tokens::Tokens>,
}

impl Engine {
    pub fn open(config: EngineConfig) -> Result<Engine> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            EngineError::Internal(format!(
                "cannot create data directory {}: {e}",
                config.data_dir.display()
            ))
        })?;
        let current: Arc<RwLock<Option<Arc<Storage>>>> = Arc::default();
        let source: DatabaseSource = {
            let current = current.clone();
            Arc::new(move || current.read().as_ref().map(|s| s.db.clone()))
        };
        let log = Arc::new(ChangeLog::new(
            &config.region,
            config.log.enabled,
            config.log.retention,
        ));
        let core = Arc::new(Core {
            current,
            tables: RwLock::default(),
            next_id: AtomicU64::new(1),
            ddl: Mutex::new(()),
            gate: RwLock::new(()),
            closing: AtomicBool::new(false),
            syncer: Syncer::start(source.clone(), config.durability),
            log: log.clone(),
            health: Health::default(),
            config,
        });
        let storage = Storage::open(&core.config)?;
        let loaded = crate::storage::load(&storage)?;
        core.install(storage, loaded, false)?;
        let trimmer = Trimmer::start(log, source, core.config.log.trim_every);
        Ok(Engine {
            _monitor: Monitor::start(core.clone()),
            _trimmer: trimmer,
            core,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            tx_tokens: Mutex::default(),
        })
    }

    /// Whether the storage takes writes: `Err` with the reason (and since when writes fail)
    /// while a passing resource failure (full disk, too many open files) keeps it degraded;
    /// the engine reopens the database by itself once the resource is back.
    pub fn health(&self) -> Result<()> {
        match self.core.health.describe() {
            None => Ok(()),
            Some(why) => Err(EngineError::Unavailable(why)),
        }
    }

    /// Entered by every operation (the HTTP API, handlers' calls, replication) before it looks
    /// up tables, and held until it is done: while the database is being reopened its tables
    /// are gone for a moment, and an operation must then fail (InternalServerError, retried
    /// by clients) rather than report them missing.
    pub fn operation(&self) -> Result<RwLockReadGuard<'_, ()>> {
        // Recursive: operations nest (legacy requests rerun, handlers' writes).
        let guard = self.core.gate.read_recursive();
        if self.core.closing.load(Ordering::Acquire) || self.core.current.read().is_none() {
            return Err(self.core.storage().err().unwrap_or_else(|| {
                EngineError::Unavailable(
                    "The storage is being reopened after a failure; retry shortly".into(),
                )
            }));
        }
        Ok(guard)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.core.config
    }

    pub fn region(&self) -> &str {
        &self.core.config.region
    }

    pub fn account(&self) -> &str {
        &self.core.config.account_id
    }

    pub fn data_dir(&self) -> &Path {
        &self.core.config.data_dir
    }

    pub fn syncer(&self) -> &Syncer {
        &self.core.syncer
    }

    /// The change log: subscribe to commits and read records.
    pub fn log(&self) -> &ChangeLog {
        &self.core.log
    }

    /// The table a TableName names: its name or (as DynamoDB accepts) its ARN.
    pub fn table(&self, name: &str) -> Option<Arc<Table>> {
        let name = crate::request::local_table_name(name, self.region(), self.account());
        self.core.tables.read().get(name).cloned()
    }

    /// The table, or DynamoDB's ResourceNotFoundException for item operations.
    pub fn require_table(&self, name: &str) -> Result<Arc<Table>> {
        self.table(name)
            .ok_or_else(|| EngineError::not_found("Requested resource not found"))
    }

    pub fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.core.tables.read().keys().cloned().collect();
        names.sort();
        names
    }

    pub(crate) fn ddl_lock(&self) -> MutexGuard<'_, ()> {
        self.core.ddl.lock()
    }

    /// Creates the table's keyspace and persists its metadata (caller holds the DDL lock).
    pub(crate) fn insert_table(&self, mut meta: TableMeta) -> Result<Arc<Table>> {
        let storage = self.core.writable()?;
        let next_id = &self.core.next_id;
        let id = next_id.fetch_add(1, Ordering::SeqCst);
        meta.id = id;
        for index in &mut meta.indexes {
            index.id = next_id.fetch_add(1, Ordering::SeqCst);
        }
        let id_after = next_id.load(Ordering::SeqCst);
        let items = storage
            .db
            .keyspace(&items_keyspace(id), item_keyspace_options)?;
        let versions = storage.db.keyspace(
            &crate::versions::keyspace_name(id),
            KeyspaceCreateOptions::default,
        )?;
        let mut batch = storage
            .db
            .batch()
            .durability(Some(fjall::PersistMode::SyncAll));
        batch.insert(&storage.catalog, NEXT_ID, id_after.to_be_bytes().to_vec());
        batch.insert(
            &storage.catalog,
            format!("{TABLE_PREFIX}{}", meta.name),
            meta_bytes(&meta)?,
        );
        self.core.observe(batch.commit())?;
        let indexes = open_indexes(&storage.db, &meta, None)?;
        let table = Arc::new(Table {
            meta,
            items,
            versions,
            stats: Arc::new(TableStats::default()),
            indexes,
        });
        self.core
            .tables
            .write()
            .insert(table.meta.name.clone(), table.clone());
        Ok(table)
    }

    /// Replaces a table's metadata (caller holds the DDL lock).
    /// New indexes in `meta` (id 0) get an id and a keyspace; indexes no longer in `meta`
    /// lose theirs.
    pub(crate) fn replace_meta(&self, old: &Table, mut meta: TableMeta) -> Result<Arc<Table>> {
        let storage = self.core.writable()?;
        let next_id = &self.core.next_id;
        for index in meta.indexes.iter_mut().filter(|i| i.id == 0) {
            index.id = next_id.fetch_add(1, Ordering::SeqCst);
        }
        let mut batch = storage
            .db
            .batch()
            .durability(Some(fjall::PersistMode::SyncAll));
        batch.insert(
            &storage.catalog,
            format!("{TABLE_PREFIX}{}", meta.name),
            meta_bytes(&meta)?,
        );
        batch.insert(
            &storage.catalog,
            NEXT_ID,
            next_id.load(Ordering::SeqCst).to_be_bytes().to_vec(),
        );
        self.core.observe(batch.commit())?;
        let indexes = open_indexes(&storage.db, &meta, Some(old))?;
        for gone in old
            .indexes
            .iter()
            .filter(|i| !meta.indexes.iter().any(|m| m.id == i.meta.id))
        {
            if let Err(e) = storage.db.delete_keyspace(gone.ks.clone()) {
                tracing::warn!(index = %gone.meta.name, "could not drop the index keyspace yet: {e}");
            }
        }
        let table = Arc::new(Table {
            meta,
            items: old.items.clone(),
            versions: old.versions.clone(),
            stats: old.stats.clone(),
            indexes,
        });
        self.core
            .tables
            .write()
            .insert(table.meta.name.clone(), table.clone());
        Ok(table)
    }

    /// Removes a table and its items (caller holds the DDL lock).
    pub(crate) fn remove_table(&self, table: &Table) -> Result<()> {
        let storage = self.core.writable()?;
        let mut batch = storage
            .db
            .batch()
            .durability(Some(fjall::PersistMode::SyncAll));
        batch.remove(
            &storage.catalog,
            format!("{TABLE_PREFIX}{}", table.meta.name),
        );
        self.core.observe(batch.commit())?;
        self.core.tables.write().remove(&table.meta.name);
        // Dropping the keyspace is best effort: a leftover is removed at the next start.
        for ks in [table.items.clone(), table.versions.clone()] {
            if let Err(e) = storage.db.delete_keyspace(ks) {
                tracing::warn!(table = %table.meta.name, "could not drop a table keyspace yet: {e}");
            }
        }
        for index in &table.indexes {
            if let Err(e) = storage.db.delete_keyspace(index.ks.clone()) {
                tracing::warn!(index = %index.meta.name, "could not drop the index keyspace yet: {e}");
            }
        }
        Ok(())
    }

    fn stripe(table: &Table, key: &[u8]) -> usize {
        let mut h = keys::partition_hash(key) as u64;
        h = h.wrapping_add(table.meta.id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        (h % LOCK_STRIPES as u64) as usize
    }

    /// Locks one item for a read-modify-write.
    pub fn lock_item(&self, table: &Table, key: &[u8]) -> MutexGuard<'_, ()> {
        self.locks[Self::stripe(table, key)].lock()
    }

    /// Locks several items (transactions): stripes are taken in ascending order, once each,
    /// so concurrent multi-item lockers cannot deadlock.
    pub fn lock_items<'k>(
        &self,
        items: impl Iterator<Item = (&'k Table, &'k [u8])>,
    ) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = items.map(|(t, k)| Self::stripe(t, k)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        stripes.into_iter().map(|i| self.locks[i].lock()).collect()
    }

    /// Whether a TransactWriteItems ClientRequestToken was seen within `ttl`: `Some(true)` for
    /// the same request, `Some(false)` for a different one.
    pub fn transaction_token(
        &self,
        token: &str,
        hash: u64,
        ttl: std::time::Duration,
    ) -> Option<bool> {
        self.tx_tokens.lock().check(token, hash, ttl)
    }

    pub fn remember_transaction_token(&self, token: &str, hash: u64) {
        self.tx_tokens.lock().remember(token, hash);
    }

    /// An item as stored: its DynamoDB size and its wire JSON, undecoded.
    pub fn get_stored(&self, table: &Table, key: &[u8]) -> Result<Option<Stored>> {
        table.items.get(key)?.map(Stored::new).transpose()
    }

    pub fn get_item(&self, table: &Table, key: &[u8]) -> Result<Option<Item>> {
        self.get_stored(table, key)?.map(|s| s.decode()).transpose()
    }

    /// THE write path: every change to items goes through here, as one atomic fjall batch.
    /// Returns the ticket to wait for before acknowledging (see [`Syncer`]).
    ///
    /// Each changed item gets its change-log record in the same batch; a mutation that changes
    /// nothing (same item put again, delete of a missing item) writes nothing and has no record,
    /// but its caller still waits for the previous writes to be durable.
    pub fn commit(&self, mutations: &[Mutation<'_>]) -> Result<Option<Ticket>> {
        let mutations: Vec<&Mutation<'_>> = mutations.iter().filter(|m| m.old != m.new).collect();
        if mutations.is_empty() {
            return Ok(self.core.syncer.ticket());
        }
        for m in &mutations {
            if let Some(new) = &m.new {
                for index in &m.table.indexes {
                    index.meta.check_item(new)?;
                }
            }
        }
        // Held to the end: a reopen of the database waits until this batch is committed and
        // its ticket handed out (see `Syncer::restart`).
        let storage = self.core.writable()?;
        let (syncer, log) = (&self.core.syncer, &self.core.log);
        let mut batch = storage.db.batch().durability(syncer.batch_persist_mode());
        let mut deltas = Vec::with_capacity(mutations.len());
        // DynamoDB size of each item after (or, for a delete, before) the change, for its record.
        let mut record_sizes = Vec::with_capacity(mutations.len());
        let mut index_deltas: Vec<(&Arc<crate::index::Index>, i64, i64)> = Vec::new();
        for m in &mutations {
            for index in &m.table.indexes {
                let old = m.old.as_ref().and_then(|o| {
                    let k = index.meta.entry_key(&m.key, o)?;
                    Some((
                        k,
                        value::item_size(&index.meta.project(m.table.meta.primary_key(), o)),
                    ))
                });
                let new = m.new.as_ref().and_then(|n| {
                    let k = index.meta.entry_key(&m.key, n)?;
                    Some((k, index.meta.project(m.table.meta.primary_key(), n)))
                });
                if let Some((k, _)) = &old {
                    if new.as_ref().is_none_or(|(nk, _)| nk != k) {
                        batch.remove(&index.ks, k.clone());
                    }
                }
                let (mut count, mut size) = (0i64, 0i64);
                if let Some((_, s)) = &old {
                    count -= 1;
                    size -= *s as i64;
                }
                if let Some((k, projected)) = new {
                    let s = value::item_size(&projected);
                    batch.insert(&index.ks, k, encode_stored(&projected, s));
                    count += 1;
                    size += s as i64;
                }
                index_deltas.push((index, count, size));
            }
            let old_size = m.old.as_ref().map(value::item_size).unwrap_or(0) as i64;
            match &m.new {
                Some(item) => {
                    let size = value::item_size(item);
                    batch.insert(&m.table.items, m.key.clone(), encode_stored(item, size));
                    deltas.push((i64::from(m.old.is_none()), size as i64 - old_size));
                    record_sizes.push(size);
                }
                None => {
                    batch.remove(&m.table.items, m.key.clone());
                    deltas.push((-i64::from(m.old.is_some()), -old_size));
                    record_sizes.push(old_size as usize);
                }
            }
        }
        if log.enabled() {
            let mut records = Vec::with_capacity(mutations.len());
            for (m, &size) in mutations.iter().zip(&record_sizes) {
                // Filtered above: old != new, so at least one of them exists.
                let Some(item) = m.new.as_ref().or(m.old.as_ref()) else {
                    continue;
                };
                records.push(log.prepare(Change {
                    table: &m.table.meta.name,
                    table_id: m.table.meta.id,
                    key: &m.key,
                    keys: m.table.key_attributes(item),
                    old: m.old.as_ref(),
                    new: m.new.as_ref(),
                    size,
                    user_identity: m.user_identity.clone(),
                    remote: m.remote.as_ref(),
                    // Global tables keep each item's version (its record's clock and origin).
                    versions: m.table.meta.is_global().then_some(&m.table.versions),
                })?);
            }
            // Sequence numbers are assigned and committed under one lock, so records become
            // visible in sequence order.
            let mut state = log.lock();
            let first = log.next_seq_locked(&state);
            for r in records {
                log.append(&mut state, &mut batch, &storage.log, r);
            }
            if let Err(e) = self.core.observe(batch.commit()) {
                log.rollback(&mut state, first);
                return Err(e);
            }
            log.published(&state);
        } else {
            self.core.observe(batch.commit())?;
        }
        for (index, count, size) in index_deltas {
            index.stats.item_count.fetch_add(count, Ordering::Relaxed);
            index.stats.size_bytes.fetch_add(size, Ordering::Relaxed);
        }
        for (m, (count, size)) in mutations.iter().zip(deltas) {
            m.table.stats.item_count.fetch_add(count, Ordering::Relaxed);
            m.table.stats.size_bytes.fetch_add(size, Ordering::Relaxed);
        }
        Ok(syncer.ticket())
    }
}

fn meta_bytes(meta: &TableMeta) -> Result<Vec<u8>> {
    serde_json::to_vec(meta)
        .map_err(|e| EngineError::Internal(format!("cannot encode table metadata: {e}")))
}

impl Engine {
    /// A keyspace for data kept beside the tables (the trigger runtime's functions, mappings
    /// and checkpoints, the replication state), resolved on the current database at each call.
    pub fn aux_keyspace(&self, name: &str) -> Result<AuxKeyspace> {
        AuxKeyspace::new(name, self.core.clone())
    }

    /// The catalog keyspace, which also holds small engine-wide settings (the key that signs
    /// shard iterators).
    pub(crate) fn catalog(&self) -> Result<Keyspace> {
        Ok(self.core.storage()?.catalog.clone())
    }

    /// A write batch for maintenance work (index backfill) outside the item write path.
    pub(crate) fn db_batch(&self) -> Result<fjall::OwnedWriteBatch> {
        Ok(self.core.writable()?.db.batch())
    }

    /// Makes everything written so far durable.
    pub(crate) fn persist(&self) -> Result<()> {
        let storage = self.core.storage()?;
        self.core
            .observe(storage.db.persist(fjall::PersistMode::SyncAll))
    }

    /// Flushes everything to disk; called on graceful shutdown.
    pub fn shutdown(&self) -> Result<()> {
        self.persist()
    }
}
