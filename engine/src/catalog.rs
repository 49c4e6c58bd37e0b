//! Table definitions: what CreateTable stores, what DescribeTable shows, and how an item's key
//! is validated against a table's key schema.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use crate::error::{EngineError, Result};
use crate::keys;
use crate::schema::{
    BillingMode, KeyType, ReplicaStatus, ScalarType, SseType, StreamViewType, TableStatus,
};
use crate::value::{AttributeValue, Item};

// The key schema's parts and the statistics live below the catalog (indexes use them too).
pub use crate::key_schema::{
    check_key_value, KeyAttr, PrimaryKey, MAX_HASH_KEY_BYTES, MAX_KEY_NAME_BYTES,
    MAX_RANGE_KEY_BYTES,
};
pub use crate::stats::TableStats;

/// Maximum length of any other attribute name, in bytes (DynamoDB: 64 KB, the last accepted
/// length being 65,535).
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 65_535;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StreamSpec {
    pub enabled: bool,
    pub view_type: Option<StreamViewType>,
    /// Label of the current stream (set while enabled; a new one on every re-enable).
    pub label: Option<String>,
}

/// One stream of a table: the records from `start_seq` until the stream is disabled.
/// Every enable starts a new stream (new label, new ARN) over the same change log.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StreamEpoch {
    pub label: String,
    pub view_type: StreamViewType,
    /// First sequence number the stream shows.
    pub start_seq: u64,
    /// Set when disabled: the stream shows records below it only.
    pub end_seq: Option<u64>,
    /// Seconds since the epoch.
    pub created_at: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SseSpec {
    pub enabled: bool,
    pub sse_type: SseType,
    pub kms_key: Option<String>,
}

/// Everything the catalog persists about a table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableMeta {
    pub name: String,
    /// Never reused: names the table's items keyspace.
    pub id: u64,
    pub hash_key: KeyAttr,
    pub range_key: Option<KeyAttr>,
    /// (name, type) in the order given at creation.
    pub attribute_definitions: Vec<(String, ScalarType)>,
    pub billing_mode: BillingMode,
    pub read_capacity: u64,
    pub write_capacity: u64,
    pub last_increase: Option<f64>,
    pub last_decrease: Option<f64>,
    pub decreases_today: u64,
    pub pay_per_request_since: Option<f64>,
    pub stream: Option<StreamSpec>,
    /// Every stream the table has had, oldest first.
    #[serde(default)]
    pub streams: Vec<StreamEpoch>,
    pub sse: Option<SseSpec>,
    pub table_class: String,
    pub deletion_protection: bool,
    pub tags: Vec<(String, String)>,
    /// The TTL attribute while time to live is enabled.
    #[serde(default)]
    pub ttl_attribute: Option<String>,
    /// Global and local secondary indexes.
    #[serde(default)]
    pub indexes: Vec<crate::index::IndexMeta>,
    /// Seconds since the epoch.
    pub created_at: f64,
    /// Every region of a global table, this one included (empty: not global).
    #[serde(default)]
    pub replicas: Vec<Replica>,
    /// The version of `replicas` (last writer wins between regions): the clock of the
    /// change and the region that made it. 0 when the table was never global.
    #[serde(default)]
    pub replicas_hlc: u64,
    #[serde(default)]
    pub replicas_origin: String,
    /// The clock at which the table became global here: changes older than it were made
    /// before and are not replicated (the backfill carries their result).
    #[serde(default)]
    pub global_since: u64,
}

/// One replica region of a global table, as DescribeTable's `Replicas` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Replica {
    pub region: String,
    pub status: ReplicaStatus,
    /// Why the replica is in its status (DescribeTable's `ReplicaStatusDescription`), e.g.
    /// the region it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// While CREATING: the region that added the replica, which backfills it and turns it
    /// ACTIVE (None in replica sets written before it was recorded: the set's origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// While CREATING: the backfill under way (its id, the clock when it was decided); the
    /// replica turns ACTIVE when its region reports this backfill applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<u64>,
}

impl Replica {
    /// A replica that is ACTIVE.
    pub fn active(region: impl Into<String>) -> Replica {
        Replica {
            region: region.into(),
            status: ReplicaStatus::Active,
            description: None,
            source: None,
            backfill: None,
        }
    }

    /// A new replica, CREATING until `source` has backfilled it.
    pub fn creating(region: impl Into<String>, source: impl Into<String>) -> Replica {
        Replica {
            status: ReplicaStatus::Creating,
            source: Some(source.into()),
            ..Replica::active(region)
        }
    }
}

impl TableMeta {
    /// The table's primary key attributes.
    pub fn primary_key(&self) -> PrimaryKey<'_> {
        PrimaryKey {
            hash: &self.hash_key,
            range: self.range_key.as_ref(),
        }
    }

    /// Whether the table is replicated (keeps item versions and tombstones).
    pub fn is_global(&self) -> bool {
        !self.replicas.is_empty()
    }

    /// The region that backfills a CREATING replica and turns it ACTIVE: the region that
    /// added it while that region is still a replica, otherwise (it was removed, or the set
    /// predates `source`) the region that last changed the set.
    pub fn backfiller<'a>(&'a self, replica: &'a Replica) -> &'a str {
        match &replica.source {
            Some(s) if self.replicas.iter().any(|r| &r.region == s) => s,
            _ => &self.replicas_origin,
        }
    }
}

/// A table as the engine uses it: metadata, its items keyspace and its statistics.
pub struct Table {
    pub meta: TableMeta,
    pub items: fjall::Keyspace,
    /// Per-item versions (HLC, origin) and tombstones, kept while the table has replicas
    /// (see `versions.rs`).
    pub versions: fjall::Keyspace,
    pub stats: Arc<TableStats>,
    /// One per `meta.indexes` entry, in the same order.
    pub indexes: Vec<Arc<crate::index::Index>>,
}

impl Table {
    pub fn index(&self, name: &str) -> Option<&Arc<crate::index::Index>> {
        self.indexes.iter().find(|i| i.meta.name == name)
    }

    pub fn arn(&self, region: &str, account: &str) -> String {
        format!(
            "arn:aws:dynamodb:{region}:{account}:table/{}",
            self.meta.name
        )
    }

    /// Validates an item's key attributes and attribute names as PutItem does and returns its
    /// storage key.
    pub fn key_of_item(&self, item: &Item) -> Result<Vec<u8>> {
        check_attribute_names(item)?;
        self.key_of_stored_item(item)
    }

    /// The storage key of an item already stored (checks its key attributes only).
    pub fn key_of_stored_item(&self, item: &Item) -> Result<Vec<u8>> {
        let pk = self.item_key_attr(item, &self.meta.hash_key, true)?;
        let sk = match &self.meta.range_key {
            Some(r) => Some(self.item_key_attr(item, r, false)?),
            None => None,
        };
        Ok(keys::item_key(pk, sk))
    }

    fn item_key_attr<'a>(
        &self,
        item: &'a Item,
        attr: &KeyAttr,
        is_hash: bool,
    ) -> Result<&'a AttributeValue> {
        let v = item.get(&attr.name).ok_or_else(|| {
            EngineError::validation(format!(
                "One or more parameter values were invalid: Missing the key {} in the item",
                attr.name
            ))
        })?;
        if v.type_name() != attr.ty.as_str() {
            return Err(EngineError::validation(format!(
                "One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}",
                attr.name,
                attr.ty,
                v.type_name()
            )));
        }
        check_key_value(v, &attr.name, is_hash)?;
        Ok(v)
    }

    /// Validates a `Key` parameter (GetItem, DeleteItem, UpdateItem) and returns its storage key.
    pub fn key_of_key(&self, key: &Item) -> Result<Vec<u8>> {
        let mismatch =
            || EngineError::validation("The provided key element does not match the schema");
        let expected = 1 + usize::from(self.meta.range_key.is_some());
        if key.len() != expected {
            return Err(mismatch());
        }
        let get = |attr: &KeyAttr, is_hash: bool| -> Result<&AttributeValue> {
            let v = key.get(&attr.name).ok_or_else(mismatch)?;
            if v.type_name() != attr.ty.as_str() {
                return Err(mismatch());
            }
            check_key_value(v, &attr.name, is_hash)?;
            Ok(v)
        };
        let pk = get(&self.meta.hash_key, true)?;
        let sk = match &self.meta.range_key {
            Some(r) => Some(get(r, false)?),
            None => None,
        };
        Ok(keys::item_key(pk, sk))
    }

    /// The key attributes of an item (for LastEvaluatedKey and KEYS_ONLY projections).
    pub fn key_attributes(&self, item: &Item) -> Item {
        let mut out = Item::new();
        for attr in std::iter::once(&self.meta.hash_key).chain(self.meta.range_key.as_ref()) {
            if let Some(v) = item.get(&attr.name) {
                out.insert(attr.name.clone(), v.clone());
            }
        }
        out
    }

    pub fn is_key_attribute(&self, name: &str) -> bool {
        self.meta.hash_key.name == name
            || self.meta.range_key.as_ref().is_some_and(|r| r.name == name)
    }

    pub fn item_count(&self) -> i64 {
        self.stats.item_count.load(Ordering::Relaxed).max(0)
    }

    pub fn size_bytes(&self) -> i64 {
        self.stats.size_bytes.load(Ordering::Relaxed).max(0)
    }

    /// The TableDescription JSON of DescribeTable / CreateTable / DeleteTable.
    pub fn describe(&self, region: &str, account: &str, status: TableStatus) -> Json {
        let m = &self.meta;
        let mut key_schema =
            vec![json!({"AttributeName": m.hash_key.name, "KeyType": KeyType::Hash})];
        if let Some(r) = &m.range_key {
            key_schema.push(json!({"AttributeName": r.name, "KeyType": KeyType::Range}));
        }
        let defs: Vec<Json> = m
            .attribute_definitions
            .iter()
            .map(|(n, t)| json!({"AttributeName": n, "AttributeType": t}))
            .collect();
        let mut throughput = Map::new();
        if let Some(t) = m.last_increase {
            throughput.insert("LastIncreaseDateTime".into(), json!(t));
        }
        if let Some(t) = m.last_decrease {
            throughput.insert("LastDecreaseDateTime".into(), json!(t));
        }
        throughput.insert("NumberOfDecreasesToday".into(), json!(m.decreases_today));
        throughput.insert("ReadCapacityUnits".into(), json!(m.read_capacity));
        throughput.insert("WriteCapacityUnits".into(), json!(m.write_capacity));
        let arn = self.arn(region, account);
        let mut d = Map::new();
        d.insert("TableName".into(), json!(m.name));
        d.insert("TableId".into(), json!(table_uuid(m.id, m.created_at)));
        d.insert("TableArn".into(), json!(arn));
        // A replica this region joins is CREATING here until its backfill is applied.
        let joining = m
            .replicas
            .iter()
            .any(|r| r.region == region && r.status == ReplicaStatus::Creating);
        let status = if joining && status == TableStatus::Active {
            TableStatus::Creating
        } else {
            status
        };
        d.insert("TableStatus".into(), json!(status));
        d.insert("CreationDateTime".into(), json!(m.created_at));
        d.insert("KeySchema".into(), Json::Array(key_schema));
        d.insert("AttributeDefinitions".into(), Json::Array(defs));
        d.insert("ProvisionedThroughput".into(), Json::Object(throughput));
        d.insert("ItemCount".into(), json!(self.item_count()));
        d.insert("TableSizeBytes".into(), json!(self.size_bytes()));
        if m.billing_mode == BillingMode::PayPerRequest || m.pay_per_request_since.is_some() {
            let mut b = Map::new();
            b.insert("BillingMode".into(), json!(m.billing_mode));
            if let Some(t) = m.pay_per_request_since {
                b.insert("LastUpdateToPayPerRequestDateTime".into(), json!(t));
            }
            d.insert("BillingModeSummary".into(), Json::Object(b));
        }
        let provisioned = m.billing_mode == BillingMode::Provisioned;
        let gsis: Vec<Json> = self
            .indexes
            .iter()
            .filter(|i| i.meta.global)
            .map(|i| i.describe(&arn, provisioned))
            .collect();
        let lsis: Vec<Json> = self
            .indexes
            .iter()
            .filter(|i| !i.meta.global)
            .map(|i| i.describe(&arn, provisioned))
            .collect();
        if !gsis.is_empty() {
            d.insert("GlobalSecondaryIndexes".into(), Json::Array(gsis));
        }
        if !lsis.is_empty() {
            d.insert("LocalSecondaryIndexes".into(), Json::Array(lsis));
        }
        if let Some(s) = &m.stream {
            // A disabled stream leaves no StreamSpecification, only the latest stream's label.
            if s.enabled {
                let mut spec = Map::new();
                spec.insert("StreamEnabled".into(), json!(true));
                if let Some(v) = &s.view_type {
                    spec.insert("StreamViewType".into(), json!(v));
                }
                d.insert("StreamSpecification".into(), Json::Object(spec));
            }
            if let Some(label) = &s.label {
                d.insert("LatestStreamLabel".into(), json!(label));
                d.insert(
                    "LatestStreamArn".into(),
                    json!(format!("{arn}/stream/{label}")),
                );
            }
        }
        if let Some(s) = &m.sse {
            if s.enabled {
                let key = s.kms_key.clone().unwrap_or_else(|| {
                    format!(
                        "arn:aws:kms:{region}:{account}:key/{}",
                        table_uuid(m.id, m.created_at)
                    )
                });
                d.insert(
                    "SSEDescription".into(),
                    json!({"Status": "ENABLED", "SSEType": s.sse_type, "KMSMasterKeyArn": key}),
                );
            }
        }
        if m.table_class != "STANDARD" {
            d.insert(
                "TableClassSummary".into(),
                json!({"TableClass": m.table_class}),
            );
        }
        d.insert(
            "DeletionProtectionEnabled".into(),
            json!(m.deletion_protection),
        );
        if m.is_global() {
            // DynamoDB lists the other regions; this one is the table itself.
            let others: Vec<Json> = m
                .replicas
                .iter()
                .filter(|r| r.region != region)
                .map(|r| {
                    let mut d = json!({"RegionName": r.region, "ReplicaStatus": r.status});
                    if let Some(why) = &r.description {
                        d["ReplicaStatusDescription"] = json!(why);
                    }
                    d
                })
                .collect();
            d.insert("Replicas".into(), Json::Array(others));
            d.insert("GlobalTableVersion".into(), json!("2019.11.21"));
        }
        Json::Object(d)
    }

    /// The CreateTable request that makes this table (schema, indexes, billing, stream) in
    /// another region.
    pub fn create_request(&self) -> Json {
        let m = &self.meta;
        let d = self.describe("", "", TableStatus::Active);
        let provisioned = m.billing_mode == BillingMode::Provisioned;
        let throughput = |v: &Json| {
            json!({
                "ReadCapacityUnits": v["ProvisionedThroughput"]["ReadCapacityUnits"],
                "WriteCapacityUnits": v["ProvisionedThroughput"]["WriteCapacityUnits"],
            })
        };
        let mut r = Map::new();
        for k in ["TableName", "KeySchema", "AttributeDefinitions"] {
            r.insert(k.into(), d[k].clone());
        }
        r.insert("BillingMode".into(), json!(m.billing_mode));
        if provisioned {
            r.insert("ProvisionedThroughput".into(), throughput(&d));
        }
        for (field, global) in [
            ("GlobalSecondaryIndexes", true),
            ("LocalSecondaryIndexes", false),
        ] {
            if let Some(list) = d[field].as_array() {
                let out: Vec<Json> = list
                    .iter()
                    .map(|i| {
                        let mut o = Map::new();
                        for k in ["IndexName", "KeySchema", "Projection"] {
                            o.insert(k.into(), i[k].clone());
                        }
                        if global && provisioned {
                            o.insert("ProvisionedThroughput".into(), throughput(i));
                        }
                        Json::Object(o)
                    })
                    .collect();
                r.insert(field.into(), Json::Array(out));
            }
        }
        if let Some(s) = m.stream.as_ref().filter(|s| s.enabled) {
            r.insert(
                "StreamSpecification".into(),
                json!({"StreamEnabled": true, "StreamViewType": s.view_type}),
            );
        }
        if m.table_class != "STANDARD" {
            r.insert("TableClass".into(), json!(m.table_class));
        }
        Json::Object(r)
    }
}

/// A stable UUID-shaped id for a table (DescribeTable's TableId).
fn table_uuid(id: u64, created: f64) -> String {
    let a = keys::partition_hash(&id.to_be_bytes());
    let b = (created * 1000.0) as u64;
    format!(
        "{a:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (b >> 32) & 0xffff,
        (b >> 16) & 0xfff,
        b & 0xfff,
        id & 0xffff_ffff_ffff
    )
}

/// Checks the attribute names of an item, nested map keys included: never empty, at most
/// [`MAX_ATTRIBUTE_NAME_BYTES`]. (Nesting is bounded by `value::MAX_DEPTH` when parsed.)
pub fn check_attribute_names(item: &Item) -> Result<()> {
    for (name, v) in item {
        check_attribute_name(name)?;
        check_nested_names(v)?;
    }
    Ok(())
}

fn check_nested_names(v: &AttributeValue) -> Result<()> {
    match v {
        AttributeValue::M(m) => check_attribute_names(m),
        AttributeValue::L(l) => l.iter().try_for_each(check_nested_names),
        _ => Ok(()),
    }
}

/// One attribute name's length: 1 to [`MAX_ATTRIBUTE_NAME_BYTES`] bytes.
pub fn check_attribute_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(EngineError::validation(
            "One or more parameter values were invalid: An attribute name cannot be empty",
        ));
    }
    if name.len() > MAX_ATTRIBUTE_NAME_BYTES {
        return Err(EngineError::validation(format!(
            "One or more parameter values were invalid: Attribute name is too large, must be less than {} bytes; attribute name size: {}",
            MAX_ATTRIBUTE_NAME_BYTES + 1,
            name.len()
        )));
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A table's metadata as the catalog stored it before DynamoDB's enumerations became Rust
    /// enums (GSI + LSI, stream, SSE, PROVISIONED, replicas, an index CREATING): data
    /// directories written then must still open, and are written back byte for byte the same.
    const STORED_TABLE: &str = r#"{"name":"orders","id":1,"hash_key":{"name":"pk","ty":"S"},"range_key":{"name":"sk","ty":"N"},"attribute_definitions":[["pk","S"],["sk","N"],["state","S"],["blob","B"]],"billing_mode":"PROVISIONED","read_capacity":5,"write_capacity":3,"last_increase":null,"last_decrease":null,"decreases_today":0,"pay_per_request_since":null,"stream":{"enabled":true,"view_type":"NEW_AND_OLD_IMAGES","label":"2026-12-01T19:04:57.989"},"streams":[{"label":"2026-12-01T19:04:57.989","view_type":"NEW_AND_OLD_IMAGES","start_seq":1,"end_seq":null,"created_at":1796151897.989}],"sse":{"enabled":true,"sse_type":"KMS","kms_key":"alias/k"},"table_class":"STANDARD","deletion_protection":false,"tags":[["team","x"]],"ttl_attribute":null,"indexes":[{"name":"by_state","id":2,"global":true,"hash_key":{"name":"state","ty":"S"},"range_key":{"name":"sk","ty":"N"},"projection":"KEYS_ONLY","non_key_attributes":[],"read_capacity":5,"write_capacity":3,"status":"CREATING"},{"name":"by_blob","id":3,"global":false,"hash_key":{"name":"pk","ty":"S"},"range_key":{"name":"blob","ty":"B"},"projection":"INCLUDE","non_key_attributes":["a","b"],"read_capacity":0,"write_capacity":0,"status":"ACTIVE"}],"created_at":1796151897.989,"replicas":[{"region":"us-east-1","status":"ACTIVE"},{"region":"eu-west-1","status":"CREATING","source":"us-east-1"}],"replicas_hlc":0,"replicas_origin":"","global_since":0}"#;

    fn open(dir: &std::path::Path) -> crate::Engine {
        crate::Engine::open(crate::EngineConfig {
            data_dir: dir.to_path_buf(),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            durability: crate::Durability::Fsync,
            log: crate::log::LogConfig::default(),
            max_cached_files: None,
        })
        .expect("open engine")
    }

    fn call(e: &crate::Engine, op: &str, body: Json) -> Json {
        let out = e
            .call(op, body.to_string().as_bytes())
            .expect("known operation")
            .expect("success");
        serde_json::from_slice(&out.body.into_bytes()).expect("JSON")
    }

    /// A data directory whose catalog holds [`STORED_TABLE`] opens; the table reads as it was
    /// and a change to it is stored in the same format.
    #[test]
    fn a_data_directory_with_the_earlier_stored_format_opens() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let e = open(dir.path());
            let catalog = e.catalog().expect("catalog");
            let mut batch = e
                .db_batch()
                .expect("batch")
                .durability(Some(fjall::PersistMode::SyncAll));
            batch.insert(&catalog, "table/orders", STORED_TABLE.as_bytes().to_vec());
            batch.insert(&catalog, "next_table_id", 4u64.to_be_bytes().to_vec());
            batch.commit().expect("commit");
            e.shutdown().expect("shutdown");
        }
        let e = open(dir.path());
        let d = call(&e, "DescribeTable", json!({"TableName": "orders"}));
        let t = &d["Table"];
        assert_eq!(t["TableStatus"], "ACTIVE");
        assert_eq!(
            t["KeySchema"][1],
            json!({"AttributeName": "sk", "KeyType": "RANGE"})
        );
        assert_eq!(
            t["AttributeDefinitions"][3],
            json!({"AttributeName": "blob", "AttributeType": "B"})
        );
        assert_eq!(
            t["StreamSpecification"]["StreamViewType"],
            "NEW_AND_OLD_IMAGES"
        );
        assert_eq!(t["SSEDescription"]["SSEType"], "KMS");
        assert_eq!(t["GlobalSecondaryIndexes"][0]["IndexStatus"], "CREATING");
        assert_eq!(
            t["GlobalSecondaryIndexes"][0]["Projection"]["ProjectionType"],
            "KEYS_ONLY"
        );
        assert_eq!(
            t["LocalSecondaryIndexes"][0]["Projection"]["ProjectionType"],
            "INCLUDE"
        );
        assert_eq!(t["Replicas"][0]["ReplicaStatus"], "CREATING");
        assert!(t.get("BillingModeSummary").is_none(), "{t}");

        call(
            &e,
            "UpdateTable",
            json!({"TableName": "orders", "DeletionProtectionEnabled": true}),
        );
        let stored = e
            .catalog()
            .expect("catalog")
            .get("table/orders")
            .expect("read")
            .expect("stored");
        assert_eq!(
            std::str::from_utf8(&stored).expect("utf-8"),
            STORED_TABLE.replace(
                "\"deletion_protection\":false",
                "\"deletion_protection\":true"
            )
        );
    }

    #[test]
    fn table_metadata_stored_by_earlier_versions_reads_and_writes_the_same() {
        let meta: TableMeta = serde_json::from_str(STORED_TABLE).expect("stored table");
        assert_eq!(meta.indexes.len(), 2);
        assert_eq!(meta.replicas.len(), 2);
        assert_eq!(serde_json::to_string(&meta).expect("json"), STORED_TABLE);
    }
}
