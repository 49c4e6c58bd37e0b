//! The function operations: CreateFunction, GetFunction(Configuration), ListFunctions,
//! UpdateFunctionCode / Configuration, DeleteFunction and Invoke (RequestResponse, Event,
//! DryRun) with Lambda's payload and response limits and `LogType: Tail`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value as Json};
use tributary_runtime::function_config::code_from_request;
use tributary_runtime::functions::{FunctionConfig, FunctionError};
use tributary_runtime::names::{self, NameUse};
use tributary_runtime::RuntimeError;

use super::{
    blocking, function_arn, function_error, internal_error, json_ok, parse_body, path_function,
    read_body, AppState, Body, Name, S,
};

/// Largest Invoke payload: synchronous (6 MB) and asynchronous (1 MB), as Lambda has them.
const SYNC_PAYLOAD_MAX: usize = 6 * 1024 * 1024;
const ASYNC_PAYLOAD_MAX: usize = 1024 * 1024;
/// Largest synchronous response a handler may return (Lambda: 6 MB).
const RESPONSE_MAX: usize = 6 * 1024 * 1024;
/// Bytes of the invocation's log returned with `X-Amz-Log-Type: Tail`.
const LOG_TAIL: usize = 4096;

fn configuration_json(state: &AppState, c: &FunctionConfig) -> Json {
    c.to_json(&function_arn(state, &c.name))
}

pub(super) async fn create_function(State(state): S, body: Body) -> Response {
    let created = parse_body(body, "CreateFunction").and_then(|body| {
        let c = FunctionConfig::from_create_request(&body).map_err(function_error)?;
        let code = code_from_request(&body).map_err(function_error)?;
        Ok((c, code))
    });
    let (c, code) = match created {
        Ok(r) => r,
        Err(r) => return r,
    };
    let functions = state.functions.clone();
    match blocking(move || functions.create(c, &code)).await {
        Ok(c) => json_ok(StatusCode::CREATED, configuration_json(&state, &c)),
        Err(r) => r,
    }
}

pub(super) async fn list_functions(State(state): S) -> Response {
    let functions = state.functions.clone();
    match blocking(move || functions.list()).await {
        Ok(list) => json_ok(
            StatusCode::OK,
            json!({"Functions": list.iter().map(|c| configuration_json(&state, c)).collect::<Vec<_>>()}),
        ),
        Err(r) => r,
    }
}

/// The configuration of the function a path names (read off the async workers).
async fn path_config(
    state: &AppState,
    name: Name,
    usage: NameUse,
) -> Result<FunctionConfig, Response> {
    let name = path_function(state, name, usage)?;
    let functions = state.functions.clone();
    blocking(move || functions.require(&name)).await
}

pub(super) async fn get_function(State(state): S, name: Name) -> Response {
    match path_config(&state, name, NameUse::Qualified).await {
        Ok(c) => json_ok(
            StatusCode::OK,
            json!({
                "Configuration": configuration_json(&state, &c),
                "Code": {"RepositoryType": "Tributary", "Location": format!("tributary://functions/{}", c.name)},
            }),
        ),
        Err(r) => r,
    }
}

pub(super) async fn get_configuration(State(state): S, name: Name) -> Response {
    match path_config(&state, name, NameUse::Qualified).await {
        Ok(c) => json_ok(StatusCode::OK, configuration_json(&state, &c)),
        Err(r) => r,
    }
}

pub(super) async fn delete_function(State(state): S, name: Name) -> Response {
    let name = match path_function(&state, name, NameUse::Unqualified) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let functions = state.functions.clone();
    match blocking(move || functions.delete(&name)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

pub(super) async fn update_code(State(state): S, name: Name, body: Body) -> Response {
    let request = path_function(&state, name, NameUse::Unqualified).and_then(|name| {
        let body = parse_body(body, "UpdateFunctionCode")?;
        let code = code_from_request(&body).map_err(function_error)?;
        Ok((name, code))
    });
    let (name, code) = match request {
        Ok(r) => r,
        Err(r) => return r,
    };
    let functions = state.functions.clone();
    match blocking(move || functions.update_code(&name, &code)).await {
        Ok(c) => json_ok(StatusCode::OK, configuration_json(&state, &c)),
        Err(r) => r,
    }
}

pub(super) async fn update_configuration(State(state): S, name: Name, body: Body) -> Response {
    let request = path_function(&state, name, NameUse::Unqualified)
        .and_then(|name| Ok((name, parse_body(body, "UpdateFunctionConfiguration")?)));
    let (name, body) = match request {
        Ok(r) => r,
        Err(r) => return r,
    };
    let functions = state.functions.clone();
    match blocking(move || functions.update_config(&name, |c| c.apply(&body))).await {
        Ok(c) => json_ok(StatusCode::OK, configuration_json(&state, &c)),
        Err(r) => r,
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

pub(super) async fn invoke(
    State(state): S,
    name: Name,
    headers: HeaderMap,
    body: Body,
) -> Response {
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
    let functions = state.functions.clone();
    let (name, functions) = match blocking(move || {
        functions.require(&name)?;
        Ok((name, functions))
    })
    .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    if kind == "DryRun" {
        return StatusCode::NO_CONTENT.into_response();
    }
    let payload = String::from_utf8_lossy(&body).into_owned();
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
