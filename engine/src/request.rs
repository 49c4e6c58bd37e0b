//! Reading a DynamoDB JSON request body: typed accessors whose failures are DynamoDB's
//! SerializationException (wrong JSON type) or ValidationException (constraint violations,
//! collected and reported as "N validation errors detected: ..."), and the one place a
//! TableName is read: a table's name or its ARN (`arn:aws:dynamodb:<region>:<account>:table/
//! <name>`), which DynamoDB accepts wherever a TableName names an existing table.

use serde_json::{Map, Value as Json};

use crate::error::{EngineError, Result};
use crate::expr::{Names, Values};
use crate::value::{self, AttributeValue, Item};

pub struct Request {
    body: Map<String, Json>,
}

fn type_error(field: &str, expected: &str) -> EngineError {
    EngineError::serialization(format!(
        "Unexpected value type in payload: {field} must be {expected}"
    ))
}

impl Request {
    pub fn parse(bytes: &[u8]) -> Result<Request> {
        let body: Json = if bytes.iter().all(u8::is_ascii_whitespace) {
            Json::Object(Map::new())
        } else {
            serde_json::from_slice(bytes).map_err(|e| {
                // serde_json stops at 128 levels of nesting; a well-formed request nests that
                // deep only with AttributeValues, far past DynamoDB's 32 levels.
                if e.to_string().starts_with("recursion limit exceeded") {
                    return EngineError::validation(
                        "Nesting Levels have exceeded supported limits",
                    );
                }
                EngineError::serialization(format!(
                    "Start of structure or map found where not expected: {e}"
                ))
            })?
        };
        match body {
            Json::Object(body) => Ok(Request { body }),
            _ => Err(EngineError::serialization(
                "Start of structure or map found where not expected",
            )),
        }
    }

    pub fn from_map(body: Map<String, Json>) -> Request {
        Request { body }
    }

    /// The whole request body.
    pub fn body(&self) -> &Map<String, Json> {
        &self.body
    }

    /// The raw value of a member; JSON null counts as absent.
    pub fn raw(&self, field: &str) -> Option<&Json> {
        self.body.get(field).filter(|v| !v.is_null())
    }

    pub fn str(&self, field: &str) -> Result<Option<&str>> {
        match self.raw(field) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(_) => Err(type_error(field, "a string")),
        }
    }

    pub fn bool(&self, field: &str) -> Result<Option<bool>> {
        match self.raw(field) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(Json::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Json::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(type_error(field, "a boolean")),
        }
    }

    pub fn int(&self, field: &str) -> Result<Option<i64>> {
        match self.raw(field) {
            None => Ok(None),
            Some(Json::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f.floor() as i64))
                .map(Some)
                .ok_or_else(|| type_error(field, "an integer")),
            Some(_) => Err(type_error(field, "an integer")),
        }
    }

    pub fn object(&self, field: &str) -> Result<Option<&Map<String, Json>>> {
        match self.raw(field) {
            None => Ok(None),
            Some(Json::Object(m)) => Ok(Some(m)),
            Some(_) => Err(type_error(field, "a structure")),
        }
    }

    pub fn array(&self, field: &str) -> Result<Option<&Vec<Json>>> {
        match self.raw(field) {
            None => Ok(None),
            Some(Json::Array(a)) => Ok(Some(a)),
            Some(_) => Err(type_error(field, "a list")),
        }
    }

    /// A map of AttributeValues (Item, Key, ExclusiveStartKey).
    pub fn item(&self, field: &str) -> Result<Option<Item>> {
        match self.raw(field) {
            None => Ok(None),
            Some(v @ Json::Object(_)) => value::item_from_json(v).map(Some),
            Some(_) => Err(type_error(field, "a map")),
        }
    }

    pub fn names(&self) -> Result<Option<Names>> {
        let Some(m) = self.object("ExpressionAttributeNames")? else {
            return Ok(None);
        };
        let mut out = Names::with_capacity(m.len());
        for (k, v) in m {
            let v = v
                .as_str()
                .ok_or_else(|| type_error("ExpressionAttributeNames", "a map of strings"))?;
            out.insert(k.clone(), v.to_owned());
        }
        Ok(Some(out))
    }

    pub fn values(&self) -> Result<Option<Values>> {
        let Some(m) = self.object("ExpressionAttributeValues")? else {
            return Ok(None);
        };
        let mut out = Values::with_capacity(m.len());
        for (k, v) in m {
            let av = AttributeValue::from_json(v).map_err(|e| match e {
                EngineError::Validation(msg) => EngineError::Validation(format!(
                    "ExpressionAttributeValues contains invalid value: {msg} for key {k}"
                )),
                other => other,
            })?;
            out.insert(k.clone(), av);
        }
        Ok(Some(out))
    }
}

/// Constraint violations of one request, reported together as DynamoDB does.
#[derive(Default)]
pub struct Violations(Vec<String>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `Value <v> at '<path>' failed to satisfy constraint: <constraint>`.
    pub fn add(&mut self, value: Option<&str>, path: &str, constraint: &str) {
        let value = match value {
            Some(v) => format!("'{v}'"),
            None => "null".to_owned(),
        };
        self.0.push(format!(
            "Value {value} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    pub fn not_null<T>(&mut self, v: &Option<T>, path: &str) {
        if v.is_none() {
            self.add(None, path, "Member must not be null");
        }
    }

    /// Records a violation that is not about one member's constraint (DynamoDB reports some
    /// checks, such as a malformed ARN, in the same list with their own wording).
    pub fn add_message(&mut self, message: String) {
        self.0.push(message);
    }

    /// The TableName constraints of a table being created (length 3-255, pattern
    /// `[a-zA-Z0-9_.-]+`).
    pub fn table_name(&mut self, name: Option<&str>, path: &str) {
        let Some(name) = name else {
            self.add(None, path, "Member must not be null");
            return;
        };
        self.name_constraints(name, path, 3, 255);
    }

    /// A TableName that names an existing table: a name (as [`Self::table_name`]) or the
    /// table's ARN (at most 1,024 characters, well formed).
    pub fn table_ref(&mut self, name: Option<&str>, path: &str) {
        match name {
            Some(arn) if arn.starts_with("arn:") => {
                self.length(arn, path, 1, MAX_TABLE_ARN);
                if arn.chars().count() <= MAX_TABLE_ARN {
                    if let Err(reason) = parse_table_arn(arn) {
                        self.add_message(reason.to_string());
                    }
                }
            }
            other => self.table_name(other, path),
        }
    }

    /// A string member's length constraints, in characters.
    pub fn length(&mut self, value: &str, path: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.add(
                Some(value),
                path,
                &format!("Member must have length greater than or equal to {min}"),
            );
        }
        if n > max {
            self.add(
                Some(value),
                path,
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    pub fn name_constraints(&mut self, name: &str, path: &str, min: usize, max: usize) {
        if !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
            || name.is_empty()
        {
            self.add(
                Some(name),
                path,
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            );
        }
        if name.len() < min {
            self.add(
                Some(name),
                path,
                &format!("Member must have length greater than or equal to {min}"),
            );
        }
        if name.len() > max {
            self.add(
                Some(name),
                path,
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    pub fn one_of(&mut self, v: Option<&str>, path: &str, allowed: &[&str]) {
        if let Some(v) = v {
            if !allowed.contains(&v) {
                self.add(
                    Some(v),
                    path,
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    pub fn at_least(&mut self, v: Option<i64>, path: &str, min: i64) {
        if let Some(v) = v {
            if v < min {
                self.add(
                    Some(&v.to_string()),
                    path,
                    &format!("Member must have value greater than or equal to {min}"),
                );
            }
        }
    }

    pub fn at_most(&mut self, v: Option<i64>, path: &str, max: i64) {
        if let Some(v) = v {
            if v > max {
                self.add(
                    Some(&v.to_string()),
                    path,
                    &format!("Member must have value less than or equal to {max}"),
                );
            }
        }
    }

    pub fn finish(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(EngineError::validation(format!(
                "1 validation error detected: {}",
                self.0[0]
            ))),
            n => Err(EngineError::validation(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

/// A TableName given as an ARN may be this long.
pub const MAX_TABLE_ARN: usize = 1024;

/// The parts of a table ARN: `arn:<partition>:dynamodb:<region>:<account>:table/<name>`.
#[derive(Debug, PartialEq)]
pub struct TableArn<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub name: &'a str,
}

/// Parses a table ARN; the error (a ValidationException) is DynamoDB's reason for refusing a
/// malformed one.
pub fn parse_table_arn(arn: &str) -> Result<TableArn<'_>> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return Err(EngineError::Validation(format!(
            "Invalid ARN '{arn}': Valid ARN format is arn:partition:dynamodb:region:account-id:table/table-name"
        )));
    };
    if prefix != "arn" {
        return Err(EngineError::Validation(format!(
            "ARNs must start with 'arn:': {arn}"
        )));
    }
    if !matches!(
        partition,
        "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b"
    ) {
        return Err(EngineError::Validation(format!(
            "Invalid AWS partition in '{arn}'"
        )));
    }
    if service != "dynamodb" {
        return Err(EngineError::Validation(format!(
            "Invalid AWS service in '{arn}'"
        )));
    }
    let valid_region = !region.is_empty()
        && region
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if !valid_region {
        return Err(EngineError::Validation(format!(
            "Invalid AWS region in '{arn}'"
        )));
    }
    if account.is_empty() || !account.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(EngineError::Validation(format!(
            "Invalid AWS account in '{arn}'"
        )));
    }
    let name = resource
        .strip_prefix("table/")
        .filter(|n| !n.contains('/'))
        .ok_or_else(|| EngineError::Validation(format!("Invalid resource type in '{arn}'")))?;
    let mut v = Violations::new();
    v.name_constraints(name, "tableName", 3, 255);
    if !v.0.is_empty() {
        return Err(EngineError::Validation(format!(
            "Invalid table name in '{arn}'"
        )));
    }
    Ok(TableArn {
        region,
        account,
        name,
    })
}

/// The table name a TableName stands for in this region and account: the name itself, or the
/// name inside the table's ARN. An ARN of another region or account is returned as is, so it
/// names no table here.
pub fn local_table_name<'a>(name_or_arn: &'a str, region: &str, account: &str) -> &'a str {
    match parse_table_arn(name_or_arn) {
        Ok(arn) if arn.region == region && arn.account == account => arn.name,
        _ => name_or_arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_arns() {
        let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/Music.v2";
        assert_eq!(
            parse_table_arn(arn).ok(),
            Some(TableArn {
                region: "us-east-1",
                account: "000000000000",
                name: "Music.v2"
            })
        );
        assert_eq!(
            local_table_name(arn, "us-east-1", "000000000000"),
            "Music.v2"
        );
        assert_eq!(local_table_name(arn, "eu-west-1", "000000000000"), arn);
        assert_eq!(
            local_table_name("Music", "us-east-1", "000000000000"),
            "Music"
        );
        for (bad, reason) in [
            ("arn:aws:dynamodb:us-east-1", "Valid ARN format"),
            ("arn:xyz:dynamodb:us-east-1:1:table/abc", "partition"),
            ("arn:aws:s3:us-east-1:1:table/abc", "service"),
            ("arn:aws:dynamodb:US_EAST:1:table/abc", "region"),
            ("arn:aws:dynamodb:us-east-1::table/abc", "account"),
            (
                "arn:aws:dynamodb:us-east-1:1:table/abc/index/i",
                "resource type",
            ),
            (
                "arn:aws:dynamodb:us-east-1:1:table/abc/stream/x",
                "resource type",
            ),
            ("arn:aws:dynamodb:us-east-1:1:function/abc", "resource type"),
            ("arn:aws:dynamodb:us-east-1:1:table/a", "table name"),
            ("arn:aws:dynamodb:us-east-1:1:table/a b c", "table name"),
        ] {
            let err = parse_table_arn(bad).expect_err(bad).to_string();
            assert!(err.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn table_refs_accept_names_and_arns() {
        let check = |name: &str| {
            let mut v = Violations::new();
            v.table_ref(Some(name), "tableName");
            v.finish()
        };
        assert!(check("Music").is_ok());
        assert!(check("arn:aws:dynamodb:us-east-1:000000000000:table/Music").is_ok());
        let long = format!("arn:aws:dynamodb:us-east-1:1:table/{}", "x".repeat(1000));
        let err = check(&long).expect_err("too long").to_string();
        assert!(err.contains("less than or equal to 1024"), "{err}");
        let err = check("arn:aws:dynamodb:us-east-1:1:table/t/index/i")
            .expect_err("index arn")
            .to_string();
        assert!(
            err.starts_with("1 validation error detected: Invalid resource type in"),
            "{err}"
        );
        let err = check(&"n".repeat(256)).expect_err("long name").to_string();
        assert!(err.contains("less than or equal to 255"), "{err}");
    }
}
