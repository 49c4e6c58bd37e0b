//! Query and Scan: range scans over the order-preserving key space, with DynamoDB's paging
//! (Limit, ExclusiveStartKey/LastEvaluatedKey, the 1 MB page), filters and projections.

use std::ops::Bound;

use super::items::projection;
use super::{consumed, read_units, table_name_and, wants_capacity, ExprParams, Outcome};
use crate::catalog::Table;
use crate::error::{EngineError, Result};
use crate::expr::{Condition, ExprInput, ExprKind, KeyCondition, Projection, SortKeyCondition};
use crate::index::Index;
use crate::keys;
use crate::request::{Request, Violations};
use crate::store::{Engine, Stored};
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
    start: Option<Item>,
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
    let start = req.item("ExclusiveStartKey").map_err(|e| match e {
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
    })?;
    Ok(ReadParams {
        select,
        filter,
        limit: limit.map(|l| l as usize),
        start,
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
    if ix.meta.status == "CREATING" {
        return Err(EngineError::validation(format!(
            "Cannot read from backfilling global secondary index: {name}"
        )));
    }
    Ok(Some(ix))
}

/// Storage key of an ExclusiveStartKey (an index entry key when reading an index: the start
/// key then holds the table's and the index's key attributes).
fn start_key(table: &Table, index: Option<&Index>, start: &Item) -> Result<Vec<u8>> {
    let invalid = |e: EngineError| match e {
        EngineError::Validation(m) => {
            EngineError::Validation(format!("The provided starting key is invalid: {m}"))
        }
        other => other,
    };
    let Some(ix) = index else {
        return table.key_of_key(start).map_err(invalid);
    };
    let expected = ix.meta.entry_key_attributes(&table.meta, start);
    let names = std::iter::once(&table.meta.hash_key)
        .chain(table.meta.range_key.as_ref())
        .chain(ix.meta.key_attrs())
        .map(|k| k.name.as_str())
        .collect::<std::collections::BTreeSet<_>>();
    let mismatch = || {
        invalid(EngineError::validation(
            "The provided key element does not match the schema",
        ))
    };
    if start.len() != names.len() || expected.len() != names.len() {
        return Err(mismatch());
    }
    let table_key = table.key_of_item(start).map_err(|_| mismatch())?;
    ix.meta.entry_key(&table_key, start).ok_or_else(mismatch)
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
            let key = table.key_of_item(&stored.decode()?)?;
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
                Some(ix) => ix.meta.entry_key_attributes(&table.meta, &item),
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
    let (hash_attr, range_attr) = match &index {
        Some(ix) => (&ix.meta.hash_key, ix.meta.range_key.as_ref()),
        None => (&table.meta.hash_key, table.meta.range_key.as_ref()),
    };
    let hash = (hash_attr.name.as_str(), hash_attr.ty.as_str());
    let range = range_attr.map(|r| (r.name.as_str(), r.ty.as_str()));
    let key_cond = KeyCondition::parse(key_expr, &input, hash, range)?;
    let p = read_params(req, &input, true, index.as_deref())?;
    input.check_all_used()?;
    if let Some(f) = &p.filter {
        let key_names = std::iter::once(hash.0).chain(range.map(|r| r.0));
        for k in key_names {
            if f.reads(k) {
                return Err(EngineError::validation(format!(
                    "Filter Expression can only contain non-primary key attributes: Primary key attribute: {k}"
                )));
            }
        }
    }
    let forward = req.bool("ScanIndexForward")?.unwrap_or(true);

    let pk = &key_cond.partition.1;
    crate::catalog::check_key_value(pk, &hash_attr.name, true)?;
    let prefix = keys::partition_prefix(pk);
    let (mut lower, mut upper) = query_range(&prefix, key_cond.sort.as_ref().map(|(_, c)| c));
    if let Some(start) = &p.start {
        let sk = start_key(&table, index.as_deref(), start)?;
        if !sk.starts_with(&prefix) {
            return Err(EngineError::validation(
                "The provided starting key is outside query boundaries based on provided conditions",
            ));
        }
        if forward {
            lower = bound_max(lower, Bound::Excluded(sk));
        } else {
            upper = bound_min(upper, Bound::Excluded(sk));
        }
    }
    let body = run_page(&table, index.as_deref(), lower, upper, forward, &p)?;
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
    let index = resolve_index(&table, req)?;
    let p = read_params(req, &input, false, index.as_deref())?;
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
    if let Some(start) = &p.start {
        lower = bound_max(
            lower,
            Bound::Excluded(start_key(&table, index.as_deref(), start)?),
        );
    }
    let body = run_page(&table, index.as_deref(), lower, upper, true, &p)?;
    Ok(Outcome::raw(body))
}
