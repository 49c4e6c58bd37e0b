//! An event-source mapping's settings, with Lambda's names, bounds and validation messages.
//! The Lambda API and config-declared mappings both fill them from Lambda's JSON shape
//! (`CreateEventSourceMapping` / `UpdateEventSourceMapping` request bodies), and the
//! EventSourceMappingConfiguration JSON ([`MappingConfig::to_json`]) is shaped here. Every
//! error is a [`FunctionError`]; the HTTP layer only maps it to Lambda's error type and status.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::filter::Filters;
use crate::function_config::{int_member, str_member};
use crate::functions::FunctionError;
use crate::names::{self, validation_message, NameUse};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MappingConfig {
    pub uuid: String,
    pub function_name: String,
    pub event_source_arn: String,
    /// 1-10,000 records per invocation (default 100).
    pub batch_size: u64,
    /// 0-300 s: how long to gather records before invoking with a partial batch.
    pub max_batching_window_secs: u64,
    /// "TRIM_HORIZON" or "LATEST".
    pub starting_position: String,
    pub enabled: bool,
    /// -1: retry until the records expire; else 0-10,000.
    pub max_retry_attempts: i64,
    /// Seconds since the epoch.
    pub last_modified: f64,
    pub last_result: String,
    /// Lambda's FilterCriteria (`{"Filters":[{"Pattern":"..."}]}`), as given.
    #[serde(default)]
    pub filter_criteria: Option<Json>,
    /// `["ReportBatchItemFailures"]` or empty.
    #[serde(default)]
    pub function_response_types: Vec<String>,
    /// Split a failing batch in two and retry the halves.
    #[serde(default)]
    pub bisect_on_error: bool,
    /// -1: records never expire for the mapping; else 60-604,800 s.
    #[serde(default = "unlimited")]
    pub max_record_age_secs: i64,
    /// DestinationConfig.OnFailure.Destination: a DynamoDB table ARN.
    #[serde(default)]
    pub on_failure: Option<String>,
    /// 1-10 concurrent batches per shard (items keep their order: an item always goes to
    /// the same one).
    #[serde(default = "one")]
    pub parallelization_factor: u32,
}

fn unlimited() -> i64 {
    -1
}

fn one() -> u32 {
    1
}

pub const REPORT_BATCH_ITEM_FAILURES: &str = "ReportBatchItemFailures";

fn invalid(m: String) -> FunctionError {
    FunctionError::InvalidParameter(m)
}

/// Lambda's validation message for a number outside its modeled bounds (ValidationException).
fn out_of_range(value: i64, field: &str, min: i64, max: i64) -> FunctionError {
    let constraint = if value < min {
        format!("greater than or equal to {min}")
    } else {
        format!("less than or equal to {max}")
    };
    FunctionError::Validation(validation_message(&[format!(
        "Value '{value}' at '{field}' failed to satisfy constraint: Member must have value {constraint}"
    )]))
}

fn bounded(
    body: &Map<String, Json>,
    key: &str,
    field: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, FunctionError> {
    match int_member(body, key)? {
        Some(v) if v < min || v > max => Err(out_of_range(v, field, min, max)),
        other => Ok(other),
    }
}

/// A boolean member; anything else is unreadable (InvalidRequestContentException).
fn bool_member(body: &Map<String, Json>, key: &str) -> Result<Option<bool>, FunctionError> {
    match body.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Bool(b)) => Ok(Some(*b)),
        Some(Json::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
        Some(other) => Err(FunctionError::InvalidRequestContent(format!(
            "Could not parse request body into json: Could not parse payload into json: Cannot deserialize value of type `java.lang.Boolean` from {other} of `{key}`"
        ))),
    }
}

/// The table name in a DynamoDB table ARN (`arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`).
pub fn table_of_arn(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (_partition, service, _region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("table/")?;
    (service == "dynamodb" && !name.is_empty() && !name.contains('/')).then_some(name)
}

/// The function a Create/UpdateEventSourceMapping body names (`FunctionName`), if any.
pub fn function_member(body: &Map<String, Json>) -> Result<Option<String>, FunctionError> {
    match body.get("FunctionName") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(raw)) => Ok(Some(names::parse(raw, NameUse::Unqualified)?.name)),
        Some(_) => Err(FunctionError::InvalidRequestContent(
            "Could not parse request body into json: FunctionName must be a string".into(),
        )),
    }
}

/// What a Get/Update/DeleteEventSourceMapping names when there is no such mapping.
pub fn not_found() -> FunctionError {
    FunctionError::NotFound("The resource you requested does not exist.".into())
}

impl MappingConfig {
    /// The mapping a CreateEventSourceMapping body asks for (`FunctionName` and
    /// `EventSourceArn` required), with the new mapping's `uuid`.
    pub fn from_create_request(
        uuid: String,
        body: &Map<String, Json>,
    ) -> Result<MappingConfig, FunctionError> {
        let function =
            function_member(body)?.ok_or_else(|| invalid("FunctionName is required".into()))?;
        let arn = body
            .get("EventSourceArn")
            .and_then(Json::as_str)
            .ok_or_else(|| invalid("EventSourceArn is required".into()))?;
        let mut c = MappingConfig::new(uuid, function, arn.to_owned());
        c.apply(body)?;
        Ok(c)
    }

    /// Lambda's EventSourceMappingConfiguration JSON (`function_arn`: the ARN of the
    /// mapping's function).
    pub fn to_json(&self, function_arn: &str) -> Json {
        let mut j = self.settings_json();
        j["FunctionArn"] = Json::from(function_arn);
        j["LastProcessingResult"] = Json::from(self.last_result.as_str());
        j
    }

    /// A mapping with Lambda's defaults.
    pub fn new(uuid: String, function_name: String, event_source_arn: String) -> MappingConfig {
        MappingConfig {
            uuid,
            function_name,
            event_source_arn,
            batch_size: 100,
            max_batching_window_secs: 0,
            starting_position: String::new(),
            enabled: true,
            max_retry_attempts: -1,
            last_modified: 0.0,
            last_result: String::new(),
            filter_criteria: None,
            function_response_types: Vec::new(),
            bisect_on_error: false,
            max_record_age_secs: -1,
            on_failure: None,
            parallelization_factor: 1,
        }
    }

    /// Whether the handler's response lists the records that failed.
    pub fn reports_item_failures(&self) -> bool {
        self.function_response_types
            .iter()
            .any(|t| t == REPORT_BATCH_ITEM_FAILURES)
    }

    /// Applies the settings of a Create/UpdateEventSourceMapping body (fields it does not
    /// hold are left as they are), validating each as Lambda does.
    pub fn apply(&mut self, body: &Map<String, Json>) -> Result<(), FunctionError> {
        if let Some(b) = bounded(body, "BatchSize", "batchSize", 1, 10_000)? {
            self.batch_size = b as u64;
        }
        if let Some(w) = bounded(
            body,
            "MaximumBatchingWindowInSeconds",
            "maximumBatchingWindowInSeconds",
            0,
            300,
        )? {
            self.max_batching_window_secs = w as u64;
        }
        if let Some(r) = bounded(
            body,
            "MaximumRetryAttempts",
            "maximumRetryAttempts",
            -1,
            10_000,
        )? {
            self.max_retry_attempts = r;
        }
        if let Some(a) = bounded(
            body,
            "MaximumRecordAgeInSeconds",
            "maximumRecordAgeInSeconds",
            -1,
            604_800,
        )? {
            if (0..60).contains(&a) {
                // Within the modeled bounds, refused by the service itself.
                return Err(invalid(format!(
                    "1 validation error detected: Value '{a}' at 'maximumRecordAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"
                )));
            }
            self.max_record_age_secs = a;
        }
        if let Some(p) = bounded(
            body,
            "ParallelizationFactor",
            "parallelizationFactor",
            1,
            10,
        )? {
            self.parallelization_factor = p as u32;
        }
        if let Some(v) = bool_member(body, "Enabled")? {
            self.enabled = v;
        }
        if let Some(v) = bool_member(body, "BisectBatchOnFunctionError")? {
            self.bisect_on_error = v;
        }
        if let Some(v) = str_member(body, "StartingPosition")? {
            self.starting_position = v;
        }
        if let Some(f) = body.get("FilterCriteria") {
            self.filter_criteria = Some(f.clone()).filter(|f| !f.is_null());
            Filters::parse(self.filter_criteria.as_ref())?;
        }
        if let Some(types) = body.get("FunctionResponseTypes") {
            let list = types.as_array().ok_or_else(|| {
                FunctionError::InvalidRequestContent(
                    "Could not parse request body into json: Could not parse payload into json: FunctionResponseTypes must be a list".into(),
                )
            })?;
            let mut out = Vec::new();
            for t in list {
                match t.as_str() {
                    Some(REPORT_BATCH_ITEM_FAILURES) => out.push(REPORT_BATCH_ITEM_FAILURES.into()),
                    _ => {
                        return Err(invalid(format!(
                            "1 validation error detected: Value '{t}' at 'functionResponseTypes' failed to satisfy constraint: Member must satisfy enum value set: [ReportBatchItemFailures]"
                        )))
                    }
                }
            }
            out.dedup();
            self.function_response_types = out;
        }
        if let Some(d) = body.get("DestinationConfig") {
            match d.get("OnFailure").and_then(|o| o.get("Destination")) {
                None | Some(Json::Null) => self.on_failure = None,
                Some(Json::String(arn)) if arn.is_empty() => self.on_failure = None,
                Some(Json::String(arn)) => {
                    if table_of_arn(arn).is_none() {
                        return Err(invalid(format!(
                            "The provided destination config DestinationConfig(onSuccess=null, onFailure=OnFailure(destination={arn})) is invalid: this service accepts DynamoDB table ARNs (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME) as on-failure destinations"
                        )));
                    }
                    self.on_failure = Some(arn.clone());
                }
                Some(_) => {
                    return Err(FunctionError::InvalidRequestContent(
                        "Could not parse request body into json: Could not parse payload into json: DestinationConfig.OnFailure.Destination must be a string".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Lambda's view of the settings (the Create/Get/UpdateEventSourceMapping response
    /// fields that come from the configuration).
    pub fn settings_json(&self) -> Json {
        let mut destination = serde_json::json!({});
        if let Some(arn) = &self.on_failure {
            destination = serde_json::json!({"OnFailure": {"Destination": arn}});
        }
        serde_json::json!({
            "UUID": self.uuid,
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.max_batching_window_secs,
            "EventSourceArn": self.event_source_arn,
            "StartingPosition": self.starting_position,
            "MaximumRetryAttempts": self.max_retry_attempts,
            "MaximumRecordAgeInSeconds": self.max_record_age_secs,
            "BisectBatchOnFunctionError": self.bisect_on_error,
            "ParallelizationFactor": self.parallelization_factor,
            "FunctionResponseTypes": self.function_response_types,
            "DestinationConfig": destination,
            "FilterCriteria": self.filter_criteria.clone().unwrap_or_else(|| serde_json::json!({"Filters": []})),
            "LastModified": self.last_modified,
            "State": if self.enabled { "Enabled" } else { "Disabled" },
            "StateTransitionReason": "User action",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn bounds_and_defaults() {
        let mut c = MappingConfig::new("u".into(), "f".into(), "arn".into());
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.parallelization_factor, 1);
        c.apply(&body(json!({"BatchSize": 10, "ParallelizationFactor": 10, "MaximumRecordAgeInSeconds": 60,
            "FunctionResponseTypes": ["ReportBatchItemFailures"], "BisectBatchOnFunctionError": true})))
            .expect("valid");
        assert!(c.reports_item_failures() && c.bisect_on_error);
        for bad in [
            json!({"BatchSize": 0}),
            json!({"BatchSize": 10001}),
            json!({"ParallelizationFactor": 11}),
            json!({"MaximumRetryAttempts": -2}),
            json!({"MaximumRecordAgeInSeconds": 59}),
            json!({"MaximumRecordAgeInSeconds": 604801}),
            json!({"MaximumBatchingWindowInSeconds": 301}),
            json!({"FunctionResponseTypes": ["Nope"]}),
            json!({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:1:q"}}}),
        ] {
            let mut c2 = c.clone();
            assert!(c2.apply(&body(bad.clone())).is_err(), "{bad}");
        }
        for unreadable in [
            json!({"BatchSize": "many"}),
            json!({"Enabled": 1}),
            json!({"StartingPosition": ["LATEST"]}),
            json!({"FunctionResponseTypes": "ReportBatchItemFailures"}),
        ] {
            let mut c2 = c.clone();
            assert!(
                matches!(
                    c2.apply(&body(unreadable.clone())),
                    Err(FunctionError::InvalidRequestContent(_))
                ),
                "{unreadable}"
            );
        }
        let err = c
            .clone()
            .apply(&body(json!({"ParallelizationFactor": 11})))
            .expect_err("bound");
        assert!(matches!(err, FunctionError::Validation(_)), "{err:?}");
        assert!(
            err.to_string().contains("less than or equal to 10"),
            "{err}"
        );
    }

    #[test]
    fn table_arns() {
        assert_eq!(
            table_of_arn("arn:aws:dynamodb:us-east-1:000000000000:table/Failures"),
            Some("Failures")
        );
        assert_eq!(
            table_of_arn("arn:aws:dynamodb:us-east-1:0:table/T/stream/x"),
            None
        );
        assert_eq!(table_of_arn("arn:aws:sqs:us-east-1:0:q"), None);
    }
}
