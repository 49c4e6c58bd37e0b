//! On-failure destinations: when a batch is given up (retries exhausted, records too old),
//! its description — Lambda's on-failure invocation record for stream sources — is written
//! as an item into the DynamoDB table named by `DestinationConfig.OnFailure`, through the
//! same write path as any PutItem (so it is durable, in that table's stream, and can trigger).

use serde_json::{json, Map, Value as Json};
use tributary_engine::clock::{self, now_ms};
use tributary_engine::log::LogRecord;
use tributary_engine::stream::{self as streams, Stream};
use tributary_engine::Engine;

use super::config::{table_of_arn, MappingConfig};

/// Why a batch was given up (Lambda's `requestContext.condition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Condition::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// Why a batch could not be written to its on-failure destination.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("invalid destination {0}")]
    Invalid(String),
    #[error("destination {arn}: {source}")]
    Write {
        arn: String,
        source: tributary_engine::EngineError,
    },
    #[error("PutItem unavailable")]
    NoPutItem,
}

/// A batch that will not be retried.
pub struct Failed<'a> {
    pub records: &'a [LogRecord],
    pub shard: u16,
    pub condition: Condition,
    /// Invocations made for it.
    pub attempts: u32,
    /// The last error, if the function failed.
    pub error: Option<String>,
}

/// Lambda's form of a time: `2026-11-24T10:00:00.000+0000`.
fn iso(ms: u64) -> String {
    clock::iso8601_lambda(ms)
}

/// Lambda's on-failure record for a DynamoDB-stream batch.
pub fn record(
    db: &Engine,
    c: &MappingConfig,
    stream: &Stream,
    f: &Failed<'_>,
    now_ms: u64,
) -> Json {
    let (first, last) = match (f.records.first(), f.records.last()) {
        (Some(a), Some(b)) => (a, b),
        _ => return Json::Null,
    };
    let mut response = json!({"statusCode": 200, "executedVersion": "$LATEST"});
    if let Some(e) = &f.error {
        response["functionError"] = json!("Unhandled");
        response["errorMessage"] = json!(e);
    }
    json!({
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": format!("arn:aws:lambda:{}:{}:function:{}", db.region(), db.account(), c.function_name),
            "condition": f.condition.as_str(),
            "approximateInvokeCount": f.attempts,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": iso(now_ms),
        "DDBStreamBatchInfo": {
            "shardId": streams::shard_id(&stream.epoch, stream.table.meta.id, f.shard),
            "startSequenceNumber": streams::format_seq(first.seq),
            "endSequenceNumber": streams::format_seq(last.seq),
            "approximateArrivalOfFirstRecord": iso(first.created_ms),
            "approximateArrivalOfLastRecord": iso(last.created_ms),
            "batchSize": f.records.len(),
            "streamArn": stream.arn,
        },
    })
}

/// JSON as a DynamoDB attribute value (strings S, numbers N, booleans BOOL, objects M, lists L).
fn attribute(v: &Json) -> Json {
    match v {
        Json::Null => json!({"NULL": true}),
        Json::Bool(b) => json!({"BOOL": b}),
        Json::Number(n) => json!({"N": n.to_string()}),
        Json::String(s) => json!({"S": s}),
        Json::Array(a) => json!({"L": a.iter().map(attribute).collect::<Vec<_>>()}),
        Json::Object(m) => {
            json!({"M": m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect::<Map<_, _>>()})
        }
    }
}

/// Writes the on-failure record into the destination table and waits until it is durable.
/// The table's key attributes are filled in: a string key gets the request id (partition) or
/// the timestamp (sort), a number key the time in milliseconds, a binary key the request id.
pub fn send(
    db: &Engine,
    c: &MappingConfig,
    stream: &Stream,
    f: &Failed<'_>,
) -> Result<(), DestinationError> {
    let Some(arn) = &c.on_failure else {
        return Ok(());
    };
    let failed = |source| DestinationError::Write {
        arn: arn.clone(),
        source,
    };
    let name = table_of_arn(arn).ok_or_else(|| DestinationError::Invalid(arn.clone()))?;
    let table = db.require_table(name).map_err(failed)?;
    let now = now_ms();
    let rec = record(db, c, stream, f, now);
    let Json::Object(fields) = &rec else {
        return Ok(());
    };
    let mut item: Map<String, Json> = fields
        .iter()
        .map(|(k, v)| (k.clone(), attribute(v)))
        .collect();
    let request_id = rec["requestContext"]["requestId"]
        .as_str()
        .unwrap_or_default();
    let keys = std::iter::once((&table.meta.hash_key, request_id.to_owned()))
        .chain(table.meta.range_key.iter().map(|k| (k, iso(now))));
    for (key, text) in keys {
        let value = match key.ty.as_str() {
            "N" => json!({"N": now.to_string()}),
            "B" => {
                json!({"B": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &text)})
            }
            _ => json!({"S": text}),
        };
        item.insert(key.name.clone(), value);
    }
    let request = json!({"TableName": name, "Item": item}).to_string();
    let outcome = db
        .call("PutItem", request.as_bytes())
        .ok_or(DestinationError::NoPutItem)?
        .map_err(failed)?;
    db.syncer().wait_blocking(outcome.ticket).map_err(failed)?;
    tracing::warn!(
        mapping = %c.uuid, function = %c.function_name, condition = f.condition.as_str(),
        records = f.records.len(), destination = %arn, "batch sent to its on-failure destination"
    );
    Ok(())
}
