//! The legacy (pre-expression) parameters: Expected, ConditionalOperator, AttributeUpdates,
//! KeyConditions, QueryFilter and ScanFilter. A request that uses them is rewritten into the
//! equivalent expression request (see `expr::legacy`) and runs through the same code.
//! Mixing a legacy parameter with its expression counterpart is refused before this, by
//! `ExprParams::read`. (AttributesToGet is handled directly, as a projection.)

use serde_json::{Map, Value as Json};

use crate::error::{EngineError, Result};
use crate::expr::legacy::{self, Converted};
use crate::request::Request;
use crate::value::AttributeValue;

const LEGACY: [&str; 6] = [
    "Expected",
    "ConditionalOperator",
    "AttributeUpdates",
    "KeyConditions",
    "QueryFilter",
    "ScanFilter",
];

fn object<'a>(req: &'a Request, field: &str) -> Result<Option<&'a Map<String, Json>>> {
    match req.raw(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Object(m)) => Ok(Some(m)),
        Some(_) => Err(EngineError::serialization(format!(
            "Unexpected value type in payload for {field}"
        ))),
    }
}

/// The request rewritten with expressions when it uses legacy parameters, else `None`.
pub fn rewrite(req: &Request) -> Result<Option<Request>> {
    if !LEGACY
        .iter()
        .any(|p| req.raw(p).is_some_and(|v| !v.is_null()))
    {
        return Ok(None);
    }
    let op = req.str("ConditionalOperator")?;
    let empty = Map::new();
    let mut out: Vec<(&str, Converted)> = Vec::new();
    // DynamoDB reports AttributeUpdates problems before Expected ones.
    if let Some(u) = object(req, "AttributeUpdates")? {
        out.push(("UpdateExpression", legacy::attribute_updates(u)?));
    }
    if let Some(k) = object(req, "KeyConditions")? {
        out.push(("KeyConditionExpression", legacy::key_conditions(k)?));
    }
    let filter = [("QueryFilter", "QueryFilter"), ("ScanFilter", "ScanFilter")]
        .into_iter()
        .find_map(|(field, name)| object(req, field).transpose().map(|f| (f, name)));
    match (object(req, "Expected")?, filter) {
        (Some(e), _) => out.push(("ConditionExpression", legacy::expected(e, op)?)),
        (None, Some((f, name))) => out.push(("FilterExpression", legacy::filter(f?, op, name)?)),
        (None, None) if op.is_some() => {
            out.push(("ConditionExpression", legacy::expected(&empty, op)?))
        }
        (None, None) => {}
    }

    let mut body = req.body().clone();
    for p in LEGACY {
        body.remove(p);
    }
    let mut names = Map::new();
    let mut values = Map::new();
    for (field, c) in out {
        if c.expression.is_empty() {
            continue;
        }
        body.insert(field.into(), Json::String(c.expression));
        names.extend(c.names.into_iter().map(|(k, v)| (k, Json::String(v))));
        values.extend(
            c.values
                .into_iter()
                .map(|(k, v): (String, AttributeValue)| (k, v.to_json())),
        );
    }
    // Alongside expressions, AttributesToGet becomes the equivalent ProjectionExpression.
    if let Some(Json::Array(attrs)) = body.remove("AttributesToGet") {
        let mut placeholders = Vec::with_capacity(attrs.len());
        for (i, a) in attrs.into_iter().enumerate() {
            let p = format!("#lp{i}");
            names.insert(p.clone(), a);
            placeholders.push(p);
        }
        body.insert(
            "ProjectionExpression".into(),
            Json::String(placeholders.join(", ")),
        );
    }
    if !names.is_empty() {
        body.insert("ExpressionAttributeNames".into(), Json::Object(names));
    }
    if !values.is_empty() {
        body.insert("ExpressionAttributeValues".into(), Json::Object(values));
    }
    Ok(Some(Request::from_map(body)))
}
