//! Open files: at start the soft open-file limit is raised to the hard limit, then the limit is
//! shared between client connections (`server.max_connections`, lowered if it does not fit)
//! and fjall's cache of open table files.

/// Descriptors kept aside for everything else: fjall's journals, the listener, NATS, function
/// artifacts, standard streams.
const RESERVED: u64 = 256;
/// fjall never needs more cached table files than this.
const MAX_CACHED_FILES: u64 = 65_536;
/// fjall's floor (it refuses fewer than 10).
const MIN_CACHED_FILES: u64 = 16;
/// The ceiling Linux puts on any process when the hard limit says "unlimited".
const NR_OPEN_DEFAULT: u64 = 1_048_576;

/// How the open-file limit was set and divided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft limit found at start.
    pub before: u64,
    /// The soft limit now.
    pub limit: u64,
    /// The hard limit (`u64::MAX`: unlimited).
    pub hard: u64,
    /// Client connections that may be open at once.
    pub max_connections: usize,
    /// Table files fjall may keep open.
    pub cached_files: usize,
}

/// Raises the soft open-file limit to the hard limit (logging what it did) and divides it.
pub fn raise_and_divide(configured_connections: usize) -> FdBudget {
    let (before, limit, hard) = raise();
    let budget = divide(limit, configured_connections);
    let budget = FdBudget {
        before,
        hard,
        ..budget
    };
    let hard_text = if hard == rlimit::INFINITY {
        "unlimited".to_owned()
    } else {
        hard.to_string()
    };
    if limit > before {
        tracing::info!("open-file limit raised from {before} to {limit} (hard limit {hard_text})");
    } else {
        tracing::info!("open-file limit {limit} (hard limit {hard_text})");
    }
    tracing::info!(
        "fjall keeps at most {} table files open; at most {} client connections",
        budget.cached_files,
        budget.max_connections
    );
    if budget.max_connections < configured_connections {
        tracing::warn!(
            "server.max_connections lowered from {configured_connections} to {} to fit the open-file limit {limit}",
            budget.max_connections
        );
    }
    budget
}

/// (soft limit before, soft limit after, hard limit).
fn raise() -> (u64, u64, u64) {
    let (soft, hard) = match rlimit::Resource::NOFILE.get() {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!("cannot read the open-file limit: {e}");
            return (1024, 1024, 1024);
        }
    };
    let target = if hard == rlimit::INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(NR_OPEN_DEFAULT)
    } else {
        hard
    };
    if soft >= target {
        return (soft, soft, hard);
    }
    match rlimit::Resource::NOFILE.set(target, hard) {
        Ok(()) => (soft, target, hard),
        Err(e) => {
            tracing::warn!("cannot raise the open-file limit from {soft} to {target}: {e}");
            (soft, soft, hard)
        }
    }
}

/// Connections get at most half of what is not reserved; fjall's cache the rest.
fn divide(limit: u64, configured_connections: usize) -> FdBudget {
    let usable = limit.saturating_sub(RESERVED).max(64);
    let connections = (configured_connections as u64).min(usable / 2).max(1);
    let cached = usable
        .saturating_sub(connections)
        .clamp(MIN_CACHED_FILES, MAX_CACHED_FILES);
    FdBudget {
        before: limit,
        limit,
        hard: limit,
        max_connections: usize::try_from(connections).unwrap_or(usize::MAX),
        cached_files: usize::try_from(cached).unwrap_or(usize::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_limit_keeps_the_configured_connections() {
        let b = divide(1_048_576, 4096);
        assert_eq!(b.max_connections, 4096);
        assert_eq!(b.cached_files, 65_536);
        let b = divide(20_000, 4096);
        assert_eq!(b.max_connections, 4096);
        assert_eq!(b.cached_files, 20_000 - 256 - 4096);
    }

    #[test]
    fn a_small_limit_is_shared() {
        let b = divide(1024, 4096);
        assert_eq!(b.max_connections, 384);
        assert_eq!(b.cached_files, 384);
        let b = divide(10, 4096);
        assert_eq!(b.max_connections, 32);
        assert_eq!(b.cached_files, 32);
    }
}
