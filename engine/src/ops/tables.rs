//! Control plane: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable.

use serde_json::{json, Map, Value as Json};

use super::table_not_found;
use crate::catalog::{KeyAttr, SseSpec, StreamEpoch, StreamSpec, TableMeta};
use crate::clock::{iso8601_label, now_ms, now_secs};
use crate::error::{EngineError, Result};
use crate::request::{Request, Violations};
use crate::store::Engine;

const MAX_CAPACITY: i64 = 1_000_000_000_000;
const VIEW_TYPES: [&str; 4] = ["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"];

/// A stream label: the ISO-8601 time the stream was enabled, as DynamoDB shows it; never equal
/// to the previous label (a re-enabled stream is a new stream with a new ARN).
fn stream_label(previous: Option<&str>) -> String {
    loop {
        let label = iso8601_label(now_ms());
        if Some(label.as_str()) != previous {
            return label;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

struct Throughput {
    read: Option<i64>,
    write: Option<i64>,
}

fn read_throughput(req: &Request, v: &mut Violations, path: &str) -> Result<Option<Throughput>> {
    let Some(t) = req.object("ProvisionedThroughput")? else {
        return Ok(None);
    };
    let t = Request::from_map(t.clone());
    let read = t.int("ReadCapacityUnits")?;
    let write = t.int("WriteCapacityUnits")?;
    v.not_null(&write, &format!("{path}.writeCapacityUnits"));
    v.at_least(write, &format!("{path}.writeCapacityUnits"), 1);
    v.not_null(&read, &format!("{path}.readCapacityUnits"));
    v.at_least(read, &format!("{path}.readCapacityUnits"), 1);
    Ok(Some(Throughput { read, write }))
}

fn check_capacity_bounds(t: &Throughput) -> Result<()> {
    for (name, val) in [
        ("ReadCapacityUnits", t.read),
        ("WriteCapacityUnits", t.write),
    ] {
        if let Some(val) = val {
            if val > MAX_CAPACITY {
                return Err(EngineError::validation(format!(
                    "Given value {val} for {name} is out of bounds"
                )));
            }
        }
    }
    Ok(())
}

/// StreamSpecification of CreateTable (`creating`) or UpdateTable, whose messages differ.
fn read_stream_spec(req: &Request, creating: bool) -> Result<Option<(bool, Option<String>)>> {
    let Some(s) = req.object("StreamSpecification")? else {
        return Ok(None);
    };
    let s = Request::from_map(s.clone());
    let enabled = s.bool("StreamEnabled")?;
    let view = s.str("StreamViewType")?.map(str::to_owned);
    let mut v = Violations::new();
    v.not_null(&enabled, "streamSpecification.streamEnabled");
    v.one_of(
        view.as_deref(),
        "streamSpecification.streamViewType",
        &VIEW_TYPES,
    );
    v.finish()?;
    let enabled = enabled.unwrap_or(false);
    if enabled && view.is_none() {
        return Err(EngineError::validation(if creating {
            "One or more parameter values were invalid: Table is being created with a stream enabled, UpdateViewType is required"
        } else {
            "One or more parameter values were invalid: If stream is being enabled then UpdateViewType is required"
        }));
    }
    if !enabled && view.is_some() {
        return Err(EngineError::validation(if creating {
            "One or more parameter values were invalid: Table is being created with a stream disabled, UpdateViewType should not be specified"
        } else {
            "One or more parameter values were invalid: If stream is being disabled, then UpdateViewType must not be specified"
        }));
    }
    Ok(Some((enabled, view)))
}

fn read_sse_spec(req: &Request) -> Result<Option<SseSpec>> {
    let Some(s) = req.object("SSESpecification")? else {
        return Ok(None);
    };
    let s = Request::from_map(s.clone());
    let enabled = s.bool("Enabled")?.unwrap_or(false);
    let sse_type = s.str("SSEType")?.map(str::to_owned);
    let kms_key = s.str("KMSMasterKeyId")?.map(str::to_owned);
    let mut v = Violations::new();
    v.one_of(
        sse_type.as_deref(),
        "sSESpecification.sSEType",
        &["AES256", "KMS"],
    );
    v.finish()?;
    if !enabled && (sse_type.is_some() || kms_key.is_some()) {
        return Err(EngineError::validation(
            "One or more parameter values were invalid: SSEType or KMSMasterKeyId cannot be specified when SSE is disabled",
        ));
    }
    Ok(Some(SseSpec {
        enabled,
        sse_type: sse_type.unwrap_or_else(|| "KMS".to_owned()),
        kms_key,
    }))
}

pub fn create_table(engine: &Engine, req: &Request) -> Result<Json> {
    let mut v = Violations::new();
    let name = req.str("TableName")?;
    let defs = req.array("AttributeDefinitions")?;
    let schema = req.array("KeySchema")?;
    let billing = req.str("BillingMode")?;
    v.not_null(&defs, "attributeDefinitions");
    v.table_name(name, "tableName");
    v.not_null(&schema, "keySchema");
    if let Some(s) = schema {
        if s.is_empty() {
            v.add(
                Some("[]"),
                "keySchema",
                "Member must have length greater than or equal to 1",
            );
        }
        if s.len() > 2 {
            v.add(
                None,
                "keySchema",
                "Member must have length less than or equal to 2",
            );
        }
    }
    v.one_of(billing, "billingMode", &["PROVISIONED", "PAY_PER_REQUEST"]);
    let throughput = read_throughput(req, &mut v, "provisionedThroughput")?;
    let mut attr_defs: Vec<(String, String)> = Vec::new();
    for (i, d) in defs.into_iter().flatten().enumerate() {
        let d = Request::from_map(d.as_object().cloned().unwrap_or_default());
        let n = d.str("AttributeName")?;
        let t = d.str("AttributeType")?;
        v.not_null(
            &n,
            &format!("attributeDefinitions.{}.member.attributeName", i + 1),
        );
        if let Some(n) = n {
            super::indexes::key_name_length(
                &mut v,
                n,
                &format!("attributeDefinitions.{}.member.attributeName", i + 1),
            );
        }
        v.not_null(
            &t,
            &format!("attributeDefinitions.{}.member.attributeType", i + 1),
        );
        v.one_of(
            t,
            &format!("attributeDefinitions.{}.member.attributeType", i + 1),
            &["B", "N", "S"],
        );
        if let (Some(n), Some(t)) = (n, t) {
            attr_defs.push((n.to_owned(), t.to_owned()));
        }
    }
    let mut key_elems: Vec<(String, String)> = Vec::new();
    for (i, k) in schema.into_iter().flatten().enumerate() {
        let k = Request::from_map(k.as_object().cloned().unwrap_or_default());
        let n = k.str("AttributeName")?;
        let t = k.str("KeyType")?;
        v.not_null(&n, &format!("keySchema.{}.member.attributeName", i + 1));
        if let Some(n) = n {
            super::indexes::key_name_length(
                &mut v,
                n,
                &format!("keySchema.{}.member.attributeName", i + 1),
            );
        }
        v.not_null(&t, &format!("keySchema.{}.member.keyType", i + 1));
        v.one_of(
            t,
            &format!("keySchema.{}.member.keyType", i + 1),
            &["HASH", "RANGE"],
        );
        if let (Some(n), Some(t)) = (n, t) {
            key_elems.push((n.to_owned(), t.to_owned()));
        }
    }
    v.finish()?;
    let name = name.unwrap_or_default().to_owned();

    let pay_per_request = billing == Some("PAY_PER_REQUEST");
    if pay_per_request && throughput.is_some() {
        return Err(EngineError::validation(
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        ));
    }
    if !pay_per_request {
        match &throughput {
            Some(t) => check_capacity_bounds(t)?,
            None => {
                return Err(EngineError::validation(
                    "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
                ))
            }
        }
    }

    let def_names: Vec<&str> = attr_defs.iter().map(|(n, _)| n.as_str()).collect();
    let key_names: Vec<&str> = key_elems.iter().map(|(n, _)| n.as_str()).collect();
    if key_names.len() > def_names.len() {
        return Err(EngineError::validation(
            "Invalid KeySchema: Some index key attribute have no definition",
        ));
    }
    if key_names.iter().any(|k| !def_names.contains(k)) {
        return Err(EngineError::validation(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            key_names.join(", "),
            def_names.join(", ")
        )));
    }
    if key_names.len() == 2 && key_names[0] == key_names[1] {
        return Err(EngineError::validation(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ));
    }
    if key_elems[0].1 != "HASH" {
        return Err(EngineError::validation(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    if key_elems.len() == 2 && key_elems[1].1 != "RANGE" {
        return Err(EngineError::validation(
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        ));
    }
    for (i, (n, _)) in attr_defs.iter().enumerate() {
        if attr_defs[..i].iter().any(|(m, _)| m == n) {
            return Err(EngineError::validation(format!(
                "Cannot have two attributes with the same name: {n}"
            )));
        }
    }
    let ty_of = |n: &str| {
        attr_defs
            .iter()
            .find(|(m, _)| m == n)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    };
    let hash_key = KeyAttr {
        name: key_elems[0].0.clone(),
        ty: ty_of(&key_elems[0].0),
    };
    let range_key = key_elems.get(1).map(|(n, _)| KeyAttr {
        name: n.clone(),
        ty: ty_of(n),
    });
    let indexes = super::indexes::read_create(
        req,
        &attr_defs,
        &hash_key,
        range_key.as_ref(),
        pay_per_request,
    )?;
    let used = super::indexes::key_names(&hash_key, range_key.as_ref(), &indexes);
    if used.len() != attr_defs.len() {
        return Err(EngineError::validation(if indexes.is_empty() {
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions".to_owned()
        } else {
            format!(
                "One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
                attr_defs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
                used.join(", ")
            )
        }));
    }

    let stream = read_stream_spec(req, true)?.map(|(enabled, view)| StreamSpec {
        enabled,
        label: enabled.then(|| stream_label(None)),
        view_type: view,
    });
    let streams: Vec<StreamEpoch> = stream
        .iter()
        .filter_map(|s| {
            Some(StreamEpoch {
                label: s.label.clone()?,
                view_type: s.view_type.clone()?,
                start_seq: engine.log().next_seq(),
                end_seq: None,
                created_at: now_secs(),
            })
        })
        .collect();
    let sse = read_sse_spec(req)?;
    let table_class = req.str("TableClass")?.unwrap_or("STANDARD").to_owned();
    let mut v = Violations::new();
    v.one_of(
        Some(&table_class),
        "tableClass",
        &["STANDARD", "STANDARD_INFREQUENT_ACCESS"],
    );
    v.finish()?;
    let tags = read_tags(req)?;

    let now = now_secs();
    let (read, write) = match (&throughput, pay_per_request) {
        (Some(t), false) => (t.read.unwrap_or(0) as u64, t.write.unwrap_or(0) as u64),
        _ => (0, 0),
    };
    let meta = TableMeta {
        name: name.clone(),
        id: 0,
        hash_key,
        range_key,
        attribute_definitions: attr_defs,
        billing_mode: if pay_per_request {
            "PAY_PER_REQUEST"
        } else {
            "PROVISIONED"
        }
        .to_owned(),
        read_capacity: read,
        write_capacity: write,
        last_increase: None,
        last_decrease: None,
        decreases_today: 0,
        pay_per_request_since: pay_per_request.then_some(now),
        stream,
        streams,
        sse,
        table_class,
        deletion_protection: req.bool("DeletionProtectionEnabled")?.unwrap_or(false),
        tags,
        ttl_attribute: None,
        indexes,
        created_at: now,
        replicas: Vec::new(),
        replicas_hlc: 0,
        replicas_origin: String::new(),
        global_since: 0,
    };
    let _ddl = engine.ddl_lock();
    if engine.table(&name).is_some() {
        return Err(EngineError::ResourceInUse(format!(
            "Table already exists: {name}"
        )));
    }
    let table = engine.insert_table(meta)?;
    tracing::info!(table = %name, "created table");
    Ok(json!({"TableDescription": table.describe(engine.region(), engine.account(), "CREATING")}))
}

/// CreateTable's Tags, with TagResource's rules.
fn read_tags(req: &Request) -> Result<Vec<(String, String)>> {
    match req.array("Tags")? {
        Some(list) => super::tags::read_tags(list),
        None => Ok(Vec::new()),
    }
}

/// The TableName of an operation on an existing table: a name or the table's ARN.
pub(crate) fn table_name(req: &Request) -> Result<String> {
    let name = req.str("TableName")?;
    let mut v = Violations::new();
    v.table_ref(name, "tableName");
    v.finish()?;
    Ok(name.unwrap_or_default().to_owned())
}

pub fn describe_table(engine: &Engine, req: &Request) -> Result<Json> {
    let name = table_name(req)?;
    let table = engine.table(&name).ok_or_else(|| table_not_found(&name))?;
    Ok(json!({"Table": table.describe(engine.region(), engine.account(), "ACTIVE")}))
}

pub fn list_tables(engine: &Engine, req: &Request) -> Result<Json> {
    let start = req.str("ExclusiveStartTableName")?;
    let limit = req.int("Limit")?;
    let mut v = Violations::new();
    if let Some(s) = start {
        v.name_constraints(s, "exclusiveStartTableName", 3, 255);
    }
    v.at_least(limit, "limit", 1);
    v.at_most(limit, "limit", 100);
    v.finish()?;
    let limit = limit.unwrap_or(100) as usize;
    let names: Vec<String> = engine
        .table_names()
        .into_iter()
        .filter(|n| start.is_none_or(|s| n.as_str() > s))
        .collect();
    let mut out = Map::new();
    let page: Vec<String> = names.iter().take(limit).cloned().collect();
    if names.len() > limit {
        if let Some(last) = page.last() {
            out.insert("LastEvaluatedTableName".into(), json!(last));
        }
    }
    out.insert("TableNames".into(), json!(page));
    Ok(Json::Object(out))
}

pub fn delete_table(engine: &Engine, req: &Request) -> Result<Json> {
    let name = table_name(req)?;
    let _ddl = engine.ddl_lock();
    let table = engine.table(&name).ok_or_else(|| table_not_found(&name))?;
    if table.meta.deletion_protection {
        return Err(EngineError::validation(format!(
            "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first. Table: {name}"
        )));
    }
    let mut desc = table.describe(engine.region(), engine.account(), "DELETING");
    // DeleteTable's description leaves out the schema: no KeySchema, AttributeDefinitions,
    // CreationDateTime or index list.
    if let Some(d) = desc.as_object_mut() {
        for field in [
            "KeySchema",
            "AttributeDefinitions",
            "CreationDateTime",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
        ] {
            d.remove(field);
        }
    }
    engine.remove_table(&table)?;
    tracing::info!(table = %name, "deleted table");
    Ok(json!({"TableDescription": desc}))
}

pub fn update_table(engine: &Engine, req: &Request) -> Result<Json> {
    let name = table_name(req)?;
    let billing = req.str("BillingMode")?;
    let mut v = Violations::new();
    v.one_of(billing, "billingMode", &["PROVISIONED", "PAY_PER_REQUEST"]);
    let throughput = read_throughput(req, &mut v, "provisionedThroughput")?;
    v.finish()?;
    let stream = read_stream_spec(req, false)?;
    let sse = read_sse_spec(req)?;
    let protection = req.bool("DeletionProtectionEnabled")?;
    let table_class = req.str("TableClass")?;
    let gsi_updates = req.array("GlobalSecondaryIndexUpdates")?;
    let other_updates = gsi_updates.is_some() || req.raw("ReplicaUpdates").is_some();
    if billing.is_none()
        && throughput.is_none()
        && stream.is_none()
        && sse.is_none()
        && protection.is_none()
        && table_class.is_none()
        && !other_updates
    {
        return Err(EngineError::validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
        ));
    }
    if let Some(updates) = req.raw("ReplicaUpdates") {
        if gsi_updates.is_some() || billing.is_some() || throughput.is_some() || stream.is_some() {
            return Err(EngineError::validation(
                "ReplicaUpdates cannot be combined with other updates of the table in one request",
            ));
        }
        return super::replicas::update_replicas(engine, &name, updates);
    }
    let mut new_defs = Vec::new();
    for d in req.array("AttributeDefinitions")?.into_iter().flatten() {
        let d = Request::from_map(d.as_object().cloned().unwrap_or_default());
        let (n, t) = (d.str("AttributeName")?, d.str("AttributeType")?);
        let mut v = Violations::new();
        v.not_null(&n, "attributeDefinitions.member.attributeName");
        if let Some(n) = n {
            super::indexes::key_name_length(&mut v, n, "attributeDefinitions.member.attributeName");
        }
        v.not_null(&t, "attributeDefinitions.member.attributeType");
        v.one_of(
            t,
            "attributeDefinitions.member.attributeType",
            &["B", "N", "S"],
        );
        v.finish()?;
        new_defs.push((
            n.unwrap_or_default().to_owned(),
            t.unwrap_or_default().to_owned(),
        ));
    }

    let _ddl = engine.ddl_lock();
    let table = engine.table(&name).ok_or_else(|| table_not_found(&name))?;
    let mut meta = table.meta.clone();
    let now = now_secs();
    let mut status = "ACTIVE";
    let new_mode = billing.unwrap_or(&meta.billing_mode).to_owned();
    if new_mode == "PAY_PER_REQUEST" {
        if throughput.is_some() {
            return Err(EngineError::validation(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ));
        }
        if meta.billing_mode != "PAY_PER_REQUEST" {
            meta.billing_mode = new_mode;
            meta.read_capacity = 0;
            meta.write_capacity = 0;
            meta.pay_per_request_since = Some(now);
            status = "UPDATING";
        }
    } else {
        let switching = meta.billing_mode != "PROVISIONED";
        match &throughput {
            Some(t) => {
                check_capacity_bounds(t)?;
                let (r, w) = (t.read.unwrap_or(0) as u64, t.write.unwrap_or(0) as u64);
                if !switching && r == meta.read_capacity && w == meta.write_capacity {
                    return Err(EngineError::validation(
                        "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: "
                            .to_owned()
                            + &format!("{r}. Requested ReadCapacityUnits: {r}. Current WriteCapacityUnits provisioned for the table: {w}. Requested WriteCapacityUnits: {w}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."),
                    ));
                }
                if r > meta.read_capacity || w > meta.write_capacity {
                    meta.last_increase = Some(now);
                }
                if r < meta.read_capacity || w < meta.write_capacity {
                    meta.last_decrease = Some(now);
                    meta.decreases_today += 1;
                }
                meta.read_capacity = r;
                meta.write_capacity = w;
                meta.billing_mode = "PROVISIONED".to_owned();
                status = "UPDATING";
            }
            None if switching => {
                return Err(EngineError::validation(
                    "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
                ))
            }
            None => {}
        }
    }
    if let Some((enabled, view)) = stream {
        let currently = meta.stream.as_ref().is_some_and(|s| s.enabled);
        if enabled && currently {
            return Err(EngineError::validation(format!(
                "Table already has an enabled stream: TableName: {}",
                table.meta.name
            )));
        }
        if !enabled && !currently {
            return Err(EngineError::validation(format!(
                "Table has no stream to disable: TableName: {}",
                table.meta.name
            )));
        }
        let previous = meta.stream.as_ref().and_then(|s| s.label.clone());
        let label = if enabled {
            let label = stream_label(previous.as_deref());
            meta.streams.push(StreamEpoch {
                label: label.clone(),
                view_type: view.clone().unwrap_or_default(),
                start_seq: engine.log().next_seq(),
                end_seq: None,
                created_at: now_secs(),
            });
            Some(label)
        } else {
            if let Some(last) = meta.streams.last_mut() {
                last.end_seq.get_or_insert(engine.log().next_seq());
            }
            previous
        };
        meta.stream = Some(StreamSpec {
            enabled,
            label,
            view_type: if enabled { view } else { None },
        });
        status = "UPDATING";
    }
    if let Some(sse) = sse {
        meta.sse = Some(sse);
        status = "UPDATING";
    }
    if let Some(p) = protection {
        meta.deletion_protection = p;
    }
    if let Some(c) = table_class {
        let mut v = Violations::new();
        v.one_of(
            Some(c),
            "tableClass",
            &["STANDARD", "STANDARD_INFREQUENT_ACCESS"],
        );
        v.finish()?;
        meta.table_class = c.to_owned();
    }
    if let Some(updates) = gsi_updates {
        super::indexes::apply_updates(&mut meta, updates, &new_defs)?;
        status = "UPDATING";
    }
    let table = engine.replace_meta(&table, meta)?;
    Ok(json!({"TableDescription": table.describe(engine.region(), engine.account(), status)}))
}
