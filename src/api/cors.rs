//! Cross-origin requests (CORS), answered as DynamoDB answers them: any origin is allowed, a
//! preflight (`OPTIONS` with `Origin`) echoes the requested method and headers and may be cached
//! for two days, and every answer to a request with `Origin` carries
//! `Access-Control-Allow-Origin: *` and the headers a browser script may read.
//!
//! This is the one place that decides what browsers may do: authentication (a later issue)
//! will restrict browser-originated requests here.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// The response headers a browser script may read (DynamoDB's list).
const EXPOSE_HEADERS: &str = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date";
/// How long a browser may cache a preflight answer: DynamoDB's 172,800 s (two days).
const MAX_AGE: &str = "172800";

/// Middleware: answers preflights, adds the CORS headers to answers to cross-origin requests.
pub async fn layer(request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return preflight(request.headers());
    }
    let cross_origin = request.headers().contains_key(header::ORIGIN);
    let mut response = next.run(request).await;
    if cross_origin {
        allow(response.headers_mut());
    }
    response
}

/// The answer to `OPTIONS`. Without `Origin` it is not a preflight, and DynamoDB answers 404
/// with `<UnknownOperationException/>`.
fn preflight(request: &HeaderMap) -> Response {
    if !request.contains_key(header::ORIGIN) {
        let body: &'static [u8] = b"<UnknownOperationException/>\n";
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = StatusCode::NOT_FOUND;
        if let Ok(v) = HeaderValue::from_str(&crc32fast::hash(body).to_string()) {
            r.headers_mut().insert("x-amz-crc32", v);
        }
        add_request_id(r.headers_mut());
        return r;
    }
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    allow(h);
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

fn allow(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
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
