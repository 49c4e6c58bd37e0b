//! A function's configuration with Lambda's names, bounds and messages, filled from the JSON
//! of CreateFunction / UpdateFunctionConfiguration (the Lambda API and config-declared
//! functions share it). A member of the wrong JSON type is InvalidRequestContentException, as
//! Lambda's request reader reports it; a value outside its bounds is ValidationException with
//! Lambda's "N validation errors detected" message. Nothing is silently dropped.
//!
//! The Lambda protocol's function shapes live here, in and out: a CreateFunction request
//! ([`FunctionConfig::from_create_request`], [`code_from_request`]) and the
//! FunctionConfiguration JSON ([`FunctionConfig::to_json`]). Every error is a
//! [`FunctionError`]; the HTTP layer only maps it to Lambda's error type and status.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use crate::functions::FunctionError;
use crate::names::{self, validation_message, NameUse};
use crate::Limits;

/// Timeout bounds in seconds, MemorySize bounds in MB (Lambda's).
pub const TIMEOUT_SECS: (i64, i64) = (1, 900);
pub const MEMORY_MB: (i64, i64) = (128, 10_240);
/// Longest Description and Handler.
pub const DESCRIPTION_MAX: usize = 256;
pub const HANDLER_MAX: usize = 128;
/// Most bytes of environment variables (their JSON), as Lambda measures them.
pub const ENVIRONMENT_MAX: usize = 4 * 1024;

/// A function's configuration, as Lambda's FunctionConfiguration shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FunctionConfig {
    pub name: String,
    pub description: String,
    pub role: String,
    pub handler: String,
    pub runtime: String,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    pub env: Vec<(String, String)>,
    /// Base64 SHA-256 of the code as uploaded (Lambda's CodeSha256).
    pub code_sha256: String,
    pub code_size: u64,
    /// ISO-8601.
    pub last_modified: String,
    pub version: u64,
}

fn unreadable(detail: String) -> FunctionError {
    FunctionError::InvalidRequestContent(format!(
        "Could not parse request body into json: Could not parse payload into json: {detail}"
    ))
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "Null value",
        Json::Bool(_) => "Boolean value",
        Json::Number(_) => "Floating-point value",
        Json::String(_) => "String value",
        Json::Array(_) => "Array value (token `JsonToken.START_ARRAY`)",
        Json::Object(_) => "Object value (token `JsonToken.START_OBJECT`)",
    }
}

/// An integer member as Lambda reads one: a JSON integer within Java's `int`, or a string
/// holding one; anything else is unreadable.
pub fn int_member(body: &Map<String, Json>, key: &str) -> Result<Option<i64>, FunctionError> {
    let v = match body.get(key) {
        None | Some(Json::Null) => return Ok(None),
        Some(v) => v,
    };
    let parsed = match v {
        Json::Number(n) => match n.as_i64() {
            Some(i) => i,
            None if n.is_u64() => {
                return Err(unreadable(format!(
                    "Numeric value ({n}) out of range of int (-2147483648 - 2147483647)"
                )))
            }
            None => {
                return Err(unreadable(format!(
                    "Cannot deserialize value of type `java.lang.Integer` from Floating-point value ({n}) of `{key}`"
                )))
            }
        },
        Json::String(s) => s.trim().parse::<i64>().map_err(|_| {
            unreadable(format!(
                "Cannot deserialize value of type `java.lang.Integer` from String \"{s}\": not a valid `java.lang.Integer` value"
            ))
        })?,
        other => {
            return Err(unreadable(format!(
                "Cannot deserialize value of type `java.lang.Integer` from {} of `{key}`",
                json_kind(other)
            )))
        }
    };
    if i32::try_from(parsed).is_err() {
        return Err(unreadable(format!(
            "Numeric value ({parsed}) out of range of int (-2147483648 - 2147483647)"
        )));
    }
    Ok(Some(parsed))
}

/// A string member as Lambda reads one (numbers and booleans are taken as their text).
pub fn str_member(body: &Map<String, Json>, key: &str) -> Result<Option<String>, FunctionError> {
    match body.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(v @ (Json::Number(_) | Json::Bool(_))) => Ok(Some(v.to_string())),
        Some(other) => Err(unreadable(format!(
            "Cannot deserialize value of type `java.lang.String` from {} of `{key}`",
            json_kind(other)
        ))),
    }
}

fn bound_violation(value: i64, field: &str, (min, max): (i64, i64)) -> Option<String> {
    let constraint = if value < min {
        format!("greater than or equal to {min}")
    } else if value > max {
        format!("less than or equal to {max}")
    } else {
        return None;
    };
    Some(format!(
        "Value '{value}' at '{field}' failed to satisfy constraint: Member must have value {constraint}"
    ))
}

fn length_violation(value: &str, field: &str, max: usize) -> Option<String> {
    (value.chars().count() > max).then(|| {
        format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )
    })
}

/// `[a-zA-Z]([a-zA-Z0-9_])+`, Lambda's pattern for environment variable names.
fn is_env_key(k: &str) -> bool {
    let mut b = k.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && k.len() >= 2
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The code of a CreateFunction / UpdateFunctionCode body (`Code.ZipFile`, or `ZipFile`),
/// base64-decoded.
pub fn code_from_request(body: &Map<String, Json>) -> Result<Vec<u8>, FunctionError> {
    let code = match body.get("Code") {
        Some(Json::Object(c)) => c.get("ZipFile"),
        None | Some(Json::Null) => None,
        Some(_) => {
            return Err(FunctionError::InvalidRequestContent(
                "Could not parse request body into json: Code must be an object".into(),
            ))
        }
    }
    .or_else(|| body.get("ZipFile"));
    let code = match code {
        Some(Json::String(s)) => s,
        None | Some(Json::Null) => {
            return Err(FunctionError::InvalidParameter(
                "Code.ZipFile (the component bytes, base64) is required".into(),
            ))
        }
        Some(_) => {
            return Err(FunctionError::InvalidRequestContent(
                "Could not parse request body into json: ZipFile must be a base64 string".into(),
            ))
        }
    };
    B64.decode(code)
        .map_err(|_| FunctionError::InvalidParameter("Code.ZipFile is not valid base64".into()))
}

impl FunctionConfig {
    /// The configuration a CreateFunction body asks for: its `FunctionName` (required,
    /// checked as Lambda checks it) and settings. The code is read by [`code_from_request`].
    pub fn from_create_request(body: &Map<String, Json>) -> Result<FunctionConfig, FunctionError> {
        let name = match body.get("FunctionName") {
            None | Some(Json::Null) => {
                return Err(FunctionError::Validation(validation_message(&[
                    "Value null at 'functionName' failed to satisfy constraint: Member must not be null".into(),
                ])))
            }
            Some(Json::String(raw)) => names::parse(raw, NameUse::Create)?.name,
            Some(_) => {
                return Err(FunctionError::InvalidRequestContent(
                    "Could not parse request body into json: FunctionName must be a string".into(),
                ))
            }
        };
        let mut c = FunctionConfig::new(name);
        c.apply(body)?;
        Ok(c)
    }

    /// Lambda's FunctionConfiguration JSON (`arn`: the function's ARN).
    pub fn to_json(&self, arn: &str) -> Json {
        let vars: Map<String, Json> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "FunctionName": self.name,
            "FunctionArn": arn,
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout_secs,
            "MemorySize": self.memory_mb,
            "LastModified": self.last_modified,
            "CodeSha256": self.code_sha256,
            "Version": "$LATEST",
            "Environment": {"Variables": vars},
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": ["wasm32"],
        })
    }

    /// A function with Lambda's defaults (3 s, 128 MB); code and hash are set on create.
    pub fn new(name: String) -> FunctionConfig {
        FunctionConfig {
            name,
            description: String::new(),
            role: String::new(),
            handler: "handle".into(),
            runtime: "wasm32-component".into(),
            timeout_secs: 3,
            memory_mb: 128,
            env: Vec::new(),
            code_sha256: String::new(),
            code_size: 0,
            last_modified: String::new(),
            version: 0,
        }
    }

    /// The limits an invocation runs under.
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: std::time::Duration::from_secs(self.timeout_secs),
            memory_bytes: usize::try_from(self.memory_mb.saturating_mul(1024 * 1024))
                .unwrap_or(usize::MAX),
            env: self.env.clone(),
            role: self.role.clone(),
        }
    }

    /// Applies the settings of a CreateFunction / UpdateFunctionConfiguration body (members it
    /// does not hold are left as they are), validating each as Lambda does. On an error
    /// nothing is changed.
    pub fn apply(&mut self, body: &Map<String, Json>) -> Result<(), FunctionError> {
        let timeout = int_member(body, "Timeout")?;
        let memory = int_member(body, "MemorySize")?;
        let description = str_member(body, "Description")?;
        let handler = str_member(body, "Handler")?;
        let role = str_member(body, "Role")?;
        let runtime = str_member(body, "Runtime")?;
        let env = match body.get("Environment") {
            None | Some(Json::Null) => None,
            Some(Json::Object(e)) => match e.get("Variables") {
                None | Some(Json::Null) => Some(Vec::new()),
                Some(Json::Object(vars)) => {
                    let mut out = Vec::with_capacity(vars.len());
                    for k in vars.keys() {
                        let v = str_member(vars, k)?.unwrap_or_default();
                        out.push((k.clone(), v));
                    }
                    Some(out)
                }
                Some(other) => {
                    return Err(unreadable(format!(
                        "Cannot deserialize value of type `java.util.Map` from {} of `Variables`",
                        json_kind(other)
                    )))
                }
            },
            Some(other) => {
                return Err(unreadable(format!(
                    "Cannot deserialize value of type `Environment` from {} of `Environment`",
                    json_kind(other)
                )))
            }
        };
        let mut violations = Vec::new();
        violations.extend(timeout.and_then(|t| bound_violation(t, "timeout", TIMEOUT_SECS)));
        violations.extend(memory.and_then(|m| bound_violation(m, "memorySize", MEMORY_MB)));
        violations.extend(
            description
                .as_deref()
                .and_then(|d| length_violation(d, "description", DESCRIPTION_MAX)),
        );
        if let Some(h) = handler.as_deref() {
            violations.extend(length_violation(h, "handler", HANDLER_MAX));
            if h.is_empty() || h.chars().any(char::is_whitespace) {
                violations.push(format!(
                    "Value '{h}' at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+"
                ));
            }
        }
        if let Some(vars) = &env {
            if let Some((k, _)) = vars.iter().find(|(k, _)| !is_env_key(k)) {
                violations.push(format!(
                    "Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+] ({k:?})"
                ));
            }
        }
        if !violations.is_empty() {
            return Err(FunctionError::Validation(validation_message(&violations)));
        }
        if let Some(vars) = &env {
            let measured = serde_json::to_string(
                &vars
                    .iter()
                    .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                    .collect::<Map<String, Json>>(),
            )
            .unwrap_or_default();
            if measured.len() > ENVIRONMENT_MAX {
                return Err(FunctionError::InvalidParameter(format!(
                    "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {measured}"
                )));
            }
        }
        if let Some(t) = timeout {
            self.timeout_secs = t.unsigned_abs();
        }
        if let Some(m) = memory {
            self.memory_mb = m.unsigned_abs();
        }
        if let Some(vars) = env {
            self.env = vars;
        }
        for (value, slot) in [
            (description, &mut self.description),
            (handler, &mut self.handler),
            (role, &mut self.role),
            (runtime, &mut self.runtime),
        ] {
            if let Some(v) = value {
                *slot = v;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(v: Json) -> Result<FunctionConfig, FunctionError> {
        let mut c = FunctionConfig::new("f".into());
        c.apply(v.as_object().expect("object")).map(|()| c)
    }

    #[test]
    fn settings_are_applied() {
        let c = apply(
            json!({"Timeout": 900, "MemorySize": "256", "Description": "d",
            "Environment": {"Variables": {"A_1": "x", "B2": 5}}}),
        )
        .expect("valid");
        assert_eq!((c.timeout_secs, c.memory_mb), (900, 256));
        assert_eq!(
            c.env,
            [("A_1".into(), "x".into()), ("B2".into(), "5".into())]
        );
    }

    #[test]
    fn wrong_types_are_unreadable() {
        for bad in [
            json!({"MemorySize": "big"}),
            json!({"Timeout": 1.5}),
            json!({"Timeout": [3]}),
            json!({"Timeout": 1e20}),
            json!({"Timeout": 4_294_967_296u64}),
            json!({"Description": {"a": 1}}),
            json!({"Environment": {"Variables": [1]}}),
            json!({"Environment": {"Variables": {"A1": {}}}}),
            json!({"Environment": "x"}),
        ] {
            let err = apply(bad.clone()).expect_err("unreadable");
            assert!(
                matches!(err, FunctionError::InvalidRequestContent(ref m)
                    if m.starts_with("Could not parse request body into json")),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn bounds_are_validation_errors() {
        let err = apply(json!({"Timeout": -5})).expect_err("negative");
        assert_eq!(
            err.to_string(),
            "1 validation error detected: Value '-5' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        let err = apply(json!({"Timeout": 901, "MemorySize": 64})).expect_err("both");
        assert!(
            matches!(&err, FunctionError::Validation(m) if m.starts_with("2 validation errors detected: ")
                && m.contains("at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128")),
            "{err:?}"
        );
        assert!(matches!(
            apply(json!({"Description": "d".repeat(257)})),
            Err(FunctionError::Validation(_))
        ));
        assert!(matches!(
            apply(json!({"Environment": {"Variables": {"1bad": "x"}}})),
            Err(FunctionError::Validation(_))
        ));
        let err = apply(json!({"Environment": {"Variables": {"BIG": "v".repeat(5000)}}}))
            .expect_err("4 KB");
        assert!(
            matches!(&err, FunctionError::InvalidParameter(m) if m.contains("exceeded the 4KB limit")),
            "{err:?}"
        );
    }
}
