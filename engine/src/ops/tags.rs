//! TagResource, UntagResource and ListTagsOfResource on table ARNs.

use serde_json::{json, Value as Json};

use crate::catalog::Table;
use crate::error::{EngineError, Result};
use crate::request::{Request, Violations};
use crate::store::Engine;

/// Tags per table, as DynamoDB allows.
const MAX_TAGS: usize = 50;

/// The table a `ResourceArn` names (caller holds the DDL lock when it changes the table).
fn resource(engine: &Engine, req: &Request) -> Result<std::sync::Arc<Table>> {
    let arn = req
        .str("ResourceArn")?
        .ok_or_else(|| EngineError::validation("Invalid TableArn"))?;
    let prefix = format!(
        "arn:aws:dynamodb:{}:{}:table/",
        engine.region(),
        engine.account()
    );
    let name = arn
        .strip_prefix(&prefix)
        .filter(|n| n.len() >= 3 && !n.contains('/'))
        .ok_or_else(|| {
            EngineError::validation(format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
            ))
        })?;
    engine.table(name).ok_or_else(|| {
        EngineError::not_found(format!(
            "Requested resource not found: ResourcArn: {arn} not found"
        ))
    })
}

pub fn tag_resource(engine: &Engine, req: &Request) -> Result<Json> {
    let tags = req.array("Tags")?;
    let _ddl = engine.ddl_lock();
    let table = resource(engine, req)?;
    let tags = tags.ok_or_else(|| {
        EngineError::validation(
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
        )
    })?;
    if tags.is_empty() {
        return Err(EngineError::validation(
            "Atleast one Tag needs to be provided as Input.",
        ));
    }
    let mut meta = table.meta.clone();
    for t in tags {
        let t = Request::from_map(t.as_object().cloned().unwrap_or_default());
        let (k, v) = (t.str("Key")?, t.str("Value")?);
        let mut viol = Violations::new();
        viol.not_null(&k, "tags.member.key");
        viol.not_null(&v, "tags.member.value");
        if let Some(k) = k {
            if k.is_empty() || k.chars().count() > 128 {
                viol.add(
                    Some(k),
                    "tags.member.key",
                    "Member must have length less than or equal to 128, Member must have length greater than or equal to 1",
                );
            }
        }
        if let Some(v) = v {
            if v.chars().count() > 256 {
                viol.add(
                    Some(v),
                    "tags.member.value",
                    "Member must have length less than or equal to 256",
                );
            }
        }
        viol.finish()?;
        let (k, v) = (k.unwrap_or_default(), v.unwrap_or_default());
        match meta.tags.iter_mut().find(|(key, _)| key == k) {
            Some(existing) => existing.1 = v.to_owned(),
            None => meta.tags.push((k.to_owned(), v.to_owned())),
        }
    }
    if meta.tags.len() > MAX_TAGS {
        return Err(EngineError::LimitExceeded(format!(
            "The maximum number of tags ({MAX_TAGS}) for the resource would be exceeded"
        )));
    }
    engine.replace_meta(&table, meta)?;
    Ok(json!({}))
}

pub fn untag_resource(engine: &Engine, req: &Request) -> Result<Json> {
    let keys = req.array("TagKeys")?;
    let _ddl = engine.ddl_lock();
    let table = resource(engine, req)?;
    let keys = keys.ok_or_else(|| {
        EngineError::validation(
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
        )
    })?;
    if keys.is_empty() {
        return Err(EngineError::validation(
            "Atleast one Tag Key needs to be provided as Input.",
        ));
    }
    let keys: Vec<&str> = keys.iter().filter_map(Json::as_str).collect();
    let mut meta = table.meta.clone();
    meta.tags.retain(|(k, _)| !keys.contains(&k.as_str()));
    engine.replace_meta(&table, meta)?;
    Ok(json!({}))
}

pub fn list_tags_of_resource(engine: &Engine, req: &Request) -> Result<Json> {
    let table = resource(engine, req)?;
    let mut tags = table.meta.tags.clone();
    tags.sort();
    Ok(json!({
        "Tags": tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()
    }))
}
