//! The stream model: a DynamoDB stream as a window of a table's change log, and how DynamoDB
//! Streams names and shows it (ARN, shard ids, sequence numbers, records, shard iterators).
//!
//! A stream is a window of a table's change log ([`StreamEpoch`]); its shards are the log's
//! shards, which never split (so no shard has children). The Streams operations
//! (`ops/streams.rs`) and the trigger runtime's event-source mappings both read streams
//! through this model.

mod arn;
mod ids;
pub(crate) mod iterator;
mod record;

use std::sync::Arc;

use crate::catalog::{StreamEpoch, Table};
use crate::error::{EngineError, Result};
use crate::log::SHARDS;
use crate::store::Engine;

pub(crate) use arn::{parse_stream_arn, stream_arn};
pub(crate) use ids::parse_seq;
pub use ids::{format_seq, shard_id};
pub use record::stream_record;

/// A stream resolved from its ARN (also used by the trigger runtime's event-source mappings).
pub struct Stream {
    pub table: Arc<Table>,
    pub epoch: StreamEpoch,
    pub arn: String,
}

impl Stream {
    /// The first sequence number past the stream (u64::MAX while it is enabled).
    pub fn end(&self) -> u64 {
        self.epoch.end_seq.unwrap_or(u64::MAX)
    }

    /// The log shard a ShardId names, if it is one of this stream's.
    pub(crate) fn shard_of_id(&self, id: &str) -> Option<u16> {
        (0..SHARDS).find(|s| shard_id(&self.epoch, self.table.meta.id, *s) == id)
    }

    /// The first readable position of a shard (TRIM_HORIZON).
    pub fn first_position(&self, engine: &Engine, shard: u16) -> u64 {
        self.epoch
            .start_seq
            .max(engine.log().trim_horizon(self.table.meta.id, shard))
    }
}

fn not_found(arn: &str) -> EngineError {
    EngineError::not_found(format!(
        "Requested resource not found: Stream: {arn} not found"
    ))
}

/// The stream a StreamArn names: a validation error when the ARN is malformed, not found when
/// its table or stream does not exist (any more).
pub fn resolve(engine: &Engine, arn: &str) -> Result<Stream> {
    let (name, label) = parse_stream_arn(arn)
        .ok_or_else(|| EngineError::validation(format!("Invalid StreamArn: {arn}")))?;
    let table = engine.table(name).ok_or_else(|| not_found(arn))?;
    if stream_arn(engine, &table, label) != arn {
        return Err(not_found(arn));
    }
    let epoch = table
        .meta
        .streams
        .iter()
        .find(|e| e.label == label)
        .cloned()
        .ok_or_else(|| not_found(arn))?;
    Ok(Stream {
        table,
        epoch,
        arn: arn.to_owned(),
    })
}
