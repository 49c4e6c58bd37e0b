//! Shard ids and sequence numbers as DynamoDB Streams shows them.

use crate::catalog::StreamEpoch;

/// Sequence numbers are shown as 21-digit decimals, as DynamoDB's are.
const SEQ_BASE: u128 = 100_000_000_000_000_000_000;

/// The SequenceNumber shown for a log position.
pub fn format_seq(seq: u64) -> String {
    (SEQ_BASE + u128::from(seq)).to_string()
}

/// The log position a SequenceNumber (digits only) names; `None` when it is outside the range
/// this server hands out.
pub(crate) fn parse_seq(s: &str) -> Option<u64> {
    let n: u128 = s.parse().ok()?;
    u64::try_from(n.checked_sub(SEQ_BASE)?).ok()
}

/// The ShardId DynamoDB Streams shows for one of a table's log shards.
pub fn shard_id(epoch: &StreamEpoch, table_id: u64, shard: u16) -> String {
    format!(
        "shardId-{:020}-{:04x}{shard:04x}",
        epoch.start_seq,
        table_id & 0xFFFF
    )
}
