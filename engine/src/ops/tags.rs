//! TagResource, UntagResource and ListTagsOfResource on table ARNs, and the tag rules
//! CreateTable shares: key 1-128 and value 0-256 characters of letters, digits, white space and
//! `+ - = . _ : / @`, no `aws:` prefix, no key twice in one request, 50 tags per table.
//!
//! A table's tags are part of its metadata; changes take the DDL lock, so concurrent
//! TagResource calls on one table are applied one after the other and none is lost.

use serde_json::{json, Value as Json};

use super::Outcome;
use crate::catalog::Table;
use crate::error::{EngineError, Result};
use crate::request::{Request, Violations};
use crate::store::Engine;

/// Tags per table, as DynamoDB allows.
const MAX_TAGS: usize = 50;
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;
/// The longest ResourceArn DynamoDB takes.
const MAX_ARN: usize = 1283;

fn too_many_tags() -> EngineError {
    EngineError::validation("Number of Tags exceed the current limit for the provided ResourceArn")
}

fn allowed_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "+-=._:/@".contains(c)
}

fn check_key(key: &str) -> Result<()> {
    if !key.chars().all(allowed_char) {
        return Err(EngineError::validation(format!(
            "The Tag Key provided is invalid, Key: {key}"
        )));
    }
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(EngineError::validation(format!(
            "Tag Key cannot be prefixed with aws:, Key: {key}"
        )));
    }
    Ok(())
}

/// A `Tags` list (TagResource, CreateTable), validated as DynamoDB does: member constraints
/// first (all reported together), then characters, the reserved prefix and duplicates.
pub fn read_tags(list: &[Json]) -> Result<Vec<(String, String)>> {
    let mut v = Violations::new();
    let mut tags = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let t = t.as_object().ok_or_else(|| {
            EngineError::serialization("Unexpected value type in payload: Tag must be a structure")
        })?;
        let t = Request::from_map(t.clone());
        let (key, value) = (t.str("Key")?, t.str("Value")?);
        let path = format!("tags.{}.member", i + 1);
        match key {
            Some(k) => v.length(k, &format!("{path}.key"), 1, MAX_KEY),
            None => v.not_null(&key, &format!("{path}.key")),
        }
        if let Some(val) = value {
            v.length(val, &format!("{path}.value"), 0, MAX_VALUE);
        }
        tags.push((key.map(str::to_owned), value.map(str::to_owned)));
    }
    v.finish()?;
    let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for (key, value) in tags {
        let key = key.unwrap_or_default();
        check_key(&key)?;
        let value = value.ok_or_else(|| {
            EngineError::validation("The Tag Value provided is invalid, Value: null")
        })?;
        if !value.chars().all(allowed_char) {
            return Err(EngineError::validation(format!(
                "The Tag Value provided is invalid, Value: {value}"
            )));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(EngineError::validation(format!(
                "Duplicate Tag Keys provided as input: Duplicate Tag Key found {key}"
            )));
        }
        out.push((key, value));
    }
    if out.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    Ok(out)
}

/// The table a `ResourceArn` names (caller holds the DDL lock when it changes the table).
fn resource(engine: &Engine, arn: Option<&str>) -> Result<std::sync::Arc<Table>> {
    let arn = arn.unwrap_or_default();
    let invalid = |reason: &str| {
        EngineError::validation(format!(
            "One or more parameter values were invalid: {reason}"
        ))
    };
    if !arn.starts_with("arn:") {
        return Err(invalid(&format!("ARNs must start with 'arn:': {arn}")));
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, region, account, resource] = parts[..] else {
        return Err(invalid(&format!(
            "Provided Arn is not a DynamoDB resource arn: {arn}"
        )));
    };
    if service != "dynamodb" {
        return Err(invalid(&format!(
            "Provided Arn is not a DynamoDB resource arn: {arn}"
        )));
    }
    let name = match resource.strip_prefix("table/") {
        Some(rest) => match rest.split_once('/') {
            None => rest,
            // A stream is a taggable resource type in DynamoDB; here only tables carry tags.
            Some((_, sub)) if sub.starts_with("stream/") => return Err(not_found(arn)),
            Some(_) => {
                return Err(invalid(&format!(
                    "Invalid resource arn provided, only table or stream is accepted. Provided resource arn: {arn}"
                )))
            }
        },
        None => {
            return Err(EngineError::validation(format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
            )))
        }
    };
    if region != engine.region() || account != engine.account() || name.is_empty() {
        return Err(EngineError::validation(format!(
            "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
        )));
    }
    engine.table(name).ok_or_else(|| not_found(arn))
}

fn not_found(arn: &str) -> EngineError {
    EngineError::not_found(format!(
        "Requested resource not found: ResourcArn: {arn} not found"
    ))
}

/// The ResourceArn member's constraints.
fn check_arn(v: &mut Violations, arn: Option<&str>) {
    match arn {
        Some(a) => v.length(a, "resourceArn", 1, MAX_ARN),
        None => v.not_null(&arn, "resourceArn"),
    }
}

/// TagResource: adds or overwrites tags. Answers an empty body, as DynamoDB does.
pub fn tag_resource(engine: &Engine, req: &Request) -> Result<Outcome> {
    let arn = req.str("ResourceArn")?;
    let list = req.array("Tags")?;
    let mut v = Violations::new();
    check_arn(&mut v, arn);
    v.not_null(&list, "tags");
    v.finish()?;
    let tags = read_tags(list.map(Vec::as_slice).unwrap_or_default())?;
    if tags.is_empty() {
        return Err(EngineError::validation(
            "Atleast one Tag needs to be provided as Input.",
        ));
    }
    let _ddl = engine.ddl_lock();
    let table = resource(engine, arn)?;
    let mut meta = table.meta.clone();
    for (k, v) in tags {
        match meta.tags.iter_mut().find(|(key, _)| *key == k) {
            Some(existing) => existing.1 = v,
            None => meta.tags.push((k, v)),
        }
    }
    if meta.tags.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    if meta.tags != table.meta.tags {
        engine.replace_meta(&table, meta)?;
    }
    Ok(Outcome::raw(Vec::new()))
}

/// UntagResource: removes tags by key (absent keys are ignored). Answers an empty body.
pub fn untag_resource(engine: &Engine, req: &Request) -> Result<Outcome> {
    let arn = req.str("ResourceArn")?;
    let list = req.array("TagKeys")?;
    let mut v = Violations::new();
    check_arn(&mut v, arn);
    v.not_null(&list, "tagKeys");
    let mut keys = Vec::new();
    for (i, k) in list.into_iter().flatten().enumerate() {
        let k = k.as_str().ok_or_else(|| {
            EngineError::serialization(
                "Unexpected value type in payload: TagKeys must be a list of strings",
            )
        })?;
        v.length(k, &format!("tagKeys.{}.member", i + 1), 1, MAX_KEY);
        keys.push(k);
    }
    v.finish()?;
    if list.is_some_and(|l| l.is_empty()) {
        return Err(EngineError::validation(
            "Atleast one Tag Key needs to be provided as Input.",
        ));
    }
    for k in &keys {
        check_key(k)?;
    }
    if keys.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    let _ddl = engine.ddl_lock();
    let table = resource(engine, arn)?;
    let mut meta = table.meta.clone();
    meta.tags.retain(|(k, _)| !keys.contains(&k.as_str()));
    if meta.tags != table.meta.tags {
        engine.replace_meta(&table, meta)?;
    }
    Ok(Outcome::raw(Vec::new()))
}

pub fn list_tags_of_resource(engine: &Engine, req: &Request) -> Result<Json> {
    let arn = req.str("ResourceArn")?;
    let mut v = Violations::new();
    check_arn(&mut v, arn);
    v.finish()?;
    let table = resource(engine, arn)?;
    let mut tags = table.meta.tags.clone();
    tags.sort();
    Ok(json!({
        "Tags": tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: Json) -> Result<Vec<(String, String)>> {
        read_tags(list.as_array().expect("list"))
    }

    #[test]
    fn tag_rules() {
        let ok = tags(
            json!([{"Key": "env", "Value": ""}, {"Key": "a b:c/d=e+f-g.h_i@j", "Value": "ünï 1"}]),
        );
        assert_eq!(ok.expect("valid").len(), 2);
        let err = |list: Json| tags(list).expect_err("invalid").to_string();
        assert_eq!(
            err(json!([{"Key": "", "Value": "v"}])),
            "1 validation error detected: Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
        let long = "k".repeat(129);
        assert!(err(json!([{"Key": "ok", "Value": "v"}, {"Key": long, "Value": "v"}]))
            .contains("at 'tags.2.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"));
        assert!(err(json!([{"Key": "k", "Value": "v".repeat(257)}]))
            .contains("at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"));
        assert_eq!(
            err(json!([{"Key": "k#", "Value": "v"}])),
            "The Tag Key provided is invalid, Key: k#"
        );
        assert_eq!(
            err(json!([{"Key": "k", "Value": "<v>"}])),
            "The Tag Value provided is invalid, Value: <v>"
        );
        assert_eq!(
            err(json!([{"Key": "k"}])),
            "The Tag Value provided is invalid, Value: null"
        );
        assert_eq!(
            err(json!([{"Key": "AWS:cost", "Value": "v"}])),
            "Tag Key cannot be prefixed with aws:, Key: AWS:cost"
        );
        assert_eq!(
            err(json!([{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}])),
            "Duplicate Tag Keys provided as input: Duplicate Tag Key found k"
        );
        let many: Vec<Json> = (0..51)
            .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
            .collect();
        assert_eq!(
            err(Json::Array(many)),
            "Number of Tags exceed the current limit for the provided ResourceArn"
        );
    }
}
