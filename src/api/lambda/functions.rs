//! The function operations: CreateFunction, GetFunction(Configuration), ListFunctions,
//! UpdateFunctionCode / Configuration, DeleteFunction and Invoke (RequestResponse, Event,
//! DryRun). Lambda's shapes, limits and messages are the runtime's (`function_config`,
//! `invocation`); this module reads requests and writes statuses and headers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Extension;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};
use tributary_runtime::function_config::code_from_request;
use tributary_runtime::functions::{FunctionConfig, FunctionError, Functions};
use tributary_runtime::invocation::{
    self, check_payload, log_tail, log_tail_wanted, InvocationType,
};
use tributary_runtime::names::NameUse;

use super::{
    blocking, function_arn, function_error, internal_error, json_ok, parse_body, path_function,
    read_body, Account, Body, Name, S,
};

fn configuration_json(state: &Account, c: &FunctionConfig) -> Json {
    c.to_json(&function_arn(state, &c.name))
}

pub(super) async fn create_function(Extension(state): S, body: Body) -> Response {
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

pub(super) async fn list_functions(Extension(state): S) -> Response {
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
    state: &Account,
    name: Name,
    usage: NameUse,
) -> Result<FunctionConfig, Response> {
    let name = path_function(state, name, usage)?;
    let functions = state.functions.clone();
    blocking(move || functions.require(&name)).await
}

pub(super) async fn get_function(Extension(state): S, name: Name) -> Response {
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

pub(super) async fn get_configuration(Extension(state): S, name: Name) -> Response {
    match path_config(&state, name, NameUse::Qualified).await {
        Ok(c) => json_ok(StatusCode::OK, configuration_json(&state, &c)),
        Err(r) => r,
    }
}

pub(super) async fn delete_function(Extension(state): S, name: Name) -> Response {
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

pub(super) async fn update_code(Extension(state): S, name: Name, body: Body) -> Response {
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

pub(super) async fn update_configuration(Extension(state): S, name: Name, body: Body) -> Response {
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

pub(super) async fn invoke(
    Extension(state): S,
    name: Name,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let request = path_function(&state, name, NameUse::Qualified).and_then(|name| {
        let kind =
            InvocationType::parse(header("x-amz-invocation-type")).map_err(function_error)?;
        let tail = log_tail_wanted(header("x-amz-log-type")).map_err(function_error)?;
        let payload = invoke_payload(body, kind)?;
        Ok((name, kind, tail, payload))
    });
    let (name, kind, tail, payload) = match request {
        Ok(r) => r,
        Err(r) => return r,
    };
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
    let payload = String::from_utf8_lossy(&payload).into_owned();
    match kind {
        InvocationType::DryRun => StatusCode::NO_CONTENT.into_response(),
        InvocationType::Event => invoke_event(&state, functions, name, payload).await,
        InvocationType::RequestResponse => invoke_sync(functions, name, payload, tail).await,
    }
}

/// The payload of an Invoke: within the type's limit, and JSON.
fn invoke_payload(body: Body, kind: InvocationType) -> Result<Bytes, Response> {
    let payload = match body {
        Ok(b) if b.len() > kind.payload_max() => {
            return Err(function_error(kind.payload_too_large(b.len())))
        }
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(function_error(FunctionError::RequestTooLarge(format!(
                "Request must be smaller than {} bytes for the InvokeFunction operation",
                kind.payload_max()
            ))))
        }
        other => read_body(other, "InvokeFunction")?,
    };
    check_payload(&payload).map_err(function_error)?;
    Ok(payload)
}

/// An asynchronous invocation: queued durably, then 202 with the request id.
async fn invoke_event(
    state: &Account,
    functions: Arc<Functions>,
    name: String,
    payload: String,
) -> Response {
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
    resp
}

/// A synchronous invocation: 200 with the handler's response or its unhandled failure.
async fn invoke_sync(
    functions: Arc<Functions>,
    name: String,
    payload: String,
    tail: bool,
) -> Response {
    let outcome =
        match tokio::task::spawn_blocking(move || functions.invoke(&name, &payload, false)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("invocation task failed: {e}");
                return internal_error();
            }
        };
    let answer = match invocation::answer(outcome) {
        Ok(a) => a,
        Err(e) => return function_error(e),
    };
    let mut resp = (StatusCode::OK, answer.body).into_response();
    let h = resp.headers_mut();
    h.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Some(f) = answer.function_error {
        h.insert("x-amz-function-error", HeaderValue::from_static(f));
    }
    if tail {
        if let Ok(v) = HeaderValue::from_str(&log_tail(&answer.logs)) {
            h.insert("x-amz-log-result", v);
        }
    }
    resp
}
