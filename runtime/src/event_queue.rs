//! Asynchronous invocations (`InvocationType: Event`), as Lambda runs them: each event is
//! persisted in the keyspace `async_events` (`<seq u64 BE>` -> [`QueuedEvent`] JSON) before
//! Invoke answers 202, and a dispatcher thread runs the events in order of due time whenever
//! the server's capacity (concurrency, memory budget) has room. A function error (handler
//! error, trap, timeout, out of memory) is retried twice, after one delay and then twice
//! that delay (Lambda: one minute, then two); events older than the maximum age are
//! discarded. The queue is bounded (`functions.async_queue_size`): when it is full, Invoke
//! answers TooManyRequestsException instead of accepting an event it would drop. Events
//! survive a restart (at least once: one running at a crash runs again).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use tributary_engine::clock::now_ms;
use tributary_engine::durability::Ticket;
use tributary_engine::Engine;

use crate::functions::{FunctionError, Functions};

/// The asynchronous queue's bounds and retry behaviour.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    /// Most events queued (or running) at once.
    pub max_events: usize,
    /// Wait before the first retry; the second waits twice as long.
    pub retry_delay: Duration,
    /// Retries after a function error (Lambda's default MaximumRetryAttempts: 2).
    pub max_retries: u32,
    /// Events older than this are discarded (Lambda's default MaximumEventAgeInSeconds: 6 h).
    pub max_age: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            max_events: 10_000,
            retry_delay: Duration::from_secs(60),
            max_retries: 2,
            max_age: Duration::from_secs(6 * 3600),
        }
    }
}

/// One queued invocation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct QueuedEvent {
    pub function: String,
    pub payload: String,
    pub request_id: String,
    pub enqueued_ms: u64,
    /// Invocations made so far.
    pub attempts: u32,
    /// Not before this time (ms since the epoch).
    pub due_ms: u64,
}

#[derive(Default)]
struct State {
    /// Events waiting, by (due time, sequence number).
    due: BTreeSet<(u64, u64)>,
    /// Events stored: waiting or running.
    stored: usize,
    next_seq: u64,
}

pub(crate) struct EventQueue {
    ks: tributary_engine::AuxKeyspace,
    settings: QueueSettings,
    state: Mutex<State>,
    wake: Condvar,
}

fn storage(e: impl std::fmt::Display) -> FunctionError {
    FunctionError::Storage(e.to_string())
}

impl EventQueue {
    /// Opens the queue with the events a previous run left.
    pub(crate) fn open(db: &Engine, settings: QueueSettings) -> Result<EventQueue, FunctionError> {
        let ks = db.aux_keyspace("async_events")?;
        let mut state = State::default();
        for g in ks.prefix([])? {
            let (k, v) = g.into_inner()?;
            let Ok(seq) = <[u8; 8]>::try_from(&k[..]).map(u64::from_be_bytes) else {
                continue;
            };
            state.next_seq = state.next_seq.max(seq.saturating_add(1));
            match serde_json::from_slice::<QueuedEvent>(&v) {
                Ok(ev) => {
                    state.due.insert((ev.due_ms, seq));
                    state.stored += 1;
                }
                Err(e) => {
                    tracing::error!(seq, "unreadable queued event dropped: {e}");
                    ks.remove(k)?;
                }
            }
        }
        if state.stored > 0 {
            tracing::info!(
                events = state.stored,
                "asynchronous invocations resumed from the queue"
            );
        }
        Ok(EventQueue {
            ks,
            settings,
            state: Mutex::new(state),
            wake: Condvar::new(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.state.lock().stored
    }

    fn put(&self, seq: u64, ev: &QueuedEvent) -> Result<(), FunctionError> {
        self.ks
            .insert(seq.to_be_bytes(), serde_json::to_vec(ev).map_err(storage)?)?;
        Ok(())
    }

    /// Adds an event; refused (TooManyRequestsException) when the queue is full. Returns
    /// its request id and the ticket after which it is durable.
    pub(crate) fn push(
        &self,
        function: &str,
        payload: &str,
        db: &Engine,
    ) -> Result<(String, Option<Ticket>), FunctionError> {
        let now = now_ms();
        let ev = QueuedEvent {
            function: function.to_owned(),
            payload: payload.to_owned(),
            request_id: uuid::Uuid::new_v4().to_string(),
            enqueued_ms: now,
            attempts: 0,
            due_ms: now,
        };
        let seq = {
            let mut st = self.state.lock();
            if st.stored >= self.settings.max_events {
                crate::metrics::throttled(function);
                return Err(FunctionError::Throttled {
                    message: format!(
                        "Rate Exceeded. The asynchronous invocation queue is full ({} events, functions.async_queue_size); try again later",
                        self.settings.max_events
                    ),
                    reason: "FunctionInvocationRateLimitExceeded",
                });
            }
            st.stored += 1;
            let seq = st.next_seq;
            st.next_seq = seq.saturating_add(1);
            seq
        };
        if let Err(e) = self.put(seq, &ev) {
            self.state.lock().stored -= 1;
            return Err(e);
        }
        let ticket = db.syncer().ticket();
        let mut st = self.state.lock();
        st.due.insert((ev.due_ms, seq));
        self.wake.notify_all();
        Ok((ev.request_id, ticket))
    }

    /// The next due event, taken off the waiting set; waits up to `patience` for one.
    fn next(&self, patience: Duration) -> Option<(u64, QueuedEvent)> {
        let mut st = self.state.lock();
        let deadline = std::time::Instant::now() + patience;
        loop {
            let now = now_ms();
            match st.due.first().copied() {
                Some((due, seq)) if due <= now => {
                    st.due.remove(&(due, seq));
                    drop(st);
                    return match self.ks.get(seq.to_be_bytes()) {
                        Ok(Some(v)) => match serde_json::from_slice(&v) {
                            Ok(ev) => Some((seq, ev)),
                            Err(e) => {
                                tracing::error!(seq, "unreadable queued event dropped: {e}");
                                self.done(seq);
                                None
                            }
                        },
                        Ok(None) => {
                            self.forget(seq);
                            None
                        }
                        Err(e) => {
                            tracing::error!(seq, "cannot read a queued event (retrying): {e}");
                            self.state
                                .lock()
                                .due
                                .insert((now.saturating_add(1000), seq));
                            None
                        }
                    };
                }
                next => {
                    let until = next.map_or(deadline, |(due, _)| {
                        let wait = Duration::from_millis(due.saturating_sub(now));
                        deadline.min(std::time::Instant::now() + wait)
                    });
                    if std::time::Instant::now() >= deadline {
                        return None;
                    }
                    self.wake.wait_until(&mut st, until);
                }
            }
        }
    }

    fn forget(&self, _seq: u64) {
        let mut st = self.state.lock();
        st.stored = st.stored.saturating_sub(1);
    }

    /// The event is finished (succeeded, or given up): removed from the queue.
    fn done(&self, seq: u64) {
        if let Err(e) = self.ks.remove(seq.to_be_bytes()) {
            tracing::error!(seq, "cannot remove a finished event from the queue: {e}");
        }
        self.forget(seq);
    }

    /// The event runs again at `ev.due_ms`.
    fn again(&self, seq: u64, ev: &QueuedEvent) {
        if let Err(e) = self.put(seq, ev) {
            tracing::error!(seq, "cannot reschedule a queued event: {e}");
        }
        self.state.lock().due.insert((ev.due_ms, seq));
        self.wake.notify_all();
    }
}

/// Starts the thread that runs queued events (it stops when `stop` is set or the functions
/// are dropped).
pub(crate) fn start_dispatcher(
    functions: &Arc<Functions>,
    stop: Arc<AtomicBool>,
) -> Result<(), FunctionError> {
    let weak = Arc::downgrade(functions);
    std::thread::Builder::new()
        .name("async-invocations".into())
        .spawn(move || dispatch(weak, stop))
        .map(|_| ())
        .map_err(|e| FunctionError::Storage(format!("cannot start the async dispatcher: {e}")))
}

fn dispatch(weak: Weak<Functions>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Some(f) = weak.upgrade() else {
            return;
        };
        let Some((seq, ev)) = f.queue.next(Duration::from_millis(500)) else {
            continue;
        };
        start(&f, seq, ev);
    }
}

/// Runs one due event on its own thread once the capacity has room for it.
fn start(f: &Arc<Functions>, seq: u64, ev: QueuedEvent) {
    let settings = &f.queue.settings;
    let age = Duration::from_millis(now_ms().saturating_sub(ev.enqueued_ms));
    if age > settings.max_age {
        tracing::warn!(
            function = %ev.function, request_id = %ev.request_id, attempts = ev.attempts,
            "asynchronous event discarded: older than the maximum event age ({:?})", settings.max_age
        );
        crate::metrics::async_discarded(&ev.function, "EventAgeExceeded");
        f.queue.done(seq);
        return;
    }
    let prepared = f
        .get(&ev.function)
        .and_then(|c| c.ok_or_else(|| f.not_found(&ev.function)))
        .and_then(|c| f.compiled(&c).map(|compiled| (c, compiled)));
    let (c, compiled) = match prepared {
        Ok(p) => p,
        Err(FunctionError::NotFound(_)) => {
            tracing::warn!(function = %ev.function, request_id = %ev.request_id, "asynchronous event discarded: the function no longer exists");
            crate::metrics::async_discarded(&ev.function, "FunctionDeleted");
            f.queue.done(seq);
            return;
        }
        Err(e) => {
            tracing::error!(function = %ev.function, "asynchronous event cannot start (retrying in 1 s): {e}");
            let mut ev = ev;
            ev.due_ms = now_ms().saturating_add(1000);
            f.queue.again(seq, &ev);
            return;
        }
    };
    // Waits while the capacity is used up: throttled events stay queued.
    let reservation = match f.reserve(&c, true) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(function = %ev.function, request_id = %ev.request_id, "asynchronous event discarded: {e}");
            crate::metrics::async_discarded(&ev.function, "CannotRun");
            f.queue.done(seq);
            return;
        }
    };
    let runner = f.clone();
    let spawned = std::thread::Builder::new()
        .name("async-invoke".into())
        .spawn(move || {
            // A panic below must not leave the event running forever: it fails this attempt.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runner.run(&c, &compiled, &ev.payload, reservation)
            }))
            .unwrap_or_else(|_| {
                Err(FunctionError::Runtime(crate::RuntimeError::Internal(
                    "the invocation panicked".into(),
                )))
            });
            finish(&runner, seq, ev, outcome);
        });
    if let Err(e) = spawned {
        tracing::error!(
            seq,
            "cannot start an asynchronous invocation (it stays queued): {e}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn finish(
    f: &Functions,
    seq: u64,
    mut ev: QueuedEvent,
    outcome: Result<crate::Invocation, FunctionError>,
) {
    ev.attempts = ev.attempts.saturating_add(1);
    let error = match outcome {
        Ok(inv) => {
            for l in &inv.logs {
                tracing::info!(function = %ev.function, level = l.level, "{}", l.message);
            }
            match inv.result {
                Ok(_) => {
                    f.queue.done(seq);
                    return;
                }
                Err(e) => format!("handler error: {e}"),
            }
        }
        Err(e) => e.to_string(),
    };
    let settings = &f.queue.settings;
    if ev.attempts > settings.max_retries {
        tracing::error!(
            function = %ev.function, request_id = %ev.request_id, attempts = ev.attempts,
            "asynchronous event discarded after {} attempts: {error}", ev.attempts
        );
        crate::metrics::async_discarded(&ev.function, "RetriesExhausted");
        f.queue.done(seq);
        return;
    }
    // One delay before the first retry, twice that before the second (1 min, 2 min).
    let delay = settings
        .retry_delay
        .saturating_mul(1u32 << ev.attempts.saturating_sub(1).min(16));
    tracing::warn!(
        function = %ev.function, request_id = %ev.request_id, attempt = ev.attempts,
        "asynchronous invocation failed, retrying in {delay:?}: {error}"
    );
    ev.due_ms = now_ms().saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
    f.queue.again(seq, &ev);
}
