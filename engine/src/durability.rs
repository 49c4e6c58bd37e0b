//! Durability of acknowledged writes.
//!
//! `Fsync` (the default) is group commit: a write commits its batch to the journal, takes a
//! ticket, and waits until one fsync that started after its commit has finished. One syncer
//! thread runs fsyncs back to back while writers wait, so N concurrent writers share each fsync.
//! `Buffered` flushes every batch to the OS (it survives a process crash, not a power loss).

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
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "fsync" => Ok(Durability::Fsync),
            "buffered" => Ok(Durability::Buffered),
            other => Err(format!(
                "unknown durability {other:?}: expected fsync or buffered"
            )),
        }
    }
}

/// A position in the sequence of committed batches; durable once the syncer passed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

struct Shared {
    committed: AtomicU64,
    stop: std::sync::atomic::AtomicBool,
    wake: Mutex<bool>,
    cond: Condvar,
    durable_tx: watch::Sender<Result<u64, String>>,
    /// The same state as `durable_tx`, for threads that wait without a runtime.
    durable: Mutex<Result<u64, String>>,
    durable_cond: Condvar,
}

/// Hands out tickets and runs the group-commit syncer thread.
pub struct Syncer {
    mode: Durability,
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
    durable_rx: watch::Receiver<Result<u64, String>>,
}

impl Syncer {
    pub fn start(db: Database, mode: Durability) -> Syncer {
        let (durable_tx, durable_rx) = watch::channel(Ok(0));
        let shared = Arc::new(Shared {
            committed: AtomicU64::new(0),
            stop: std::sync::atomic::AtomicBool::new(false),
            wake: Mutex::new(false),
            cond: Condvar::new(),
            durable_tx,
            durable: Mutex::new(Ok(0)),
            durable_cond: Condvar::new(),
        });
        let mut handle = None;
        if mode == Durability::Fsync {
            let s = shared.clone();
            match thread::Builder::new()
                .name("tributary-fsync".into())
                .spawn(move || sync_loop(db, s))
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
        *wake = true;
        self.shared.cond.notify_one();
        Some(Ticket(t))
    }

    /// Waits (async) until the ticket's batch is on disk.
    pub async fn wait(&self, ticket: Option<Ticket>) -> Result<()> {
        let Some(Ticket(t)) = ticket else {
            return Ok(());
        };
        let mut rx = self.durable_rx.clone();
        let res = rx
            .wait_for(|d| match d {
                Ok(n) => *n >= t,
                Err(_) => true,
            })
            .await
            .map_err(|_| EngineError::Internal("the fsync thread stopped".into()))?;
        match &*res {
            Ok(_) => Ok(()),
            Err(e) => Err(EngineError::Internal(format!("fsync failed: {e}"))),
        }
    }

    /// Waits (blocking the thread) until the ticket's batch is on disk.
    pub fn wait_blocking(&self, ticket: Option<Ticket>) -> Result<()> {
        let Some(Ticket(t)) = ticket else {
            return Ok(());
        };
        let mut durable = self.shared.durable.lock();
        loop {
            match &*durable {
                Ok(n) if *n >= t => return Ok(()),
                Ok(_) => self.shared.durable_cond.wait(&mut durable),
                Err(e) => return Err(EngineError::Internal(format!("fsync failed: {e}"))),
            }
        }
    }
}

/// How long the syncer waits for the writers of the previous round to commit again before it
/// starts an fsync with fewer of them.
const GATHER: Duration = Duration::from_micros(500);

fn sync_loop(db: Database, s: Arc<Shared>) {
    let mut synced = 0u64;
    // Writes covered by the previous fsync: the syncer expects about as many in the next one.
    let mut last_round = 1u64;
    loop {
        {
            let mut wake = s.wake.lock();
            while !*wake && s.committed.load(Ordering::Acquire) == synced {
                if s.stop.load(Ordering::Acquire) {
                    return;
                }
                s.cond.wait(&mut wake);
            }
            *wake = false;
            // Group commit: give the writers just acknowledged a moment to commit their next
            // write, so that one fsync covers most of them instead of alternating small rounds.
            let deadline = Instant::now() + GATHER;
            while s.committed.load(Ordering::Acquire) - synced < last_round {
                if s.cond.wait_until(&mut wake, deadline).timed_out() {
                    break;
                }
            }
            *wake = false;
        }
        // Every ticket <= target was handed out after its batch committed, so this fsync covers it.
        let target = s.committed.load(Ordering::Acquire);
        if target == synced {
            continue;
        }
        match db.persist(PersistMode::SyncData) {
            Ok(()) => {
                last_round = target - synced;
                synced = target;
                publish(&s, Ok(target));
            }
            Err(e) => {
                tracing::error!("fsync of the journal failed: {e}");
                publish(&s, Err(e.to_string()));
                return;
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

fn publish(s: &Shared, state: Result<u64, String>) {
    *s.durable.lock() = state.clone();
    s.durable_cond.notify_all();
    let _previous = s.durable_tx.send_replace(state);
}
