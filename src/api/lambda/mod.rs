//! The Lambda API subset on the same port (REST paths under `/2015-03-31/`): functions
//! (create, get, list, update code and configuration, delete, invoke: `functions.rs`) and
//! event-source mappings (create, get, list, update, delete: `mappings.rs`), with Lambda's
//! JSON shapes and error types. The shapes and their validation are the runtime's
//! (`FunctionConfig`, `MappingConfig`, `names`: one error type, `FunctionError`); this module
//! holds the routes, status codes, request-size limits and Lambda's error responses
//! (`x-amzn-ErrorType` and the JSON body the AWS SDKs read) made from a `FunctionError`.
//! Storage and compilation run on the blocking pool ([`blocking`]), never on an async worker;
//! every other path under one of Lambda's API versions answers UnknownOperationException.

// Helpers bail out with the ready-made error response their handler returns; boxing it
// would buy nothing on these cold paths.
#![allow(clippy::result_large_err)]

mod functions;
mod mappings;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Extension, Path};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::Router;
use serde_json::{json, Map, Value as Json};
use tributary_runtime::functions::FunctionError;
use tributary_runtime::names::{self, FunctionRef, NameUse};
use tributary_runtime::RuntimeError;

use self::functions::{
    create_function, delete_function, get_configuration, get_function, invoke, list_functions,
    update_code, update_configuration,
};
use self::mappings::{create_mapping, delete_mapping, get_mapping, list_mappings, update_mapping};
use super::AppState;
use crate::accounts::Account;

/// The caller's account (its functions and mappings), put in the request by the
/// authentication middleware (`super::lambda_body_budget`).
type S = Extension<Arc<Account>>;
type Body = Result<Bytes, BytesRejection>;
type Name = Result<Path<String>, PathRejection>;

/// Largest request body of the function operations (Lambda: a 50 MB zip, base64-encoded).
const REQUEST_MAX: usize = 69_905_067;

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
/// A request that failed authentication or authorization, as Lambda answers it: 403 with the
/// error type in `x-amzn-ErrorType`.
pub(crate) fn auth_error(e: &crate::auth::AuthError) -> Response {
    tracing::debug!(code = e.code(), "refused: {e}");
    error(StatusCode::FORBIDDEN, e.code(), &e.to_string())
}

/// 403 AccessDeniedException (a refused Host or browser origin).
pub(crate) fn forbidden(message: &str) -> Response {
    error(StatusCode::FORBIDDEN, "AccessDeniedException", message)
}

fn error(status: StatusCode, ty: &str, message: &str) -> Response {
    let member = match ty {
        "ResourceNotFoundException" | "ServiceException" | "AccessDeniedException" => "Message",
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

/// Why a Lambda request body could not be read.
pub(crate) enum Unreadable {
    /// It did not arrive within `server.body_read_timeout_secs`.
    TimedOut,
    /// It is larger than any Lambda operation takes.
    TooLarge,
    /// The stream broke off (malformed chunks, client gone).
    Broken(String),
}

pub(crate) fn unreadable_body(why: Unreadable) -> Response {
    match why {
        Unreadable::TimedOut => error(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutException",
            "The request body did not arrive in time (server.body_read_timeout_secs)",
        ),
        Unreadable::TooLarge => function_error(FunctionError::RequestTooLarge(format!(
            "Request must be smaller than {REQUEST_MAX} bytes"
        ))),
        Unreadable::Broken(e) => function_error(FunctionError::InvalidRequestContent(format!(
            "Could not read the request body: {e}"
        ))),
    }
}

/// Too many request bodies in progress (the server's memory budget for them is taken).
pub(crate) fn busy() -> Response {
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        "Rate Exceeded. The server is busy reading other requests (server.max_request_memory_mb); retry shortly",
    );
    resp.headers_mut()
        .insert("Retry-After", HeaderValue::from_static("1"));
    resp
}

pub(crate) fn internal_error() -> Response {
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
        Err(r) => Err(function_error(FunctionError::InvalidRequestContent(
            format!("Could not read the request body: {}", r.body_text()),
        ))),
    }
}

fn parse_body(body: Body, operation: &str) -> Result<Map<String, Json>, Response> {
    let body = read_body(body, operation)?;
    if body.is_empty() {
        return Ok(Map::new());
    }
    let unreadable = |m: String| function_error(FunctionError::InvalidRequestContent(m));
    match serde_json::from_slice(&body) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(unreadable(
            "Could not parse request body into json: the request body is not a JSON object".into(),
        )),
        Err(e) => Err(unreadable(format!(
            "Could not parse request body into json: {e}"
        ))),
    }
}

/// A `FunctionName` (path or body) checked as Lambda checks it.
fn function_ref(raw: &str, usage: NameUse) -> Result<FunctionRef, Response> {
    names::parse(raw, usage).map_err(function_error)
}

/// The function a path names (`$LATEST` only: other qualifiers name nothing here).
fn path_function(state: &Account, path: Name, usage: NameUse) -> Result<String, Response> {
    let Path(raw) = path.map_err(|r| {
        function_error(FunctionError::InvalidParameter(format!(
            "Invalid function name in the path: {}",
            r.body_text()
        )))
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

fn function_arn(state: &Account, name: &str) -> String {
    state.functions.arn(name)
}

/// Runs `f` (fjall reads and writes, compilation) on the blocking pool.
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
