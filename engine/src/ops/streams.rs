//! The DynamoDB Streams API over the change log: ListStreams, DescribeStream,
//! GetShardIterator, GetRecords.
//!
//! A stream is a window of a table's change log ([`StreamEpoch`]); its shards are the log's
//! shards. Shard iterators are opaque, self-contained tokens (stream ARN, shard, position,
//! issue time), so the server keeps no iterator state.

use crate::log::now_ms;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value as Json};

use crate::catalog::{StreamEpoch, Table};
use crate::error::{EngineError, Result};
use crate::log::{LogRecord, SHARDS};
use crate::request::{Request, Violations};
use crate::store::Engine;
use crate::value::{item_size, item_to_json};

/// Iterators expire 15 minutes after they were handed out.
const ITERATOR_TTL_MS: u64 = 15 * 60 * 1000;
/// GetRecords returns at most this much record data.
const MAX_RECORDS_BYTES: usize = 1024 * 1024;
/// Sequence numbers are shown as 21-digit decimals, as DynamoDB's are.
const SEQ_BASE: u128 = 100_000_000_000_000_000_000;

pub fn format_seq(seq: u64) -> String {
    (SEQ_BASE + u128::from(seq)).to_string()
}

fn parse_seq(s: &str) -> Option<u64> {
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

/// A stream resolved from its ARN (also used by the trigger runtime's event-source mappings).
pub struct Stream {
    pub table: std::sync::Arc<Table>,
    pub epoch: StreamEpoch,
    pub arn: String,
}

impl Stream {
    /// The first sequence number past the stream (u64::MAX while it is enabled).
    pub fn end(&self) -> u64 {
        self.epoch.end_seq.unwrap_or(u64::MAX)
    }

    fn shard_of_id(&self, id: &str) -> Option<u16> {
        (0..SHARDS).find(|s| shard_id(&self.epoch, self.table.meta.id, *s) == id)
    }

    /// The first readable position of a shard (TRIM_HORIZON).
    pub fn first_position(&self, engine: &Engine, shard: u16) -> u64 {
        self.epoch
            .start_seq
            .max(engine.log().trim_horizon(self.table.meta.id, shard))
    }
}

fn stream_arn(engine: &Engine, table: &Table, label: &str) -> String {
    format!(
        "{}/stream/{label}",
        table.arn(engine.region(), engine.account())
    )
}

fn not_found(arn: &str) -> EngineError {
    EngineError::not_found(format!(
        "Requested resource not found: Stream: {arn} not found"
    ))
}

pub fn resolve(engine: &Engine, arn: &str) -> Result<Stream> {
    let (table_part, label) = arn
        .split_once("/stream/")
        .ok_or_else(|| EngineError::validation(format!("Invalid StreamArn: {arn}")))?;
    let name = table_part
        .rsplit_once(":table/")
        .map(|(_, n)| n)
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

fn required_str<'a>(req: &'a Request, field: &str, path: &str) -> Result<&'a str> {
    match req.str(field)? {
        Some(s) => Ok(s),
        None => {
            let mut v = Violations::new();
            v.not_null(&None::<()>, path);
            v.finish()?;
            Err(EngineError::validation(format!("{field} is required")))
        }
    }
}

fn limit(req: &Request, path: &str, max: i64, default: i64) -> Result<usize> {
    let l = req.int("Limit")?;
    let mut v = Violations::new();
    v.at_least(l, path, 1);
    v.at_most(l, path, max);
    v.finish()?;
    Ok(l.unwrap_or(default) as usize)
}

pub fn list_streams(engine: &Engine, req: &Request) -> Result<Json> {
    let limit = limit(req, "limit", 100, 100)?;
    let table_filter = req.str("TableName")?;
    let start = req.str("ExclusiveStartStreamArn")?;
    let tables: Vec<std::sync::Arc<Table>> = match table_filter {
        Some(name) => vec![engine.table(name).ok_or_else(|| {
            EngineError::not_found(format!(
                "Requested resource not found: Table: {name} not found"
            ))
        })?],
        None => engine
            .table_names()
            .iter()
            .filter_map(|n| engine.table(n))
            .collect(),
    };
    let mut all = Vec::new();
    for t in &tables {
        for e in &t.meta.streams {
            all.push((
                stream_arn(engine, t, &e.label),
                t.meta.name.clone(),
                e.label.clone(),
            ));
        }
    }
    let skip = match start {
        Some(arn) => all
            .iter()
            .position(|(a, _, _)| a == arn)
            .map_or(0, |i| i + 1),
        None => 0,
    };
    let page: Vec<_> = all.iter().skip(skip).take(limit).collect();
    let mut out = Map::new();
    out.insert(
        "Streams".into(),
        Json::Array(
            page.iter()
                .map(|(arn, table, label)| {
                    json!({"StreamArn": arn, "TableName": table, "StreamLabel": label})
                })
                .collect(),
        ),
    );
    if skip + page.len() < all.len() {
        if let Some((arn, _, _)) = page.last() {
            out.insert("LastEvaluatedStreamArn".into(), json!(arn));
        }
    }
    Ok(Json::Object(out))
}

pub fn describe_stream(engine: &Engine, req: &Request) -> Result<Json> {
    let arn = required_str(req, "StreamArn", "streamArn")?;
    let limit = limit(req, "limit", 100, 100)?;
    let start = req.str("ExclusiveStartShardId")?;
    let s = resolve(engine, arn)?;
    let id = s.table.meta.id;
    let mut shards = Vec::new();
    for shard in 0..SHARDS {
        let sid = shard_id(&s.epoch, id, shard);
        let first = s.first_position(engine, shard);
        let head = engine.log().read(id, shard, first, s.end(), 1)?;
        let mut range = Map::new();
        let starting = head.first().map_or(first, |r| r.seq);
        range.insert("StartingSequenceNumber".into(), json!(format_seq(starting)));
        if let Some(end) = s.epoch.end_seq {
            let last = engine
                .log()
                .last_before(id, shard, first, end)?
                .unwrap_or(starting);
            range.insert("EndingSequenceNumber".into(), json!(format_seq(last)));
        }
        shards.push((sid, Json::Object(range)));
    }
    let skip = match start {
        Some(sid) => shards
            .iter()
            .position(|(s, _)| s == sid)
            .map_or(0, |i| i + 1),
        None => 0,
    };
    let page: Vec<_> = shards.iter().skip(skip).take(limit).collect();
    let mut desc = Map::new();
    desc.insert("StreamArn".into(), json!(s.arn));
    desc.insert("StreamLabel".into(), json!(s.epoch.label));
    let status = if s.epoch.end_seq.is_some() {
        "DISABLED"
    } else {
        "ENABLED"
    };
    desc.insert("StreamStatus".into(), json!(status));
    desc.insert("StreamViewType".into(), json!(s.epoch.view_type));
    desc.insert("CreationRequestDateTime".into(), json!(s.epoch.created_at));
    desc.insert("TableName".into(), json!(s.table.meta.name));
    let mut key_schema =
        vec![json!({"AttributeName": s.table.meta.hash_key.name, "KeyType": "HASH"})];
    if let Some(r) = &s.table.meta.range_key {
        key_schema.push(json!({"AttributeName": r.name, "KeyType": "RANGE"}));
    }
    desc.insert("KeySchema".into(), Json::Array(key_schema));
    desc.insert(
        "Shards".into(),
        Json::Array(
            page.iter()
                .map(|(sid, range)| json!({"ShardId": sid, "SequenceNumberRange": range}))
                .collect(),
        ),
    );
    if skip + page.len() < shards.len() {
        if let Some((sid, _)) = page.last() {
            desc.insert("LastEvaluatedShardId".into(), json!(sid));
        }
    }
    Ok(json!({ "StreamDescription": desc }))
}

/// The position a shard iterator reads from next.
struct Iter {
    arn: String,
    shard: u16,
    position: u64,
    issued_ms: u64,
}

impl Iter {
    fn encode(&self) -> String {
        let raw = format!(
            "v1|{}|{}|{}|{}",
            self.shard, self.position, self.issued_ms, self.arn
        );
        B64.encode(raw)
    }

    fn decode(token: &str) -> Option<Iter> {
        let raw = String::from_utf8(B64.decode(token).ok()?).ok()?;
        let mut parts = raw.splitn(5, '|');
        if parts.next()? != "v1" {
            return None;
        }
        Some(Iter {
            shard: parts.next()?.parse().ok()?,
            position: parts.next()?.parse().ok()?,
            issued_ms: parts.next()?.parse().ok()?,
            arn: parts.next()?.to_owned(),
        })
    }
}

pub fn get_shard_iterator(engine: &Engine, req: &Request) -> Result<Json> {
    let arn = req.str("StreamArn")?;
    let shard_id = req.str("ShardId")?;
    let kind = req.str("ShardIteratorType")?;
    let mut v = Violations::new();
    v.not_null(&arn, "streamArn");
    v.not_null(&shard_id, "shardId");
    v.not_null(&kind, "shardIteratorType");
    v.one_of(
        kind,
        "shardIteratorType",
        &[
            "TRIM_HORIZON",
            "LATEST",
            "AT_SEQUENCE_NUMBER",
            "AFTER_SEQUENCE_NUMBER",
        ],
    );
    v.finish()?;
    let (Some(arn), Some(shard_id), Some(kind)) = (arn, shard_id, kind) else {
        return Err(EngineError::validation(
            "StreamArn, ShardId and ShardIteratorType are required",
        ));
    };
    let seq = req.str("SequenceNumber")?;
    let s = resolve(engine, arn)?;
    let shard = s.shard_of_id(shard_id).ok_or_else(|| {
        EngineError::not_found(format!(
            "Requested resource not found: Shard does not exist: {shard_id}"
        ))
    })?;
    let first = s.first_position(engine, shard);
    let position = match kind {
        "TRIM_HORIZON" => first,
        "LATEST" => (engine.log().last_seq() + 1).clamp(first, s.end()),
        _ => {
            let Some(seq) = seq else {
                return Err(EngineError::validation(format!(
                    "Must specify a SequenceNumber when ShardIteratorType is {kind}"
                )));
            };
            let n = parse_seq(seq)
                .ok_or_else(|| EngineError::validation(format!("Invalid SequenceNumber: {seq}")))?;
            if n < s.epoch.start_seq || n >= s.end() {
                return Err(EngineError::validation(format!(
                    "Invalid SequenceNumber: {seq} is not in shard {shard_id}"
                )));
            }
            if n < first {
                return Err(EngineError::TrimmedDataAccess(format!(
                    "Attempted to access data that has been trimmed: sequence number {seq} is \
                     older than the trim horizon of shard {shard_id}"
                )));
            }
            if kind == "AT_SEQUENCE_NUMBER" {
                n
            } else {
                n + 1
            }
        }
    };
    let it = Iter {
        arn: s.arn,
        shard,
        position,
        issued_ms: now_ms(),
    };
    Ok(json!({ "ShardIterator": it.encode() }))
}

pub fn get_records(engine: &Engine, req: &Request) -> Result<Json> {
    let token = req.str("ShardIterator")?;
    let mut v = Violations::new();
    v.not_null(&token, "shardIterator");
    if let Some(t) = token {
        if t.len() > 2048 {
            v.add(
                Some(t),
                "shardIterator",
                "Member must have length less than or equal to 2048",
            );
        }
    }
    let limit = {
        let l = req.int("Limit")?;
        v.at_least(l, "limit", 1);
        v.at_most(l, "limit", 1000);
        l.unwrap_or(1000) as usize
    };
    v.finish()?;
    let token = token.unwrap_or_default();
    let it = Iter::decode(token).ok_or_else(|| EngineError::validation("Invalid ShardIterator"))?;
    let now = now_ms();
    if now.saturating_sub(it.issued_ms) > ITERATOR_TTL_MS {
        return Err(EngineError::ExpiredIterator(format!(
            "Iterator expired. The iterator was created at time {} while right now it is {} \
             which is further in the future than the tolerated delay of {ITERATOR_TTL_MS} \
             milliseconds.",
            it.issued_ms, now
        )));
    }
    let s = resolve(engine, &it.arn)?;
    let first = s.first_position(engine, it.shard);
    if it.position < first {
        return Err(EngineError::TrimmedDataAccess(
            "Attempted to access data that has been trimmed: the shard iterator points before \
             the trim horizon"
                .into(),
        ));
    }
    let id = s.table.meta.id;
    let records = engine
        .log()
        .read(id, it.shard, it.position, s.end(), limit)?;
    let mut out = Vec::with_capacity(records.len());
    let mut bytes = 0;
    let mut next = it.position;
    for r in &records {
        let (json, size) = stream_record(engine, &s, r);
        if !out.is_empty() && bytes + size > MAX_RECORDS_BYTES {
            break;
        }
        bytes += size;
        out.push(json);
        next = r.seq + 1;
    }
    let mut body = Map::new();
    body.insert("Records".into(), Json::Array(out));
    // A disabled stream's shard is closed: once read to its end there is no next iterator.
    let closed_and_done = s.epoch.end_seq.is_some()
        && engine
            .log()
            .read(id, it.shard, next, s.end(), 1)?
            .is_empty();
    if !closed_and_done {
        let it = Iter {
            position: next,
            issued_ms: now,
            ..it
        };
        body.insert("NextShardIterator".into(), json!(it.encode()));
    }
    Ok(Json::Object(body))
}

/// A log record in the exact JSON shape of DynamoDB Streams, and its size.
pub fn stream_record(engine: &Engine, s: &Stream, r: &LogRecord) -> (Json, usize) {
    let view = s.epoch.view_type.as_str();
    let mut d = Map::new();
    d.insert(
        "ApproximateCreationDateTime".into(),
        json!(r.created_ms / 1000),
    );
    d.insert("Keys".into(), item_to_json(&r.keys));
    let mut size = item_size(&r.keys);
    if matches!(view, "NEW_IMAGE" | "NEW_AND_OLD_IMAGES") {
        if let Some(n) = &r.new {
            d.insert("NewImage".into(), item_to_json(n));
            size += item_size(n);
        }
    }
    if matches!(view, "OLD_IMAGE" | "NEW_AND_OLD_IMAGES") {
        if let Some(o) = &r.old {
            d.insert("OldImage".into(), item_to_json(o));
            size += item_size(o);
        }
    }
    d.insert("SequenceNumber".into(), json!(format_seq(r.seq)));
    d.insert("SizeBytes".into(), json!(size));
    d.insert("StreamViewType".into(), json!(view));
    let mut rec = Map::new();
    rec.insert(
        "eventID".into(),
        json!(format!("{:016x}{:016x}", r.table_id, r.seq)),
    );
    rec.insert("eventName".into(), json!(r.event.as_str()));
    rec.insert("eventVersion".into(), json!("1.1"));
    rec.insert("eventSource".into(), json!("aws:dynamodb"));
    rec.insert("awsRegion".into(), json!(engine.region()));
    rec.insert("dynamodb".into(), Json::Object(d));
    // The log keeps Lambda's form ({"type", "principalId"}); the Streams API's Identity shape
    // capitalizes its members.
    if let Some(ui) = &r.user_identity {
        rec.insert(
            "userIdentity".into(),
            json!({"Type": ui["type"], "PrincipalId": ui["principalId"]}),
        );
    }
    (Json::Object(rec), size)
}
