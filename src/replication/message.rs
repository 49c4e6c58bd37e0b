//! What travels between regions. Subjects: `tributary.repl.<origin>.<table>` for item
//! changes, `tributary.repl.<origin>` for table-level messages (a global table's replica
//! set and schema, the end of a backfill, a backfill applied), so one consumer sees a
//! region's table messages and item changes in the order that region published them.
//! Payloads are JSON; items are in DynamoDB JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tributary_engine::catalog::Replica;

pub const PREFIX: &str = "tributary.repl";

/// One item change: the item after it (`n`, None for a delete), its key attributes, and
/// the version that orders it (last writer wins on `(h, o)`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ItemChange {
    /// Table name.
    pub t: String,
    /// Key attributes.
    pub k: Json,
    /// The item after the change; None: deleted.
    pub n: Option<Json>,
    /// Hybrid-logical-clock timestamp.
    pub h: u64,
    /// Origin region.
    pub o: String,
    /// Milliseconds since the epoch at commit in the origin (replication latency).
    pub ms: u64,
}

/// A global table's replica set (last writer wins on `(hlc, origin)`) and the CreateTable
/// request that makes the table in a region where it does not exist yet.
#[derive(Debug, Serialize, Deserialize)]
pub struct TableState {
    pub table: String,
    pub replicas: Vec<Replica>,
    pub hlc: u64,
    pub origin: String,
    pub create: Json,
}

/// The end of a backfill, published by the region that sent it after every backfilled item
/// (so after them in the stream): each listed region that applies it reports it applied.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackfillDone {
    pub table: String,
    /// The region that sent the backfill.
    pub from: String,
    /// The regions it was for, each with the id of the backfill its replica waits for.
    pub regions: Vec<(String, u64)>,
    /// How many items were sent.
    pub items: u64,
}

/// A region has applied a backfill, and every message before its end, durably: the region
/// that backfills the replica turns it ACTIVE.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackfillApplied {
    pub table: String,
    /// The region that applied it (the new replica).
    pub region: String,
    /// The backfill's id.
    pub id: u64,
    /// The region that sent it.
    pub from: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    Item(ItemChange),
    Table(TableState),
    BackfillDone(BackfillDone),
    BackfillApplied(BackfillApplied),
}

pub fn item_subject(origin: &str, table: &str) -> String {
    format!("{PREFIX}.{origin}.{table}")
}

pub fn table_subject(origin: &str) -> String {
    format!("{PREFIX}.{origin}")
}

/// The origin region named by a subject.
pub fn origin_of(subject: &str) -> Option<&str> {
    subject
        .strip_prefix(PREFIX)?
        .strip_prefix('.')?
        .split('.')
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_their_origin() {
        assert_eq!(
            item_subject("eu-west-1", "a.b"),
            "tributary.repl.eu-west-1.a.b"
        );
        assert_eq!(origin_of("tributary.repl.eu-west-1.a.b"), Some("eu-west-1"));
        assert_eq!(origin_of(&table_subject("us-east-1")), Some("us-east-1"));
        assert_eq!(origin_of("other.subject"), None);
    }

    #[test]
    fn messages_round_trip() {
        let m = Message::Item(ItemChange {
            t: "T".into(),
            k: serde_json::json!({"pk": {"S": "a"}}),
            n: None,
            h: 7,
            o: "us-east-1".into(),
            ms: 1,
        });
        let bytes = serde_json::to_vec(&m).expect("json");
        match serde_json::from_slice::<Message>(&bytes).expect("parse") {
            Message::Item(c) => assert_eq!((c.h, c.n.is_none()), (7, true)),
            _ => panic!("wrong kind"),
        }
    }
}
