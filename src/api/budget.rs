//! The memory that request bodies may hold at once (`server.max_request_memory_mb`).
//!
//! A DynamoDB request may carry 16 MB (and as much again once inflated), a Lambda request
//! about 70 MB, and thousands of connections may be open: without a shared bound, concurrent
//! large bodies could take more memory than the machine has. Each request reserves what its
//! body may take (its declared length, or the protocol's limit when it declares none, plus the
//! inflation limit for a compressed body) before the body is read, and holds it until its
//! answer is built. Requests that do not fit wait, up to half the body timeout (the other half
//! is left for reading the body); then they are answered 503 (Lambda: 429), which SDKs retry.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reservations are counted in KiB.
const UNIT: u64 = 1024;

pub struct Budget {
    permits: Arc<Semaphore>,
    /// The whole budget in KiB (a request never reserves more).
    total: u32,
}

/// A reservation, released when dropped.
pub struct Reserved {
    _permit: OwnedSemaphorePermit,
}

impl Budget {
    pub fn new(megabytes: u64) -> Budget {
        let kib = megabytes
            .saturating_mul(1024)
            .clamp(1, u64::from(u32::MAX / 2));
        let total = u32::try_from(kib).unwrap_or(u32::MAX / 2);
        Budget {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Reserves what a body described by `headers` may take: its declared length (at most
    /// `limit`) or `limit` when none is declared, and `inflated_limit` more when it is
    /// compressed. `None` when the reservation did not come within `wait`.
    pub async fn reserve(
        &self,
        headers: &HeaderMap,
        limit: u64,
        inflated_limit: u64,
        wait: Duration,
    ) -> Option<Reserved> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut bytes = declared.unwrap_or(limit).min(limit);
        if headers.contains_key(header::CONTENT_ENCODING) {
            bytes = bytes.saturating_add(inflated_limit);
        }
        let kib = bytes.div_ceil(UNIT).max(1);
        let kib = u32::try_from(kib).unwrap_or(u32::MAX).min(self.total);
        let acquire = self.permits.clone().acquire_many_owned(kib);
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(permit)) => Some(Reserved { _permit: permit }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_length(n: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        h
    }

    #[tokio::test]
    async fn reservations_wait_for_what_others_hold() {
        let budget = Budget::new(1); // 1024 KiB
        let short = Duration::from_millis(50);
        let a = budget
            .reserve(&with_length(600 * 1024), 16 << 20, 16 << 20, short)
            .await
            .expect("fits");
        // 600 + 600 KiB does not fit: the second waits, then gives up.
        assert!(budget
            .reserve(&with_length(600 * 1024), 16 << 20, 16 << 20, short)
            .await
            .is_none());
        // Small bodies still fit beside it.
        let b = budget
            .reserve(&with_length(100), 16 << 20, 16 << 20, short)
            .await
            .expect("small fits");
        drop(a);
        assert!(budget
            .reserve(&with_length(600 * 1024), 16 << 20, 16 << 20, short)
            .await
            .is_some());
        drop(b);
    }

    #[tokio::test]
    async fn undeclared_and_compressed_bodies_reserve_their_limits() {
        let budget = Budget::new(20); // 20 MiB
        let short = Duration::from_millis(50);
        // No Content-Length: the whole 16 MB limit.
        let a = budget
            .reserve(&HeaderMap::new(), 16 << 20, 16 << 20, short)
            .await
            .expect("fits");
        assert!(budget
            .reserve(&with_length(5 << 20), 16 << 20, 16 << 20, short)
            .await
            .is_none());
        drop(a);
        // Compressed: the declared length plus the inflation limit.
        let mut gz = with_length(1024);
        gz.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let b = budget
            .reserve(&gz, 16 << 20, 16 << 20, short)
            .await
            .expect("fits");
        assert!(budget
            .reserve(&with_length(5 << 20), 16 << 20, 16 << 20, short)
            .await
            .is_none());
        drop(b);
        // A request larger than the whole budget reserves the whole budget (it can run alone).
        let tiny = Budget::new(1);
        assert!(tiny
            .reserve(&with_length(10 << 20), 16 << 20, 0, short)
            .await
            .is_some());
    }
}
