//! Applying changes replicated from other regions, and changing a global table's replica set.
//!
//! A replicated change goes through the one write path (`Engine::commit`) only if it is newer
//! than the item's version (last writer wins on `(hlc, origin)`, see `versions.rs`), so it
//! enters the local change log with its origin and clock and local streams and triggers see
//! it. Tombstones are collected here too.

use std::cmp::Ordering;

use crate::clock::now_ms;
use crate::error::Result;
use crate::store::{Engine, Mutation};
use crate::value::Item;
use crate::versions::{compare, Applied, Remote, Version};

impl Engine {
    /// An item's version (None: never written since the table became global).
    pub fn version_of(&self, table: &crate::catalog::Table, key: &[u8]) -> Result<Option<Version>> {
        match table.versions.get(key)? {
            Some(v) => Version::decode(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Applies a change made in another region: `new` is the item after it (None for a
    /// delete), `keys` its key attributes. It is written through the one write path (so it
    /// enters the local change log, with its origin and clock, and local streams and triggers
    /// see it) only if `(remote.hlc, remote.origin)` is newer than the item's version.
    /// Returns what happened and the ticket to wait on for durability.
    pub fn apply_replicated(
        &self,
        table: &str,
        keys: &Item,
        new: Option<Item>,
        remote: Remote,
    ) -> Result<(Applied, Option<crate::durability::Ticket>)> {
        let table = self.require_table(table)?;
        let key = match &new {
            Some(item) => table.key_of_item(item)?,
            None => table.key_of_key(keys)?,
        };
        let _guard = self.lock_item(&table, &key);
        if let Some(current) = self.version_of(&table, &key)? {
            let order = compare((remote.hlc, &remote.origin), (current.hlc, &current.origin));
            if order != Ordering::Greater {
                return Ok((Applied::Stale, None));
            }
        }
        let old = self.get_item(&table, &key)?;
        if old == new {
            // Same state, newer version: keep the version so every region orders later
            // changes the same way; nothing for the change log.
            self.log().observe_clock(remote.hlc);
            let v = Version {
                hlc: remote.hlc,
                origin: remote.origin,
                deleted: new.is_none(),
                at_ms: now_ms(),
            };
            let mut batch = self
                .db_batch()?
                .durability(self.syncer().batch_persist_mode());
            batch.insert(&table.versions, key, v.encode());
            batch.commit()?;
            return Ok((Applied::VersionOnly, self.syncer().ticket()));
        }
        let ticket = self.commit(&[Mutation {
            table: &table,
            key,
            old,
            new,
            user_identity: None,
            remote: Some(remote),
        }])?;
        Ok((Applied::Written, ticket))
    }

    /// Sets a table's replica regions as a local change (a table with replicas is global:
    /// from then on every change keeps the item's version, and deletes leave tombstones).
    pub fn set_replicas(&self, table: &str, replicas: Vec<crate::catalog::Replica>) -> Result<()> {
        let hlc = self.log().tick();
        let region = self.region().to_owned();
        self.apply_replica_set(table, replicas, hlc, &region)
            .map(|_| ())
    }

    /// Sets a table's replica set if `(hlc, origin)` is newer than the one it has (last
    /// writer wins, as for items). Returns whether it changed.
    pub fn apply_replica_set(
        &self,
        table: &str,
        replicas: Vec<crate::catalog::Replica>,
        hlc: u64,
        origin: &str,
    ) -> Result<bool> {
        self.log().observe_clock(hlc);
        let _ddl = self.ddl_lock();
        let old = self.require_table(table)?;
        let current = (old.meta.replicas_hlc, old.meta.replicas_origin.as_str());
        if compare((hlc, origin), current) != Ordering::Greater {
            return Ok(false);
        }
        let mut meta = old.meta.clone();
        if meta.replicas.is_empty() && !replicas.is_empty() {
            meta.global_since = hlc;
        }
        meta.replicas = replicas;
        meta.replicas_hlc = hlc;
        meta.replicas_origin = origin.to_owned();
        self.replace_meta(&old, meta)?;
        Ok(true)
    }

    /// Changes a global table's replica set as a local change (a new version from this
    /// region): `change` edits the current set under the DDL lock, so that no concurrent
    /// change is lost, and returns whether it changed anything; `change` gets the table's
    /// metadata and the new version's clock (for ids). Returns whether the set changed
    /// (false also when the table is gone or not global).
    pub fn update_replica_set(
        &self,
        table: &str,
        change: impl FnOnce(&crate::catalog::TableMeta, &mut Vec<crate::catalog::Replica>, u64) -> bool,
    ) -> Result<bool> {
        let _ddl = self.ddl_lock();
        let Some(old) = self.table(table) else {
            return Ok(false);
        };
        if !old.meta.is_global() {
            return Ok(false);
        }
        let hlc = self.log().tick();
        let mut replicas = old.meta.replicas.clone();
        if !change(&old.meta, &mut replicas, hlc) || replicas == old.meta.replicas {
            return Ok(false);
        }
        let mut meta = old.meta.clone();
        meta.replicas = replicas;
        meta.replicas_hlc = hlc;
        meta.replicas_origin = self.region().to_owned();
        self.replace_meta(&old, meta)?;
        Ok(true)
    }

    /// Marks `region`'s replica ACTIVE because it reported backfill `backfill` applied, if
    /// that is the backfill its replica waits for and this region is the one that backfills
    /// it. Returns whether it changed (false for a stale or repeated report).
    pub fn activate_replica(&self, table: &str, region: &str, backfill: u64) -> Result<bool> {
        let here = self.region().to_owned();
        self.update_replica_set(table, |meta, replicas, _| {
            let Some(i) = replicas.iter().position(|r| r.region == region) else {
                return false;
            };
            let r = &replicas[i];
            if r.status != crate::schema::ReplicaStatus::Creating
                || r.backfill != Some(backfill)
                || meta.backfiller(r) != here
            {
                return false;
            }
            replicas[i] = crate::catalog::Replica::active(region);
            true
        })
    }

    /// One page of a global table's items with their versions, for backfilling a new
    /// replica: items after the storage key `after`, at most `limit`, and the key to go on
    /// from (None at the end). Each item and its version are read under the item's lock; an
    /// item written before the table became global has no version and gets the oldest one
    /// (`hlc` 1, this region), so that every later change wins over it.
    #[allow(clippy::type_complexity)]
    pub fn backfill_page(
        &self,
        table: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(Vec<(Item, Remote)>, Option<Vec<u8>>)> {
        let table = self.require_table(table)?;
        // The smallest key after `after` (the empty key: from the start).
        let from = after.map_or_else(Vec::new, |a| [a, &[0]].concat());
        let keys: Vec<Vec<u8>> = table
            .items
            .range(from..)
            .take(limit)
            .map(|g| g.key().map(|k| k.to_vec()))
            .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::with_capacity(keys.len());
        for key in &keys {
            let _guard = self.lock_item(&table, key);
            let version = self.version_of(&table, key)?;
            let Some(item) = self.get_item(&table, key)? else {
                continue;
            };
            let remote = match version {
                Some(v) if !v.deleted => Remote {
                    hlc: v.hlc,
                    origin: v.origin,
                },
                _ => Remote {
                    hlc: 1,
                    origin: self.region().to_owned(),
                },
            };
            out.push((item, remote));
        }
        let next = (keys.len() == limit)
            .then(|| keys.last().cloned())
            .flatten();
        Ok((out, next))
    }

    /// Drops tombstones older than `older_than_ms` from every global table: after that, a
    /// replicated write older than the delete could bring the item back, so the lifetime must
    /// exceed the longest time a region may stay behind. Returns how many were dropped.
    pub fn collect_tombstones(&self, older_than_ms: u64) -> Result<usize> {
        let cutoff = now_ms().saturating_sub(older_than_ms);
        let mut dropped = 0;
        for name in self.table_names() {
            let Some(table) = self.table(&name) else {
                continue;
            };
            let mut old = Vec::new();
            for g in table.versions.iter() {
                let (k, v) = g.into_inner()?;
                let v = Version::decode(&v)?;
                if v.deleted && v.at_ms < cutoff {
                    old.push(k.to_vec());
                }
            }
            for key in old {
                let _guard = self.lock_item(&table, &key);
                // Still the same old tombstone (no write since)?
                if let Some(v) = self.version_of(&table, &key)? {
                    if v.deleted && v.at_ms < cutoff {
                        table.versions.remove(key)?;
                        dropped += 1;
                    }
                }
            }
        }
        Ok(dropped)
    }
}
