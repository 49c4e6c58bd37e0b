//! What one instance may hold: MemorySize caps the sum of all its linear memories and tables
//! (a component is many core instances, each with its own memories and tables), checked at
//! every growth including the initial sizes at instantiation. Exceeding it traps the
//! invocation with [`MemoryExceeded`], reported as `Runtime.OutOfMemory`.

use wasmtime::ResourceLimiter;

/// Bytes a table element is counted as (wasmtime stores a pointer per element; counted
/// generously).
pub const TABLE_ELEMENT_BYTES: usize = 16;

/// Most core instances, memories and tables one invocation may create.
const MAX_INSTANCES: usize = 1_000;
const MAX_MEMORIES: usize = 100;
const MAX_TABLES: usize = 1_000;

/// The error a growth past the cap traps with.
#[derive(Debug, thiserror::Error)]
#[error("the instance needs more than its {limit} bytes of memory (MemorySize)")]
pub struct MemoryExceeded {
    pub limit: usize,
}

/// Counts every memory and table of one store against one cap.
#[derive(Debug)]
pub struct InstanceLimiter {
    limit: usize,
    used: usize,
    /// What the last permitted growth added, taken back if the growth then failed.
    last_growth: usize,
}

impl InstanceLimiter {
    pub fn new(limit: usize) -> InstanceLimiter {
        InstanceLimiter {
            limit,
            used: 0,
            last_growth: 0,
        }
    }

    /// Bytes held by memories and tables now.
    pub fn used(&self) -> usize {
        self.used
    }

    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let next = self
            .used
            .checked_sub(current)
            .and_then(|base| base.checked_add(desired))
            .filter(|next| *next <= self.limit);
        match next {
            Some(next) => {
                self.last_growth = next.saturating_sub(self.used);
                self.used = next;
                Ok(true)
            }
            None => Err(wasmtime::Error::new(MemoryExceeded { limit: self.limit })),
        }
    }
}

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = |n: usize| n.saturating_mul(TABLE_ELEMENT_BYTES);
        self.grow(bytes(current), bytes(desired))
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // Past the memory's own maximum (`memory.grow` returns -1, as the guest expects) or
        // refused by the OS: what was counted for it is not held.
        tracing::debug!("guest memory growth failed: {error:#}");
        self.used = self
            .used
            .saturating_sub(std::mem::take(&mut self.last_growth));
        Ok(())
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        tracing::debug!("guest table growth failed: {error:#}");
        self.used = self
            .used
            .saturating_sub(std::mem::take(&mut self.last_growth));
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_and_tables_share_one_cap() {
        let mut l = InstanceLimiter::new(1 << 20);
        assert!(l.memory_growing(0, 512 << 10, None).is_ok());
        // A second memory counts with the first.
        assert!(l.memory_growing(0, 512 << 10, None).is_ok());
        assert_eq!(l.used(), 1 << 20);
        let err = l.table_growing(0, 1, None).expect_err("over the cap");
        assert!(err.downcast_ref::<MemoryExceeded>().is_some());
        assert_eq!(l.used(), 1 << 20, "a refused growth takes nothing");
        let mut l = InstanceLimiter::new(1 << 20);
        assert!(l.table_growing(0, 1 << 16, None).is_ok());
        assert_eq!(l.used(), 1 << 20);
        assert!(l.memory_growing(0, 65_536, None).is_err());
        // A permitted growth that then failed (past the memory's maximum) is taken back.
        let before = l.used();
        let mut l2 = InstanceLimiter::new(4 << 20);
        assert!(l2.memory_growing(0, 1 << 20, None).is_ok_and(|ok| ok));
        assert!(l2.memory_grow_failed(wasmtime::Error::msg("max")).is_ok());
        assert_eq!(l2.used(), 0);
        assert_eq!(l.used(), before);
        // Bogus figures from the engine cannot underflow or overflow the count.
        assert!(l.memory_growing(usize::MAX, 0, None).is_err());
        assert!(l.memory_growing(0, usize::MAX, None).is_err());
    }
}
