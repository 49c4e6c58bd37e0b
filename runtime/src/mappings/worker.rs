//! The delivery loop of one mapping. For each shard of the stream, from its checkpoint:
//!
//! 1. read up to BatchSize records (fewer while bisecting a failing batch);
//! 2. give up records older than MaximumRecordAgeInSeconds (to the on-failure destination);
//! 3. wait for a fuller batch while MaximumBatchingWindowInSeconds allows;
//! 4. drop records that a chain of [`MAX_HOPS`] invocations wrote (recursive loops), and the
//!    ones FilterCriteria rejects;
//! 5. invoke the function — in up to ParallelizationFactor concurrent lanes, an item always
//!    in the same lane so its changes stay in order;
//! 6. on success persist the checkpoint past the batch; on failure move it to the first
//!    failed record (ReportBatchItemFailures tells which), then bisect, retry with backoff,
//!    or — retries exhausted — send the batch's description to the destination and skip it.
//!
//! New records wake the loop through the change log's subscription; nothing polls.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use tributary_engine::clock::now_ms;
use tributary_engine::log::{self, LogRecord, SHARDS};
use tributary_engine::stream::{self as streams, Stream};

use super::destination::{self, Condition, Failed};
use super::{MappingConfig, Mappings};
use crate::filter::Filters;
use crate::metrics;

/// Records written by a chain of this many invocations are not delivered (Lambda's recursive
/// loop detection stops a loop after about 16 invocations).
pub const MAX_HOPS: u8 = 16;

/// Why delivering a batch failed on the server's side (logged; the shard tries again a
/// second later from its checkpoint).
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    /// Reading or writing the mapping's checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] crate::functions::FunctionError),
    /// Reading the change log.
    #[error(transparent)]
    Log(#[from] tributary_engine::EngineError),
    #[error(transparent)]
    Destination(#[from] destination::DestinationError),
}

/// What a shard's delivery remembers between batches.
#[derive(Default)]
struct ShardState {
    /// The first sequence number of the batch that keeps failing, and its invocations.
    failing: Option<(u64, u32)>,
    last_error: Option<String>,
    /// While bisecting: the batch limit, and the last sequence number of the batch that
    /// first failed (bisection ends once the checkpoint is past it).
    bisect: Option<(usize, u64)>,
    /// Retry backoff: not before this instant.
    not_before: Option<Instant>,
}

/// What a mapping did lately, logged every [`SUMMARY_EVERY`] when it did anything.
struct Summary {
    since: Instant,
    batches: u64,
    records: u64,
    failed: u64,
    iterator_age_ms: u64,
}

const SUMMARY_EVERY: Duration = Duration::from_secs(10);

impl Summary {
    fn new() -> Summary {
        Summary {
            since: Instant::now(),
            batches: 0,
            records: 0,
            failed: 0,
            iterator_age_ms: 0,
        }
    }

    fn maybe_log(&mut self, c: &MappingConfig) {
        if self.since.elapsed() < SUMMARY_EVERY {
            return;
        }
        if self.batches > 0 {
            tracing::info!(
                mapping = %c.uuid, function = %c.function_name, batches = self.batches,
                records = self.records, failed_batches = self.failed,
                iterator_age_ms = self.iterator_age_ms,
                "delivered {} records in {} batches in the last {:.0} s",
                self.records, self.batches, self.since.elapsed().as_secs_f64()
            );
        }
        *self = Summary::new();
    }
}

enum Step {
    /// Nothing to deliver.
    Idle,
    /// Delivered, skipped or gave up records: look again at once.
    Progress,
    /// A partial batch is gathering (batching window) until then.
    Gather(Instant),
    /// The batch failed and will be retried.
    Retry,
}

fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

pub(super) fn run(m: Arc<Mappings>, c: MappingConfig, stop: Arc<AtomicBool>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(mapping = %c.uuid, "cannot start the mapping's clock: {e}");
            return;
        }
    };
    let filters = match Filters::parse(c.filter_criteria.as_ref()) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(mapping = %c.uuid, "invalid FilterCriteria: {e}");
            return;
        }
    };
    tracing::info!(mapping = %c.uuid, function = %c.function_name, stream = %c.event_source_arn, batch_size = c.batch_size, "event-source mapping started");
    let mut sub = m.db.log().subscribe();
    let mut shards: Vec<ShardState> = (0..SHARDS).map(|_| ShardState::default()).collect();
    let mut summary = Summary::new();
    while !stop.load(Ordering::Relaxed) {
        summary.maybe_log(&c);
        let seen = sub.last();
        let mut progressed = false;
        let mut wake: Option<Instant> = None;
        match streams::resolve(&m.db, &c.event_source_arn) {
            Ok(stream) => {
                for (shard, st) in (0..SHARDS).zip(shards.iter_mut()) {
                    if let Some(t) = st.not_before {
                        if t > Instant::now() {
                            wake = earliest(wake, t);
                            continue;
                        }
                        st.not_before = None;
                    }
                    match deliver(&m, &c, &filters, &stream, shard, st, &mut summary) {
                        Ok(Step::Idle) => {}
                        Ok(Step::Progress) => progressed = true,
                        Ok(Step::Gather(t)) => wake = earliest(wake, t),
                        Ok(Step::Retry) => {
                            if let Some(t) = st.not_before {
                                wake = earliest(wake, t);
                            }
                        }
                        Err(e) => {
                            tracing::error!(mapping = %c.uuid, shard, "delivery failed: {e}");
                            let t = Instant::now() + Duration::from_secs(1);
                            st.not_before = Some(t);
                            wake = earliest(wake, t);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::debug!(mapping = %c.uuid, "stream unavailable: {e}");
                wake = earliest(wake, Instant::now() + Duration::from_secs(1));
            }
        }
        if progressed {
            continue;
        }
        // Sleep until something is committed, a deadline comes, or a second passes (to
        // notice a stop request).
        let timeout = wake
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        let _ = rt.block_on(async { tokio::time::timeout(timeout, sub.after(seen)).await });
    }
}

/// One record as the handler sees it.
struct Delivered<'a> {
    record: &'a LogRecord,
    json: Json,
}

/// How one lane's invocation went.
enum LaneOutcome {
    Ok,
    /// Failed from this sequence number on; `whole` when the function failed (as opposed to
    /// reporting item failures).
    Failed {
        from: u64,
        error: String,
        whole: bool,
    },
}

#[allow(clippy::too_many_arguments)]
fn deliver(
    m: &Mappings,
    c: &MappingConfig,
    filters: &Filters,
    stream: &Stream,
    shard: u16,
    st: &mut ShardState,
    summary: &mut Summary,
) -> Result<Step, DeliveryError> {
    let db = &m.db;
    let first = stream.first_position(db, shard);
    let from = m.checkpoint(&c.uuid, shard)?.unwrap_or(first).max(first);
    let limit = st.bisect.map_or(c.batch_size as usize, |(l, _)| l);
    let records = db
        .log()
        .read(stream.table.meta.id, shard, from, stream.end(), limit)?;
    let Some(last) = records.last().map(|r| r.seq) else {
        return Ok(Step::Idle);
    };
    let now = now_ms();
    if c.max_record_age_secs >= 0 {
        let max_ms = c.max_record_age_secs.unsigned_abs().saturating_mul(1000);
        let expired = records
            .iter()
            .take_while(|r| now.saturating_sub(r.created_ms) > max_ms)
            .count();
        if expired > 0 {
            let attempts = st.failing.map_or(0, |(_, n)| n);
            give_up(
                m,
                c,
                stream,
                shard,
                st,
                &records[..expired],
                Condition::RecordAgeExceeded,
                attempts,
            )?;
            return Ok(Step::Progress);
        }
    }
    if records.len() < limit && c.max_batching_window_secs > 0 && st.failing.is_none() {
        let first_created = records.first().map_or(now, |r| r.created_ms);
        let due = first_created.saturating_add(c.max_batching_window_secs.saturating_mul(1000));
        if now < due {
            return Ok(Step::Gather(
                Instant::now() + Duration::from_millis(due - now),
            ));
        }
    }
    let deep = records.iter().filter(|r| r.hops >= MAX_HOPS).count();
    if deep > 0 {
        tracing::warn!(
            mapping = %c.uuid, function = %c.function_name, records = deep,
            "recursive loop detected: records written by a chain of {MAX_HOPS} invocations are not delivered"
        );
        metrics::recursive_loop(&c.function_name, deep);
    }
    let batch: Vec<Delivered<'_>> = records
        .iter()
        .filter(|r| r.hops < MAX_HOPS)
        .map(|r| {
            let mut j = streams::stream_record(db, stream, r).0;
            j["eventSourceARN"] = json!(c.event_source_arn);
            Delivered { record: r, json: j }
        })
        .filter(|d| filters.matches(&d.json))
        .collect();
    if batch.is_empty() {
        // Nothing here for the function (filtered out): skip it, as Lambda does.
        succeeded(m, c, shard, st, last)?;
        return Ok(Step::Progress);
    }
    summary.batches += 1;
    summary.records += batch.len() as u64;
    let outcomes = invoke_lanes(m, c, batch);
    if let Some(r) = records.last() {
        let age = now_ms().saturating_sub(r.created_ms);
        summary.iterator_age_ms = age;
        metrics::iterator_age(&c.function_name, &c.uuid, Duration::from_millis(age));
    }
    let failure = outcomes
        .into_iter()
        .filter_map(|o| match o {
            LaneOutcome::Ok => None,
            LaneOutcome::Failed { from, error, whole } => Some((from, error, whole)),
        })
        .min_by_key(|(from, _, _)| *from);
    let Some((failed_at, error, whole)) = failure else {
        succeeded(m, c, shard, st, last)?;
        return Ok(Step::Progress);
    };
    summary.failed += 1;
    // Everything before the first failed record is done.
    if failed_at > from {
        m.set_checkpoint(&c.uuid, shard, failed_at)?;
    }
    m.set_result(&c.uuid, "PROBLEM: Function call failed");
    let failing: Vec<LogRecord> = records
        .iter()
        .filter(|r| r.seq >= failed_at)
        .cloned()
        .collect();
    if c.bisect_on_error && whole && failing.len() > 1 {
        let end = st.bisect.map_or(last, |(_, e)| e.max(last));
        let half = failing.len().div_ceil(2);
        tracing::warn!(mapping = %c.uuid, function = %c.function_name, shard, records = failing.len(), "batch failed ({error}): bisecting into batches of {half}");
        st.bisect = Some((half, end));
        st.failing = None;
        return Ok(Step::Progress);
    }
    let attempts = match st.failing {
        Some((seq, n)) if seq == failed_at => n + 1,
        _ => 1,
    };
    st.failing = Some((failed_at, attempts));
    st.last_error = Some(error.clone());
    tracing::warn!(mapping = %c.uuid, function = %c.function_name, shard, attempt = attempts, records = failing.len(), "batch failed: {error}");
    if c.max_retry_attempts >= 0 && i64::from(attempts) > c.max_retry_attempts {
        give_up(
            m,
            c,
            stream,
            shard,
            st,
            &failing,
            Condition::RetryAttemptsExhausted,
            attempts,
        )?;
        return Ok(Step::Progress);
    }
    let backoff = Duration::from_millis(20u64 << attempts.saturating_sub(1).min(8))
        .min(Duration::from_secs(5));
    st.not_before = Some(Instant::now() + backoff);
    Ok(Step::Retry)
}

/// The batch up to `last` is done: persist the checkpoint past it.
fn succeeded(
    m: &Mappings,
    c: &MappingConfig,
    shard: u16,
    st: &mut ShardState,
    last: u64,
) -> Result<(), DeliveryError> {
    m.set_checkpoint(&c.uuid, shard, last + 1)?;
    st.failing = None;
    st.last_error = None;
    if st.bisect.is_some_and(|(_, end)| last >= end) {
        st.bisect = None;
    }
    m.set_result(&c.uuid, "OK");
    Ok(())
}

/// Gives up `records` (sends their description to the on-failure destination, if any) and
/// moves the checkpoint past them.
#[allow(clippy::too_many_arguments)]
fn give_up(
    m: &Mappings,
    c: &MappingConfig,
    stream: &Stream,
    shard: u16,
    st: &mut ShardState,
    records: &[LogRecord],
    condition: Condition,
    attempts: u32,
) -> Result<(), DeliveryError> {
    let Some(last) = records.last().map(|r| r.seq) else {
        return Ok(());
    };
    tracing::error!(
        mapping = %c.uuid, function = %c.function_name, shard, records = records.len(),
        condition = condition.as_str(), "skipping records"
    );
    destination::send(
        &m.db,
        c,
        stream,
        &Failed {
            records,
            shard,
            condition,
            attempts,
            error: st.last_error.clone(),
        },
    )?;
    succeeded(m, c, shard, st, last)
}

/// The lane of an item: a hash of its key, so all its changes go to one lane, in order.
fn lane_of(r: &LogRecord, lanes: usize) -> usize {
    if lanes <= 1 {
        return 0;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    tributary_engine::value::encode_item(&r.keys).hash(&mut h);
    (h.finish() % lanes as u64) as usize
}

fn invoke_lanes(m: &Mappings, c: &MappingConfig, batch: Vec<Delivered<'_>>) -> Vec<LaneOutcome> {
    let n = (c.parallelization_factor as usize).clamp(1, 10);
    let mut lanes: Vec<Vec<Delivered<'_>>> = (0..n).map(|_| Vec::new()).collect();
    for d in batch {
        let i = lane_of(d.record, n);
        if let Some(lane) = lanes.get_mut(i) {
            lane.push(d);
        }
    }
    lanes.retain(|l| !l.is_empty());
    if lanes.len() == 1 {
        return lanes.iter().map(|l| invoke(m, c, l)).collect();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = lanes
            .iter()
            .map(|l| s.spawn(move || invoke(m, c, l)))
            .collect();
        handles
            .into_iter()
            .zip(&lanes)
            .map(|(h, l)| {
                h.join().unwrap_or_else(|_| LaneOutcome::Failed {
                    from: l.first().map_or(0, |d| d.record.seq),
                    error: "the invocation thread panicked".into(),
                    whole: true,
                })
            })
            .collect()
    })
}

/// Invokes the function with one lane's records.
fn invoke(m: &Mappings, c: &MappingConfig, lane: &[Delivered<'_>]) -> LaneOutcome {
    let Some(first) = lane.first().map(|d| d.record.seq) else {
        return LaneOutcome::Ok;
    };
    let whole = |error: String| LaneOutcome::Failed {
        from: first,
        error,
        whole: true,
    };
    // Writes the handler makes are one hop deeper than the deepest record it was given.
    let hops = lane
        .iter()
        .map(|d| d.record.hops)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    let payload =
        json!({ "Records": lane.iter().map(|d| &d.json).collect::<Vec<_>>() }).to_string();
    let started = Instant::now();
    // A panic below fails this batch (retried), not the mapping's worker thread.
    let inv = log::with_hops(hops, || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            m.functions.invoke(&c.function_name, &payload, true)
        }))
    });
    let inv = match inv {
        Ok(Ok(inv)) => inv,
        Ok(Err(e)) => return whole(e.to_string()),
        Err(_) => return whole("the invocation panicked".into()),
    };
    for l in &inv.logs {
        tracing::info!(function = %c.function_name, level = l.level, "{}", l.message);
    }
    tracing::debug!(mapping = %c.uuid, function = %c.function_name, records = lane.len(), took_us = started.elapsed().as_micros() as u64, "invoked");
    metrics::delivered(&c.function_name, &c.uuid, lane.len());
    match inv.result {
        Err(e) => whole(format!("handler error: {e}")),
        Ok(response) if c.reports_item_failures() => item_failures(&response, lane),
        Ok(_) => LaneOutcome::Ok,
    }
}

/// Reads `{"batchItemFailures":[{"itemIdentifier":"<SequenceNumber>"}]}`. An empty or null
/// list (or no response) is success; an identifier that is missing, empty or not one of the
/// batch's sequence numbers fails the whole batch, as Lambda documents.
fn item_failures(response: &str, lane: &[Delivered<'_>]) -> LaneOutcome {
    let first = lane.first().map_or(0, |d| d.record.seq);
    let Ok(Json::Object(body)) = serde_json::from_str::<Json>(response) else {
        return LaneOutcome::Ok;
    };
    let failures = match body.get("batchItemFailures") {
        None | Some(Json::Null) => return LaneOutcome::Ok,
        Some(Json::Array(a)) => a,
        Some(_) => {
            return LaneOutcome::Failed {
                from: first,
                error: "batchItemFailures is not a list".into(),
                whole: true,
            }
        }
    };
    let mut earliest: Option<u64> = None;
    for f in failures {
        let id = f.get("itemIdentifier").and_then(Json::as_str).unwrap_or("");
        let seq = lane
            .iter()
            .map(|d| d.record.seq)
            .find(|s| streams::format_seq(*s) == id);
        let Some(seq) = seq else {
            return LaneOutcome::Failed {
                from: first,
                error: format!("invalid itemIdentifier {id:?} in batchItemFailures"),
                whole: true,
            };
        };
        earliest = Some(earliest.map_or(seq, |e: u64| e.min(seq)));
    }
    match earliest {
        None => LaneOutcome::Ok,
        Some(from) => LaneOutcome::Failed {
            from,
            error: format!("the function reported {} failed records", failures.len()),
            whole: false,
        },
    }
}
