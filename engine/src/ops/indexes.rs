//! Secondary-index definitions in CreateTable (GlobalSecondaryIndexes,
//! LocalSecondaryIndexes) and UpdateTable (GlobalSecondaryIndexUpdates), and the backfill of
//! an index created on a table that already holds items.

use serde_json::Value as Json;

use crate::catalog::{KeyAttr, Table, MAX_KEY_NAME_BYTES};
use crate::error::{EngineError, Result};
use crate::index::IndexMeta;
use crate::request::{Request, Violations};
use crate::schema::{BillingMode, IndexStatus, KeyType, ProjectionType, ScalarType};
use crate::storage::encode_stored;
use crate::store::Engine;
use crate::value;

const MAX_GSIS: usize = 20;
const MAX_LSIS: usize = 5;
const MAX_NON_KEY_ATTRIBUTES: usize = 100;
/// Attributes of a multi-attribute GSI partition key, and of its sort key.
pub const MAX_KEY_ATTRIBUTES: usize = 4;

fn invalid(msg: impl std::fmt::Display) -> EngineError {
    EngineError::validation(format!("One or more parameter values were invalid: {msg}"))
}

/// Records a violation when a key attribute name is empty or longer than 255 bytes (the
/// KeySchemaAttributeName / NonKeyAttributeName constraints).
pub fn key_name_length(v: &mut Violations, name: &str, path: &str) {
    if name.is_empty() {
        v.add(
            Some(name),
            path,
            "Member must have length greater than or equal to 1",
        );
    }
    if name.len() > MAX_KEY_NAME_BYTES {
        v.add(
            Some(name),
            path,
            &format!("Member must have length less than or equal to {MAX_KEY_NAME_BYTES}"),
        );
    }
}

/// One KeySchema member at `path` (a table's `keySchema.N.member`, an index's
/// `....member.keySchema.member`): its violations go to `v`; the element (name, key type) when
/// both fields are present and valid.
pub(crate) fn read_key_element(
    k: &Json,
    v: &mut Violations,
    path: &str,
) -> Result<Option<(String, KeyType)>> {
    let k = Request::from_map(k.as_object().cloned().unwrap_or_default());
    let (n, t) = (k.str("AttributeName")?, k.str("KeyType")?);
    v.not_null(&n, &format!("{path}.attributeName"));
    if let Some(n) = n {
        key_name_length(v, n, &format!("{path}.attributeName"));
    }
    v.not_null(&t, &format!("{path}.keyType"));
    v.one_of(t, &format!("{path}.keyType"), KeyType::NAMES);
    Ok(n.zip(t.and_then(KeyType::parse))
        .map(|(n, t)| (n.to_owned(), t)))
}

/// The shape of an index key schema: one HASH element first; a local index has exactly one
/// RANGE element after it; a global index may have up to four HASH elements followed by up to
/// four RANGE elements (multi-attribute keys), each attribute at most once.
fn check_key_schema(name: &str, elems: &[(String, KeyType)], global: bool) -> Result<()> {
    let max = if global { 2 * MAX_KEY_ATTRIBUTES } else { 2 };
    if elems.is_empty() || elems.len() > max {
        return Err(invalid(if global {
            format!("Invalid KeySchema: index {name} must have between 1 and {max} key elements")
        } else {
            format!("Invalid KeySchema: index {name} must have 1 or 2 key elements")
        }));
    }
    if elems[0].1 != KeyType::Hash {
        return Err(invalid(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    if elems.len() == 2 && elems[0].0 == elems[1].0 {
        return Err(EngineError::validation(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ));
    }
    let hashes = elems
        .iter()
        .take_while(|(_, t)| *t == KeyType::Hash)
        .count();
    let ranges = elems.len() - hashes;
    if !global && elems.len() == 2 && elems[1].1 != KeyType::Range {
        return Err(invalid(
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        ));
    }
    if elems[hashes..].iter().any(|(_, t)| *t == KeyType::Hash) {
        return Err(invalid(format!(
            "Invalid KeySchema: HASH key elements must come before RANGE key elements; index: {name}"
        )));
    }
    if hashes > MAX_KEY_ATTRIBUTES {
        return Err(invalid(format!(
            "Invalid KeySchema: The number of HASH key elements exceeds the limit of {MAX_KEY_ATTRIBUTES}; index: {name}"
        )));
    }
    if ranges > MAX_KEY_ATTRIBUTES {
        return Err(invalid(format!(
            "Invalid KeySchema: The number of RANGE key elements exceeds the limit of {MAX_KEY_ATTRIBUTES}; index: {name}"
        )));
    }
    for (i, (n, _)) in elems.iter().enumerate() {
        if elems[..i].iter().any(|(m, _)| m == n) {
            return Err(invalid(format!(
                "Invalid KeySchema: Duplicate attribute in KeySchema: {n}; index: {name}"
            )));
        }
    }
    Ok(())
}

/// One index definition (`global`: a GSI), keys typed from `defs`.
fn parse_one(
    d: &Json,
    global: bool,
    defs: &[(String, ScalarType)],
    pay_per_request: bool,
) -> Result<IndexMeta> {
    let d = Request::from_map(d.as_object().cloned().unwrap_or_default());
    let kind = if global {
        "globalSecondaryIndexes"
    } else {
        "localSecondaryIndexes"
    };
    let name = d.str("IndexName")?;
    let mut v = Violations::new();
    v.not_null(&name, &format!("{kind}.member.indexName"));
    if let Some(n) = name {
        v.name_constraints(n, &format!("{kind}.member.indexName"), 3, 255);
    }
    let schema = d.array("KeySchema")?;
    v.not_null(&schema, &format!("{kind}.member.keySchema"));
    let projection = d.object("Projection")?;
    v.not_null(&projection, &format!("{kind}.member.projection"));
    v.finish()?;
    let name = name.unwrap_or_default().to_owned();
    let mut elems = Vec::new();
    for k in schema.into_iter().flatten() {
        let mut v = Violations::new();
        let path = format!("{kind}.member.keySchema.member");
        let elem = read_key_element(k, &mut v, &path)?;
        v.finish()?;
        elems.extend(elem);
    }
    check_key_schema(&name, &elems, global)?;
    let ty = |n: &str| defs.iter().find(|(m, _)| m == n).map(|(_, t)| *t);
    let (mut hash_keys, mut range_keys) = (Vec::new(), Vec::new());
    for (n, key_type) in &elems {
        let Some(t) = ty(n) else {
            let keys: Vec<&str> = elems.iter().map(|(n, _)| n.as_str()).collect();
            let names: Vec<&str> = defs.iter().map(|(n, _)| n.as_str()).collect();
            return Err(invalid(format!(
                "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                keys.join(", "),
                names.join(", ")
            )));
        };
        let attr = KeyAttr {
            name: n.clone(),
            ty: t,
        };
        if *key_type == KeyType::Hash {
            hash_keys.push(attr);
        } else {
            range_keys.push(attr);
        }
    }
    let p = Request::from_map(projection.cloned().unwrap_or_default());
    let ptype = p.str("ProjectionType")?;
    let mut v = Violations::new();
    v.one_of(
        ptype,
        &format!("{kind}.member.projection.projectionType"),
        ProjectionType::NAMES,
    );
    v.finish()?;
    let non_key: Vec<String> = p
        .array("NonKeyAttributes")?
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    let mut v = Violations::new();
    for n in &non_key {
        key_name_length(
            &mut v,
            n,
            &format!("{kind}.member.projection.nonKeyAttributes.member"),
        );
    }
    v.finish()?;
    let ptype = ptype
        .and_then(ProjectionType::parse)
        .unwrap_or(ProjectionType::All);
    match ptype {
        ProjectionType::Include if non_key.is_empty() => {
            return Err(invalid(
                "ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
            ))
        }
        ProjectionType::All | ProjectionType::KeysOnly if p.raw("NonKeyAttributes").is_some() => {
            return Err(invalid(format!(
                "ProjectionType is {ptype}, but NonKeyAttributes is specified"
            )))
        }
        _ => {}
    }
    if non_key.len() > MAX_NON_KEY_ATTRIBUTES {
        return Err(invalid(
            "The sum of NonKeyAttributes across all secondary indexes exceeds the maximum of 100",
        ));
    }
    let throughput = d.object("ProvisionedThroughput")?;
    let (mut read, mut write) = (0, 0);
    if global {
        match (throughput, pay_per_request) {
            (Some(_), true) => {
                return Err(invalid(format!(
                    "ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
                )))
            }
            (None, false) => {
                return Err(invalid(format!(
                    "ProvisionedThroughput should not be null for index: {name}"
                )))
            }
            (Some(t), false) => {
                let t = Request::from_map(t.clone());
                let (r, w) = (t.int("ReadCapacityUnits")?, t.int("WriteCapacityUnits")?);
                let mut v = Violations::new();
                let path = format!("{kind}.member.provisionedThroughput");
                v.not_null(&w, &format!("{path}.writeCapacityUnits"));
                v.at_least(w, &format!("{path}.writeCapacityUnits"), 1);
                v.not_null(&r, &format!("{path}.readCapacityUnits"));
                v.at_least(r, &format!("{path}.readCapacityUnits"), 1);
                v.finish()?;
                read = r.unwrap_or(1) as u64;
                write = w.unwrap_or(1) as u64;
            }
            (None, true) => {}
        }
    }
    Ok(IndexMeta {
        name,
        id: 0,
        global,
        hash_keys,
        range_keys,
        projection: ptype,
        non_key_attributes: non_key,
        read_capacity: read,
        write_capacity: write,
        status: IndexStatus::Active,
    })
}

/// The GlobalSecondaryIndexes and LocalSecondaryIndexes of a CreateTable request.
pub fn read_create(
    req: &Request,
    defs: &[(String, ScalarType)],
    hash: &KeyAttr,
    range: Option<&KeyAttr>,
    pay_per_request: bool,
) -> Result<Vec<IndexMeta>> {
    let mut out = Vec::new();
    for (field, global, max) in [
        ("GlobalSecondaryIndexes", true, MAX_GSIS),
        ("LocalSecondaryIndexes", false, MAX_LSIS),
    ] {
        let Some(list) = req.array(field)? else {
            continue;
        };
        if list.is_empty() {
            return Err(invalid(format!("List of {field} is empty")));
        }
        if list.len() > max {
            return Err(EngineError::validation(format!(
                "One or more parameter values were invalid: Number of {field} exceeds the limit of {max}"
            )));
        }
        for d in list {
            let index = parse_one(d, global, defs, pay_per_request)?;
            if !global {
                let Some(range) = range else {
                    return Err(invalid(
                        "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
                    ));
                };
                let _ = range;
                let index_hash = index.hash_keys.first().map_or("", |k| k.name.as_str());
                if index_hash != hash.name {
                    return Err(invalid(format!(
                        "Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                        index.name, index_hash, hash.name
                    )));
                }
                if index.range_keys.is_empty() {
                    return Err(invalid(format!(
                        "Index KeySchema for local secondary index {} must have a range key",
                        index.name
                    )));
                }
            }
            if out.iter().any(|i: &IndexMeta| i.name == index.name) {
                return Err(invalid(format!("Duplicate index name: {}", index.name)));
            }
            out.push(index);
        }
    }
    Ok(out)
}

/// Every attribute name used as a key by the table or one of its indexes.
pub fn key_names<'a>(
    hash: &'a KeyAttr,
    range: Option<&'a KeyAttr>,
    indexes: &'a [IndexMeta],
) -> Vec<&'a str> {
    let mut names: Vec<&str> = std::iter::once(hash)
        .chain(range)
        .chain(indexes.iter().flat_map(|i| i.key_attrs()))
        .map(|k| k.name.as_str())
        .collect();
    let mut seen = Vec::new();
    names.retain(|n| {
        let fresh = !seen.contains(n);
        seen.push(n);
        fresh
    });
    names
}

/// Applies UpdateTable's GlobalSecondaryIndexUpdates to `meta` (Create adds a CREATING index
/// that the backfill fills; Delete removes it; Update changes its throughput).
pub fn apply_updates(
    meta: &mut crate::catalog::TableMeta,
    updates: &[Json],
    new_defs: &[(String, ScalarType)],
) -> Result<()> {
    let mut structural = 0;
    for u in updates {
        let u = Request::from_map(u.as_object().cloned().unwrap_or_default());
        let present: Vec<&str> = ["Create", "Update", "Delete"]
            .into_iter()
            .filter(|k| u.raw(k).is_some_and(|v| !v.is_null()))
            .collect();
        if present.len() != 1 {
            return Err(invalid(
                "One of GlobalSecondaryIndexUpdate.Create, Update or Delete must be specified",
            ));
        }
        let body = u.raw(present[0]).cloned().unwrap_or(Json::Null);
        let name = body
            .get("IndexName")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned();
        match present[0] {
            "Create" => {
                structural += 1;
                // Definitions: the table's, plus the request's for new attributes.
                let mut defs = meta.attribute_definitions.clone();
                for (n, t) in new_defs {
                    match defs.iter().find(|(m, _)| m == n) {
                        Some((_, old)) if old != t => {
                            return Err(invalid(format!(
                                "Cannot change the type of attribute {n} from {old} to {t}"
                            )))
                        }
                        Some(_) => {}
                        None => defs.push((n.clone(), *t)),
                    }
                }
                let mut index = parse_one(
                    &body,
                    true,
                    &defs,
                    meta.billing_mode == BillingMode::PayPerRequest,
                )?;
                if meta.indexes.iter().any(|i| i.name == index.name) {
                    return Err(EngineError::validation(format!(
                        "One or more parameter values were invalid: Index already exists: {}",
                        index.name
                    )));
                }
                if meta.indexes.iter().filter(|i| i.global).count() >= MAX_GSIS {
                    return Err(EngineError::LimitExceeded(format!(
                        "Subscriber limit exceeded: The number of global secondary indexes exceeds the limit of {MAX_GSIS}"
                    )));
                }
                index.status = IndexStatus::Creating;
                meta.indexes.push(index);
                let used = key_names(&meta.hash_key, meta.range_key.as_ref(), &meta.indexes);
                meta.attribute_definitions = defs
                    .into_iter()
                    .filter(|(n, _)| used.contains(&n.as_str()))
                    .collect();
            }
            "Delete" => {
                structural += 1;
                let before = meta.indexes.len();
                meta.indexes.retain(|i| !(i.global && i.name == name));
                if meta.indexes.len() == before {
                    return Err(EngineError::not_found(format!(
                        "Requested resource not found: Index: {name} not found"
                    )));
                }
                let used: Vec<String> =
                    key_names(&meta.hash_key, meta.range_key.as_ref(), &meta.indexes)
                        .into_iter()
                        .map(str::to_owned)
                        .collect();
                meta.attribute_definitions.retain(|(n, _)| used.contains(n));
            }
            _ => {
                let index = meta
                    .indexes
                    .iter_mut()
                    .find(|i| i.global && i.name == name)
                    .ok_or_else(|| {
                        EngineError::not_found(format!(
                            "Requested resource not found: Index: {name} not found"
                        ))
                    })?;
                let t = body
                    .get("ProvisionedThroughput")
                    .cloned()
                    .unwrap_or_default();
                if let Some(r) = t.get("ReadCapacityUnits").and_then(Json::as_u64) {
                    index.read_capacity = r;
                }
                if let Some(w) = t.get("WriteCapacityUnits").and_then(Json::as_u64) {
                    index.write_capacity = w;
                }
            }
        }
    }
    if structural > 1 {
        return Err(EngineError::LimitExceeded(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
                .into(),
        ));
    }
    Ok(())
}

impl Engine {
    /// Fills every index still CREATING from the items its table already holds, then marks it
    /// ACTIVE. Writes keep maintaining a CREATING index meanwhile; each chunk of items is read
    /// and indexed under the items' locks, so an entry always reflects the item's current
    /// state. Returns how many items were indexed. Safe to repeat (after a restart).
    pub fn backfill_indexes(&self, progress: &mut dyn FnMut(&str, &str, usize)) -> Result<usize> {
        let mut total = 0;
        for name in self.table_names() {
            let Some(table) = self.table(&name) else {
                continue;
            };
            for index in table
                .indexes
                .iter()
                .filter(|i| i.meta.status == IndexStatus::Creating)
            {
                let started = std::time::Instant::now();
                let items = self.backfill_one(&table, &index.meta.name, progress)?;
                total += items;
                let secs = started.elapsed().as_secs_f64();
                let _ddl = self.ddl_lock();
                if let Some(current) = self.table(&name) {
                    let mut meta = current.meta.clone();
                    if let Some(m) = meta.indexes.iter_mut().find(|m| m.id == index.meta.id) {
                        m.status = IndexStatus::Active;
                        self.replace_meta(&current, meta)?;
                        tracing::info!(
                            table = %name,
                            index = %index.meta.name,
                            items,
                            seconds = secs,
                            items_per_sec = (items as f64 / secs.max(1e-9)).round(),
                            "index backfilled: ACTIVE"
                        );
                    }
                }
            }
        }
        Ok(total)
    }

    fn backfill_one(
        &self,
        table: &Table,
        index_name: &str,
        progress: &mut dyn FnMut(&str, &str, usize),
    ) -> Result<usize> {
        const CHUNK: usize = 512;
        let Some(index) = table.index(index_name).cloned() else {
            return Ok(0);
        };
        let mut done = 0;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let range = match &after {
                Some(k) => table.items.range::<Vec<u8>, _>((
                    std::ops::Bound::Excluded(k.clone()),
                    std::ops::Bound::Unbounded,
                )),
                None => table.items.range::<Vec<u8>, _>(..),
            };
            let mut keys = Vec::with_capacity(CHUNK);
            for guard in range.take(CHUNK) {
                keys.push(guard.key()?.to_vec());
            }
            let Some(last) = keys.last().cloned() else {
                break;
            };
            let guards = self.lock_items(keys.iter().map(|k| (table, k.as_slice())));
            let mut batch = self.db_batch()?;
            let (mut count, mut size) = (0i64, 0i64);
            for key in &keys {
                let Some(item) = self.get_item(table, key)? else {
                    continue;
                };
                // Items lacking a key attribute, or whose key value the index cannot take
                // (wrong type, empty, too long), stay out of the index, as in DynamoDB.
                let Some(entry) = index.meta.entry_key(key, &item) else {
                    continue;
                };
                if index.ks.get(&entry)?.is_none() {
                    let projected = index.meta.project(table.meta.primary_key(), &item);
                    let s = value::item_size(&projected);
                    batch.insert(&index.ks, entry, encode_stored(&projected, s));
                    count += 1;
                    size += s as i64;
                }
            }
            batch.commit()?;
            drop(guards);
            index
                .stats
                .item_count
                .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
            index
                .stats
                .size_bytes
                .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
            done += keys.len();
            progress(&table.meta.name, index_name, done);
            after = Some(last);
        }
        self.persist()?;
        Ok(done)
    }
}
