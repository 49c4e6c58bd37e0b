//! The Lambda API subset on the same port (REST paths under `/2015-03-31/`): functions
//! (create, get, list, update code and configuration, delete, invoke) and event-source
//! mappings (create, get, list, update, delete), with Lambda's JSON shapes and error types.

// Helpers bail out with the ready-made error response their handler returns; boxing it
// would buy nothing on these cold paths.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value as Json};
use tributary_runtime::functions::{FunctionConfig, FunctionError};
use tributary_runtime::mappings::MappingConfig;
use tributary_runtime::RuntimeError;

use super::AppState;

type S = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/2015-03-31/functions",
            post(create_function).get(list_functions),
        )
        .route(
            "/2015-03-31/functions/",
            post(create_function).get(list_functions),
        )
        .route(
            "/2015-03-31/functions/{name}",
            get(get_function).delete(delete_function),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(get_configuration).put(update_configuration),
        )
        .route(
            "/2015-03-31/functions/{name}/code",
            axum::routing::put(update_code),
        )
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route(
            "/2015-03-31/event-source-mappings",
            post(create_mapping).get(list_mappings),
        )
        .route(
            "/2015-03-31/event-source-mappings/",
            post(create_mapping).get(list_mappings),
        )
        .route(
            "/2015-03-31/event-source-mappings/{uuid}",
            get(get_mapping).put(update_mapping).delete(delete_mapping),
        )
}

/// A Lambda error: status, `x-amzn-ErrorType` and a JSON body.
fn error(status: StatusCode, ty: &str, message: &str) -> Response {
    let mut resp = (
        status,
        json!({"Type": "User", "message": message, "__type": ty}).to_string(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(ty) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

fn function_error(e: FunctionError) -> Response {
    match e {
        FunctionError::NotFound(m) => error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &m),
        FunctionError::Conflict(m) => error(
            StatusCode::CONFLICT,
            "ResourceConflictException",
            &format!("Function already exist: {m}"),
        ),
        FunctionError::InvalidParameter(m) => error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &m,
        ),
        e @ FunctionError::Throttled(..) => error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            &e.to_string(),
        ),
        FunctionError::Runtime(RuntimeError::InvalidCode(m)) => error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &format!("The code is not a valid trigger component: {m}"),
        ),
        other => {
            tracing::error!("lambda API failure: {other}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "The service encountered an internal error",
            )
        }
    }
}

fn json_ok(status: StatusCode, body: Json) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn parse_body(body: &Bytes) -> Result<Map<String, Json>, Response> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Json::Object(m)) => Ok(m),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json",
        )),
    }
}

/// A function name, or the name inside a function ARN.
fn function_name(s: &str) -> String {
    match s.rsplit_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_owned(),
        None => s.to_owned(),
    }
}

fn function_arn(state: &AppState, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        state.engine.region(),
        state.engine.account()
    )
}

fn configuration_json(state: &AppState, c: &FunctionConfig) -> Json {
    let vars: Map<String, Json> = c.env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "FunctionName": c.name,
        "FunctionArn": function_arn(state, &c.name),
        "Runtime": c.runtime,
        "Role": c.role,
        "Handler": c.handler,
        "CodeSize": c.code_size,
        "Description": c.description,
        "Timeout": c.timeout_secs,
        "MemorySize": c.memory_mb,
        "LastModified": c.last_modified,
        "CodeSha256": c.code_sha256,
        "Version": "$LATEST",
        "Environment": {"Variables": vars},
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["wasm32"],
    })
}

fn zip_file(body: &Map<String, Json>) -> Result<Vec<u8>, Response> {
    let code = body
        .get("Code")
        .and_then(|c| c.get("ZipFile"))
        .or_else(|| body.get("ZipFile"))
        .and_then(Json::as_str)
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                "Code.ZipFile (the component bytes, base64) is required",
            )
        })?;
    B64.decode(code).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "Code.ZipFile is not valid base64",
        )
    })
}

/// Timeout (1-900 s) and MemorySize (128-10240 MB) as Lambda bounds them.
fn apply_settings(c: &mut FunctionConfig, body: &Map<String, Json>) -> Result<(), Response> {
    let bad = |m: String| {
        error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &m,
        )
    };
    if let Some(t) = body.get("Timeout").and_then(Json::as_u64) {
        if !(1..=900).contains(&t) {
            return Err(bad(format!(
                "1 validation error detected: Value '{t}' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"
            )));
        }
        c.timeout_secs = t;
    }
    if let Some(m) = body.get("MemorySize").and_then(Json::as_u64) {
        if !(128..=10_240).contains(&m) {
            return Err(bad(format!(
                "1 validation error detected: Value '{m}' at 'memorySize' failed to satisfy constraint: Member must have value between 128 and 10240"
            )));
        }
        c.memory_mb = m;
    }
    if let Some(vars) = body
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Json::as_object)
    {
        c.env = vars
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
    }
    for (field, slot) in [
        ("Description", &mut c.description),
        ("Role", &mut c.role),
        ("Handler", &mut c.handler),
        ("Runtime", &mut c.runtime),
    ] {
        if let Some(v) = body.get(field).and_then(Json::as_str) {
            *slot = v.to_owned();
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FunctionError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(function_error),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            &e.to_string(),
        )),
    }
}

async fn create_function(State(state): S, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(name) = body
        .get("FunctionName")
        .and_then(Json::as_str)
        .map(function_name)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "FunctionName is required",
        );
    };
    let code = match zip_file(&body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut c = FunctionConfig::new(name);
    if let Err(r) = apply_settings(&mut c, &body) {
        return r;
    }
    let functions = state.functions.clone();
    match blocking(move || functions.create(c, &code)).await {
        Ok(c) => json_ok(StatusCode::CREATED, configuration_json(&state, &c)),
        Err(r) => r,
    }
}

async fn list_functions(State(state): S) -> Response {
    match state.functions.list() {
        Ok(list) => json_ok(
            StatusCode::OK,
            json!({"Functions": list.iter().map(|c| configuration_json(&state, c)).collect::<Vec<_>>()}),
        ),
        Err(e) => function_error(e),
    }
}

async fn get_function(State(state): S, Path(name): Path<String>) -> Response {
    match state.functions.require(&function_name(&name)) {
        Ok(c) => json_ok(
            StatusCode::OK,
            json!({
                "Configuration": configuration_json(&state, &c),
                "Code": {"RepositoryType": "Tributary", "Location": format!("tributary://functions/{}", c.name)},
            }),
        ),
        Err(e) => function_error(e),
    }
}

async fn get_configuration(State(state): S, Path(name): Path<String>) -> Response {
    match state.functions.require(&function_name(&name)) {
        Ok(c) => json_ok(StatusCode::OK, configuration_json(&state, &c)),
        Err(e) => function_error(e),
    }
}

async fn delete_function(State(state): S, Path(name): Path<String>) -> Response {
    match state.functions.delete(&function_name(&name)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => function_error(e),
    }
}

async fn update_code(State(state): S, Path(name): Path<String>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let code = match zip_file(&body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let functions = state.functions.clone();
    let name = function_name(&name);
    match blocking(move || functions.update_code(&name, &code)).await {
        Ok(c) => json_ok(StatusCode::OK, configuration_json(&state, &c)),
        Err(r) => r,
    }
}

async fn update_configuration(State(state): S, Path(name): Path<String>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let name = function_name(&name);
    let mut probe = match state.functions.require(&name) {
        Ok(c) => c,
        Err(e) => return function_error(e),
    };
    if let Err(r) = apply_settings(&mut probe, &body) {
        return r;
    }
    match state.functions.update_config(&name, |c| *c = probe.clone()) {
        Ok(c) => json_ok(StatusCode::OK, configuration_json(&state, &c)),
        Err(e) => function_error(e),
    }
}

async fn invoke(
    State(state): S,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let name = function_name(&name);
    let kind = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_owned();
    if let Err(e) = state.functions.require(&name) {
        return function_error(e);
    }
    if kind == "DryRun" {
        return StatusCode::NO_CONTENT.into_response();
    }
    let payload = String::from_utf8_lossy(&body).into_owned();
    let functions = state.functions.clone();
    let run = {
        let name = name.clone();
        move || functions.invoke(&name, &payload, false)
    };
    if kind == "Event" {
        tokio::task::spawn_blocking(move || {
            if let Err(e) = run() {
                tracing::warn!(function = %name, "asynchronous invocation failed: {e}");
            }
        });
        return StatusCode::ACCEPTED.into_response();
    }
    let outcome = match tokio::task::spawn_blocking(run).await {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                &e.to_string(),
            )
        }
    };
    let (body, failure) = match outcome {
        Ok(inv) => match inv.result {
            Ok(out) => (out, None),
            Err(msg) => (
                json!({"errorMessage": msg, "errorType": "HandlerError"}).to_string(),
                Some("Unhandled"),
            ),
        },
        Err(FunctionError::Runtime(e)) => {
            let ty = match e {
                RuntimeError::Timeout(_) => "Sandbox.Timedout",
                RuntimeError::OutOfMemory(_) => "Runtime.OutOfMemory",
                _ => "Runtime.ExitError",
            };
            (
                json!({"errorMessage": e.to_string(), "errorType": ty}).to_string(),
                Some("Unhandled"),
            )
        }
        Err(e) => return function_error(e),
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Some(f) = failure {
        h.insert("x-amz-function-error", HeaderValue::from_static(f));
    }
    resp
}

fn mapping_json(state: &AppState, m: &MappingConfig) -> Json {
    let mut j = m.settings_json();
    j["FunctionArn"] = json!(function_arn(state, &m.function_name));
    j["LastProcessingResult"] = json!(m.last_result);
    j
}

async fn create_mapping(State(state): S, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, "InvalidParameterValueException", m);
    let Some(function) = body
        .get("FunctionName")
        .and_then(Json::as_str)
        .map(function_name)
    else {
        return bad("FunctionName is required");
    };
    let Some(arn) = body.get("EventSourceArn").and_then(Json::as_str) else {
        return bad("EventSourceArn is required");
    };
    let mut c = MappingConfig::new(uuid::Uuid::new_v4().to_string(), function, arn.to_owned());
    if let Err(e) = c.apply(&body) {
        return function_error(e);
    }
    let mappings = state.mappings.clone();
    match blocking(move || mappings.create(c)).await {
        Ok(m) => json_ok(StatusCode::ACCEPTED, mapping_json(&state, &m)),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
struct MappingFilter {
    #[serde(rename = "FunctionName")]
    function: Option<String>,
    #[serde(rename = "EventSourceArn")]
    source: Option<String>,
}

async fn list_mappings(State(state): S, Query(q): Query<MappingFilter>) -> Response {
    match state.mappings.list() {
        Ok(list) => {
            let f = q.function.as_deref().map(function_name);
            let items: Vec<Json> = list
                .iter()
                .filter(|m| f.as_ref().is_none_or(|f| &m.function_name == f))
                .filter(|m| q.source.as_ref().is_none_or(|s| &m.event_source_arn == s))
                .map(|m| mapping_json(&state, m))
                .collect();
            json_ok(StatusCode::OK, json!({"EventSourceMappings": items}))
        }
        Err(e) => function_error(e),
    }
}

async fn get_mapping(State(state): S, Path(uuid): Path<String>) -> Response {
    match state.mappings.get(&uuid) {
        Ok(Some(m)) => json_ok(StatusCode::OK, mapping_json(&state, &m)),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "The resource you requested does not exist.",
        ),
        Err(e) => function_error(e),
    }
}

async fn update_mapping(State(state): S, Path(uuid): Path<String>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mappings = state.mappings.clone();
    let result = blocking(move || {
        mappings.update(&uuid, |m| {
            if let Some(f) = body.get("FunctionName").and_then(Json::as_str) {
                m.function_name = function_name(f);
            }
            m.apply(&body)
        })
    })
    .await;
    match result {
        Ok(m) => json_ok(StatusCode::ACCEPTED, mapping_json(&state, &m)),
        Err(r) => r,
    }
}

async fn delete_mapping(State(state): S, Path(uuid): Path<String>) -> Response {
    let mappings = state.mappings.clone();
    match blocking(move || mappings.delete(&uuid)).await {
        Ok(m) => {
            let mut j = mapping_json(&state, &m);
            j["State"] = json!("Deleting");
            json_ok(StatusCode::ACCEPTED, j)
        }
        Err(r) => r,
    }
}
