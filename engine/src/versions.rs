//! Per-item versions for global tables: what a version is, how two compare, how one is
//! stored. Applying changes replicated from other regions with them is `replicated.rs`.
//!
//! Each item of a replicated table has a version: the hybrid-logical-clock timestamp of the
//! change that made its current state and the region where that change was made. A deleted
//! item keeps its version as a tombstone, so a late, older write cannot bring it back.
//! Versions live in keyspace `v<table id>` (storage key -> [`Version`]), written in the same
//! batch as the item and its change-log record.
//!
//! Conflicts resolve per item by last writer wins on `(hlc, origin)`: applying a replicated
//! change is idempotent and order-independent, so regions that saw the same changes in any
//! order hold the same state. A local write always wins over what is stored, because the
//! local clock moves past every replicated timestamp it applies.

use std::cmp::Ordering;

use crate::error::{EngineError, Result};

/// The version of an item (or of its tombstone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub hlc: u64,
    pub origin: String,
    pub deleted: bool,
    /// When this version was written here (tombstone garbage collection).
    pub at_ms: u64,
}

/// The clock and origin of a change replicated from another region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    pub hlc: u64,
    pub origin: String,
}

/// What applying a replicated change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The change won and was written (with its change-log record).
    Written,
    /// The item already had this state; only its version moved.
    VersionOnly,
    /// The item's version is newer or equal: nothing changed (also a duplicate delivery).
    Stale,
}

pub fn keyspace_name(table_id: u64) -> String {
    format!("v{table_id}")
}

/// Last writer wins: the greater `(hlc, origin)`.
pub fn compare(a: (u64, &str), b: (u64, &str)) -> Ordering {
    a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1))
}

impl Version {
    /// `hlc (u64 BE) ‖ at_ms (u64 BE) ‖ deleted (u8) ‖ origin`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + self.origin.len());
        out.extend_from_slice(&self.hlc.to_be_bytes());
        out.extend_from_slice(&self.at_ms.to_be_bytes());
        out.push(u8::from(self.deleted));
        out.extend_from_slice(self.origin.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Version> {
        let corrupt = || EngineError::Internal("corrupt item version".into());
        if bytes.len() < 17 {
            return Err(corrupt());
        }
        Ok(Version {
            hlc: u64::from_be_bytes(bytes[..8].try_into().map_err(|_| corrupt())?),
            at_ms: u64::from_be_bytes(bytes[8..16].try_into().map_err(|_| corrupt())?),
            deleted: bytes[16] != 0,
            origin: String::from_utf8(bytes[17..].to_vec()).map_err(|_| corrupt())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip_and_order() {
        let v = Version {
            hlc: 42 << 16 | 3,
            origin: "eu-west-1".into(),
            deleted: true,
            at_ms: 1234,
        };
        assert_eq!(Version::decode(&v.encode()).expect("decode"), v);
        assert!(Version::decode(b"short").is_err());
        assert_eq!(compare((2, "a"), (1, "z")), Ordering::Greater);
        assert_eq!(compare((1, "b"), (1, "a")), Ordering::Greater);
        assert_eq!(compare((1, "a"), (1, "a")), Ordering::Equal);
    }
}
