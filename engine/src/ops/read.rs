//! Query and Scan: range scans over the order-preserving key space, with DynamoDB's paging
//! (Limit, ExclusiveStartKey/LastEvaluatedKey, the 1 MB page), filters and projections.

use std::ops::Bound;

use super::items::projection;
use super::{consumed, read_units, table_name_and, wants_capacity, ExprParams, Outcome};
use crate::catalog::Table;
use crate::error::{EngineError, Result};
use crate::expr::{Condition, ExprInput, ExprKind, KeyCondition, Projection, SortKeyCondition};
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
}

fn read_params(req: &Request, input: &ExprInput, is_query: bool) -> Result<ReadParams> {
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
    if req.raw("IndexName").is_some() {
        let index = req.str("IndexName")?.unwrap_or_default();
        return Err(EngineError::validation(format!(
            "The table does not have the specified index: {index}"
        )));
    }
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
        (Some("ALL_PROJECTED_ATTRIBUTES"), _) => {
            return Err(EngineError::validation(format!(
                "ALL_PROJECTED_ATTRIBUTES can be used only when {} using an IndexName",
                if is_query { "Querying" } else { "Scanning" }
            )))
        }
        (Some("SPECIFIC_ATTRIBUTES"), None) => {
            return Err(EngineError::validation(
                "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
            ))
        }
        (Some("COUNT"), None) => Select::Count,
        (_, Some(p)) => Select::Projected(p),
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
    })
}

/// Storage key of an ExclusiveStartKey.
fn start_key(table: &Table, start: &Item) -> Result<Vec<u8>> {
    table.key_of_key(start).map_err(|e| match e {
        EngineError::Validation(m) => {
            EngineError::Validation(format!("The provided starting key is invalid: {m}"))
        }
        other => other,
    })
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
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    forward: bool,
    p: &ReadParams,
) -> Result<Vec<u8>> {
    let iter = table.items.range((lower, upper));
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
        let stored = Stored::new(v)?;
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
            last = Some(table.key_attributes(&item));
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
    let end = || prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    match sort {
        None => (Bound::Included(prefix.to_vec()), end()),
        Some(SortKeyCondition::Eq(v)) => {
            let k = encoded(prefix, v);
            (Bound::Included(k.clone()), Bound::Included(k))
        }
        Some(SortKeyCondition::Lt(v)) => (
            Bound::Included(prefix.to_vec()),
            Bound::Excluded(encoded(prefix, v)),
        ),
        Some(SortKeyCondition::Le(v)) => (
            Bound::Included(prefix.to_vec()),
            Bound::Included(encoded(prefix, v)),
        ),
        Some(SortKeyCondition::Gt(v)) => (Bound::Excluded(encoded(prefix, v)), end()),
        Some(SortKeyCondition::Ge(v)) => (Bound::Included(encoded(prefix, v)), end()),
        Some(SortKeyCondition::Between(a, b)) => (
            Bound::Included(encoded(prefix, a)),
            Bound::Included(encoded(prefix, b)),
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
    for legacy in ["QueryFilter", "ConditionalOperator", "KeyConditions"] {
        if req.raw(legacy).is_some() {
            return Err(EngineError::validation(format!(
                "The legacy parameter {legacy} is not supported yet by this server; use the expression parameters"
            )));
        }
    }
    let key_expr = req.str("KeyConditionExpression")?.ok_or_else(|| {
        EngineError::validation(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
        )
    })?;
    let input = ExprInput::new(params.names.as_ref(), params.values.as_ref());
    let table = engine.require_table(&name)?;
    let hash = (
        table.meta.hash_key.name.as_str(),
        table.meta.hash_key.ty.as_str(),
    );
    let range = table
        .meta
        .range_key
        .as_ref()
        .map(|r| (r.name.as_str(), r.ty.as_str()));
    let key_cond = KeyCondition::parse(key_expr, &input, hash, range)?;
    let p = read_params(req, &input, true)?;
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
    crate::catalog::check_key_value(pk, &table.meta.hash_key.name, true)?;
    let prefix = keys::partition_prefix(pk);
    let (mut lower, mut upper) = query_range(&prefix, key_cond.sort.as_ref().map(|(_, c)| c));
    if let Some(start) = &p.start {
        let sk = start_key(&table, start)?;
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
    let body = run_page(&table, lower, upper, forward, &p)?;
    Ok(Outcome::raw(body))
}

pub fn scan(engine: &Engine, req: &Request) -> Result<Outcome> {
    let name = table_name_and(req, &[])?;
    let params = ExprParams::read(
        req,
        &["ProjectionExpression", "FilterExpression"],
        &["AttributesToGet", "ScanFilter", "ConditionalOperator"],
    )?;
    for legacy in ["ScanFilter", "ConditionalOperator"] {
        if req.raw(legacy).is_some() {
            return Err(EngineError::validation(format!(
                "The legacy parameter {legacy} is not supported yet by this server; use the expression parameters"
            )));
        }
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
    let p = read_params(req, &input, false)?;
    input.check_all_used()?;
    let table = engine.require_table(&name)?;

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
        lower = bound_max(lower, Bound::Excluded(start_key(&table, start)?));
    }
    let body = run_page(&table, lower, upper, true, &p)?;
    Ok(Outcome::raw(body))
}
