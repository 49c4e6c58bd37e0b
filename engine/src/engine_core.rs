//! `Core`: everything of the engine that refers to the open database, shared by the engine,
//! the storage monitor (`recovery.rs`, which rebuilds it when it reopens the database) and
//! the auxiliary keyspaces.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::catalog::Table;
use crate::config::EngineConfig;
use crate::durability::Syncer;
use crate::error::{EngineError, Result};
use crate::health::Health;
use crate::log::ChangeLog;
use crate::storage::Storage;

/// The engine's state that refers to the database, shared with the storage monitor thread
/// (which rebuilds it when it reopens the database) and with [`AuxKeyspace`]s.
pub(crate) struct Core {
    /// The open database; `None` while it is being reopened.
    pub(crate) current: Arc<RwLock<Option<Arc<Storage>>>>,
    pub(crate) tables: RwLock<HashMap<String, Arc<Table>>>,
    pub(crate) next_id: AtomicU64,
    /// Serializes control-plane changes (create, update, delete table).
    pub(crate) ddl: Mutex<()>,
    /// Held shared by every operation (see [`Engine::operation`]); a reopen holds it
    /// exclusively while it lets go of the tables, so an operation never finds a table
    /// missing because the database is being reopened.
    pub(crate) gate: RwLock<()>,
    /// Set while a reopen waits for the operations in flight: new ones are refused.
    pub(crate) closing: AtomicBool,
    pub(crate) syncer: Syncer,
    pub(crate) log: Arc<ChangeLog>,
    pub(crate) health: Health,
    pub(crate) config: EngineConfig,
}

impl Core {
    /// The open database, for reads (they keep working while writes are refused).
    pub(crate) fn storage(&self) -> Result<Arc<Storage>> {
        self.current.read().clone().ok_or_else(|| {
            EngineError::Unavailable(format!(
                "The storage is being reopened after a failure ({}); retry shortly",
                self.health.describe().unwrap_or_default()
            ))
        })
    }

    /// The open database, for writes: refused while the storage is degraded.
    pub(crate) fn writable(&self) -> Result<Arc<Storage>> {
        if let Some(why) = self.health.describe() {
            return Err(EngineError::Unavailable(format!(
                "The storage cannot take writes now: {why}. It recovers by itself once the resource is back; retry later"
            )));
        }
        self.storage()
    }

    /// Passes a storage write's outcome on, waking the storage monitor on a failure (it checks
    /// whether fjall poisoned the database and reports the degraded state at once).
    pub(crate) fn observe<T>(&self, result: fjall::Result<T>) -> Result<T> {
        result.map_err(|e| {
            self.health.poke();
            EngineError::Storage(e)
        })
    }
}
