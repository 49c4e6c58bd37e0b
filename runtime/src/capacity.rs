//! What running invocations may hold at once, across all functions: a number of concurrent
//! executions (`functions.max_concurrency`, Lambda's concurrency limit) and a memory budget
//! (`functions.memory_budget_mb`) from which every invocation reserves its MemorySize —
//! the cap its instance's memories and tables are held to — for as long as it runs. So the
//! sum of what concurrent guests can take is bounded whatever they do.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// Why an invocation could not start now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// All concurrent executions are in use.
    Concurrency,
    /// The memory budget has not enough left for this MemorySize.
    Memory,
    /// This MemorySize exceeds the whole budget: it can never run.
    TooLarge,
}

#[derive(Debug, Default)]
struct Held {
    running: usize,
    reserved_mb: u64,
}

/// The server's invocation capacity.
#[derive(Debug)]
pub struct Capacity {
    held: Mutex<Held>,
    freed: Condvar,
    pub max_concurrency: usize,
    pub budget_mb: u64,
}

/// A running invocation's share: one execution and its MemorySize, given back on drop.
#[derive(Debug)]
pub struct Reservation {
    capacity: Arc<Capacity>,
    mb: u64,
}

impl Capacity {
    pub fn new(max_concurrency: usize, budget_mb: u64) -> Arc<Capacity> {
        Arc::new(Capacity {
            held: Mutex::default(),
            freed: Condvar::new(),
            max_concurrency: max_concurrency.max(1),
            budget_mb: budget_mb.max(1),
        })
    }

    fn check(&self, held: &Held, mb: u64) -> Result<(), Refused> {
        if held.running >= self.max_concurrency {
            Err(Refused::Concurrency)
        } else if held.reserved_mb.saturating_add(mb) > self.budget_mb {
            Err(Refused::Memory)
        } else {
            Ok(())
        }
    }

    /// Reserves one execution and `mb` of the budget: at once, or (`wait`) once enough was
    /// given back. The bool says whether the caller had to wait (a throttle).
    pub fn reserve(self: &Arc<Self>, mb: u64, wait: bool) -> Result<(Reservation, bool), Refused> {
        if mb > self.budget_mb {
            return Err(Refused::TooLarge);
        }
        let mut held = self.held.lock();
        let mut throttled = false;
        while let Err(why) = self.check(&held, mb) {
            throttled = true;
            if !wait {
                return Err(why);
            }
            self.freed.wait(&mut held);
        }
        held.running += 1;
        held.reserved_mb += mb;
        Ok((
            Reservation {
                capacity: self.clone(),
                mb,
            },
            throttled,
        ))
    }

    /// (running invocations, reserved MB).
    pub fn in_use(&self) -> (usize, u64) {
        let h = self.held.lock();
        (h.running, h.reserved_mb)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut held = self.capacity.held.lock();
        held.running = held.running.saturating_sub(1);
        held.reserved_mb = held.reserved_mb.saturating_sub(self.mb);
        // Waiters need different amounts: let each look again.
        self.capacity.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_and_memory_both_bound() {
        let c = Capacity::new(3, 1024);
        let (a, _) = c.reserve(512, false).expect("first");
        let (b, _) = c.reserve(512, false).expect("second");
        assert_eq!(c.reserve(128, false).err(), Some(Refused::Memory));
        assert_eq!(c.reserve(2048, true).err(), Some(Refused::TooLarge));
        drop(a);
        let (_a, _) = c.reserve(128, false).expect("room again");
        let (_d, _) = c.reserve(128, false).expect("third");
        assert_eq!(c.reserve(128, false).err(), Some(Refused::Concurrency));
        assert_eq!(c.in_use(), (3, 768));
        drop(b);
        assert_eq!(c.in_use(), (2, 256));
    }

    #[test]
    fn a_waiter_runs_once_memory_is_given_back() {
        let c = Capacity::new(10, 1024);
        let (big, _) = c.reserve(1024, false).expect("all of it");
        let c2 = c.clone();
        let waiter = std::thread::spawn(move || c2.reserve(256, true).map(|(_, t)| t));
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(big);
        assert_eq!(waiter.join().expect("join"), Ok(true), "it waited");
        assert_eq!(c.in_use(), (0, 0));
    }
}
