//! The HTTP API: one port serving the DynamoDB and DynamoDB Streams JSON 1.0 protocols
//! (`POST /` with `X-Amz-Target`), the Lambda REST API (`/2015-03-31/...`), a health check
//! (`GET /`) and Prometheus metrics (`GET /metrics`). Every answer carries DynamoDB's `Server`
//! header; CORS is `cors.rs`, request and response encodings `encoding.rs`.

pub mod browser;
pub mod budget;
pub mod cors;
pub mod dynamodb;
pub mod encoding;
pub mod lambda;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tributary_engine::{Engine, EngineError, Outcome};

use crate::auth::{self, Auth, AuthError, Principal};

/// Everything a request handler needs.
pub struct AppState {
    /// Each account's engine, functions and mappings (`crate::accounts`).
    pub accounts: crate::accounts::Accounts,
    /// Principals, signature verification and policies (`[auth]`).
    pub auth: Arc<Auth>,
    /// Which Host headers and browser origins are accepted (`[server]`).
    pub browser: browser::Browser,
    /// Whether this region replicates (NATS configured): ReplicaUpdates need it.
    pub replication: bool,
    /// The address the server listens on (shown by the health check).
    pub local_addr: SocketAddr,
    /// Renders the metrics for `GET /metrics` (None when no recorder could be installed).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// How long a DynamoDB request body may take to arrive (`server.body_read_timeout_secs`).
    pub body_read_timeout: Duration,
    /// What request bodies in progress may hold together (`server.max_request_memory_mb`).
    pub body_budget: budget::Budget,
}

/// Largest Lambda API request body (a CreateFunction with a 50 MB zip, base64-encoded).
const LAMBDA_BODY_LIMIT: usize = 70 * 1024 * 1024;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(health).post(post_root))
        .route("/metrics", get(metrics))
        // Function code arrives in the request body (base64): Lambda accepts about 70 MB.
        .merge(
            lambda::routes()
                .layer(axum::extract::DefaultBodyLimit::max(LAMBDA_BODY_LIMIT))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    lambda_body_budget,
                )),
        )
        .layer(axum::middleware::from_fn(contain_panics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            browser::check_host,
        ))
        .layer(axum::middleware::map_response(server_header))
        .with_state(state)
}

/// The last line of defence: a handler that panics answers its protocol's internal error (and
/// the panic is logged) instead of dropping the connection. Known panics are fixed where they
/// arise (the fuzz targets look for them); this keeps an unknown one to one failed request.
async fn contain_panics(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures_util::FutureExt;
    let lambda = req.uri().path().starts_with("/20");
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(%method, path, "request handler panicked: {what}");
            if lambda {
                lambda::internal_error()
            } else {
                dynamodb::error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "com.amazonaws.dynamodb.v20120810#InternalServerError",
                    "The server encountered an internal error trying to fulfill the request",
                    None,
                )
            }
        }
    }
}

/// Lambda requests (function code: up to 70 MB) reserve their body in the shared budget until
/// they are answered, and their body must arrive within the body timeout (read here, so that
/// a client trickling bytes cannot hold its reservation for ever).
async fn lambda_body_budget(
    State(state): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use http_body_util::BodyExt;
    let Some(_reserved) = state
        .body_budget
        .reserve(
            req.headers(),
            LAMBDA_BODY_LIMIT as u64,
            0,
            state.body_read_timeout / 2,
        )
        .await
    else {
        return lambda::busy();
    };
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, LAMBDA_BODY_LIMIT);
    match tokio::time::timeout(state.body_read_timeout, limited.collect()).await {
        Err(_) => lambda::unreadable_body(lambda::Unreadable::TimedOut),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            lambda::unreadable_body(lambda::Unreadable::TooLarge)
        }
        Ok(Err(e)) => lambda::unreadable_body(lambda::Unreadable::Broken(e.to_string())),
        Ok(Ok(collected)) => {
            let body = collected.to_bytes();
            let account = match authorize_lambda(&state, &parts, &body) {
                Ok(account) => account,
                Err(e) => return lambda::auth_error(&e),
            };
            let mut req = axum::extract::Request::from_parts(parts, Body::from(body));
            req.extensions_mut().insert(account);
            next.run(req).await
        }
    }
}

/// Authenticates a Lambda request (signing name `lambda`) and checks what its route needs;
/// the principal's account, whose functions and mappings the request sees.
fn authorize_lambda(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Arc<crate::accounts::Account>, AuthError> {
    let signed = auth::sigv4::SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let principal = state.auth.authenticate(&signed, Some("lambda"))?;
    let account = state.accounts.of(&principal);
    if state.auth.needs_checks(&principal) {
        let checks = auth::checks::lambda(
            parts.method.as_str(),
            parts.uri.path(),
            body,
            account.engine.region(),
            account.engine.account(),
        );
        state.auth.authorize(&principal, &checks)?;
    }
    Ok(account.clone())
}

/// DynamoDB's `Server` header, on every answer.
async fn server_header(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("Server"));
    response
}

/// `GET /`: 200 `healthy: <addr>`, or 503 `degraded: <reason>` while the storage cannot take
/// writes (a full disk, too many open files; it recovers by itself once the resource is back).
async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    match state.accounts.default().engine.health() {
        Ok(()) => (StatusCode::OK, format!("healthy: {}", state.local_addr)),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("degraded: {reason}"),
        ),
    }
}

/// `GET /metrics`: Prometheus text format; with authentication, a signed request (any signing
/// name) whose principal may `tributary:GetMetrics`.
async fn metrics(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let signed = auth::sigv4::SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        headers: &headers,
        body: &[],
    };
    let allowed = state
        .auth
        .authenticate(&signed, None)
        .and_then(|p| state.auth.authorize(&p, &[auth::checks::metrics()]));
    if let Err(e) = allowed {
        return (StatusCode::FORBIDDEN, format!("{}: {e}\n", e.code())).into_response();
    }
    match &state.metrics {
        Some(h) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not available").into_response(),
    }
}

/// `POST /`: the target header says which protocol and operation. The body is read here
/// (16 MB at most, inflated if compressed) and the answer compressed if the client accepts it.
async fn post_root(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let limit = encoding::MAX_REQUEST_BYTES as u64;
    let Some(_reserved) = state
        .body_budget
        .reserve(&headers, limit, limit, state.body_read_timeout / 2)
        .await
    else {
        return dynamodb::error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
            "The server is busy reading other requests (server.max_request_memory_mb); retry shortly",
            None,
        );
    };
    // The signature covers the body as sent: it is checked before a compressed body is
    // inflated, so that only a known principal can make the server inflate anything.
    let read = match encoding::read_raw(&headers, body, state.body_read_timeout).await {
        Ok(raw) => authenticate_dynamodb(&state, &uri, &headers, &raw)
            .map_err(|e| dynamodb::auth_error(&e))
            .map(|principal| (principal, raw)),
        Err(e) => Err(body_refused(&state, target, &e)),
    };
    let response = match read {
        Err(response) => response,
        Ok((principal, raw)) => match encoding::decode(&headers, raw).await {
            Ok(body) => dispatch(&state, &principal, &headers, target, body).await,
            Err(e) => body_refused(&state, target, &e),
        },
    };
    match encoding::accepted_coding(&headers) {
        Some(coding) => encoding::compress_response(response, coding).await,
        None => response,
    }
}

fn body_refused(state: &AppState, target: &str, e: &encoding::BodyError) -> Response {
    tracing::debug!(target, error = ?e, "request body refused");
    dynamodb::body_error(e, state.body_read_timeout)
}

/// Who signed a DynamoDB or DynamoDB Streams request (both sign as `dynamodb`).
fn authenticate_dynamodb(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Principal, AuthError> {
    let signed = auth::sigv4::SignedRequest {
        method: "POST",
        path: uri.path(),
        query: uri.query(),
        headers,
        body: raw,
    };
    state.auth.authenticate(&signed, Some("dynamodb"))
}

/// Runs one DynamoDB or DynamoDB Streams operation, once its principal may.
async fn dispatch(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    target: &str,
    body: Bytes,
) -> Response {
    let engine = &state.accounts.of(principal).engine;
    if state.auth.needs_checks(principal) {
        let checks = match target.split_once('.') {
            Some(("DynamoDB_20120810", op)) => auth::checks::dynamodb(engine, op, &body, false),
            Some(("DynamoDBStreams_20120810", op)) => {
                auth::checks::dynamodb(engine, op, &body, true)
            }
            _ => Vec::new(),
        };
        if let Err(e) = state.auth.authorize(principal, &checks) {
            return dynamodb::auth_error(&e);
        }
    }
    match target.split_once('.') {
        Some(("DynamoDB_20120810", "UpdateTable"))
            if mentions_replica_updates(&body)
                && !(state.replication
                    && Arc::ptr_eq(engine, &state.accounts.default().engine)) =>
        {
            dynamodb::error_response(
                StatusCode::BAD_REQUEST,
                "com.amazonaws.dynamodb.v20120810#ValidationException",
                if state.replication {
                    "ReplicaUpdates: global tables belong to the server's account (account_id); this account's tables stay in this region"
                } else {
                    "ReplicaUpdates need replication between regions: start this region with --nats URL (or [replication] nats in the config file)"
                },
                None,
            )
        }
        Some(("DynamoDB_20120810", "DescribeEndpoints")) => {
            dynamodb::describe_endpoints(headers, state.local_addr, &body)
        }
        Some(("DynamoDB_20120810", op)) => {
            let result = on_engine(engine, op, move |e, op| e.call(op, &body)).await;
            dynamodb::respond(engine, target, op, result).await
        }
        Some(("DynamoDBStreams_20120810", op)) => {
            let result = on_engine(engine, op, move |e, op| e.call_streams(op, &body)).await;
            dynamodb::respond(engine, target, op, result).await
        }
        _ => dynamodb::unknown_operation(target),
    }
}

/// DynamoDB operations run on the async worker itself: one item, or one Query/Scan page of at
/// most 1 MB, read from fjall's memtables and block cache; a write holds its item's lock only
/// from reading the item to committing its batch (microseconds), and the fsync it waits for
/// runs on the group-commit thread, awaited asynchronously. A hop to the blocking pool costs
/// these about a third of their throughput (GetItem 33,500/s inline against 17,700-24,500/s,
/// `tributary-bench`, c=16, one worker thread). Every other operation (tables and indexes
/// created or dropped, batches and transactions that lock up to 100 items, Streams) runs on
/// the blocking pool.
const INLINE_OPERATIONS: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
];

/// Runs an engine operation: inline for [`INLINE_OPERATIONS`] (a panic there is answered by
/// the router's `contain_panics` layer), on the blocking pool for the rest, where they may wait
/// for many item locks or for files to be created and synced without stalling an async
/// worker. A panic is an internal error.
async fn on_engine(
    engine: &Arc<Engine>,
    op: &str,
    call: impl FnOnce(&Engine, &str) -> Option<Result<Outcome, EngineError>> + Send + 'static,
) -> Option<Result<Outcome, EngineError>> {
    if INLINE_OPERATIONS.contains(&op) {
        return call(engine, op);
    }
    let engine = engine.clone();
    let op_name = op.to_owned();
    match tokio::task::spawn_blocking(move || call(&engine, &op_name)).await {
        Ok(result) => result,
        Err(e) => {
            // The panic's text is for the log, not for the client.
            tracing::error!(op, "operation panicked: {e}");
            Some(Err(EngineError::Internal(format!(
                "operation {op} panicked"
            ))))
        }
    }
}

/// Whether an UpdateTable body carries ReplicaUpdates.
fn mentions_replica_updates(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("ReplicaUpdates").is_some_and(|u| !u.is_null()))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use axum::routing::get;
    use axum::Router;

    /// A panicking handler answers InternalServerError in its protocol's shape, and the server
    /// goes on answering.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_server_goes_on() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let app = Router::new()
            .route("/", get(boom))
            .route("/2015-03-31/functions", get(boom))
            .route("/ok", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(super::contain_panics));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let get = move |path: &'static str| {
            tokio::task::spawn_blocking(move || {
                let mut s = std::net::TcpStream::connect(addr).expect("connect");
                write!(
                    s,
                    "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                .expect("write");
                let mut out = String::new();
                s.read_to_string(&mut out).expect("read");
                out
            })
        };
        let dynamodb = get("/").await.expect("join");
        assert!(dynamodb.starts_with("HTTP/1.1 500"), "{dynamodb}");
        assert!(dynamodb.contains("#InternalServerError"), "{dynamodb}");
        let lambda = get("/2015-03-31/functions").await.expect("join");
        assert!(lambda.starts_with("HTTP/1.1 500"), "{lambda}");
        assert!(
            lambda.contains("x-amzn-errortype: ServiceException"),
            "{lambda}"
        );
        let ok = get("/ok").await.expect("join");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    }
}
