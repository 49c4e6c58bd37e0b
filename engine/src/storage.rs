//! One open fjall database and the handles the engine keeps on it, and what is rebuilt from
//! it (the tables of the catalog, with their keyspaces and recounted statistics).
//!
//! A database that fjall poisoned (a failed journal write, fsync or flush: full disk, too many
//! open files) refuses every later write, so the engine replaces its [`Storage`] as a whole
//! (see `recovery.rs`). Code outside the engine never holds a fjall handle for longer than
//! one call: it goes through [`AuxKeyspace`], which resolves the current database each time.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions};
use parking_lot::Mutex;

use crate::catalog::{Table, TableMeta, TableStats};
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::log::ChangeLog;
use crate::value::{self, Item};

pub(crate) const CATALOG: &str = "catalog";
pub(crate) const TABLE_PREFIX: &str = "table/";
pub(crate) const NEXT_ID: &str = "next_table_id";

/// One open database: the `catalog` and `log` keyspaces, and the auxiliary keyspaces opened
/// so far (functions, mappings, replication state).
pub(crate) struct Storage {
    pub(crate) db: Database,
    pub(crate) catalog: Keyspace,
    pub(crate) log: Keyspace,
    aux: Mutex<HashMap<String, Keyspace>>,
}

impl Storage {
    /// Opens (recovering the journal) the database under the data directory.
    pub(crate) fn open(config: &EngineConfig) -> Result<Storage> {
        let mut builder = Database::builder(config.data_dir.join("db"));
        if let Some(n) = config.max_cached_files {
            // fjall refuses fewer than 10.
            builder = builder.max_cached_files(Some(n.max(10)));
        }
        let db = builder.open()?;
        let catalog = db.keyspace(CATALOG, KeyspaceCreateOptions::default)?;
        let log = ChangeLog::keyspace(&db)?;
        Ok(Storage {
            db,
            catalog,
            log,
            aux: Mutex::default(),
        })
    }

    pub(crate) fn aux(&self, name: &str) -> Result<Keyspace> {
        let mut aux = self.aux.lock();
        if let Some(ks) = aux.get(name) {
            return Ok(ks.clone());
        }
        let ks = self.db.keyspace(name, KeyspaceCreateOptions::default)?;
        aux.insert(name.to_owned(), ks.clone());
        Ok(ks)
    }
}

/// What the catalog of a database holds.
pub(crate) struct Loaded {
    pub(crate) tables: HashMap<String, Arc<Table>>,
    pub(crate) next_id: u64,
}

/// Reads the catalog: every table with its keyspaces and recounted statistics; drops the
/// keyspaces of tables and indexes whose deletion was interrupted.
pub(crate) fn load(storage: &Storage) -> Result<Loaded> {
    let (db, catalog) = (&storage.db, &storage.catalog);
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
        let indexes = open_indexes(db, &meta, None)?;
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
    Ok(Loaded { tables, next_id })
}

/// Item keyspaces use small memtables: overwrites leave every version in the memtable until
/// it is flushed (flushing drops the versions no snapshot needs), and range scans (Query,
/// Scan) must step over all of them. 8 MiB keeps that cost low under overwrite-heavy loads.
pub(crate) fn item_keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().max_memtable_size(8 * 1024 * 1024)
}

pub(crate) fn items_keyspace(id: u64) -> String {
    format!("t{id}")
}

/// The runtime side of `meta.indexes`: reuses `old`'s keyspaces and statistics where the
/// index already existed, opens (and counts) the others.
pub(crate) fn open_indexes(
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
