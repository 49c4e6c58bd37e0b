//! Durability of acknowledged writes.
//!
//! `Fsync` (the default) is group commit: a write commits its batch to the journal, takes a
//! ticket, and waits until one fsync that started after its commit has finished. One syncer
//! thread runs fsyncs back to back while writers wait, so N concurrent writers share each fsync.
//! `Buffered` flushes every batch to the OS (it survives a process crash, not a power loss).
//!
//! When an fsync fails (fjall then poisons the database), every waiting ticket fails and the
//! syncer stops until the engine has reopened the database ([`Syncer::restart`]): tickets
//! handed out but not synced before the reopen stay failed for good, later ones are synced
//! on the new database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use fjall::{Database, PersistMode};
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{EngineError, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// fsync before acknowledging, shared between concurrent writers (group commit).
    #[default]
    Fsync,
    /// Written to the OS before acknowledging; no fsync.
    Buffered,
}

impl std::str::FromStr for Durability {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fsync" => Ok(Durability::Fsync),
            "buffered" => Ok(Durability::Buffered),
            other => Err(EngineError::Validation(format!(
                "unknown durability {other:?}: expected fsync or buffered"
            ))),
        }
    }
}

/// A position in the sequence of committed batches; durable once the syncer passed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// Where the database to fsync comes from: the engine's current one, `None` while a poisoned
/// database is being reopened (see `store.rs`).
pub type DatabaseSource = Arc<dyn Fn() -> Option<Database> + Send + Sync>;

/// What waiters see: every ticket up to `synced` is durable, unless it is in a lost range;
/// `error` is set while fsyncs fail (the database is poisoned) until the engine reopened it.
#[derive(Clone, Debug, Default)]
struct DurableState {
    synced: u64,
    error: Option<String>,
}

struct Shared {
    committed: AtomicU64,
    stop: std::sync::atomic::AtomicBool,
    /// Guards `Wake`: woken by new tickets, by a restart and by stop.
    wake: Mutex<Wake>,
    cond: Condvar,
    durable_tx: watch::Sender<DurableState>,
    /// The same state as `durable_tx`, for threads that wait without a runtime.
    durable: Mutex<DurableState>,
    durable_cond: Condvar,
    /// Ranges `(after, upto]` of tickets whose batches were not made durable before their
    /// database was reopened: they may be lost, so waiting for them fails forever.
    lost: Mutex<Vec<(u64, u64)>>,
}

#[derive(Default)]
struct Wake {
    pending: bool,
    /// An fsync failed: nothing more is tried until [`Syncer::restart`].
    failed: bool,
    /// The last ticket made durable (the syncer thread's position).
    synced: u64,
    /// Counts restarts: an fsync of a database replaced meanwhile decides nothing.
    epoch: u64,
}

/// Hands out tickets and runs the group-commit syncer thread.
pub struct Syncer {
    mode: Durability,
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
    durable_rx: watch::Receiver<DurableState>,
}

impl Syncer {
    pub fn start(source: DatabaseSource, mode: Durability) -> Syncer {
        let (durable_tx, durable_rx) = watch::channel(DurableState::default());
        let shared = Arc::new(Shared {
            committed: AtomicU64::new(0),
            stop: std::sync::atomic::AtomicBool::new(false),
            wake: Mutex::new(Wake::default()),
            cond: Condvar::new(),
            durable_tx,
            durable: Mutex::new(DurableState::default()),
            durable_cond: Condvar::new(),
            lost: Mutex::new(Vec::new()),
        });
        let mut handle = None;
        if mode == Durability::Fsync {
            let s = shared.clone();
            match thread::Builder::new()
                .name("tributary-fsync".into())
                .spawn(move || sync_loop(source, s))
            {
                Ok(h) => handle = Some(h),
                Err(e) => tracing::error!("cannot start the fsync thread: {e}"),
            }
        }
        Syncer {
            mode,
            shared,
            thread: handle,
            durable_rx,
        }
    }

    pub fn mode(&self) -> Durability {
        self.mode
    }

    /// The fjall persist mode a batch commits with.
    pub fn batch_persist_mode(&self) -> Option<PersistMode> {
        match self.mode {
            Durability::Fsync => None,
            Durability::Buffered => Some(PersistMode::Buffer),
        }
    }

    /// Called right after a batch committed: the ticket to wait for.
    pub fn ticket(&self) -> Option<Ticket> {
        if self.mode == Durability::Buffered {
            return None;
        }
        let t = self.shared.committed.fetch_add(1, Ordering::AcqRel) + 1;
        let mut wake = self.shared.wake.lock();
        wake.pending = true;
        self.shared.cond.notify_one();
        Some(Ticket(t))
    }

    /// Waits (async) until the ticket's batch is on disk.
    pub async fn wait(&self, ticket: Option<Ticket>) -> Result<()> {
        let Some(Ticket(t)) = ticket else {
            return Ok(());
        };
        let mut rx = self.durable_rx.clone();
        let state = rx
            .wait_for(|d| d.synced >= t || d.error.is_some())
            .await
            .map_err(|_| EngineError::Internal("the fsync thread stopped".into()))?
            .clone();
        self.outcome(t, &state)
    }

    /// Waits (blocking the thread) until the ticket's batch is on disk.
    pub fn wait_blocking(&self, ticket: Option<Ticket>) -> Result<()> {
        let Some(Ticket(t)) = ticket else {
            return Ok(());
        };
        let mut durable = self.shared.durable.lock();
        while durable.synced < t && durable.error.is_none() {
            self.shared.durable_cond.wait(&mut durable);
        }
        let state = durable.clone();
        drop(durable);
        self.outcome(t, &state)
    }

    fn outcome(&self, t: u64, state: &DurableState) -> Result<()> {
        let lost = self
            .shared
            .lost
            .lock()
            .iter()
            .any(|&(after, upto)| t > after && t <= upto);
        if lost {
            return Err(EngineError::Unavailable(
                "the write may not have been stored: the database was reopened after a storage failure before it was made durable".into(),
            ));
        }
        match &state.error {
            Some(e) if state.synced < t => {
                Err(EngineError::Unavailable(format!("fsync failed: {e}")))
            }
            _ => Ok(()),
        }
    }

    /// Fails every waiting and future ticket until [`Syncer::restart`] (the engine is about to
    /// reopen its database).
    pub(crate) fn suspend(&self, reason: &str) {
        let synced = {
            let mut wake = self.shared.wake.lock();
            wake.failed = true;
            wake.synced
        };
        publish(
            &self.shared,
            DurableState {
                synced,
                error: Some(reason.to_owned()),
            },
        );
    }

    /// After the engine reopened its database: tickets handed out but not made durable before
    /// the reopen are lost for good (their batches may not be in the recovered journal), later
    /// ones are synced normally again. The caller guarantees that no batch of the old database
    /// can still commit (every handle on it is gone).
    pub(crate) fn restart(&self) {
        let mut wake = self.shared.wake.lock();
        let committed = self.shared.committed.load(Ordering::Acquire);
        if committed > wake.synced {
            self.shared.lost.lock().push((wake.synced, committed));
        }
        wake.synced = committed;
        wake.failed = false;
        wake.epoch += 1;
        publish(
            &self.shared,
            DurableState {
                synced: committed,
                error: None,
            },
        );
        self.shared.cond.notify_all();
    }
}

/// How long the syncer waits for the writers of the previous round to commit again before it
/// starts an fsync with fewer of them.
const GATHER: Duration = Duration::from_micros(500);
/// How often the syncer looks again for a database while the engine reopens it.
const NO_DATABASE_RETRY: Duration = Duration::from_millis(10);

fn sync_loop(source: DatabaseSource, s: Arc<Shared>) {
    // Writes covered by the previous fsync: the syncer expects about as many in the next one.
    let mut last_round = 1u64;
    loop {
        let (synced, epoch);
        {
            let mut wake = s.wake.lock();
            while wake.failed
                || (!wake.pending && s.committed.load(Ordering::Acquire) == wake.synced)
            {
                if s.stop.load(Ordering::Acquire) {
                    return;
                }
                s.cond.wait(&mut wake);
            }
            wake.pending = false;
            synced = wake.synced;
            epoch = wake.epoch;
            // Group commit: give the writers just acknowledged a moment to commit their next
            // write, so that one fsync covers most of them instead of alternating small rounds.
            let deadline = Instant::now() + GATHER;
            while s.committed.load(Ordering::Acquire) - synced < last_round {
                if s.cond.wait_until(&mut wake, deadline).timed_out() {
                    break;
                }
            }
            wake.pending = false;
        }
        // Every ticket <= target was handed out after its batch committed, so this fsync covers it.
        let target = s.committed.load(Ordering::Acquire);
        if target == synced {
            continue;
        }
        let Some(db) = source() else {
            // The engine is reopening its database: the waiters wait (or were failed by
            // `suspend`); try again shortly.
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            thread::sleep(NO_DATABASE_RETRY);
            s.wake.lock().pending = true;
            continue;
        };
        let result = db.persist(PersistMode::SyncData);
        drop(db);
        let mut wake = s.wake.lock();
        if wake.epoch != epoch {
            // Restarted meanwhile (the fsync was of the old database): the restart decided.
            continue;
        }
        match result {
            Ok(()) => {
                last_round = target - synced;
                wake.synced = target;
                publish(
                    &s,
                    DurableState {
                        synced: target,
                        error: None,
                    },
                );
            }
            Err(e) => {
                tracing::error!("fsync of the journal failed: {e}");
                wake.failed = true;
                publish(
                    &s,
                    DurableState {
                        synced,
                        error: Some(e.to_string()),
                    },
                );
            }
        }
    }
}

impl Drop for Syncer {
    /// Stops the syncer thread (after its last fsync) so the database can be reopened.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _wake = self.shared.wake.lock();
            self.shared.cond.notify_all();
        }
        if let Some(h) = self.thread.take() {
            let _joined = h.join();
        }
    }
}

fn publish(s: &Shared, state: DurableState) {
    *s.durable.lock() = state.clone();
    s.durable_cond.notify_all();
    let _previous = s.durable_tx.send_replace(state);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ticket handed out before a reopen and not synced by then is never reported durable
    /// (its batch may not be in the recovered journal); earlier and later ones are.
    #[test]
    fn tickets_not_synced_before_a_restart_stay_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder(dir.path()).open().expect("open");
        let current = Arc::new(Mutex::new(Some(db.clone())));
        let source: DatabaseSource = {
            let c = current.clone();
            Arc::new(move || c.lock().clone())
        };
        let syncer = Syncer::start(source, Durability::Fsync);
        let t1 = syncer.ticket();
        syncer.wait_blocking(t1).expect("synced");
        // The database goes away (reopening) before the next ticket is synced.
        *current.lock() = None;
        let t2 = syncer.ticket();
        syncer.suspend("reopening");
        assert!(syncer.wait_blocking(t2).is_err());
        syncer.restart();
        *current.lock() = Some(db);
        assert!(syncer.wait_blocking(t2).is_err());
        syncer.wait_blocking(t1).expect("still durable");
        let t3 = syncer.ticket();
        syncer.wait_blocking(t3).expect("synced after the restart");
    }
}
