//! The Lambda API subset on the same port (REST paths under `/2015-03-31/`): functions
//! (create, get, list, update code and configuration, delete, invoke) and event-source
//! mappings (create, get, list, update, delete), with Lambda's JSON shapes and error types.

// Helpers bail out with the ready-made error response their handler returns; boxing it
// would buy nothing on these cold paths.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value as Json};
use tributary_runtime::functions::{FunctionConfig, FunctionError};
use tributary_runtime::mappings::MappingConfig;
use tributary_runtime::names::{self, FunctionRef, NameUse};
use tributary_runtime::RuntimeError;

use super::AppState;

type S = State<Arc<AppState>>;
type Body = Result<Bytes, BytesRejection>;
type Name = Result<Path<String>, PathRejection>;

/// Largest request body of the function operations (Lambda: a 50 MB zip, base64-encoded).
const REQUEST_MAX: usize = 69_905_067;
/// Largest Invoke payload: synchronous (6 MB) and asynchronous (1 MB), as Lambda has them.
const SYNC_PAYLOAD_MAX: usize = 6 * 1024 * 1024;
const ASYNC_PAYLOAD_MAX: usize = 1024 * 1024;
/// Largest synchronous response a handler may return (Lambda: 6 MB).
const RESPONSE_MAX: usize = 6 * 1024 * 1024;
/// Bytes of the invocation's log returned with `X-Amz-Log-Type: Tail`.
const LOG_TAIL: usize = 4096;

/// The date prefixes of Lambda's REST API: paths under them that name no operation here
/// answer Lambda's UnknownOperationException, not an empty 404.
const API_VERSIONS: &[&str] = &[
    "2014-11-13",
    "2015-03-31",
    "2016-08-19",
    "2017-03-31",
    "2017-10-31",
    "2018-10-31",
    "2019-09-25",
    "2019-09-30",
    "2020-04-22",
    "2020-06-30",
    "2021-07-20",
    "2021-10-31",
    "2021-11-15",
    "2024-08-31",
];

/// A route whose other methods are unknown operations too.
fn op(m: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    m.fallback(unknown_operation)
}

pub fn routes() -> Router<Arc<AppState>> {
    let mut r = Router::new()
        .route(
            "/2015-03-31/functions",
            op(post(create_function).get(list_functions)),
        )
        .route(
            "/2015-03-31/functions/",
            op(post(create_function).get(list_functions)),
        )
        .route(
            "/2015-03-31/functions/{name}",
            op(get(get_function).delete(delete_function)),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            op(get(get_configuration).put(update_configuration)),
        )
        .route(
            "/2015-03-31/functions/{name}/code",
            op(axum::routing::put(update_code)),
        )
        .route("/2015-03-31/functions/{name}/invocations", op(post(invoke)))
        .route(
            "/2015-03-31/event-source-mappings",
            op(post(create_mapping).get(list_mappings)),
        )
        .route(
            "/2015-03-31/event-source-mappings/",
            op(post(create_mapping).get(list_mappings)),
        )
        .route(
            "/2015-03-31/event-source-mappings/{uuid}",
            op(get(get_mapping).put(update_mapping).delete(delete_mapping)),
        );
    for v in API_VERSIONS {
        r = r
            .route(&format!("/{v}"), any(unknown_operation))
            .route(&format!("/{v}/"), any(unknown_operation))
            .route(&format!("/{v}/{{*rest}}"), any(unknown_operation));
    }
    r
}

/// Lambda's answer to a path and method that name no operation it knows.
async fn unknown_operation(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        &format!("Unknown operation: {method} {}", uri.path()),
    )
}

/// A Lambda error: status, `x-amzn-ErrorType` and Lambda's JSON body (`Type` and the message
/// member the type has in Lambda's model: `Message` or `message`).
fn error(status: StatusCode, ty: &str, message: &str) -> Response {
    let member = match ty {
        "ResourceNotFoundException" | "ServiceException" => "Message",
        _ => "message",
    };
    let mut body = Map::new();
    body.insert("Type".into(), json!("User"));
    body.insert(member.into(), json!(message));
    let mut resp = (status, Json::Object(body).to_string()).into_response();
    if let Ok(v) = HeaderValue::from_str(ty) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

fn internal_error() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceException",
        "The service encountered an internal error",
    )
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
        FunctionError::Validation(m) => error(StatusCode::BAD_REQUEST, "ValidationException", &m),
        FunctionError::InvalidRequestContent(m) => error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            &m,
        ),
        FunctionError::RequestTooLarge(m) => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            &m,
        ),
        FunctionError::Throttled { message, reason } => {
            let mut resp = error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                &message,
            );
            // Lambda's body also carries the reason; the client may retry after a second.
            let body = json!({"Type": "User", "message": message, "Reason": reason}).to_string();
            *resp.body_mut() = axum::body::Body::from(body);
            resp.headers_mut()
                .insert("Retry-After", HeaderValue::from_static("1"));
            resp
        }
        FunctionError::Runtime(RuntimeError::InvalidCode(m)) => error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &format!("The code is not a valid trigger component: {m}"),
        ),
        other => {
            tracing::error!("lambda API failure: {other}");
            internal_error()
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

/// The request body, or Lambda's error for one too large (`operation` names it) or unread.
fn read_body(body: Body, operation: &str) -> Result<Bytes, Response> {
    let too_large = || {
        function_error(FunctionError::RequestTooLarge(format!(
            "Request must be smaller than {REQUEST_MAX} bytes for the {operation} operation"
        )))
    };
    match body {
        Ok(b) if b.len() > REQUEST_MAX => Err(too_large()),
        Ok(b) => Ok(b),
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
        Err(r) => Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            &format!("Could not read the request body: {}", r.body_text()),
        )),
    }
}

fn parse_body(body: Body, operation: &str) -> Result<Map<String, Json>, Response> {
    let body = read_body(body, operation)?;
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&body) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json: the request body is not a JSON object",
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            &format!("Could not parse request body into json: {e}"),
        )),
    }
}

/// A `FunctionName` (path or body) checked as Lambda checks it.
fn function_ref(raw: &str, usage: NameUse) -> Result<FunctionRef, Response> {
    names::parse(raw, usage).map_err(function_error)
}

/// The function a path names (`$LATEST` only: other qualifiers name nothing here).
fn path_function(state: &AppState, path: Name, usage: NameUse) -> Result<String, Response> {
    let Path(raw) = path.map_err(|r| {
        error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &format!("Invalid function name in the path: {}", r.body_text()),
        )
    })?;
    let f = function_ref(&raw, usage)?;
    if !f.is_latest() {
        let arn = state.functions.arn(&f.name);
        let q = f.qualifier.unwrap_or_default();
        return Err(function_error(FunctionError::NotFound(format!(
            "Function not found: {arn}:{q}"
        ))));
    }
    Ok(f.name)
}

fn function_arn(state: &AppState, name: &str) -> String {
    state.functions.arn(name)
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
    let code = match body.get("Code") {
        Some(Json::Object(c)) => c.get("ZipFile"),
        None | Some(Json::Null) => None,
        Some(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "Could not parse request body into json: Code must be an object",
            ))
        }
    }
    .or_else(|| body.get("ZipFile"));
    let code = match code {
        Some(Json::String(s)) => s,
        None | Some(Json::Null) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                "Code.ZipFile (the component bytes, base64) is required",
            ))
        }
        Some(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "Could not parse request body into json: ZipFile must be a base64 string",
            ))
        }
    };
    B64.decode(code).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "Code.ZipFile is not valid base64",
        )
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FunctionError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(function_error),
        Err(e) => {
            // The panic's text is for the log, not for the client.
            tracing::error!("lambda API task failed: {e}");
            Err(internal_error())
        }
    }
}

async fn create_function(State(state): S, body: Body) -> Response {
    let body = match parse_body(body, "CreateFunction") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let name = match body.get("FunctionName") {
        None | Some(Json::Null) => {
            return function_error(FunctionError::Validation(names::validation_message(&[
                "Value null at 'functionName' failed to satisfy constraint: Member must not be null".into(),
            ])))
        }
        Some(Json::String(raw)) => match function_ref(raw, NameUse::Create) {
            Ok(f) => f.name,
            Err(r) => return r,
        },
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "Could not parse request body into json: FunctionName must be a string",
            )
        }
    };
    let mut c = FunctionConfig::new(name);
    if let Err(e) = c.apply(&body) {
        return function_error(e);
    }
    let code = match zip_file(&body) {
        Ok(c) => c,
        Err(r) => return r,
    };
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

async fn get_function(State(state): S, name: Name) -> Response {
    let name = match path_function(&state, name, NameUse::Qualified) {
        Ok(n) => n,
        Err(r) => return r,
    };
    match state.functions.require(&name) {
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

async fn get_configuration(State(state): S, name: Name) -> Response {
    let name = match path_function(&state, name, NameUse::Qualified) {
        Ok(n) => n,
        Err(r) => return r,
    };
    match state.functions.require(&name) {
        Ok(c) => json_ok(StatusCode::OK, configuration_json(&state, &c)),
        Err(e) => function_error(e),
    }
}

async fn delete_function(State(state): S, name: Name) -> Response {
    let name = match path_function(&state, name, NameUse::Unqualified) {
        Ok(n) => n,
        Err(r) => return r,
    };
    match state.functions.delete(&name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => function_error(e),
    }
}

async fn update_code(State(state): S, name: Name, body: Body) -> Response {
    let name = match path_function(&state, name, NameUse::Unqualified) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let body = match parse_body(body, "UpdateFunctionCode") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let code = match zip_file(&body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let functions = state.functions.clone();
    match blocking(move || functions.update_code(&name, &code)).await {
        Ok(c) => json_ok(StatusCode::OK, configuration_json(&state, &c)),
        Err(r) => r,
    }
}

async fn update_configuration(State(state): S, name: Name, body: Body) -> Response {
    let name = match path_function(&state, name, NameUse::Unqualified) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let body = match parse_body(body, "UpdateFunctionConfiguration") {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state.functions.update_config(&name, |c| c.apply(&body)) {
        Ok(c) => json_ok(StatusCode::OK, configuration_json(&state, &c)),
        Err(e) => function_error(e),
    }
}

/// The last [`LOG_TAIL`] bytes of an invocation's log, base64 (`X-Amz-Log-Result`).
fn log_tail(logs: &[tributary_runtime::LogLine]) -> String {
    let text: String = logs
        .iter()
        .map(|l| format!("{}\t{}\n", l.level, l.message))
        .collect();
    let mut start = text.len().saturating_sub(LOG_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    B64.encode(&text.as_bytes()[start..])
}

async fn invoke(State(state): S, name: Name, headers: HeaderMap, body: Body) -> Response {
    let name = match path_function(&state, name, NameUse::Qualified) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let kind = header("x-amz-invocation-type").unwrap_or("RequestResponse");
    let limit = match kind {
        "RequestResponse" | "DryRun" => SYNC_PAYLOAD_MAX,
        "Event" => ASYNC_PAYLOAD_MAX,
        other => {
            return function_error(FunctionError::Validation(names::validation_message(&[format!(
                "Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
            )])))
        }
    };
    let tail = match header("x-amz-log-type") {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => {
            return function_error(FunctionError::Validation(names::validation_message(&[format!(
                "Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]"
            )])))
        }
    };
    let body = match body {
        Ok(b) if b.len() > limit => {
            return function_error(FunctionError::RequestTooLarge(format!(
                "{} byte payload is too large for the {kind} invocation type (limit {limit} bytes)",
                b.len()
            )))
        }
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return function_error(FunctionError::RequestTooLarge(format!(
                "Request must be smaller than {limit} bytes for the InvokeFunction operation"
            )))
        }
        other => match read_body(other, "InvokeFunction") {
            Ok(b) => b,
            Err(r) => return r,
        },
    };
    if !body.is_empty() {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            return function_error(FunctionError::InvalidRequestContent(format!(
                "Could not parse request body into json: Could not parse payload into json: {e}"
            )));
        }
    }
    if let Err(e) = state.functions.require(&name) {
        return function_error(e);
    }
    if kind == "DryRun" {
        return StatusCode::NO_CONTENT.into_response();
    }
    let payload = String::from_utf8_lossy(&body).into_owned();
    let functions = state.functions.clone();
    if kind == "Event" {
        let queued = blocking(move || functions.enqueue(&name, &payload)).await;
        let (request_id, ticket) = match queued {
            Ok(q) => q,
            Err(r) => return r,
        };
        // Accepted means durable: the event survives a crash from here on.
        if let Err(e) = state.engine.syncer().wait(ticket).await {
            tracing::error!("asynchronous event not made durable: {e}");
            return internal_error();
        }
        let mut resp = StatusCode::ACCEPTED.into_response();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-amzn-RequestId", v);
        }
        return resp;
    }
    let outcome =
        match tokio::task::spawn_blocking(move || functions.invoke(&name, &payload, false)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("invocation task failed: {e}");
                return internal_error();
            }
        };
    let unhandled = |message: String, ty: &str| {
        (
            json!({"errorMessage": message, "errorType": ty}).to_string(),
            Some("Unhandled"),
        )
    };
    let mut logs = Vec::new();
    let (body, failure) = match outcome {
        Ok(inv) => {
            logs = inv.logs;
            match inv.result {
                Ok(out) if out.len() > RESPONSE_MAX => unhandled(
                    format!(
                        "Response payload size ({} bytes) exceeded maximum allowed payload size ({RESPONSE_MAX} bytes).",
                        out.len()
                    ),
                    "Function.ResponseSizeTooLarge",
                ),
                Ok(out) => (out, None),
                Err(msg) => unhandled(msg, "HandlerError"),
            }
        }
        Err(FunctionError::Runtime(e)) => {
            let ty = match e {
                RuntimeError::Timeout(_) => "Sandbox.Timedout",
                RuntimeError::OutOfMemory(_) => "Runtime.OutOfMemory",
                _ => "Runtime.ExitError",
            };
            unhandled(e.to_string(), ty)
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
    if tail {
        if let Ok(v) = HeaderValue::from_str(&log_tail(&logs)) {
            h.insert("x-amz-log-result", v);
        }
    }
    resp
}

fn mapping_json(state: &AppState, m: &MappingConfig) -> Json {
    let mut j = m.settings_json();
    j["FunctionArn"] = json!(function_arn(state, &m.function_name));
    j["LastProcessingResult"] = json!(m.last_result);
    j
}

/// The function an event-source mapping request names.
fn mapping_function(body: &Map<String, Json>) -> Result<Option<String>, Response> {
    match body.get("FunctionName") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(raw)) => function_ref(raw, NameUse::Unqualified).map(|f| Some(f.name)),
        Some(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json: FunctionName must be a string",
        )),
    }
}

async fn create_mapping(State(state): S, body: Body) -> Response {
    let body = match parse_body(body, "CreateEventSourceMapping") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, "InvalidParameterValueException", m);
    let function = match mapping_function(&body) {
        Ok(Some(f)) => f,
        Ok(None) => return bad("FunctionName is required"),
        Err(r) => return r,
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

async fn list_mappings(
    State(state): S,
    query: Result<Query<MappingFilter>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "Invalid query string",
        );
    };
    let f = match q
        .function
        .as_deref()
        .map(|f| function_ref(f, NameUse::Unqualified))
    {
        Some(Ok(f)) => Some(f.name),
        Some(Err(r)) => return r,
        None => None,
    };
    match state.mappings.list() {
        Ok(list) => {
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

fn mapping_not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
    )
}

/// A mapping UUID from the path; anything but a UUID names no mapping.
fn path_uuid(uuid: Name) -> Result<String, Response> {
    match uuid {
        Ok(Path(u)) if uuid::Uuid::parse_str(&u).is_ok() => Ok(u),
        _ => Err(mapping_not_found()),
    }
}

async fn get_mapping(State(state): S, uuid: Name) -> Response {
    let uuid = match path_uuid(uuid) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state.mappings.get(&uuid) {
        Ok(Some(m)) => json_ok(StatusCode::OK, mapping_json(&state, &m)),
        Ok(None) => mapping_not_found(),
        Err(e) => function_error(e),
    }
}

async fn update_mapping(State(state): S, uuid: Name, body: Body) -> Response {
    let uuid = match path_uuid(uuid) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(body, "UpdateEventSourceMapping") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let function = match mapping_function(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mappings = state.mappings.clone();
    let result = blocking(move || {
        mappings.update(&uuid, |m| {
            if let Some(f) = function {
                m.function_name = f;
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

async fn delete_mapping(State(state): S, uuid: Name) -> Response {
    let uuid = match path_uuid(uuid) {
        Ok(u) => u,
        Err(r) => return r,
    };
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
