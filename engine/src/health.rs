//! Whether the storage takes writes, and why not: the state the storage monitor
//! (`recovery.rs`) keeps and the write path checks, below both of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Phase {
    #[default]
    Healthy,
    /// fjall refuses writes; reads still work on the open database.
    Degraded,
    /// The database is not open (being reopened, or the last reopen failed).
    Closed,
}

#[derive(Default)]
struct State {
    phase: Phase,
    reason: String,
    /// When writes started failing (ms since the epoch).
    since_ms: u64,
}

#[derive(Default)]
struct Signal {
    poked: bool,
    stop: bool,
}

/// Whether the storage takes writes, and why not; wakes the monitor.
#[derive(Default)]
pub(crate) struct Health {
    /// Whether `state` is not healthy: the write path's check without taking the lock.
    failing: AtomicBool,
    state: Mutex<State>,
    signal: Mutex<Signal>,
    cond: Condvar,
}

impl Health {
    /// `None` while writes succeed; otherwise the reason and since when.
    pub(crate) fn describe(&self) -> Option<String> {
        if !self.failing.load(Ordering::Acquire) {
            return None;
        }
        let st = self.state.lock();
        match st.phase {
            Phase::Healthy => None,
            Phase::Degraded => Some(format!(
                "{} (writes failing since {})",
                st.reason,
                crate::clock::iso8601_seconds(st.since_ms)
            )),
            Phase::Closed => Some(format!(
                "{}; reopening the database (writes failing since {})",
                st.reason,
                crate::clock::iso8601_seconds(st.since_ms)
            )),
        }
    }

    /// A write failed: the monitor looks at once.
    pub(crate) fn poke(&self) {
        self.signal.lock().poked = true;
        self.cond.notify_all();
    }

    pub(crate) fn phase(&self) -> Phase {
        self.state.lock().phase
    }

    pub(crate) fn enter(&self, phase: Phase, reason: Option<String>) {
        let mut st = self.state.lock();
        if st.phase == Phase::Healthy {
            st.since_ms = crate::clock::now_ms();
        }
        st.phase = phase;
        if let Some(r) = reason {
            st.reason = r;
        }
        self.failing.store(true, Ordering::Release);
    }

    pub(crate) fn set_reason(&self, reason: String) {
        self.state.lock().reason = reason;
    }

    pub(crate) fn heal(&self) {
        let mut st = self.state.lock();
        st.phase = Phase::Healthy;
        st.reason.clear();
        self.failing.store(false, Ordering::Release);
    }

    /// Waits for a poke or `timeout`; `false` once the engine stops.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let mut signal = self.signal.lock();
        if !signal.poked && !signal.stop {
            self.cond.wait_for(&mut signal, timeout);
        }
        signal.poked = false;
        !signal.stop
    }

    pub(crate) fn stopping(&self) -> bool {
        self.signal.lock().stop
    }

    pub(crate) fn stop(&self) {
        self.signal.lock().stop = true;
        self.cond.notify_all();
    }
}
