//! Control plane: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable.

use serde_json::{json, Map, Value as Json};

use super::table_not_found;
use crate::catalog::{KeyAttr, SseSpec, StreamEpoch, StreamSpec, TableMeta};
use crate::clock::{iso8601_label, now_ms, now_secs};
use crate::error::{EngineError, Result};
use crate::index::IndexMeta;
use crate::request::{Request, Violations};
use crate::schema::{BillingMode, KeyType, ScalarType, SseType, StreamViewType, TableStatus};
use crate::store::Engine;

const MAX_CAPACITY: i64 = 1_000_000_000_000;

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

/// What a StreamSpecification asks for.
enum StreamChange {
    Enable(StreamViewType),
    Disable,
}

/// StreamSpecification of CreateTable (`creating`) or UpdateTable, whose messages differ.
fn read_stream_spec(req: &Request, creating: bool) -> Result<Option<StreamChange>> {
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
        StreamViewType::NAMES,
    );
    v.finish()?;
    let view = view.as_deref().and_then(StreamViewType::parse);
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
    Ok(Some(match (enabled, view) {
        (true, Some(view)) => StreamChange::Enable(view),
        _ => StreamChange::Disable,
    }))
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
        SseType::NAMES,
    );
    v.finish()?;
    if !enabled && (sse_type.is_some() || kms_key.is_some()) {
        return Err(EngineError::validation(
            "One or more parameter values were invalid: SSEType or KMSMasterKeyId cannot be specified when SSE is disabled",
        ));
    }
    Ok(Some(SseSpec {
        enabled,
        sse_type: sse_type
            .as_deref()
            .and_then(SseType::parse)
            .unwrap_or(SseType::Kms),
        kms_key,
    }))
}

/// One AttributeDefinitions member at `path` (`attributeDefinitions.N.member` in CreateTable,
/// `attributeDefinitions.member` in UpdateTable): its violations go to `v`; the definition
/// (name, type) when both fields are present and valid.
fn read_attribute_definition(
    d: &Json,
    v: &mut Violations,
    path: &str,
) -> Result<Option<(String, ScalarType)>> {
    let d = Request::from_map(d.as_object().cloned().unwrap_or_default());
    let (n, t) = (d.str("AttributeName")?, d.str("AttributeType")?);
    v.not_null(&n, &format!("{path}.attributeName"));
    if let Some(n) = n {
        super::indexes::key_name_length(v, n, &format!("{path}.attributeName"));
    }
    v.not_null(&t, &format!("{path}.attributeType"));
    v.one_of(t, &format!("{path}.attributeType"), ScalarType::NAMES);
    Ok(n.zip(t.and_then(ScalarType::parse))
        .map(|(n, t)| (n.to_owned(), t)))
}

/// CreateTable's request fields checked for constraint violations, all reported together.
struct CreateRequest {
    name: String,
    pay_per_request: bool,
    throughput: Option<Throughput>,
    attr_defs: Vec<(String, ScalarType)>,
    key_elems: Vec<(String, KeyType)>,
}

fn read_create_request(req: &Request) -> Result<CreateRequest> {
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
    v.one_of(billing, "billingMode", BillingMode::NAMES);
    let throughput = read_throughput(req, &mut v, "provisionedThroughput")?;
    let mut attr_defs = Vec::new();
    for (i, d) in defs.into_iter().flatten().enumerate() {
        let path = format!("attributeDefinitions.{}.member", i + 1);
        attr_defs.extend(read_attribute_definition(d, &mut v, &path)?);
    }
    let mut key_elems = Vec::new();
    for (i, k) in schema.into_iter().flatten().enumerate() {
        let path = format!("keySchema.{}.member", i + 1);
        key_elems.extend(super::indexes::read_key_element(k, &mut v, &path)?);
    }
    v.finish()?;
    Ok(CreateRequest {
        name: name.unwrap_or_default().to_owned(),
        pay_per_request: billing.and_then(BillingMode::parse) == Some(BillingMode::PayPerRequest),
        throughput,
        attr_defs,
        key_elems,
    })
}

/// CreateTable's billing mode against its ProvisionedThroughput.
fn check_create_billing(pay_per_request: bool, throughput: Option<&Throughput>) -> Result<()> {
    match (pay_per_request, throughput) {
        (true, Some(_)) => Err(EngineError::validation(
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        )),
        (true, None) => Ok(()),
        (false, Some(t)) => check_capacity_bounds(t),
        (false, None) => Err(EngineError::validation(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        )),
    }
}

/// The table's KeySchema against its AttributeDefinitions: the hash key and range key typed.
fn table_keys(
    attr_defs: &[(String, ScalarType)],
    key_elems: &[(String, KeyType)],
) -> Result<(KeyAttr, Option<KeyAttr>)> {
    let def_names: Vec<&str> = attr_defs.iter().map(|(n, _)| n.as_str()).collect();
    let key_names: Vec<&str> = key_elems.iter().map(|(n, _)| n.as_str()).collect();
    if key_names.len() > def_names.len() {
        return Err(no_definition());
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
    let Some((hash_name, hash_type)) = key_elems.first() else {
        // Unreachable: an empty KeySchema is a constraint violation reported before.
        return Err(no_definition());
    };
    if *hash_type != KeyType::Hash {
        return Err(EngineError::validation(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    if key_elems.len() == 2 && key_elems[1].1 != KeyType::Range {
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
    // Every key attribute has a definition (checked above).
    let key_attr = |n: &String| -> Result<KeyAttr> {
        let (_, ty) = attr_defs
            .iter()
            .find(|(m, _)| m == n)
            .ok_or_else(no_definition)?;
        Ok(KeyAttr {
            name: n.clone(),
            ty: *ty,
        })
    };
    let range_key = key_elems.get(1).map(|(n, _)| key_attr(n)).transpose()?;
    Ok((key_attr(hash_name)?, range_key))
}

fn no_definition() -> EngineError {
    EngineError::validation("Invalid KeySchema: Some index key attribute have no definition")
}

/// Every AttributeDefinition is used by a key of the table or of one of its indexes.
fn check_definitions_used(
    attr_defs: &[(String, ScalarType)],
    hash_key: &KeyAttr,
    range_key: Option<&KeyAttr>,
    indexes: &[IndexMeta],
) -> Result<()> {
    let used = super::indexes::key_names(hash_key, range_key, indexes);
    if used.len() == attr_defs.len() {
        return Ok(());
    }
    Err(EngineError::validation(if indexes.is_empty() {
        "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions".to_owned()
    } else {
        format!(
            "One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
            attr_defs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
            used.join(", ")
        )
    }))
}

/// CreateTable's StreamSpecification: the stream and, when enabled, its first epoch.
fn create_stream(engine: &Engine, req: &Request) -> Result<(Option<StreamSpec>, Vec<StreamEpoch>)> {
    let stream = read_stream_spec(req, true)?.map(|change| match change {
        StreamChange::Enable(view) => StreamSpec {
            enabled: true,
            label: Some(stream_label(None)),
            view_type: Some(view),
        },
        StreamChange::Disable => StreamSpec {
            enabled: false,
            label: None,
            view_type: None,
        },
    });
    let streams: Vec<StreamEpoch> = stream
        .iter()
        .filter_map(|s| {
            Some(StreamEpoch {
                label: s.label.clone()?,
                view_type: s.view_type?,
                start_seq: engine.log().next_seq(),
                end_seq: None,
                created_at: now_secs(),
            })
        })
        .collect();
    Ok((stream, streams))
}

/// TableClass of CreateTable or UpdateTable.
fn check_table_class(class: &str) -> Result<()> {
    let mut v = Violations::new();
    v.one_of(
        Some(class),
        "tableClass",
        &["STANDARD", "STANDARD_INFREQUENT_ACCESS"],
    );
    v.finish()
}

pub fn create_table(engine: &Engine, req: &Request) -> Result<Json> {
    let c = read_create_request(req)?;
    check_create_billing(c.pay_per_request, c.throughput.as_ref())?;
    let (hash_key, range_key) = table_keys(&c.attr_defs, &c.key_elems)?;
    let indexes = super::indexes::read_create(
        req,
        &c.attr_defs,
        &hash_key,
        range_key.as_ref(),
        c.pay_per_request,
    )?;
    check_definitions_used(&c.attr_defs, &hash_key, range_key.as_ref(), &indexes)?;
    let (stream, streams) = create_stream(engine, req)?;
    let sse = read_sse_spec(req)?;
    let table_class = req.str("TableClass")?.unwrap_or("STANDARD").to_owned();
    check_table_class(&table_class)?;
    let tags = read_tags(req)?;

    let now = now_secs();
    let (read, write) = match (&c.throughput, c.pay_per_request) {
        (Some(t), false) => (t.read.unwrap_or(0) as u64, t.write.unwrap_or(0) as u64),
        _ => (0, 0),
    };
    let meta = TableMeta {
        name: c.name.clone(),
        id: 0,
        hash_key,
        range_key,
        attribute_definitions: c.attr_defs,
        billing_mode: if c.pay_per_request {
            BillingMode::PayPerRequest
        } else {
            BillingMode::Provisioned
        },
        read_capacity: read,
        write_capacity: write,
        last_increase: None,
        last_decrease: None,
        decreases_today: 0,
        pay_per_request_since: c.pay_per_request.then_some(now),
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
    insert_new_table(engine, meta)
}

/// Persists a new table, unless one of its name exists.
fn insert_new_table(engine: &Engine, meta: TableMeta) -> Result<Json> {
    let name = meta.name.clone();
    let _ddl = engine.ddl_lock();
    if engine.table(&name).is_some() {
        return Err(EngineError::ResourceInUse(format!(
            "Table already exists: {name}"
        )));
    }
    let table = engine.insert_table(meta)?;
    tracing::info!(table = %name, "created table");
    Ok(
        json!({"TableDescription": table.describe(engine.region(), engine.account(), TableStatus::Creating)}),
    )
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
    Ok(json!({"Table": table.describe(engine.region(), engine.account(), TableStatus::Active)}))
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
    let mut desc = table.describe(engine.region(), engine.account(), TableStatus::Deleting);
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

/// UpdateTable's changes as the request states them.
struct UpdateRequest<'r> {
    name: String,
    billing: Option<BillingMode>,
    throughput: Option<Throughput>,
    stream: Option<StreamChange>,
    sse: Option<SseSpec>,
    protection: Option<bool>,
    table_class: Option<&'r str>,
    gsi_updates: Option<&'r Vec<Json>>,
}

fn read_update_request(req: &Request) -> Result<UpdateRequest<'_>> {
    let name = table_name(req)?;
    let billing = req.str("BillingMode")?;
    let mut v = Violations::new();
    v.one_of(billing, "billingMode", BillingMode::NAMES);
    let throughput = read_throughput(req, &mut v, "provisionedThroughput")?;
    v.finish()?;
    Ok(UpdateRequest {
        name,
        billing: billing.and_then(BillingMode::parse),
        throughput,
        stream: read_stream_spec(req, false)?,
        sse: read_sse_spec(req)?,
        protection: req.bool("DeletionProtectionEnabled")?,
        table_class: req.str("TableClass")?,
        gsi_updates: req.array("GlobalSecondaryIndexUpdates")?,
    })
}

/// UpdateTable's AttributeDefinitions (for new indexes), each member checked on its own.
fn read_update_definitions(req: &Request) -> Result<Vec<(String, ScalarType)>> {
    let mut defs = Vec::new();
    for d in req.array("AttributeDefinitions")?.into_iter().flatten() {
        let mut v = Violations::new();
        let def = read_attribute_definition(d, &mut v, "attributeDefinitions.member")?;
        v.finish()?;
        defs.extend(def);
    }
    Ok(defs)
}

pub fn update_table(engine: &Engine, req: &Request) -> Result<Json> {
    let u = read_update_request(req)?;
    let replica_updates = req.raw("ReplicaUpdates");
    if u.billing.is_none()
        && u.throughput.is_none()
        && u.stream.is_none()
        && u.sse.is_none()
        && u.protection.is_none()
        && u.table_class.is_none()
        && u.gsi_updates.is_none()
        && replica_updates.is_none()
    {
        return Err(EngineError::validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
        ));
    }
    if let Some(updates) = replica_updates {
        if u.gsi_updates.is_some()
            || u.billing.is_some()
            || u.throughput.is_some()
            || u.stream.is_some()
        {
            return Err(EngineError::validation(
                "ReplicaUpdates cannot be combined with other updates of the table in one request",
            ));
        }
        return super::replicas::update_replicas(engine, &u.name, updates);
    }
    let new_defs = read_update_definitions(req)?;

    let _ddl = engine.ddl_lock();
    let table = engine
        .table(&u.name)
        .ok_or_else(|| table_not_found(&u.name))?;
    let mut meta = table.meta.clone();
    let mut updating = update_billing(&mut meta, u.billing, u.throughput.as_ref())?;
    if let Some(change) = u.stream {
        update_stream(engine, &mut meta, change)?;
        updating = true;
    }
    if let Some(sse) = u.sse {
        meta.sse = Some(sse);
        updating = true;
    }
    if let Some(p) = u.protection {
        meta.deletion_protection = p;
    }
    if let Some(c) = u.table_class {
        check_table_class(c)?;
        meta.table_class = c.to_owned();
    }
    if let Some(updates) = u.gsi_updates {
        super::indexes::apply_updates(&mut meta, updates, &new_defs)?;
        updating = true;
    }
    let table = engine.replace_meta(&table, meta)?;
    let status = if updating {
        TableStatus::Updating
    } else {
        TableStatus::Active
    };
    Ok(json!({"TableDescription": table.describe(engine.region(), engine.account(), status)}))
}

/// UpdateTable's BillingMode and ProvisionedThroughput applied to `meta`; whether they changed
/// anything (the table is then UPDATING).
fn update_billing(
    meta: &mut TableMeta,
    billing: Option<BillingMode>,
    throughput: Option<&Throughput>,
) -> Result<bool> {
    let now = now_secs();
    let new_mode = billing.unwrap_or(meta.billing_mode);
    if new_mode == BillingMode::PayPerRequest {
        if throughput.is_some() {
            return Err(EngineError::validation(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ));
        }
        if meta.billing_mode == BillingMode::PayPerRequest {
            return Ok(false);
        }
        meta.billing_mode = new_mode;
        meta.read_capacity = 0;
        meta.write_capacity = 0;
        meta.pay_per_request_since = Some(now);
        return Ok(true);
    }
    let switching = meta.billing_mode != BillingMode::Provisioned;
    let Some(t) = throughput else {
        if switching {
            return Err(EngineError::validation(
                "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
            ));
        }
        return Ok(false);
    };
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
    meta.billing_mode = BillingMode::Provisioned;
    Ok(true)
}

/// UpdateTable's StreamSpecification applied to `meta`: enabling opens a new stream (a new
/// label and epoch), disabling closes the current epoch and keeps its label.
fn update_stream(engine: &Engine, meta: &mut TableMeta, change: StreamChange) -> Result<()> {
    let enabled = matches!(change, StreamChange::Enable(_));
    let currently = meta.stream.as_ref().is_some_and(|s| s.enabled);
    if enabled && currently {
        return Err(EngineError::validation(format!(
            "Table already has an enabled stream: TableName: {}",
            meta.name
        )));
    }
    if !enabled && !currently {
        return Err(EngineError::validation(format!(
            "Table has no stream to disable: TableName: {}",
            meta.name
        )));
    }
    let previous = meta.stream.as_ref().and_then(|s| s.label.clone());
    meta.stream = Some(match change {
        StreamChange::Enable(view) => {
            let label = stream_label(previous.as_deref());
            meta.streams.push(StreamEpoch {
                label: label.clone(),
                view_type: view,
                start_seq: engine.log().next_seq(),
                end_seq: None,
                created_at: now_secs(),
            });
            StreamSpec {
                enabled,
                label: Some(label),
                view_type: Some(view),
            }
        }
        StreamChange::Disable => {
            if let Some(last) = meta.streams.last_mut() {
                last.end_seq.get_or_insert(engine.log().next_seq());
            }
            StreamSpec {
                enabled,
                label: previous,
                view_type: None,
            }
        }
    });
    Ok(())
}
