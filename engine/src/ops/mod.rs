//! The DynamoDB operations, each a function from a parsed request to a JSON response.
//! Shared here: expression parameters, ReturnValues, consumed capacity.

pub mod batch;
pub mod indexes;
pub mod items;
pub mod legacy;
pub mod read;
pub mod replicas;
pub mod streams;
pub mod tables;
pub mod tags;
pub mod transact;
pub mod ttl;

use serde_json::{json, Value as Json};

use crate::catalog::Table;
use crate::durability::Ticket;
use crate::error::{EngineError, Result};
use crate::expr::{Names, Values};
use crate::request::{Request, Violations};
use crate::value::{item_to_json, Item};

/// DynamoDB's answer for a table that does not exist (shared by the operations on tables).
pub(crate) fn table_not_found(name: &str) -> EngineError {
    EngineError::not_found(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

/// Maximum item size: 400 KB.
pub const MAX_ITEM_SIZE: usize = 400 * 1024;
/// Maximum expression length in bytes.
pub const MAX_EXPRESSION_SIZE: usize = 4096;

/// What an operation returns: the response body and, for writes, the durability ticket the
/// caller waits for before acknowledging.
pub struct Outcome {
    pub body: Body,
    pub ticket: Option<Ticket>,
}

/// A response body: a JSON value, or JSON already serialized (reads splice stored item JSON
/// into the response without decoding it).
pub enum Body {
    Json(Json),
    Raw(Vec<u8>),
}

impl Body {
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Body::Json(j) => serde_json::to_vec(&j).unwrap_or_else(|_| b"{}".to_vec()),
            Body::Raw(b) => b,
        }
    }
}

impl From<Json> for Body {
    fn from(j: Json) -> Body {
        Body::Json(j)
    }
}

impl Outcome {
    pub fn read(body: Json) -> Outcome {
        Outcome {
            body: Body::Json(body),
            ticket: None,
        }
    }

    pub fn raw(body: Vec<u8>) -> Outcome {
        Outcome {
            body: Body::Raw(body),
            ticket: None,
        }
    }
}

/// The expression-related parameters of a request after DynamoDB's static checks.
pub struct ExprParams {
    pub names: Option<Names>,
    pub values: Option<Values>,
}

impl ExprParams {
    /// `expressions`: the expression parameters the operation takes (ProjectionExpression last);
    /// `legacy`: their non-expression counterparts, which may not be mixed with them.
    pub fn read(req: &Request, expressions: &[&str], legacy: &[&str]) -> Result<ExprParams> {
        let used: Vec<&str> = expressions
            .iter()
            .copied()
            .filter(|e| req.raw(e).is_some())
            .collect();
        if !used.is_empty() {
            let legacy_used: Vec<&str> = legacy
                .iter()
                .copied()
                .filter(|e| req.raw(e).is_some())
                .filter(|e| !(*e == "KeyConditions" && req.raw("KeyConditionExpression").is_none()))
                .collect();
            if !legacy_used.is_empty() {
                return Err(EngineError::validation(format!(
                    "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
                    legacy_used.join(", "),
                    used.join(", ")
                )));
            }
        }
        if req.raw("ExpressionAttributeNames").is_some() && used.is_empty() {
            return Err(EngineError::validation(
                "ExpressionAttributeNames can only be specified when using expressions",
            ));
        }
        let value_exprs: Vec<&str> = expressions
            .iter()
            .copied()
            .filter(|e| *e != "ProjectionExpression")
            .collect();
        if !value_exprs.is_empty()
            && req.raw("ExpressionAttributeValues").is_some()
            && value_exprs.iter().all(|e| req.raw(e).is_none())
        {
            return Err(EngineError::validation(format!(
                "ExpressionAttributeValues can only be specified when using expressions: {} {} null",
                value_exprs.join(" and "),
                if value_exprs.len() > 1 { "are" } else { "is" }
            )));
        }
        for e in expressions {
            if let Some(s) = req.str(e)? {
                if s.len() > MAX_EXPRESSION_SIZE {
                    return Err(EngineError::validation(format!(
                        "Invalid {e}: Expression size has exceeded the maximum allowed size; expression size: {}",
                        s.len()
                    )));
                }
            }
        }
        let names = req.names()?;
        if let Some(n) = &names {
            if n.is_empty() {
                return Err(EngineError::validation(
                    "ExpressionAttributeNames must not be empty",
                ));
            }
            for k in n.keys() {
                let ok = k.len() > 1
                    && k.starts_with('#')
                    && k[1..]
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_');
                if !ok {
                    return Err(EngineError::validation(format!(
                        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{k}\""
                    )));
                }
            }
        }
        if let Some(raw) = req.object("ExpressionAttributeValues")? {
            if raw.is_empty() {
                return Err(EngineError::validation(
                    "ExpressionAttributeValues must not be empty",
                ));
            }
            for k in raw.keys() {
                let ok = k.len() > 1
                    && k.starts_with(':')
                    && k[1..]
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_');
                if !ok {
                    return Err(EngineError::validation(format!(
                        "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{k}\""
                    )));
                }
            }
        }
        let values = req.values()?;
        Ok(ExprParams { names, values })
    }
}

/// Reads the TableName (a name or the table's ARN, which `Engine::table` resolves) and checks
/// the other required members, reporting all violations.
pub fn table_name_and(req: &Request, required: &[(&str, &str)]) -> Result<String> {
    let name = req.str("TableName")?;
    let mut v = Violations::new();
    v.table_ref(name, "tableName");
    for (field, path) in required {
        if req.raw(field).is_none() {
            v.add(None, path, "Member must not be null");
        }
    }
    v.finish()?;
    Ok(name.unwrap_or_default().to_owned())
}

/// ReturnValues, validated against the values the operation allows.
pub fn return_values(req: &Request, allowed: &[&str], message: &str) -> Result<String> {
    let rv = req.str("ReturnValues")?.unwrap_or("NONE");
    let all = ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"];
    let mut v = Violations::new();
    v.one_of(Some(rv), "returnValues", &all);
    v.finish()?;
    if !allowed.contains(&rv) {
        return Err(EngineError::validation(message));
    }
    Ok(rv.to_owned())
}

/// ReturnValuesOnConditionCheckFailure: whether to return the old item on a failed condition.
pub fn return_old_on_failure(req: &Request) -> Result<bool> {
    let v = req.str("ReturnValuesOnConditionCheckFailure")?;
    let mut viol = Violations::new();
    viol.one_of(
        v,
        "returnValuesOnConditionCheckFailure",
        &["ALL_OLD", "NONE"],
    );
    viol.finish()?;
    Ok(v == Some("ALL_OLD"))
}

/// DynamoDB's ConditionalCheckFailedException.
pub fn condition_failed(old: Option<&Item>, return_old: bool) -> EngineError {
    EngineError::ConditionalCheckFailed {
        message: "The conditional request failed".to_owned(),
        item: if return_old { old.cloned() } else { None },
    }
}

/// ReturnConsumedCapacity: NONE (default), TOTAL or INDEXES.
pub fn wants_capacity(req: &Request) -> Result<bool> {
    let v = req.str("ReturnConsumedCapacity")?;
    let mut viol = Violations::new();
    viol.one_of(v, "returnConsumedCapacity", &["INDEXES", "TOTAL", "NONE"]);
    viol.finish()?;
    Ok(matches!(v, Some("INDEXES") | Some("TOTAL")))
}

pub fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

pub fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

pub fn consumed(table: &Table, units: f64) -> Json {
    json!({"TableName": table.meta.name, "CapacityUnits": units})
}

/// Inserts `Attributes` into a response when the item is present and non-empty.
pub fn put_attributes(out: &mut serde_json::Map<String, Json>, item: Option<&Item>) {
    if let Some(item) = item {
        if !item.is_empty() {
            out.insert("Attributes".into(), item_to_json(item));
        }
    }
}
