//! The engine: the fjall database, the catalog of tables and the single write path.
//!
//! Storage layout (one fjall database under the data directory):
//! - keyspace `catalog`: `table/<name>` → TableMeta JSON, `next_table_id` → u64;
//! - keyspace `t<id>` per table: storage key (see `keys`) → `u32 size ‖ item JSON`.
//!
//! Every change to items goes through [`Engine::commit`], which writes one fjall batch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions};
use parking_lot::{Mutex, MutexGuard, RwLock};

use crate::catalog::{Table, TableMeta, TableStats};
use crate::durability::{Durability, Syncer, Ticket};
use crate::error::{EngineError, Result};
use crate::keys;
use crate::log::{Change, ChangeLog, LogConfig, Trimmer};
use crate::value::{self, Item};

const CATALOG: &str = "catalog";
const TABLE_PREFIX: &str = "table/";
const NEXT_ID: &str = "next_table_id";
const LOCK_STRIPES: usize = 1024;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub region: String,
    /// The account id shown in ARNs.
    pub account_id: String,
    pub durability: Durability,
    pub log: LogConfig,
    /// Table files fjall keeps open (its descriptor cache); `None`: fjall's default.
    pub max_cached_files: Option<usize>,
}

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
    db: Database,
    catalog: Keyspace,
    tables: RwLock<HashMap<String, Arc<Table>>>,
    next_id: AtomicU64,
    /// Serializes control-plane changes (create, update, delete table).
    ddl: Mutex<()>,
    /// Item locks, striped by key hash: held from reading an item's old state to committing.
    locks: Box<[Mutex<()>]>,
    syncer: Syncer,
    log: Arc<ChangeLog>,
    tx_tokens: Mutex<crate::ops::transact::Tokens>,
    /// Declared after `log`'s users so it stops before the database is dropped.
    _trimmer: Trimmer,
    config: EngineConfig,
}

impl Engine {
    pub fn open(config: EngineConfig) -> Result<Engine> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            EngineError::Internal(format!(
                "cannot create data directory {}: {e}",
                config.data_dir.display()
            ))
        })?;
        let mut builder = Database::builder(config.data_dir.join("db"));
        if let Some(n) = config.max_cached_files {
            // fjall refuses fewer than 10.
            builder = builder.max_cached_files(Some(n.max(10)));
        }
        let db = builder.open()?;
        let catalog = db.keyspace(CATALOG, KeyspaceCreateOptions::default)?;
        let next_id = match catalog.get(NEXT_ID)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
            None => 1,
        };
        let mut tables = HashMap::new();
        for guard in catalog.prefix(TABLE_PREFIX) {
            let (_, v) = guard.into_inner()?;
            let meta: TableMeta = serde_json::from_slice(&v)
                .map_err(|e| EngineError::Internal(format!("corrupt catalog entry: {e}")))?;
            let items = db.keyspace(&items_keyspace(meta.id), item_keyspace_options)?;
            let versions = db.keyspace(
                &crate::versions::keyspace_name(meta.id),
                KeyspaceCreateOptions::default,
            )?;
            let stats = Arc::new(recount(&items)?);
            let indexes = open_indexes(&db, &meta, None)?;
            tables.insert(
                meta.name.clone(),
                Arc::new(Table {
                    meta,
                    items,
                    versions,
                    stats,
                    indexes,
                }),
            );
        }
        // Keyspaces of tables and indexes whose deletion was interrupted.
        let live: Vec<String> = tables
            .values()
            .flat_map(|t| {
                [
                    items_keyspace(t.meta.id),
                    crate::versions::keyspace_name(t.meta.id),
                ]
                .into_iter()
                .chain(
                    t.meta
                        .indexes
                        .iter()
                        .map(|i| crate::index::keyspace_name(i.id)),
                )
            })
            .collect();
        for name in db.list_keyspace_names() {
            let name: &str = &name;
            if (name.starts_with('t') || name.starts_with('x') || name.starts_with('v'))
                && name[1..].parse::<u64>().is_ok()
                && !live.iter().any(|l| l == name)
            {
                let ks = db.keyspace(name, KeyspaceCreateOptions::default)?;
                db.delete_keyspace(ks)?;
            }
        }
        let log = Arc::new(ChangeLog::open(
            &db,
            &config.region,
            config.log.enabled,
            config.log.retention,
        )?);
        let trimmer = Trimmer::start(log.clone(), db.clone(), config.log.trim_every);
        let syncer = Syncer::start(db.clone(), config.durability);
        Ok(Engine {
            db,
            catalog,
            tables: RwLock::new(tables),
            next_id: AtomicU64::new(next_id),
            ddl: Mutex::new(()),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            syncer,
            log,
            tx_tokens: Mutex::default(),
            _trimmer: trimmer,
            config,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn region(&self) -> &str {
        &self.config.region
    }

    pub fn account(&self) -> &str {
        &self.config.account_id
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    pub fn syncer(&self) -> &Syncer {
        &self.syncer
    }

    /// The change log: subscribe to commits and read records.
    pub fn log(&self) -> &ChangeLog {
        &self.log
    }

    pub fn table(&self, name: &str) -> Option<Arc<Table>> {
        self.tables.read().get(name).cloned()
    }

    /// The table, or DynamoDB's ResourceNotFoundException for item operations.
    pub fn require_table(&self, name: &str) -> Result<Arc<Table>> {
        self.table(name)
            .ok_or_else(|| EngineError::not_found("Requested resource not found"))
    }

    pub fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tables.read().keys().cloned().collect();
        names.sort();
        names
    }

    pub(crate) fn ddl_lock(&self) -> MutexGuard<'_, ()> {
        self.ddl.lock()
    }

    /// Creates the table's keyspace and persists its metadata (caller holds the DDL lock).
    pub(crate) fn insert_table(&self, mut meta: TableMeta) -> Result<Arc<Table>> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        meta.id = id;
        for index in &mut meta.indexes {
            index.id = self.next_id.fetch_add(1, Ordering::SeqCst);
        }
        let id_after = self.next_id.load(Ordering::SeqCst);
        let items = self
            .db
            .keyspace(&items_keyspace(id), item_keyspace_options)?;
        let versions = self.db.keyspace(
            &crate::versions::keyspace_name(id),
            KeyspaceCreateOptions::default,
        )?;
        let mut batch = self
            .db
            .batch()
            .durability(Some(fjall::PersistMode::SyncAll));
        batch.insert(&self.catalog, NEXT_ID, id_after.to_be_bytes().to_vec());
        batch.insert(
            &self.catalog,
            format!("{TABLE_PREFIX}{}", meta.name),
            meta_bytes(&meta)?,
        );
        batch.commit()?;
        let indexes = open_indexes(&self.db, &meta, None)?;
        let table = Arc::new(Table {
            meta,
            items,
            versions,
            stats: Arc::new(TableStats::default()),
            indexes,
        });
        self.tables
            .write()
            .insert(table.meta.name.clone(), table.clone());
        Ok(table)
    }

    /// Replaces a table's metadata (caller holds the DDL lock).
    /// New indexes in `meta` (id 0) get an id and a keyspace; indexes no longer in `meta`
    /// lose theirs.
    pub(crate) fn replace_meta(&self, old: &Table, mut meta: TableMeta) -> Result<Arc<Table>> {
        for index in meta.indexes.iter_mut().filter(|i| i.id == 0) {
            index.id = self.next_id.fetch_add(1, Ordering::SeqCst);
        }
        let mut batch = self
            .db
            .batch()
            .durability(Some(fjall::PersistMode::SyncAll));
        batch.insert(
            &self.catalog,
            format!("{TABLE_PREFIX}{}", meta.name),
            meta_bytes(&meta)?,
        );
        batch.insert(
            &self.catalog,
            NEXT_ID,
            self.next_id.load(Ordering::SeqCst).to_be_bytes().to_vec(),
        );
        batch.commit()?;
        let indexes = open_indexes(&self.db, &meta, Some(old))?;
        for gone in old
            .indexes
            .iter()
            .filter(|i| !meta.indexes.iter().any(|m| m.id == i.meta.id))
        {
            if let Err(e) = self.db.delete_keyspace(gone.ks.clone()) {
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
        self.tables
            .write()
            .insert(table.meta.name.clone(), table.clone());
        Ok(table)
    }

    /// Removes a table and its items (caller holds the DDL lock).
    pub(crate) fn remove_table(&self, table: &Table) -> Result<()> {
        let mut batch = self
            .db
            .batch()
            .durability(Some(fjall::PersistMode::SyncAll));
        batch.remove(&self.catalog, format!("{TABLE_PREFIX}{}", table.meta.name));
        batch.commit()?;
        self.tables.write().remove(&table.meta.name);
        // Dropping the keyspace is best effort: a leftover is removed at the next start.
        for ks in [table.items.clone(), table.versions.clone()] {
            if let Err(e) = self.db.delete_keyspace(ks) {
                tracing::warn!(table = %table.meta.name, "could not drop a table keyspace yet: {e}");
            }
        }
        for index in &table.indexes {
            if let Err(e) = self.db.delete_keyspace(index.ks.clone()) {
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
            return Ok(self.syncer.ticket());
        }
        for m in &mutations {
            if let Some(new) = &m.new {
                for index in &m.table.indexes {
                    index.meta.check_item(new)?;
                }
            }
        }
        let mut batch = self.db.batch().durability(self.syncer.batch_persist_mode());
        let mut deltas = Vec::with_capacity(mutations.len());
        // DynamoDB size of each item after (or, for a delete, before) the change, for its record.
        let mut record_sizes = Vec::with_capacity(mutations.len());
        let mut index_deltas: Vec<(&Arc<crate::index::Index>, i64, i64)> = Vec::new();
        for m in &mutations {
            for index in &m.table.indexes {
                let old = m.old.as_ref().and_then(|o| {
                    let k = index.meta.entry_key(&m.key, o)?;
                    Some((k, value::item_size(&index.meta.project(&m.table.meta, o))))
                });
                let new = m.new.as_ref().and_then(|n| {
                    let k = index.meta.entry_key(&m.key, n)?;
                    Some((k, index.meta.project(&m.table.meta, n)))
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
        if self.log.enabled() {
            let mut records = Vec::with_capacity(mutations.len());
            for (m, &size) in mutations.iter().zip(&record_sizes) {
                // Filtered above: old != new, so at least one of them exists.
                let Some(item) = m.new.as_ref().or(m.old.as_ref()) else {
                    continue;
                };
                records.push(self.log.prepare(Change {
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
            let mut state = self.log.lock();
            let first = self.log.next_seq_locked(&state);
            for r in records {
                self.log.append(&mut state, &mut batch, r);
            }
            if let Err(e) = batch.commit() {
                self.log.rollback(&mut state, first);
                return Err(e.into());
            }
            self.log.published(&state);
        } else {
            batch.commit()?;
        }
        for (index, count, size) in index_deltas {
            index.stats.item_count.fetch_add(count, Ordering::Relaxed);
            index.stats.size_bytes.fetch_add(size, Ordering::Relaxed);
        }
        for (m, (count, size)) in mutations.iter().zip(deltas) {
            m.table.stats.item_count.fetch_add(count, Ordering::Relaxed);
            m.table.stats.size_bytes.fetch_add(size, Ordering::Relaxed);
        }
        Ok(self.syncer.ticket())
    }
}

/// Item keyspaces use small memtables: overwrites leave every version in the memtable until
/// it is flushed (flushing drops the versions no snapshot needs), and range scans (Query,
/// Scan) must step over all of them. 8 MiB keeps that cost low under overwrite-heavy loads.
fn item_keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().max_memtable_size(8 * 1024 * 1024)
}

fn items_keyspace(id: u64) -> String {
    format!("t{id}")
}

fn meta_bytes(meta: &TableMeta) -> Result<Vec<u8>> {
    serde_json::to_vec(meta)
        .map_err(|e| EngineError::Internal(format!("cannot encode table metadata: {e}")))
}

/// Stored form of an item: its DynamoDB size (for statistics without decoding) then its JSON.
pub(crate) fn encode_stored(item: &Item, size: usize) -> Vec<u8> {
    let json = value::encode_item(item);
    let mut out = Vec::with_capacity(json.len() + 4);
    out.extend_from_slice(&(size as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out
}

/// A stored item value, not yet decoded: reads that return whole items splice its JSON.
pub struct Stored(fjall::Slice);

impl Stored {
    pub fn new(bytes: fjall::Slice) -> Result<Stored> {
        if bytes.len() < 4 {
            return Err(EngineError::Internal("corrupt stored item".into()));
        }
        Ok(Stored(bytes))
    }

    /// The item's DynamoDB size in bytes.
    pub fn size(&self) -> usize {
        let b = &self.0;
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
    }

    /// The item's wire JSON (`{"attr":{"S":"..."},...}`).
    pub fn json(&self) -> &[u8] {
        &self.0[4..]
    }

    pub fn decode(&self) -> Result<Item> {
        value::decode_item(self.json())
    }
}

/// The runtime side of `meta.indexes`: reuses `old`'s keyspaces and statistics where the
/// index already existed, opens (and counts) the others.
fn open_indexes(
    db: &Database,
    meta: &TableMeta,
    old: Option<&Table>,
) -> Result<Vec<Arc<crate::index::Index>>> {
    let mut out = Vec::with_capacity(meta.indexes.len());
    for m in &meta.indexes {
        let existing = old.and_then(|t| t.indexes.iter().find(|i| i.meta.id == m.id));
        let (ks, stats) = match existing {
            Some(i) => (i.ks.clone(), i.stats.clone()),
            None => {
                let ks = db.keyspace(&crate::index::keyspace_name(m.id), item_keyspace_options)?;
                let stats = Arc::new(recount(&ks)?);
                (ks, stats)
            }
        };
        out.push(Arc::new(crate::index::Index {
            meta: m.clone(),
            ks,
            stats,
        }));
    }
    Ok(out)
}

fn recount(items: &Keyspace) -> Result<TableStats> {
    let stats = TableStats::default();
    for guard in items.iter() {
        let (_, v) = guard.into_inner()?;
        let size = Stored::new(v)?.size() as i64;
        stats.item_count.fetch_add(1, Ordering::Relaxed);
        stats.size_bytes.fetch_add(size, Ordering::Relaxed);
    }
    Ok(stats)
}

impl Engine {
    /// A keyspace for data kept beside the tables (the trigger runtime's functions, mappings
    /// and checkpoints).
    pub fn aux_keyspace(&self, name: &str) -> Result<Keyspace> {
        Ok(self.db.keyspace(name, KeyspaceCreateOptions::default)?)
    }

    /// A write batch for maintenance work (index backfill) outside the item write path.
    pub(crate) fn db_batch(&self) -> fjall::OwnedWriteBatch {
        self.db.batch()
    }

    /// Makes everything written so far durable.
    pub(crate) fn persist(&self) -> Result<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    /// Flushes everything to disk; called on graceful shutdown.
    pub fn shutdown(&self) -> Result<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }
}
