//! Query and Scan: range scans over the order-preserving key space, with DynamoDB's paging
//! (Limit, ExclusiveStartKey/LastEvaluatedKey, the 1 MB page), filters and projections.

use std::ops::Bound;

use super::items::projection;
use super::{consumed, read_units, table_name_and, wants_capacity, ExprParams, Outcome};
use crate::catalog::{KeyAttr, Table};
use crate::error::{EngineError, Result};
use crate::expr::{Condition, ExprInput, ExprKind, KeyCondition, Projection, SortKeyCondition};
use crate::index::Index;
use crate::keys;
use crate::request::{Request, Violations};
use crate::storage::Stored;
use crate::store::Engine;
use crate::value::{item_to_json, AttributeValue, Item};

/// A page stops once this much item data was read.
pub const PAGE_BYTES: usize = 1024 * 1024;

/// What to return for each matching item.
enum Select {
    All,
    Count,
    Projected(Projection),
}

/// Shared by Query and Scan: Select / projection / filter / limit parameters.
struct ReadParams {
    select: Select,
    filter: Option<Condition>,
    limit: Option<usize>,
    consistent: bool,
    capacity: bool,
    /// Read whole items from the table (a local index that does not project them all).
    fetch: bool,
}

fn read_params(
    req: &Request,
    input: &ExprInput,
    is_query: bool,
    index: Option<&Index>,
) -> Result<ReadParams> {
    let select = req.str("Select")?;
    let limit = req.int("Limit")?;
    let mut v = Violations::new();
    v.one_of(
        select,
        "select",
        &[
            "SPECIFIC_ATTRIBUTES",
            "COUNT",
            "ALL_ATTRIBUTES",
            "ALL_PROJECTED_ATTRIBUTES",
        ],
    );
    v.at_least(limit, "limit", 1);
    v.finish()?;
    if let Some(ix) = index {
        if ix.meta.global && req.bool("ConsistentRead")? == Some(true) {
            return Err(EngineError::validation(
                "Consistent reads are not supported on global secondary indexes",
            ));
        }
    }
    // A local index that does not hold every attribute reads the rest from the table.
    let partial_lsi = index.is_some_and(|ix| !ix.meta.global && !ix.meta.projects_all());
    let mut fetch = false;
    let proj_param = if req.raw("ProjectionExpression").is_some() {
        Some("ProjectionExpression")
    } else if req.raw("AttributesToGet").is_some() {
        Some("AttributesToGet")
    } else {
        None
    };
    let projection = projection(req, input)?;
    let select = match (select, projection) {
        (Some("COUNT"), Some(_)) | (Some("ALL_ATTRIBUTES"), Some(_)) => {
            return Err(EngineError::validation(format!(
                "Cannot specify the {} when choosing to get {}",
                proj_param.unwrap_or("ProjectionExpression"),
                select.unwrap_or_default()
            )))
        }
        (Some("ALL_PROJECTED_ATTRIBUTES"), _) if index.is_none() => {
            return Err(EngineError::validation(format!(
                "ALL_PROJECTED_ATTRIBUTES can be used only when {} using an IndexName",
                if is_query { "Querying" } else { "Scanning" }
            )))
        }
        (Some("ALL_PROJECTED_ATTRIBUTES"), Some(_)) => {
            return Err(EngineError::validation(format!(
                "Cannot specify the {} when choosing to get ALL_PROJECTED_ATTRIBUTES",
                proj_param.unwrap_or("ProjectionExpression"),
            )))
        }
        (Some("ALL_ATTRIBUTES"), None) if index.is_some_and(|ix| !ix.meta.projects_all()) => {
            let Some(ix) = index.filter(|ix| !ix.meta.global) else {
                return Err(EngineError::validation(format!(
                    "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                    index.map(|ix| ix.meta.name.as_str()).unwrap_or_default()
                )));
            };
            let _ = ix;
            fetch = true;
            Select::All
        }
        (Some("SPECIFIC_ATTRIBUTES"), None) => {
            return Err(EngineError::validation(
                "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
            ))
        }
        (Some("COUNT"), None) => Select::Count,
        (_, Some(p)) => {
            fetch = partial_lsi;
            Select::Projected(p)
        }
        (_, None) => Select::All,
    };
    let filter = req
        .str("FilterExpression")?
        .map(|f| Condition::parse(f, ExprKind::Filter, input))
        .transpose()?;
    Ok(ReadParams {
        select,
        filter,
        limit: limit.map(|l| l as usize),
        consistent: req.bool("ConsistentRead")?.unwrap_or(false),
        capacity: wants_capacity(req)?,
        fetch,
    })
}

/// The index a Query or Scan names, if any.
fn resolve_index(table: &Table, req: &Request) -> Result<Option<std::sync::Arc<Index>>> {
    let Some(name) = req.str("IndexName")? else {
        return Ok(None);
    };
    let mut v = Violations::new();
    v.name_constraints(name, "indexName", 3, 255);
    v.finish()?;
    let ix = table.index(name).cloned().ok_or_else(|| {
        EngineError::validation(format!(
            "The table does not have the specified index: {name}"
        ))
    })?;
    if ix.meta.status == crate::schema::IndexStatus::Creating {
        return Err(EngineError::validation(format!(
            "Cannot read from backfilling global secondary index: {name}"
        )));
    }
    Ok(Some(ix))
}

/// The ExclusiveStartKey of a Query or Scan as values; it is checked against the key schema
/// by [`StartKey`].
fn exclusive_start(req: &Request) -> Result<Option<Item>> {
    req.item("ExclusiveStartKey").map_err(|e| match e {
        EngineError::Validation(m)
            if ![
                "contains duplicates",
                "number set",
                "numeric value",
                "significant digits",
                "number with magnitude",
            ]
            .iter()
            .any(|s| m.contains(s)) =>
        {
            EngineError::Validation(format!("The provided starting key is invalid: {m}"))
        }
        other => other,
    })
}

const START_INVALID: &str = "The provided starting key is invalid";

fn start_invalid(e: EngineError) -> EngineError {
    match e {
        EngineError::Validation(m) => EngineError::Validation(format!("{START_INVALID}: {m}")),
        other => other,
    }
}

/// An ExclusiveStartKey checked, in DynamoDB's order, against what is read: the table's key
/// attributes plus, when reading an index, the index's.
struct StartKey<'a> {
    item: &'a Item,
    table: &'a Table,
    index: Option<&'a Index>,
}

impl<'a> StartKey<'a> {
    /// Every key attribute name the start key must have, each once.
    fn names(table: &'a Table, index: Option<&'a Index>) -> Vec<&'a str> {
        let mut names: Vec<&str> = std::iter::once(&table.meta.hash_key)
            .chain(table.meta.range_key.as_ref())
            .map(|k| k.name.as_str())
            .collect();
        for k in index.into_iter().flat_map(|ix| ix.meta.key_attrs()) {
            if !names.contains(&k.name.as_str()) {
                names.push(&k.name);
            }
        }
        names
    }

    /// The first check: as many attributes as key attributes.
    fn new(
        item: &'a Item,
        table: &'a Table,
        index: Option<&'a Index>,
        count_error: &str,
    ) -> Result<StartKey<'a>> {
        if item.len() != Self::names(table, index).len() {
            return Err(EngineError::validation(count_error));
        }
        Ok(StartKey { item, table, index })
    }

    /// Checks the start key's values of `attrs` (the read key schema's partition or sort
    /// attributes): present, of the schema's type, a valid key value.
    fn check_attrs(&self, attrs: &[KeyAttr], is_hash: bool) -> Result<()> {
        for attr in attrs {
            let v = self
                .item
                .get(&attr.name)
                .ok_or_else(|| EngineError::validation(START_INVALID))?;
            if v.type_name() != attr.ty.as_str() {
                return Err(EngineError::validation(
                    "The provided key element does not match the schema",
                ));
            }
            crate::catalog::check_key_value(v, &attr.name, is_hash)?;
        }
        Ok(())
    }

    /// The storage key to resume after: the table key, or the index entry key.
    fn storage_key(&self) -> Result<Vec<u8>> {
        let table_key: Item = std::iter::once(&self.table.meta.hash_key)
            .chain(self.table.meta.range_key.as_ref())
            .filter_map(|k| Some((k.name.clone(), self.item.get(&k.name)?.clone())))
            .collect();
        let key = self.table.key_of_key(&table_key).map_err(start_invalid)?;
        match self.index {
            None => Ok(key),
            Some(ix) => ix
                .meta
                .entry_key(&key, self.item)
                .ok_or_else(|| EngineError::validation(START_INVALID)),
        }
    }
}

fn name_and_type(k: &KeyAttr) -> (&str, &str) {
    (k.name.as_str(), k.ty.as_str())
}

/// Sort key condition values are sort key values: at most 1,024 bytes (so no range bound built
/// from them can exceed fjall's key limit).
fn check_sort_value_sizes(cond: &SortKeyCondition) -> Result<()> {
    let values = match cond {
        SortKeyCondition::Between(a, b) => vec![a, b],
        SortKeyCondition::Eq(v)
        | SortKeyCondition::Lt(v)
        | SortKeyCondition::Le(v)
        | SortKeyCondition::Gt(v)
        | SortKeyCondition::Ge(v)
        | SortKeyCondition::BeginsWith(v) => vec![v],
    };
    for v in values {
        let len = match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::B(b) => b.len(),
            _ => 0,
        };
        if len > crate::catalog::MAX_RANGE_KEY_BYTES {
            return Err(EngineError::validation(
                "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
            ));
        }
    }
    Ok(())
}

/// The smallest key greater than every key starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Runs the scan over `[lower, upper]` in the requested direction and builds the page.
fn run_page(
    table: &Table,
    index: Option<&Index>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    forward: bool,
    p: &ReadParams,
) -> Result<Vec<u8>> {
    let source = index.map_or(&table.items, |ix| &ix.ks);
    let iter = source.range((lower, upper));
    let mut iter: Box<dyn Iterator<Item = fjall::Guard>> = if forward {
        Box::new(iter)
    } else {
        Box::new(iter.rev())
    };
    // The response is written by hand: whole items are spliced in as stored, undecoded.
    let mut out = b"{\"Items\":[".to_vec();
    let (mut count, mut scanned, mut bytes) = (0usize, 0usize, 0usize);
    let mut last: Option<Item> = None;
    for guard in iter.by_ref() {
        let (_, v) = guard.into_inner()?;
        let mut stored = Stored::new(v)?;
        if p.fetch {
            // The index entry names the item; read all of it from the table.
            let key = table.key_of_stored_item(&stored.decode()?)?;
            match table.items.get(&key)? {
                Some(v) => stored = Stored::new(v)?,
                None => continue,
            }
        }
        scanned += 1;
        bytes += stored.size();
        let mut decoded = None;
        let matched = match &p.filter {
            Some(f) => f.eval(decoded.insert(stored.decode()?))?,
            None => true,
        };
        if matched {
            count += 1;
            if !matches!(p.select, Select::Count) && count > 1 {
                out.push(b',');
            }
            match &p.select {
                Select::Count => {}
                Select::All => out.extend_from_slice(stored.json()),
                Select::Projected(proj) => {
                    let item = match &decoded {
                        Some(item) => proj.apply(item),
                        None => proj.apply(&stored.decode()?),
                    };
                    out.extend(serde_json::to_vec(&item_to_json(&item))?);
                }
            }
        }
        if p.limit.is_some_and(|l| scanned >= l) || bytes >= PAGE_BYTES {
            let item = match decoded {
                Some(item) => item,
                None => stored.decode()?,
            };
            last = Some(match index {
                Some(ix) => ix
                    .meta
                    .entry_key_attributes(table.meta.primary_key(), &item),
                None => table.key_attributes(&item),
            });
            break;
        }
    }
    if matches!(p.select, Select::Count) {
        out.truncate(1);
    } else {
        out.extend_from_slice(b"],");
    }
    out.extend(format!("\"Count\":{count},\"ScannedCount\":{scanned}").bytes());
    if let Some(last) = last {
        out.extend_from_slice(b",\"LastEvaluatedKey\":");
        out.extend(serde_json::to_vec(&item_to_json(&last))?);
    }
    if p.capacity {
        out.extend_from_slice(b",\"ConsumedCapacity\":");
        out.extend(serde_json::to_vec(&consumed(
            table,
            read_units(bytes, p.consistent),
        ))?);
    }
    out.push(b'}');
    Ok(out)
}

fn bound_max(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if x > y || (x == y && matches!(a, Bound::Excluded(_))) {
                a
            } else {
                b
            }
        }
    }
}

fn bound_min(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if x < y || (x == y && matches!(a, Bound::Excluded(_))) {
                a
            } else {
                b
            }
        }
    }
}

fn encoded(prefix: &[u8], v: &AttributeValue) -> Vec<u8> {
    let mut k = prefix.to_vec();
    keys::encode_value(&mut k, v);
    k
}

/// The key range of one partition restricted by a sort-key condition.
fn query_range(prefix: &[u8], sort: Option<&SortKeyCondition>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    // Index entry keys continue after the sort key (with the table key), so every bound
    // covers all keys that start with an encoded value, not just the value itself.
    let end_of = |k: &[u8]| prefix_end(k).map_or(Bound::Unbounded, Bound::Excluded);
    let after = |k: Vec<u8>| prefix_end(&k).map_or(Bound::Excluded(k), Bound::Included);
    match sort {
        None => (Bound::Included(prefix.to_vec()), end_of(prefix)),
        Some(SortKeyCondition::Eq(v)) => {
            let k = encoded(prefix, v);
            let upper = end_of(&k);
            (Bound::Included(k), upper)
        }
        Some(SortKeyCondition::Lt(v)) => (
            Bound::Included(prefix.to_vec()),
            Bound::Excluded(encoded(prefix, v)),
        ),
        Some(SortKeyCondition::Le(v)) => (
            Bound::Included(prefix.to_vec()),
            end_of(&encoded(prefix, v)),
        ),
        Some(SortKeyCondition::Gt(v)) => (after(encoded(prefix, v)), end_of(prefix)),
        Some(SortKeyCondition::Ge(v)) => (Bound::Included(encoded(prefix, v)), end_of(prefix)),
        Some(SortKeyCondition::Between(a, b)) => (
            Bound::Included(encoded(prefix, a)),
            end_of(&encoded(prefix, b)),
        ),
        Some(SortKeyCondition::BeginsWith(v)) => {
            let mut k = prefix.to_vec();
            keys::encode_prefix(&mut k, v);
            let upper = prefix_end(&k).map_or(Bound::Unbounded, Bound::Excluded);
            (Bound::Included(k), upper)
        }
    }
}

pub fn query(engine: &Engine, req: &Request) -> Result<Outcome> {
    let name = table_name_and(req, &[])?;
    let params = ExprParams::read(
        req,
        &[
            "ProjectionExpression",
            "FilterExpression",
            "KeyConditionExpression",
        ],
        &[
            "AttributesToGet",
            "QueryFilter",
            "ConditionalOperator",
            "KeyConditions",
        ],
    )?;
    if let Some(rewritten) = super::legacy::rewrite(req)? {
        return query(engine, &rewritten);
    }
    let key_expr = req.str("KeyConditionExpression")?.ok_or_else(|| {
        EngineError::validation(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
        )
    })?;
    let input = ExprInput::new(params.names.as_ref(), params.values.as_ref());
    let table = engine.require_table(&name)?;
    let index = resolve_index(&table, req)?;
    let ix = index.as_deref();
    let (hash_attrs, range_attrs): (&[KeyAttr], &[KeyAttr]) = match ix {
        Some(ix) => (&ix.meta.hash_keys, &ix.meta.range_keys),
        None => (
            std::slice::from_ref(&table.meta.hash_key),
            table.meta.range_key.as_slice(),
        ),
    };
    // DynamoDB checks the start key's partition attributes, then the key condition, then the
    // start key's sort attributes, then its table key, then whether it is in range.
    let start_item = exclusive_start(req)?;
    let start = start_item
        .as_ref()
        .map(|s| StartKey::new(s, &table, ix, START_INVALID))
        .transpose()?;
    if let Some(s) = &start {
        s.check_attrs(hash_attrs, true)?;
    }
    let hash: Vec<(&str, &str)> = hash_attrs.iter().map(name_and_type).collect();
    let range: Vec<(&str, &str)> = range_attrs.iter().map(name_and_type).collect();
    let key_cond = KeyCondition::parse_schema(key_expr, &input, &hash, &range)?;
    if let Some(s) = &start {
        s.check_attrs(range_attrs, false)?;
    }
    let p = read_params(req, &input, true, ix)?;
    input.check_all_used()?;
    if let Some(f) = &p.filter {
        for k in hash.iter().chain(&range).map(|(n, _)| *n) {
            if f.reads(k) {
                return Err(EngineError::validation(format!(
                    "Filter Expression can only contain non-primary key attributes: Primary key attribute: {k}"
                )));
            }
        }
    }
    let forward = req.bool("ScanIndexForward")?.unwrap_or(true);

    for (attr, v) in hash_attrs.iter().zip(key_cond.partition_values()) {
        crate::catalog::check_key_value(v, &attr.name, true)?;
    }
    let sort_conds = key_cond.sort_conditions();
    for (_, c) in &sort_conds {
        check_sort_value_sizes(c)?;
    }
    // `hash ‖ enc(partition values) ‖ enc(leading sort values)`: the matching entries are one
    // range inside it.
    let mut prefix = keys::partition_prefix_of(key_cond.partition_values());
    for (_, v) in &key_cond.sort_prefix {
        keys::encode_value(&mut prefix, v);
    }
    let (mut lower, mut upper) = query_range(&prefix, key_cond.sort.as_ref().map(|(_, c)| c));
    if let Some(s) = &start {
        let sk = s.storage_key()?;
        let same_partition = hash_attrs
            .iter()
            .zip(key_cond.partition_values())
            .all(|(k, v)| s.item.get(&k.name) == Some(v));
        if sort_conds.is_empty() {
            if !same_partition {
                return Err(EngineError::validation(
                    "The provided starting key is outside query boundaries based on provided conditions",
                ));
            }
        } else {
            let matches = sort_conds
                .iter()
                .all(|(n, c)| s.item.get(*n).is_some_and(|v| c.matches(v)));
            if !matches {
                return Err(EngineError::validation(
                    "The provided starting key does not match the range key predicate",
                ));
            }
            if !same_partition {
                return Err(EngineError::validation(
                    "The query can return at most one row and cannot be restarted",
                ));
            }
        }
        if forward {
            lower = bound_max(lower, Bound::Excluded(sk));
        } else {
            upper = bound_min(upper, Bound::Excluded(sk));
        }
    }
    let body = run_page(&table, ix, lower, upper, forward, &p)?;
    Ok(Outcome::raw(body))
}

pub fn scan(engine: &Engine, req: &Request) -> Result<Outcome> {
    let name = table_name_and(req, &[])?;
    let params = ExprParams::read(
        req,
        &["ProjectionExpression", "FilterExpression"],
        &["AttributesToGet", "ScanFilter", "ConditionalOperator"],
    )?;
    if let Some(rewritten) = super::legacy::rewrite(req)? {
        return scan(engine, &rewritten);
    }
    let segment = req.int("Segment")?;
    let total = req.int("TotalSegments")?;
    let mut v = Violations::new();
    v.at_least(segment, "segment", 0);
    v.at_most(segment, "segment", 999_999);
    v.at_least(total, "totalSegments", 1);
    v.at_most(total, "totalSegments", 1_000_000);
    v.finish()?;
    let segment = match (segment, total) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(EngineError::validation(
                "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
            ))
        }
        (None, Some(_)) => {
            return Err(EngineError::validation(
                "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
            ))
        }
        (Some(s), Some(t)) if s >= t => {
            return Err(EngineError::validation(format!(
                "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is out of bounds for TotalSegments: {t}"
            )))
        }
        (Some(s), Some(t)) => Some((s as u32, t as u32)),
    };
    let input = ExprInput::new(params.names.as_ref(), params.values.as_ref());
    let table = engine.require_table(&name)?;
    let start_item = exclusive_start(req)?;
    let index = match resolve_index(&table, req) {
        // A start key for an index the table does not have is an invalid start key.
        Err(EngineError::Validation(m))
            if start_item.is_some() && m.starts_with("The table does not have") =>
        {
            return Err(EngineError::validation(START_INVALID))
        }
        other => other?,
    };
    let ix = index.as_deref();
    let start = match &start_item {
        None => None,
        Some(item) => {
            let s = match ix {
                Some(_) => StartKey::new(item, &table, ix, START_INVALID)?,
                None => StartKey::new(
                    item,
                    &table,
                    None,
                    "The provided starting key is invalid: The provided key element does not match the schema",
                )?,
            };
            if let Some(ix) = ix {
                s.check_attrs(&ix.meta.hash_keys, true)?;
                s.check_attrs(&ix.meta.range_keys, false)?;
            }
            Some(s)
        }
    };
    let p = read_params(req, &input, false, ix)?;
    input.check_all_used()?;

    let (mut lower, upper) = match segment {
        None => (Bound::Unbounded, Bound::Unbounded),
        Some((s, t)) => {
            let (start, end) = keys::segment_bounds(s, t);
            (
                Bound::Included(start),
                end.map_or(Bound::Unbounded, Bound::Excluded),
            )
        }
    };
    if let Some(start) = &start {
        let sk = start.storage_key()?;
        if let Some((s, t)) = segment.filter(|(_, t)| *t > 1) {
            let (from, to) = keys::segment_bounds(s, t);
            if sk < from || to.is_some_and(|to| sk >= to) {
                return Err(EngineError::validation(format!(
                    "{START_INVALID}: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: {t} Segment: {s}"
                )));
            }
        }
        lower = bound_max(lower, Bound::Excluded(sk));
    }
    let body = run_page(&table, ix, lower, upper, true, &p)?;
    Ok(Outcome::raw(body))
}
