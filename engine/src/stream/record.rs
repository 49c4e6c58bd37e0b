//! A change-log record as a stream record, in the exact JSON shape of DynamoDB Streams (the
//! trigger runtime hands the same shape to functions).

use serde_json::{json, Map, Value as Json};

use super::{format_seq, Stream};
use crate::log::LogRecord;
use crate::store::Engine;
use crate::value::{item_size, item_to_json};

/// A log record in the exact JSON shape of DynamoDB Streams, and its size.
pub fn stream_record(engine: &Engine, s: &Stream, r: &LogRecord) -> (Json, usize) {
    let view = s.epoch.view_type;
    let mut d = Map::new();
    d.insert(
        "ApproximateCreationDateTime".into(),
        json!(r.created_ms / 1000),
    );
    d.insert("Keys".into(), item_to_json(&r.keys));
    let mut size = item_size(&r.keys);
    if view.has_new_image() {
        if let Some(n) = &r.new {
            d.insert("NewImage".into(), item_to_json(n));
            size += item_size(n);
        }
    }
    if view.has_old_image() {
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
