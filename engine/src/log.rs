//! The change log: one record per item change, written in the same fjall batch as the item.
//!
//! Layout: keyspace `log`, key = `table id (u64 BE) ‖ shard (u16 BE) ‖ sequence number (u64
//! BE)`, value = the record as JSON. Each table's log has [`SHARDS`] shards chosen by the hash
//! of the item's partition key, so every change of one item lands in one shard, in order.
//! Sequence numbers come from one engine-wide counter assigned under the commit lock, so they
//! strictly increase within every shard and records become visible in sequence order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch};
use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};
use serde_json::Value as Json;
use tokio::sync::watch;

use crate::clock::now_ms;
use crate::error::{EngineError, Result};
use crate::value::{item_from_json, Item};

/// Shards per table.
pub const SHARDS: u16 = 4;
const LOG: &str = "log";
/// Catalog-like keys kept in the log keyspace itself, after every record key (0xFF prefix).
const TRIM_PREFIX: &[u8] = b"\xFFtrim/";

/// INSERT, MODIFY or REMOVE, as DynamoDB Streams names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventName {
    Insert,
    Modify,
    Remove,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
        }
    }

    fn parse(s: &str) -> Option<EventName> {
        match s {
            "INSERT" => Some(EventName::Insert),
            "MODIFY" => Some(EventName::Modify),
            "REMOVE" => Some(EventName::Remove),
            _ => None,
        }
    }
}

/// One change of one item.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    pub table: String,
    pub table_id: u64,
    pub shard: u16,
    pub seq: u64,
    pub event: EventName,
    pub keys: Item,
    pub old: Option<Item>,
    pub new: Option<Item>,
    /// Milliseconds since the epoch at commit.
    pub created_ms: u64,
    /// DynamoDB size of the item after (or, for REMOVE, before) the change.
    pub size: usize,
    /// Streams' `userIdentity`, set for changes made by the service (TTL deletions).
    pub user_identity: Option<Json>,
    /// Region whose client made the change.
    pub origin: String,
    /// Hybrid logical clock: milliseconds << 16 | logical counter.
    pub hlc: u64,
    /// How many trigger invocations led to this change (0 for a client's write): a write a
    /// handler makes while processing records of depth `d` has depth `d + 1` (see
    /// [`with_hops`]); trigger mappings stop delivering past a limit (recursive loops).
    pub hops: u8,
}

thread_local! {
    static HOPS: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// Runs `f` with the writes it makes on this thread recorded at depth `hops` (the trigger
/// runtime calls the engine synchronously on the invoking thread).
pub fn with_hops<R>(hops: u8, f: impl FnOnce() -> R) -> R {
    let before = HOPS.with(|h| h.replace(hops));
    let out = f();
    HOPS.with(|h| h.set(before));
    out
}

/// The stored form of a record: `created_ms (u64 BE) ‖ hlc (u64 BE) ‖ JSON body`; the
/// sequence number is in the key. The body is serialized before the commit lock is taken,
/// so only the header is written under it.
#[derive(serde::Serialize)]
struct StoredBody<'a> {
    t: &'a str,
    ev: &'static str,
    k: &'a Item,
    o: Option<&'a Item>,
    n: Option<&'a Item>,
    sz: usize,
    ui: Option<&'a Json>,
    or: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    h: u8,
}

fn is_zero(h: &u8) -> bool {
    *h == 0
}

const HEADER: usize = 16;

/// A record serialized and waiting for its sequence number (see [`ChangeLog::prepare`]).
pub struct Prepared {
    table_id: u64,
    shard: u16,
    body: Vec<u8>,
    /// A replicated change keeps its origin's clock.
    remote_hlc: Option<u64>,
    /// Global tables: where the item's version goes (keyspace, storage key, deleted, origin).
    version: Option<(Keyspace, Vec<u8>, bool, String)>,
}

impl LogRecord {
    fn decode(key: &[u8], value: &[u8]) -> Result<LogRecord> {
        let corrupt = || EngineError::Internal("corrupt change-log record".into());
        let (table_id, shard, seq) = split_key(key).ok_or_else(corrupt)?;
        let (created_ms, hlc) = header(value).ok_or_else(corrupt)?;
        let j: Json = serde_json::from_slice(&value[HEADER..]).map_err(|_| corrupt())?;
        let s = |k: &str| j[k].as_str().map(str::to_owned).ok_or_else(corrupt);
        let item = |k: &str| -> Result<Option<Item>> {
            match &j[k] {
                Json::Null => Ok(None),
                v => item_from_json(v).map(Some),
            }
        };
        Ok(LogRecord {
            table: s("t")?,
            table_id,
            shard,
            seq,
            event: EventName::parse(&s("ev")?).ok_or_else(corrupt)?,
            keys: item("k")?.unwrap_or_default(),
            old: item("o")?,
            new: item("n")?,
            created_ms,
            size: j["sz"].as_u64().ok_or_else(corrupt)? as usize,
            user_identity: Some(j["ui"].clone()).filter(|v| !v.is_null()),
            origin: s("or")?,
            hlc,
            hops: j["h"].as_u64().map_or(0, |h| h.min(255) as u8),
        })
    }
}

/// The first (table, shard) group with a record at or after `cursor`: its 10-byte prefix and
/// the largest record key it can hold.
fn next_group(ks: &Keyspace, cursor: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let next = ks
        .range(cursor.to_vec()..TRIM_PREFIX.to_vec())
        .next()
        .map(|g| g.key())
        .transpose()?;
    Ok(next.filter(|k| k.len() == 18).map(|first| {
        let group = first[..10].to_vec();
        let mut end = group.clone();
        end.extend_from_slice(&[0xFF; 8]);
        (group, end)
    }))
}

fn split_key(key: &[u8]) -> Option<(u64, u16, u64)> {
    let k: &[u8; 18] = key.try_into().ok()?;
    Some((
        u64::from_be_bytes(k[..8].try_into().ok()?),
        u16::from_be_bytes([k[8], k[9]]),
        u64::from_be_bytes(k[10..].try_into().ok()?),
    ))
}

fn header(value: &[u8]) -> Option<(u64, u64)> {
    Some((
        u64::from_be_bytes(value.get(..8)?.try_into().ok()?),
        u64::from_be_bytes(value.get(8..HEADER)?.try_into().ok()?),
    ))
}

/// A change to be recorded (the write path fills in sequence number, time and clock).
pub struct Change<'a> {
    pub table: &'a str,
    pub table_id: u64,
    /// The item's storage key (its first bytes are the partition-key hash).
    pub key: &'a [u8],
    pub keys: Item,
    pub old: Option<&'a Item>,
    pub new: Option<&'a Item>,
    pub size: usize,
    pub user_identity: Option<Json>,
    /// Set for a change replicated from another region (its origin and clock are kept).
    pub remote: Option<&'a crate::versions::Remote>,
    /// The table's versions keyspace, when the item's version must be kept (global tables).
    pub versions: Option<&'a Keyspace>,
}

/// Sequence-number and clock state, guarded by the commit lock.
pub struct CommitState {
    next_seq: u64,
    hlc: u64,
}

pub struct ChangeLog {
    /// The `log` keyspace of the engine's current database; `None` while it is reopened.
    ks: RwLock<Option<Keyspace>>,
    state: Mutex<CommitState>,
    /// The last committed sequence number: subscribers wait on it.
    last: watch::Sender<u64>,
    region: String,
    enabled: bool,
    retention: Duration,
    trim: Mutex<HashMap<(u64, u16), u64>>,
}

/// Change-log settings.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Bench-only: `false` writes no records (to measure the log's cost).
    pub enabled: bool,
    /// Records older than this are trimmed (DynamoDB Streams keeps 24 hours).
    pub retention: Duration,
    /// How often the trimmer runs.
    pub trim_every: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            enabled: true,
            retention: Duration::from_secs(24 * 3600),
            trim_every: Duration::from_secs(60),
        }
    }
}

/// The shard of an item: its storage key starts with the partition-key hash.
pub fn shard_of(storage_key: &[u8]) -> u16 {
    let h = match storage_key {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    };
    (h % u32::from(SHARDS)) as u16
}

fn record_key(table_id: u64, shard: u16, seq: u64) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[..8].copy_from_slice(&table_id.to_be_bytes());
    k[8..10].copy_from_slice(&shard.to_be_bytes());
    k[10..].copy_from_slice(&seq.to_be_bytes());
    k
}

impl ChangeLog {
    /// A change log without storage yet: [`ChangeLog::attach`] gives it its keyspace.
    pub fn new(region: &str, enabled: bool, retention: Duration) -> Self {
        let (last, _) = watch::channel(0);
        ChangeLog {
            ks: RwLock::new(None),
            state: Mutex::new(CommitState {
                next_seq: 1,
                hlc: 0,
            }),
            last,
            region: region.to_owned(),
            enabled,
            retention,
            trim: Mutex::new(HashMap::new()),
        }
    }

    /// The `log` keyspace of a database (opened or reopened).
    pub fn keyspace(db: &Database) -> Result<Keyspace> {
        Ok(db.keyspace(LOG, KeyspaceCreateOptions::default)?)
    }

    /// Starts (or, after the engine reopened its database, resumes) on `ks`: the next sequence
    /// number and the clock continue after the last record stored and after everything handed
    /// out before (so a number seen by a subscriber is never given again, even when its record
    /// did not survive the reopen); trim horizons are read back.
    pub fn attach(&self, ks: Keyspace) -> Result<()> {
        // The highest sequence number is the largest seq of any record; records are keyed by
        // table first, so look at the last record of every shard that has one.
        let mut max_seq = 0u64;
        let mut max_hlc = 0u64;
        let mut trim = HashMap::new();
        for guard in ks.prefix(TRIM_PREFIX) {
            let (k, v) = guard.into_inner()?;
            if let (Ok(id), Ok(seq)) = (
                <[u8; 10]>::try_from(&k[TRIM_PREFIX.len()..]),
                <[u8; 8]>::try_from(&v[..]),
            ) {
                let table =
                    u64::from_be_bytes([id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]]);
                let shard = u16::from_be_bytes([id[8], id[9]]);
                let seq = u64::from_be_bytes(seq);
                max_seq = max_seq.max(seq);
                trim.insert((table, shard), seq);
            }
        }
        let mut cursor: Vec<u8> = Vec::new();
        // Seek to the last record of each (table, shard) group.
        while let Some((group, end)) = next_group(&ks, &cursor)? {
            if let Some(g) = ks.range(group.clone()..=end.clone()).next_back() {
                let (k, v) = g.into_inner()?;
                if let (Some((_, _, seq)), Some((_, hlc))) = (split_key(&k), header(&v)) {
                    max_seq = max_seq.max(seq);
                    max_hlc = max_hlc.max(hlc);
                }
            }
            cursor = end;
            cursor.push(0);
        }
        {
            let mut state = self.state.lock();
            state.next_seq = state.next_seq.max(max_seq.saturating_add(1));
            state.hlc = state.hlc.max(max_hlc);
            let last = state.next_seq - 1;
            self.last.send_if_modified(|l| {
                let moved = *l < last;
                *l = (*l).max(last);
                moved
            });
        }
        *self.trim.lock() = trim;
        *self.ks.write() = Some(ks);
        Ok(())
    }

    /// Lets go of the keyspace (the engine is reopening its database): reads fail until
    /// [`ChangeLog::attach`].
    pub fn detach(&self) {
        *self.ks.write() = None;
    }

    fn ks(&self) -> Result<Keyspace> {
        self.ks.read().clone().ok_or_else(|| {
            EngineError::Unavailable(
                "the change log is unavailable while the database is reopened".into(),
            )
        })
    }

    /// Whether records are written (a bench-only switch turns it off).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Takes the commit lock: hold it from [`ChangeLog::append`] until the batch committed.
    pub fn lock(&self) -> MutexGuard<'_, CommitState> {
        self.state.lock()
    }

    /// Serializes a change's record (before the commit lock is taken).
    pub fn prepare(&self, c: Change<'_>) -> Result<Prepared> {
        let event = match (c.old, c.new) {
            (None, _) => EventName::Insert,
            (Some(_), Some(_)) => EventName::Modify,
            (Some(_), None) => EventName::Remove,
        };
        let origin = c.remote.map_or(self.region.as_str(), |r| r.origin.as_str());
        let mut body = vec![0u8; HEADER];
        serde_json::to_writer(
            &mut body,
            &StoredBody {
                t: c.table,
                ev: event.as_str(),
                k: &c.keys,
                o: c.old,
                n: c.new,
                sz: c.size,
                ui: c.user_identity.as_ref(),
                or: origin,
                h: HOPS.with(std::cell::Cell::get),
            },
        )?;
        Ok(Prepared {
            table_id: c.table_id,
            shard: shard_of(c.key),
            body,
            remote_hlc: c.remote.map(|r| r.hlc),
            version: c.versions.map(|ks| {
                (
                    ks.clone(),
                    c.key.to_vec(),
                    c.new.is_none(),
                    origin.to_owned(),
                )
            }),
        })
    }

    /// Under the commit lock: gives the record its sequence number, time and clock, and adds
    /// it to `batch`. Returns the sequence number.
    pub fn append(
        &self,
        state: &mut CommitState,
        batch: &mut OwnedWriteBatch,
        log: &Keyspace,
        mut p: Prepared,
    ) -> u64 {
        let seq = state.next_seq;
        state.next_seq += 1;
        let ms = now_ms();
        // Hybrid logical clock: a local change gets max(now, last + 1); a replicated change
        // keeps its origin's timestamp and moves the local clock past it, so every later local
        // change orders after it.
        let hlc = match p.remote_hlc {
            Some(remote) => {
                state.hlc = state.hlc.max(remote);
                remote
            }
            None => {
                state.hlc = (ms << 16).max(state.hlc + 1);
                state.hlc
            }
        };
        p.body[..8].copy_from_slice(&ms.to_be_bytes());
        p.body[8..HEADER].copy_from_slice(&hlc.to_be_bytes());
        if let Some((ks, key, deleted, origin)) = p.version.take() {
            let v = crate::versions::Version {
                hlc,
                origin,
                deleted,
                at_ms: ms,
            };
            batch.insert(&ks, key, v.encode());
        }
        batch.insert(log, record_key(p.table_id, p.shard, seq).to_vec(), p.body);
        seq
    }

    /// After a successful commit: wakes subscribers.
    pub fn published(&self, state: &CommitState) {
        self.last.send_replace(state.next_seq - 1);
    }

    /// Undoes sequence numbers handed out to a batch that failed to commit.
    pub fn rollback(&self, state: &mut CommitState, first_seq: u64) {
        state.next_seq = first_seq;
    }

    pub fn next_seq(&self) -> u64 {
        self.state.lock().next_seq
    }

    pub fn next_seq_locked(&self, state: &CommitState) -> u64 {
        state.next_seq
    }

    /// A subscription to commits: wakes at once when new records are committed.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.last.subscribe(),
        }
    }

    /// A fresh timestamp from the hybrid logical clock, after every change made so far
    /// (versions of table-level changes such as a global table's replica set).
    pub fn tick(&self) -> u64 {
        let mut state = self.state.lock();
        state.hlc = (now_ms() << 16).max(state.hlc + 1);
        state.hlc
    }

    /// Moves the clock past a timestamp seen from another region (HLC receive rule).
    pub fn observe_clock(&self, hlc: u64) {
        let mut state = self.state.lock();
        state.hlc = state.hlc.max(hlc);
    }

    pub fn last_seq(&self) -> u64 {
        *self.last.borrow()
    }

    /// Records of one shard with `from <= seq < to`, at most `limit`.
    pub fn read(
        &self,
        table_id: u64,
        shard: u16,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<LogRecord>> {
        if from >= to {
            return Ok(Vec::new());
        }
        let range =
            record_key(table_id, shard, from).to_vec()..record_key(table_id, shard, to).to_vec();
        let mut out = Vec::new();
        for guard in self.ks()?.range(range).take(limit) {
            let (k, v) = guard.into_inner()?;
            out.push(LogRecord::decode(&k, &v)?);
        }
        Ok(out)
    }

    /// The sequence number of the last record of one shard with `from <= seq < to`.
    pub fn last_before(
        &self,
        table_id: u64,
        shard: u16,
        from: u64,
        to: u64,
    ) -> Result<Option<u64>> {
        if from >= to {
            return Ok(None);
        }
        let range =
            record_key(table_id, shard, from).to_vec()..record_key(table_id, shard, to).to_vec();
        match self.ks()?.range(range).next_back() {
            Some(g) => {
                let k = g.key()?;
                Ok(k.get(10..18)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes))
            }
            None => Ok(None),
        }
    }

    /// The lowest sequence number that may still be read in a shard (everything below it was
    /// trimmed); 0 when nothing was trimmed.
    pub fn trim_horizon(&self, table_id: u64, shard: u16) -> u64 {
        self.trim
            .lock()
            .get(&(table_id, shard))
            .copied()
            .unwrap_or(0)
    }

    /// Deletes records older than the retention period; returns how many.
    /// `db` is the database `log`'s keyspace belongs to (the engine's current one).
    pub fn trim_expired(&self, db: &Database) -> Result<usize> {
        let cutoff = now_ms().saturating_sub(self.retention.as_millis() as u64);
        let mut removed = 0;
        let mut cursor: Vec<u8> = Vec::new();
        let ks = self.ks()?;
        while let Some((group, end)) = next_group(&ks, &cursor)? {
            let mut batch = db.batch();
            let mut horizon = None;
            for guard in ks.range(group.clone()..=end.clone()) {
                let (k, v) = guard.into_inner()?;
                let corrupt = || EngineError::Internal("corrupt change-log record".into());
                let (_, _, seq) = split_key(&k).ok_or_else(corrupt)?;
                let (created_ms, _) = header(&v).ok_or_else(corrupt)?;
                if created_ms >= cutoff {
                    break;
                }
                batch.remove(&ks, k.to_vec());
                horizon = Some(seq + 1);
                removed += 1;
                if removed % 10_000 == 0 {
                    break;
                }
            }
            if let Some(h) = horizon {
                let mut tk = TRIM_PREFIX.to_vec();
                tk.extend_from_slice(&group);
                batch.insert(&ks, tk, h.to_be_bytes().to_vec());
                batch.commit()?;
                let table = u64::from_be_bytes(group[..8].try_into().unwrap_or([0; 8]));
                let shard = u16::from_be_bytes([group[8], group[9]]);
                self.trim.lock().insert((table, shard), h);
                if removed % 10_000 == 0 {
                    continue; // more to trim in this shard
                }
            }
            cursor = end;
            cursor.push(0);
        }
        Ok(removed)
    }
}

/// Wakes its owner when records are committed (the runtime and replication use it instead
/// of polling): `after(seq).await` returns once a record with a higher sequence number exists,
/// then [`ChangeLog::read`] fetches them.
pub struct Subscription {
    rx: watch::Receiver<u64>,
}

impl Subscription {
    /// Waits until the last committed sequence number is above `seq`, and returns it.
    /// Returns at once if it already is; returns the current value if the log was closed.
    pub async fn after(&mut self, seq: u64) -> u64 {
        loop {
            let last = *self.rx.borrow_and_update();
            if last > seq {
                return last;
            }
            if self.rx.changed().await.is_err() {
                return *self.rx.borrow();
            }
        }
    }

    /// The last committed sequence number.
    pub fn last(&self) -> u64 {
        *self.rx.borrow()
    }
}

/// Runs [`ChangeLog::trim_expired`] every `every` until stopped.
pub struct Trimmer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Trimmer {
    pub fn start(
        log: Arc<ChangeLog>,
        source: crate::durability::DatabaseSource,
        every: Duration,
    ) -> Trimmer {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("log-trimmer".into())
            .spawn(move || loop {
                {
                    let mut stopped = s.0.lock();
                    if !*stopped {
                        s.1.wait_for(&mut stopped, every);
                    }
                    if *stopped {
                        return;
                    }
                }
                // The engine's current database, taken for this pass only (a reopen waits
                // for every handle on the old one to be dropped).
                let Some(db) = source() else {
                    continue;
                };
                match log.trim_expired(&db) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(records = n, "trimmed expired change-log records"),
                    Err(e) => tracing::warn!("change-log trimming failed: {e}"),
                }
            })
            .ok();
        Trimmer { stop, thread }
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _joined = t.join();
        }
    }
}
