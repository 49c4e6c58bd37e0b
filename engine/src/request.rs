//! Reading a DynamoDB JSON request body: typed accessors whose failures are DynamoDB's
//! SerializationException (wrong JSON type) or ValidationException (constraint violations,
//! collected and reported as "N validation errors detected: ...").

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

    /// The TableName constraints (length 3-255, pattern `[a-zA-Z0-9_.-]+`).
    pub fn table_name(&mut self, name: Option<&str>, path: &str) {
        let Some(name) = name else {
            self.add(None, path, "Member must not be null");
            return;
        };
        self.name_constraints(name, path, 3, 255);
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
