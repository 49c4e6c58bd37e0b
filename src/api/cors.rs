//! Cross-origin requests (CORS) from the origins `server.cors_origins` allows (`browser.rs`
//! refuses the others before they get here), answered as DynamoDB answers them: a preflight
//! (`OPTIONS` with `Origin`) echoes the requested method and headers and may be cached for two
//! days, and every answer to a request with `Origin` carries `Access-Control-Allow-Origin`
//! (`*` when every origin is allowed, as DynamoDB; else the origin, with `Vary: Origin`) and
//! the headers a browser script may read.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// The response headers a browser script may read (DynamoDB's list).
const EXPOSE_HEADERS: &str = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date";
/// How long a browser may cache a preflight answer: DynamoDB's 172,800 s (two days).
const MAX_AGE: &str = "172800";

/// Middleware: answers preflights, adds the CORS headers to answers to cross-origin requests.
pub async fn layer(
    State(state): State<Arc<super::AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let any = state.browser.any_origin();
    if request.method() == Method::OPTIONS {
        return preflight(request.headers(), any);
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = next.run(request).await;
    if let Some(origin) = origin {
        allow(response.headers_mut(), &origin, any);
    }
    response
}

/// The answer to `OPTIONS`. Without `Origin` it is not a preflight, and DynamoDB answers 404
/// with `<UnknownOperationException/>`.
fn preflight(request: &HeaderMap, any: bool) -> Response {
    let Some(origin) = request.get(header::ORIGIN) else {
        let body: &'static [u8] = b"<UnknownOperationException/>\n";
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = StatusCode::NOT_FOUND;
        if let Ok(v) = HeaderValue::from_str(&crc32fast::hash(body).to_string()) {
            r.headers_mut().insert("x-amz-crc32", v);
        }
        add_request_id(r.headers_mut());
        return r;
    };
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    allow(h, origin, any);
    if let Some(v) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
    }
    if let Some(v) = request.get(header::ACCESS_CONTROL_REQUEST_METHOD) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    add_request_id(h);
    r
}

fn allow(h: &mut HeaderMap, origin: &HeaderValue, any: bool) {
    if any {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    } else {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
}

fn add_request_id(h: &mut HeaderMap) {
    if let Ok(v) = HeaderValue::from_str(&super::dynamodb::request_id()) {
        h.insert("x-amzn-requestid", v);
    }
}
