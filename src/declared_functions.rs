//! Functions and event-source mappings declared in the config file (`[[functions.deploy]]`),
//! deployed at start: created when missing, brought up to date (code, settings) otherwise.
//! Mapping settings take Lambda's CreateEventSourceMapping fields in snake_case
//! (`batch_size`, `maximum_retry_attempts`, `destination_config.on_failure.destination`...),
//! plus `table` (the table's current stream) instead of `event_source_arn`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tributary_engine::{Engine, EngineError};
use tributary_runtime::functions::{FunctionConfig, FunctionError, Functions};
use tributary_runtime::mappings::{MappingConfig, Mappings};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredFunction {
    pub name: String,
    /// The component (or a zip holding it).
    pub code: PathBuf,
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub memory_size: Option<u64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub mappings: Vec<BTreeMap<String, Json>>,
}

/// `batch_size` -> `BatchSize`, recursively through objects.
fn pascal_keys(v: &Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| {
                    let key: String = k
                        .split('_')
                        .map(|w| {
                            let mut c = w.chars();
                            c.next()
                                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                                .unwrap_or_default()
                        })
                        .collect();
                    (key, pascal_keys(v))
                })
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(pascal_keys).collect()),
        other => other.clone(),
    }
}

/// Why a declared function (or one of its mappings) stops the start.
#[derive(Debug, thiserror::Error)]
pub enum DeclaredError {
    /// Lambda's validation (name, settings, mapping), or the runtime storing the function.
    #[error("functions.deploy {function}: {source}")]
    Function {
        function: String,
        source: FunctionError,
    },
    #[error("functions.deploy {function}: cannot read {}: {source}", code.display())]
    Code {
        function: String,
        code: PathBuf,
        source: std::io::Error,
    },
    #[error("functions.deploy {0}: a mapping needs `table` or `event_source_arn`")]
    MappingSource(String),
}

/// Why a declared mapping's table has no stream to map (the mapping is skipped).
#[derive(Debug, thiserror::Error)]
enum NoStream {
    #[error("DescribeTable unavailable")]
    NoDescribeTable,
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("table {0} has no stream (enable StreamSpecification)")]
    Disabled(String),
}

/// The ARN of a table's current stream.
fn stream_arn(engine: &Engine, table: &str) -> Result<String, NoStream> {
    let request = serde_json::json!({ "TableName": table }).to_string();
    let described = engine
        .call("DescribeTable", request.as_bytes())
        .ok_or(NoStream::NoDescribeTable)??;
    let body: Json = serde_json::from_slice(&described.body.into_bytes())?;
    body["Table"]["LatestStreamArn"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| NoStream::Disabled(table.to_owned()))
}

/// The declared function as a CreateFunction body (without the code), so it is checked
/// exactly as the Lambda API checks it (name, bounds, lengths, environment size): a value out
/// of bounds stops the start with Lambda's message, it is never clamped.
fn settings_body(d: &DeclaredFunction) -> Map<String, Json> {
    let mut body = Map::new();
    body.insert("FunctionName".into(), Json::from(d.name.clone()));
    if let Some(t) = d.timeout {
        body.insert("Timeout".into(), Json::from(t));
    }
    if let Some(m) = d.memory_size {
        body.insert("MemorySize".into(), Json::from(m));
    }
    if let Some(desc) = &d.description {
        body.insert("Description".into(), Json::from(desc.clone()));
    }
    let vars: Map<String, Json> = d
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), Json::from(v.clone())))
        .collect();
    body.insert(
        "Environment".into(),
        serde_json::json!({ "Variables": vars }),
    );
    body
}

/// Deploys every declared function and mapping. A function whose name, settings or code are
/// invalid (or whose code cannot be read) stops the start; a mapping whose table does not
/// exist (yet) is skipped with a warning.
pub fn deploy(
    declared: &[DeclaredFunction],
    engine: &Engine,
    functions: &Functions,
    mappings: &Arc<Mappings>,
) -> Result<(), DeclaredError> {
    for d in declared {
        let ctx = |source: FunctionError| DeclaredError::Function {
            function: d.name.clone(),
            source,
        };
        let settings = settings_body(d);
        // Checked before anything is deployed.
        let config = FunctionConfig::from_create_request(&settings).map_err(ctx)?;
        let code = std::fs::read(&d.code).map_err(|source| DeclaredError::Code {
            function: d.name.clone(),
            code: d.code.clone(),
            source,
        })?;
        match functions.get(&d.name).map_err(ctx)? {
            Some(_) => {
                functions.update_code(&d.name, &code).map_err(ctx)?;
                functions
                    .update_config(&d.name, |c| c.apply(&settings))
                    .map_err(ctx)?;
            }
            None => {
                functions.create(config, &code).map_err(ctx)?;
            }
        }
        // Compile now, so the first invocation does not pay for it.
        functions.warm(&d.name).map_err(ctx)?;
        tracing::info!(function = %d.name, code = %d.code.display(), "declared function deployed");
        for m in &d.mappings {
            let mut body: Map<String, Json> = match pascal_keys(&Json::Object(
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            )) {
                Json::Object(b) => b,
                _ => Map::new(),
            };
            let arn = match (body.remove("EventSourceArn"), body.remove("Table")) {
                (Some(Json::String(arn)), _) => arn,
                (_, Some(Json::String(table))) => match stream_arn(engine, &table) {
                    Ok(arn) => arn,
                    Err(e) => {
                        tracing::warn!(function = %d.name, table = %table, "declared mapping skipped: {e}");
                        continue;
                    }
                },
                _ => return Err(DeclaredError::MappingSource(d.name.clone())),
            };
            let existing = mappings
                .list()
                .map_err(ctx)?
                .into_iter()
                .find(|m| m.function_name == d.name && m.event_source_arn == arn);
            let uuid = match existing {
                Some(m) => mappings.update(&m.uuid, |c| c.apply(&body)),
                None => {
                    let mut c = MappingConfig::new(
                        uuid::Uuid::new_v4().to_string(),
                        d.name.clone(),
                        arn.clone(),
                    );
                    c.apply(&body).map_err(ctx).map(|()| mappings.create(c))?
                }
            }
            .map_err(ctx)?
            .uuid;
            tracing::info!(function = %d.name, mapping = %uuid, stream = %arn, "declared mapping deployed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn declared_settings_are_checked_like_the_api() {
        let d = |timeout, memory_size| super::DeclaredFunction {
            name: "f".into(),
            code: "f.wasm".into(),
            timeout,
            memory_size,
            description: None,
            environment: [("KEY".to_owned(), "v".to_owned())].into(),
            mappings: Vec::new(),
        };
        let c = super::FunctionConfig::from_create_request(&super::settings_body(&d(
            Some(5),
            Some(256),
        )))
        .expect("valid");
        assert_eq!((c.timeout_secs, c.memory_mb), (5, 256));
        assert_eq!(c.env, [("KEY".to_owned(), "v".to_owned())]);
        let err =
            super::FunctionConfig::from_create_request(&super::settings_body(&d(Some(1000), None)))
                .expect_err("out of range, not clamped");
        assert!(err.to_string().contains("at 'timeout'"), "{err}");
    }

    #[test]
    fn snake_case_becomes_lambda_names() {
        let v = serde_json::json!({"batch_size": 5, "destination_config": {"on_failure": {"destination": "arn:x"}},
            "function_response_types": ["ReportBatchItemFailures"]});
        assert_eq!(
            super::pascal_keys(&v),
            serde_json::json!({"BatchSize": 5, "DestinationConfig": {"OnFailure": {"Destination": "arn:x"}},
                "FunctionResponseTypes": ["ReportBatchItemFailures"]})
        );
    }
}
