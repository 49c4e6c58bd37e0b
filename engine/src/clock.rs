//! The wall clock, and the calendar forms in which the wire and the logs show a time.
//!
//! Every wall-clock reading (record and version times, the hybrid logical clock's physical
//! part, table creation times, Lambda's LastModified) comes from here; intervals and
//! deadlines use `std::time::Instant`, which is monotonic, instead. Calendar math and
//! formatting are the `time` crate's; each format below is pinned by a test, because clients
//! compare these strings byte for byte.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Milliseconds since the Unix epoch (0 if the system clock is set before it).
pub fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Seconds since the Unix epoch, to the millisecond: DynamoDB's and Lambda's epoch-seconds
/// numbers (`CreationDateTime`, `LastModified` of a mapping).
pub fn now_secs() -> f64 {
    now_ms() as f64 / 1000.0
}

/// Lambda's timestamps (a function's `LastModified`, on-failure records):
/// `2026-11-24T10:00:00.000+0000`.
const LAMBDA: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000");
/// RFC 3339 in UTC to the second: `2026-11-25T16:44:59Z`.
const SECONDS_UTC: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
/// A stream label, as DynamoDB shows one: `2026-11-24T10:00:00.000` (UTC, no offset).
const LABEL: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]");

/// Milliseconds since the epoch in Lambda's form: `2026-11-24T10:00:00.000+0000`.
pub fn iso8601_lambda(ms: u64) -> String {
    format(ms, LAMBDA)
}

/// Milliseconds since the epoch in RFC 3339, UTC, to the second: `2026-11-25T16:44:59Z`.
pub fn iso8601_seconds(ms: u64) -> String {
    format(ms, SECONDS_UTC)
}

/// Milliseconds since the epoch as a stream label: `2026-11-24T10:00:00.000`.
pub fn iso8601_label(ms: u64) -> String {
    format(ms, LABEL)
}

/// The UTC date and time `ms` after the epoch (the last representable instant, 9999-12-31,
/// for a time past it).
fn at(ms: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(PrimitiveDateTime::MAX.assume_utc())
}

fn format(ms: u64, description: &[BorrowedFormatItem<'_>]) -> String {
    // Formatting fails only for a component the value lacks (a UTC date-time has every one of
    // these) or a failed write (a String never fails): the empty string is unreachable.
    at(ms).format(description).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_timestamps() {
        assert_eq!(iso8601_lambda(0), "1970-01-01T00:00:00.000+0000");
        assert_eq!(
            iso8601_lambda(1_795_695_329_419),
            "2026-11-26T12:15:29.419+0000"
        );
        assert_eq!(
            iso8601_lambda(1_795_514_400_000),
            "2026-11-24T10:00:00.000+0000"
        );
        assert_eq!(
            iso8601_lambda(951_782_400_007),
            "2000-02-29T00:00:00.007+0000"
        );
    }

    #[test]
    fn seconds_in_utc() {
        assert_eq!(iso8601_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_seconds(1_795_625_099_123), "2026-11-25T16:44:59Z");
        // Truncated, not rounded.
        assert_eq!(iso8601_seconds(1_795_625_099_999), "2026-11-25T16:44:59Z");
    }

    #[test]
    fn stream_labels() {
        assert_eq!(iso8601_label(0), "1970-01-01T00:00:00.000");
        assert_eq!(iso8601_label(1_795_514_400_000), "2026-11-24T10:00:00.000");
        assert_eq!(iso8601_label(1_795_695_329_419), "2026-11-26T12:15:29.419");
        assert_eq!(iso8601_label(1_795_695_329_999), "2026-11-26T12:15:29.999");
    }

    #[test]
    fn calendar_edges() {
        // Leap days, the turn of a century that is not a leap year, and one that is.
        assert_eq!(iso8601_seconds(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_seconds(4_107_542_400_000), "2100-03-01T00:00:00Z");
        assert_eq!(iso8601_seconds(1_709_164_800_000), "2024-02-29T00:00:00Z");
        assert_eq!(iso8601_seconds(253_402_300_799_000), "9999-12-31T23:59:59Z");
        assert_eq!(iso8601_seconds(u64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn now_agrees_with_itself() {
        let (ms, secs) = (now_ms(), now_secs());
        assert!(ms > 1_700_000_000_000);
        assert!((secs - ms as f64 / 1000.0).abs() < 5.0);
    }
}
