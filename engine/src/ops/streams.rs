//! The DynamoDB Streams API over the change log: ListStreams, DescribeStream,
//! GetShardIterator, GetRecords.
//!
//! The stream model (what a stream is, its ARN, shard ids, sequence numbers, records and
//! shard iterators) is [`crate::stream`]; these are its four operations.

use serde_json::{json, Map, Value as Json};

use crate::catalog::Table;
use crate::clock::now_ms;
use crate::error::{EngineError, Result};
use crate::log::SHARDS;
use crate::request::{Request, Violations};
use crate::store::Engine;
use crate::stream::iterator::{IteratorKey, ShardIterator};
use crate::stream::{
    format_seq, parse_seq, parse_stream_arn, resolve, shard_id, stream_arn, stream_record,
};

/// Iterators expire 15 minutes after they were handed out.
const ITERATOR_TTL_MS: u64 = 15 * 60 * 1000;
/// GetRecords returns at most this much record data.
const MAX_RECORDS_BYTES: usize = 1024 * 1024;
/// Length limits of the Streams API's members.
const ARN_LEN: (usize, usize) = (37, 1024);
const SHARD_ID_LEN: (usize, usize) = (28, 65);
const SEQUENCE_NUMBER_LEN: (usize, usize) = (21, 40);

/// The Limit member, checked into `v` (1..=max); `default` when absent.
fn limit(req: &Request, v: &mut Violations, path: &str, max: i64, default: usize) -> Result<usize> {
    let l = req.int("Limit")?;
    v.at_least(l, path, 1);
    v.at_most(l, path, max);
    Ok(l.and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l >= 1)
        .map_or(default, |l| l.min(default)))
}

pub fn list_streams(engine: &Engine, req: &Request) -> Result<Json> {
    let table_filter = req.str("TableName")?;
    let start = req.str("ExclusiveStartStreamArn")?;
    let mut v = Violations::new();
    if table_filter.is_some() {
        v.table_ref(table_filter, "tableName");
    }
    if let Some(arn) = start {
        v.length(arn, "exclusiveStartStreamArn", ARN_LEN.0, ARN_LEN.1);
    }
    let limit = limit(req, &mut v, "limit", 100, 100)?;
    v.finish()?;
    if let Some(arn) = start {
        if parse_stream_arn(arn).is_none() {
            return Err(EngineError::validation(format!(
                "Invalid ExclusiveStartStreamArn: {arn}"
            )));
        }
    }
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
    // In ARN order, so that a page starts after ExclusiveStartStreamArn even when that stream
    // has gone since (its table deleted).
    all.sort();
    let rest: Vec<_> = all
        .iter()
        .filter(|(arn, _, _)| start.is_none_or(|s| arn.as_str() > s))
        .collect();
    let page = &rest[..rest.len().min(limit)];
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
    if page.len() < rest.len() {
        if let Some((arn, _, _)) = page.last() {
            out.insert("LastEvaluatedStreamArn".into(), json!(arn));
        }
    }
    Ok(Json::Object(out))
}

/// A member that names a stream ARN, or a shard id, checked into `v`.
fn check_len(v: &mut Violations, value: Option<&str>, path: &str, (min, max): (usize, usize)) {
    if let Some(s) = value {
        v.length(s, path, min, max);
    }
}

pub fn describe_stream(engine: &Engine, req: &Request) -> Result<Json> {
    let arn = req.str("StreamArn")?;
    let start = req.str("ExclusiveStartShardId")?;
    let filter = req
        .object("ShardFilter")?
        .map(|f| Request::from_map(f.clone()));
    let mut v = Violations::new();
    v.not_null(&arn, "streamArn");
    check_len(&mut v, arn, "streamArn", ARN_LEN);
    check_len(&mut v, start, "exclusiveStartShardId", SHARD_ID_LEN);
    let limit = limit(req, &mut v, "limit", 100, 100)?;
    let mut parent = None;
    if let Some(f) = &filter {
        let (kind, shard) = (f.str("Type")?, f.str("ShardId")?);
        v.one_of(kind, "shardFilter.type", &["CHILD_SHARDS"]);
        check_len(&mut v, shard, "shardFilter.shardId", SHARD_ID_LEN);
        parent = Some((kind, shard));
    }
    v.finish()?;
    let parent = match parent {
        Some((Some(_), Some(shard))) => Some(shard),
        Some((None, _)) => {
            return Err(EngineError::validation(
                "ShardFilter Type is required: the only filter is CHILD_SHARDS",
            ))
        }
        Some((Some(kind), None)) => {
            return Err(EngineError::validation(format!(
                "ShardFilter ShardId is required when its Type is {kind}"
            )))
        }
        None => None,
    };
    let s = resolve(engine, arn.unwrap_or_default())?;
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
    if let Some(parent) = parent {
        if !shards.iter().any(|(sid, _)| sid == parent) {
            return Err(shard_not_found(parent));
        }
        // The log's shards never split: no shard has children.
        shards.clear();
    }
    // Shard ids sort in shard order; a page starts after ExclusiveStartShardId, whether or not
    // that shard exists.
    let rest: Vec<_> = shards
        .iter()
        .filter(|(sid, _)| start.is_none_or(|st| sid.as_str() > st))
        .collect();
    let page = &rest[..rest.len().min(limit)];
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
    if page.len() < rest.len() {
        if let Some((sid, _)) = page.last() {
            desc.insert("LastEvaluatedShardId".into(), json!(sid));
        }
    }
    Ok(json!({ "StreamDescription": desc }))
}

fn shard_not_found(shard_id: &str) -> EngineError {
    EngineError::not_found(format!(
        "Requested resource not found: Shard does not exist: {shard_id}"
    ))
}

const ITERATOR_TYPES: [&str; 4] = [
    "TRIM_HORIZON",
    "LATEST",
    "AT_SEQUENCE_NUMBER",
    "AFTER_SEQUENCE_NUMBER",
];

pub fn get_shard_iterator(engine: &Engine, req: &Request) -> Result<Json> {
    let arn = req.str("StreamArn")?;
    let shard_id = req.str("ShardId")?;
    let kind = req.str("ShardIteratorType")?;
    let seq = req.str("SequenceNumber")?;
    let mut v = Violations::new();
    v.not_null(&arn, "streamArn");
    check_len(&mut v, arn, "streamArn", ARN_LEN);
    v.not_null(&shard_id, "shardId");
    check_len(&mut v, shard_id, "shardId", SHARD_ID_LEN);
    v.not_null(&kind, "shardIteratorType");
    v.one_of(kind, "shardIteratorType", &ITERATOR_TYPES);
    check_len(&mut v, seq, "sequenceNumber", SEQUENCE_NUMBER_LEN);
    v.finish()?;
    let (Some(arn), Some(shard_id), Some(kind)) = (arn, shard_id, kind) else {
        return Err(EngineError::validation(
            "StreamArn, ShardId and ShardIteratorType are required",
        ));
    };
    let by_number = matches!(kind, "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER");
    if by_number != seq.is_some() {
        return Err(EngineError::validation(format!(
            "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and a \
             SequenceNumber or (2) TRIM_HORIZON or LATEST and no SequenceNumber. Request \
             specified {kind} and {} SequenceNumber.",
            if seq.is_some() { "a" } else { "no" }
        )));
    }
    if let Some(seq) = seq {
        if !seq.bytes().all(|c| c.is_ascii_digit()) {
            return Err(EngineError::validation(format!(
                "Invalid SequenceNumber: {seq} (sequence numbers are decimal digits)"
            )));
        }
    }
    let s = resolve(engine, arn)?;
    let shard = s
        .shard_of_id(shard_id)
        .ok_or_else(|| shard_not_found(shard_id))?;
    let first = s.first_position(engine, shard);
    let position = match (kind, seq) {
        ("TRIM_HORIZON", _) => first,
        ("LATEST", _) => (engine.log().last_seq() + 1).clamp(first, s.end()),
        (_, Some(seq)) => {
            let n = parse_seq(seq)
                .filter(|n| *n >= s.epoch.start_seq && *n < s.end())
                .ok_or_else(|| {
                    EngineError::validation(format!(
                        "Invalid SequenceNumber: {seq} is not in shard {shard_id}"
                    ))
                })?;
            if n < first {
                return Err(EngineError::TrimmedDataAccess(format!(
                    "Attempted to access data that has been trimmed: sequence number {seq} is \
                     older than the trim horizon of shard {shard_id}"
                )));
            }
            if kind == "AT_SEQUENCE_NUMBER" {
                n
            } else {
                n.saturating_add(1)
            }
        }
        (_, None) => first,
    };
    let it = ShardIterator {
        arn: s.arn,
        shard,
        position,
        issued_ms: now_ms(),
    };
    let key = IteratorKey::of(engine)?;
    Ok(json!({ "ShardIterator": it.encode(&key)? }))
}

pub fn get_records(engine: &Engine, req: &Request) -> Result<Json> {
    let token = req.str("ShardIterator")?;
    let mut v = Violations::new();
    v.not_null(&token, "shardIterator");
    check_len(&mut v, token, "shardIterator", (1, 2048));
    let limit = limit(req, &mut v, "limit", 1000, 1000)?;
    v.finish()?;
    let key = IteratorKey::of(engine)?;
    let it = ShardIterator::decode(token.unwrap_or_default(), &key)
        .ok_or_else(|| EngineError::validation("Invalid ShardIterator"))?;
    let now = now_ms();
    if now.saturating_sub(it.issued_ms) > ITERATOR_TTL_MS {
        return Err(expired(it.issued_ms, now));
    }
    let s = resolve(engine, &it.arn)?;
    if usize::from(it.shard) >= usize::from(SHARDS) {
        return Err(EngineError::validation("Invalid ShardIterator"));
    }
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
        next = r.seq.saturating_add(1);
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
        let it = ShardIterator {
            position: next,
            issued_ms: now,
            ..it
        };
        body.insert("NextShardIterator".into(), json!(it.encode(&key)?));
    }
    Ok(Json::Object(body))
}

/// DynamoDB Streams' answer for an iterator used more than 15 minutes after it was handed out.
fn expired(issued_ms: u64, now: u64) -> EngineError {
    EngineError::ExpiredIterator(format!(
        "Iterator expired. The iterator was created at time {issued_ms} while right now it is \
         {now} which is further in the future than the tolerated delay of {ITERATOR_TTL_MS} \
         milliseconds."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineConfig;
    use crate::log::LogConfig;
    use crate::Durability;

    fn open(dir: &std::path::Path) -> Engine {
        Engine::open(EngineConfig {
            data_dir: dir.to_path_buf(),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            durability: Durability::Fsync,
            log: LogConfig::default(),
            max_cached_files: None,
        })
        .expect("open engine")
    }

    fn call(e: &Engine, op: &str, body: Json) -> Result<Json> {
        let streams = [
            "ListStreams",
            "DescribeStream",
            "GetShardIterator",
            "GetRecords",
        ];
        let bytes = body.to_string();
        let out = if streams.contains(&op) {
            e.call_streams(op, bytes.as_bytes())
        } else {
            e.call(op, bytes.as_bytes())
        }
        .expect("known operation")?;
        e.syncer().wait_blocking(out.ticket)?;
        Ok(serde_json::from_slice(&out.body.into_bytes()).expect("JSON"))
    }

    /// An iterator of the stream's first shard, and the stream's ARN.
    fn first_iterator(e: &Engine) -> (String, String) {
        let arn = call(e, "ListStreams", json!({}))
            .expect("list")
            .pointer("/Streams/0/StreamArn")
            .and_then(Json::as_str)
            .expect("a stream")
            .to_owned();
        let desc = call(e, "DescribeStream", json!({"StreamArn": arn})).expect("describe");
        let shard = desc
            .pointer("/StreamDescription/Shards/0/ShardId")
            .and_then(Json::as_str)
            .expect("a shard")
            .to_owned();
        let it = call(
            e,
            "GetShardIterator",
            json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .expect("iterator");
        (it["ShardIterator"].as_str().expect("token").to_owned(), arn)
    }

    #[test]
    fn iterators_expire_after_15_minutes_and_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let token = {
            let e = open(dir.path());
            call(
                &e,
                "CreateTable",
                json!({
                    "TableName": "events",
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"}
                }),
            )
            .expect("create");
            let (token, arn) = first_iterator(&e);
            let key = IteratorKey::of(&e).expect("key");
            let old = ShardIterator {
                arn,
                shard: 0,
                position: 0,
                issued_ms: now_ms() - ITERATOR_TTL_MS - 1000,
            };
            let err = call(
                &e,
                "GetRecords",
                json!({"ShardIterator": old.encode(&key).expect("encode")}),
            )
            .expect_err("expired");
            assert_eq!(err.code(), "ExpiredIteratorException");
            assert!(err.to_string().starts_with("Iterator expired."), "{err}");
            e.shutdown().expect("shutdown");
            token
        };
        // The key is kept in the data directory: an iterator handed out before a restart is
        // still good after it.
        let e = open(dir.path());
        let page = call(&e, "GetRecords", json!({"ShardIterator": token})).expect("records");
        assert!(page["NextShardIterator"].is_string(), "{page}");
    }
}
