//! Healing from passing storage failures (a full disk, too many open files).
//!
//! fjall poisons its database when a journal write, an fsync or a background flush fails:
//! every later write is refused (`Error::Poisoned`) until the database is opened again, while
//! reads keep working. The storage monitor thread notices it (a cheap poll, or at once when a
//! write fails), reports the degraded state ([`Health`](crate::health::Health): `Engine::health`, writes refused with
//! the reason), and once a probe shows the resource is back (a file can be opened, written and
//! fsynced in the data directory), reopens the database in place:
//!
//! 1. **take down**: new operations are refused; once those in flight are done (the gate), the
//!    engine lets go of every handle on the old database (storage, tables, the log keyspace)
//!    and fails the durability tickets still waiting;
//! 2. **open**: fjall's lock file proves that no handle on the old database is left anywhere
//!    (every keyspace handle holds it), so opening is retried until it is free; recovery
//!    replays the journal up to the last complete batch;
//! 3. **install**: tables are read back from the catalog (item counts recounted), the change
//!    log resumes after the highest sequence number ever handed out, tickets not made durable
//!    before the reopen stay failed, and operations are admitted again.
//!
//! Nothing acknowledged can be lost: a write is acknowledged only after an fsync of the old
//! database covered it, and that journal is what the reopen recovers. Writes that were
//! refused or answered with an error may or may not have been stored, as after a crash.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::engine_core::Core;
use crate::error::{EngineError, Result};
use crate::health::Phase;
use crate::storage::{self, Loaded, Storage};

/// How often the monitor checks that the database still takes writes.
const POLL: Duration = Duration::from_millis(200);
/// Reopen attempts back off from this delay...
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// ...doubling up to this one while reopened databases keep failing...
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// ...until a reopened database has worked this long.
const BACKOFF_RESET: Duration = Duration::from_secs(60);
/// Lets the old database's background threads finish dropping before the reopen.
const SETTLE: Duration = Duration::from_millis(100);
/// How long to wait between attempts to take the database's lock from remaining handles.
const LOCK_RETRY: Duration = Duration::from_millis(50);
/// After this long waiting for old handles, a warning says so.
const LOCK_WARN: Duration = Duration::from_secs(5);
/// The probe writes this much and holds this many extra file descriptors.
const PROBE_BYTES: usize = 256 * 1024;
const PROBE_DESCRIPTORS: usize = 16;
const PROBE_FILE: &str = ".storage-probe";

/// The storage monitor thread (stopped when the engine is dropped).
pub(crate) struct Monitor {
    core: Arc<Core>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Monitor {
    pub(crate) fn start(core: Arc<Core>) -> Monitor {
        let c = core.clone();
        let thread = thread::Builder::new()
            .name("storage-monitor".into())
            .spawn(move || watch(&c))
            .map_err(|e| tracing::error!("cannot start the storage monitor: {e}"))
            .ok();
        Monitor { core, thread }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.core.health.stop();
        if let Some(t) = self.thread.take() {
            let _joined = t.join();
        }
    }
}

fn watch(core: &Core) {
    let mut backoff = Backoff::default();
    while core.health.wait(POLL) {
        match core.health.phase() {
            Phase::Healthy => {
                if let Err(e) = check(core) {
                    let reason = match probe(&core.config.data_dir) {
                        Err(p) => p.to_string(),
                        Ok(()) => format!("a storage write failed ({e})"),
                    };
                    tracing::error!(
                        "storage degraded, writes are refused: {reason}; the database is reopened once the resource is back"
                    );
                    core.health.enter(Phase::Degraded, Some(reason));
                }
            }
            Phase::Degraded => match check(core) {
                Ok(()) => {
                    tracing::info!("storage takes writes again");
                    core.health.heal();
                }
                Err(_) => recover(core, &mut backoff, true),
            },
            Phase::Closed => recover(core, &mut backoff, false),
        }
    }
}

/// Whether the open database still takes writes (fjall checks its poisoned flag first; the
/// journal's buffer is handed to the OS).
fn check(core: &Core) -> Result<()> {
    let storage = core.current.read().clone();
    match storage {
        Some(s) => {
            s.db.persist(fjall::PersistMode::Buffer)
                .map_err(|e| EngineError::Unavailable(e.to_string()))
        }
        None => Err(EngineError::Unavailable("the database is not open".into())),
    }
}

/// Reopens the database once the resource is back (`take_down`: it is still open).
fn recover(core: &Core, backoff: &mut Backoff, take_down: bool) {
    if !backoff.due() {
        return;
    }
    if let Err(e) = probe(&core.config.data_dir) {
        core.health.set_reason(e.to_string());
        return;
    }
    backoff.consume();
    let started = Instant::now();
    if take_down {
        tracing::warn!("storage: the resource is back; reopening the database");
        core.take_down();
    }
    match reopen(core) {
        Ok(()) => {
            core.health.heal();
            tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                "storage: database reopened, writes accepted again"
            );
        }
        Err(e) => {
            tracing::error!("storage: cannot reopen the database yet: {e}");
            core.health.enter(
                Phase::Closed,
                Some(format!("cannot reopen the database: {e}")),
            );
        }
    }
}

/// Opens the database again (once every handle on the old one is gone) and installs it.
fn reopen(core: &Core) -> Result<()> {
    thread::sleep(SETTLE);
    let started = Instant::now();
    let mut warned = false;
    let storage = loop {
        if core.health.stopping() {
            return Err(EngineError::Unavailable("the engine is stopping".into()));
        }
        match Storage::open(&core.config) {
            Ok(s) => break s,
            Err(EngineError::Storage(fjall::Error::Locked)) => {
                if !warned && started.elapsed() > LOCK_WARN {
                    tracing::warn!("storage: waiting for operations still using the old database before reopening it");
                    warned = true;
                }
                thread::sleep(LOCK_RETRY);
            }
            Err(e) => return Err(e),
        }
    };
    let loaded = storage::load(&storage)?;
    core.install(storage, loaded, true)
}

impl Core {
    /// Lets go of every handle on the database (step 1 of a reopen): waits for operations in
    /// flight while refusing new ones, then drops storage, tables and the log's keyspace, and
    /// fails the durability tickets still waiting.
    fn take_down(&self) {
        self.health.enter(Phase::Closed, None);
        self.closing.store(true, Ordering::Release);
        {
            let _gate = self.gate.write();
            let _ddl = self.ddl.lock();
            self.syncer
                .suspend("the database is being reopened after a storage failure");
            *self.current.write() = None;
            self.tables.write().clear();
            self.log.detach();
        }
        self.closing.store(false, Ordering::Release);
    }

    /// Makes a freshly opened database the engine's (at start, and as step 3 of a reopen).
    pub(crate) fn install(&self, storage: Storage, loaded: Loaded, reopened: bool) -> Result<()> {
        let _gate = self.gate.write();
        let _ddl = self.ddl.lock();
        self.log.attach(storage.log.clone())?;
        self.next_id.fetch_max(loaded.next_id, Ordering::SeqCst);
        *self.tables.write() = loaded.tables;
        if reopened {
            // Before the new database is visible to the fsync thread: tickets of the old one
            // that no fsync covered must never be reported durable.
            self.syncer.restart();
        }
        *self.current.write() = Some(Arc::new(storage));
        Ok(())
    }
}

/// Writes, fsyncs and removes a file in the data directory while holding a few more file
/// descriptors: `Ok` when the resource that failed (space, descriptors) is likely back.
fn probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(PROBE_FILE);
    let result = (|| {
        let mut file = std::fs::File::create(&path)?;
        let spare = (0..PROBE_DESCRIPTORS)
            .map(|_| std::fs::File::open(&path))
            .collect::<std::io::Result<Vec<_>>>()?;
        file.write_all(&vec![0u8; PROBE_BYTES])?;
        file.sync_all()?;
        drop(spare);
        Ok(())
    })();
    let _removed = std::fs::remove_file(&path);
    result
}

/// Spaces reopen attempts: the first at once, then doubling while they keep failing soon.
#[derive(Default)]
struct Backoff {
    last: Option<Instant>,
    delay: Duration,
}

impl Backoff {
    fn due(&self) -> bool {
        self.last.is_none_or(|t| t.elapsed() >= self.delay)
    }

    fn consume(&mut self) {
        self.delay = match self.last {
            Some(t) if t.elapsed() < BACKOFF_RESET => {
                (self.delay * 2).clamp(MIN_BACKOFF, MAX_BACKOFF)
            }
            _ => MIN_BACKOFF,
        };
        self.last = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_attempts_back_off_while_they_keep_failing() {
        let mut b = Backoff::default();
        assert!(b.due());
        b.consume();
        assert_eq!(b.delay, MIN_BACKOFF);
        assert!(!b.due());
        b.last = Instant::now().checked_sub(MIN_BACKOFF);
        assert!(b.due());
        b.consume();
        assert_eq!(b.delay, MIN_BACKOFF * 2);
    }

    #[test]
    fn the_probe_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        probe(dir.path()).expect("probe");
        assert!(!dir.path().join(PROBE_FILE).exists());
        assert!(probe(&dir.path().join("missing")).is_err());
    }
}
