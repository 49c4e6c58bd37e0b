//! [`AuxKeyspace`]: a keyspace of the engine's database, by name, for the trigger runtime's
//! and replication's state.

use std::sync::Arc;

use fjall::Keyspace;

use crate::engine_core::Core;
use crate::error::Result;

/// A keyspace kept beside the tables (the trigger runtime's functions, mappings and
/// checkpoints, the replication state), by name: every call uses the engine's current
/// database, so holders keep working when the engine reopens it, and never hold it open.
/// Writes fail while the storage is degraded.
pub struct AuxKeyspace {
    name: String,
    core: Arc<Core>,
}

impl AuxKeyspace {
    pub(crate) fn new(name: &str, core: Arc<Core>) -> Result<AuxKeyspace> {
        core.storage()?.aux(name)?;
        Ok(AuxKeyspace {
            name: name.to_owned(),
            core,
        })
    }

    fn current(&self) -> Result<Keyspace> {
        self.core.storage()?.aux(&self.name)
    }

    fn writable(&self) -> Result<Keyspace> {
        self.core.writable()?.aux(&self.name)
    }

    pub fn get<K: AsRef<[u8]>>(&self, key: K) -> Result<Option<fjall::Slice>> {
        Ok(self.current()?.get(key)?)
    }

    pub fn insert<K: Into<fjall::UserKey>, V: Into<fjall::UserValue>>(
        &self,
        key: K,
        value: V,
    ) -> Result<()> {
        let result = self.writable()?.insert(key, value);
        self.core.observe(result)
    }

    pub fn remove<K: Into<fjall::UserKey>>(&self, key: K) -> Result<()> {
        let result = self.writable()?.remove(key);
        self.core.observe(result)
    }

    /// The entries whose key starts with `prefix`, in key order.
    pub fn prefix<K: AsRef<[u8]>>(&self, prefix: K) -> Result<fjall::Iter> {
        Ok(self.current()?.prefix(prefix))
    }
}
