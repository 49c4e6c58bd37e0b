//! The DynamoDB JSON 1.0 protocol: answers an operation the engine ran (`super::dispatch`
//! runs it, inline or on the blocking pool), waits for durability, and maps engine errors to
//! DynamoDB's `__type`s. The only place engine errors become HTTP.

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};
use tributary_engine::value::item_to_json;
use tributary_engine::{EngineError, Outcome};

use super::encoding::BodyError;

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const DYNAMODB_NS: &str = "com.amazonaws.dynamodb.v20120810";
const CORAL_NS: &str = "com.amazon.coral.service";

/// Answers one operation (`op`, from `target`) of the DynamoDB or DynamoDB Streams protocol;
/// `result` is the engine's (`None`: unknown operation).
pub async fn respond(
    engine: &tributary_engine::Engine,
    target: &str,
    op: &str,
    result: Option<Result<Outcome, EngineError>>,
) -> Response {
    let started = std::time::Instant::now();
    let Some(result) = result else {
        return unknown_operation(target);
    };
    let result = match result {
        Ok(outcome) => engine
            .syncer()
            .wait(outcome.ticket)
            .await
            .map(|()| outcome.body),
        Err(e) => Err(e),
    };
    match result {
        Ok(body) => {
            tracing::debug!(op, elapsed_us = started.elapsed().as_micros() as u64, "ok");
            bytes_response(StatusCode::OK, body.into_bytes())
        }
        Err(e) => {
            if e.is_client_error() {
                tracing::debug!(op, error = %e, "client error");
            } else {
                tracing::error!(op, error = %e, "request failed");
            }
            engine_error(e)
        }
    }
}

/// A request that failed authentication or authorization, as DynamoDB answers it: 400 with
/// the error type in the `com.amazon.coral.service` namespace.
pub fn auth_error(e: &crate::auth::AuthError) -> Response {
    tracing::debug!(code = e.code(), "refused: {e}");
    error_response(
        StatusCode::BAD_REQUEST,
        &format!("{CORAL_NS}#{}", e.code()),
        &e.to_string(),
        None,
    )
}

fn engine_error(e: EngineError) -> Response {
    let code = e.code();
    let ns = match e {
        EngineError::Serialization(_) => CORAL_NS,
        _ => DYNAMODB_NS,
    };
    let status = if e.is_client_error() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let (message, extra) = match e {
        EngineError::ConditionalCheckFailed { message, item } => {
            (message, item.map(|i| ("Item", item_to_json(&i))))
        }
        EngineError::TransactionCanceled { message, reasons } => {
            (message, Some(("CancellationReasons", Json::Array(reasons))))
        }
        EngineError::Storage(_) | EngineError::Internal(_) => (
            "The server encountered an internal error trying to fulfill the request".to_owned(),
            None,
        ),
        other => (other.to_string(), None),
    };
    error_response(status, &format!("{ns}#{code}"), &message, extra)
}

/// `UnknownOperationException`, naming what `X-Amz-Target` asked for.
pub fn unknown_operation(target: &str) -> Response {
    let message = if target.is_empty() {
        "Missing X-Amz-Target header: it names the operation, e.g. DynamoDB_20120810.ListTables"
            .to_owned()
    } else {
        // Bounded: the header can be as long as the request head allows.
        let shown: String = target.chars().take(256).collect();
        format!("Unknown operation: {shown}")
    };
    error_response(
        StatusCode::BAD_REQUEST,
        &format!("{CORAL_NS}#UnknownOperationException"),
        &message,
        None,
    )
}

/// DescribeEndpoints: this server is the endpoint. `Address` is the host the client used
/// (its `Host` header, as DynamoDB names its regional endpoint), else the listening address;
/// DynamoDB's cache period, 1,440 minutes.
pub fn describe_endpoints(headers: &HeaderMap, local_addr: SocketAddr, body: &[u8]) -> Response {
    if let Err(e) = tributary_engine::Request::parse(body) {
        return engine_error(e);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| local_addr.to_string());
    json_response(
        StatusCode::OK,
        &json!({"Endpoints": [{"Address": host, "CachePeriodInMinutes": 1440}]}),
    )
}

/// The answer when a request body cannot be read (see [`BodyError`]).
pub fn body_error(e: &BodyError, timeout: std::time::Duration) -> Response {
    let max = super::encoding::MAX_REQUEST_BYTES;
    let mut response = match e {
        // DynamoDB refuses bodies over 16 MB with 413.
        BodyError::TooLarge { inflated: false } => error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("{DYNAMODB_NS}#ValidationException"),
            &format!("Request size exceeds the maximum allowed size of {max} bytes"),
            None,
        ),
        BodyError::TooLarge { inflated: true } => error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("{DYNAMODB_NS}#ValidationException"),
            &format!("Decompressed request size exceeds the maximum allowed size of {max} bytes"),
            None,
        ),
        // DynamoDB answers an unknown Content-Encoding or a broken stream with a 500.
        BodyError::Encoding(message) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("{DYNAMODB_NS}#InternalServerError"),
            message,
            None,
        ),
        BodyError::Incomplete(message) => error_response(
            StatusCode::BAD_REQUEST,
            &format!("{CORAL_NS}#SerializationException"),
            &format!("The request body could not be read: {message}"),
            None,
        ),
        BodyError::Timeout => error_response(
            StatusCode::REQUEST_TIMEOUT,
            &format!("{CORAL_NS}#RequestTimeoutException"),
            &format!(
                "The request body did not arrive within {} seconds",
                timeout.as_secs_f64()
            ),
            None,
        ),
    };
    if matches!(e, BodyError::Timeout | BodyError::Incomplete(_)) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// An error body; `extra` is a field some errors carry (`Item`, `CancellationReasons`).
pub fn error_response(
    status: StatusCode,
    ty: &str,
    message: &str,
    extra: Option<(&str, Json)>,
) -> Response {
    let mut body = json!({"__type": ty});
    if let Some(obj) = body.as_object_mut() {
        if !message.is_empty() {
            let key = if ty.starts_with(CORAL_NS) {
                "Message"
            } else {
                "message"
            };
            obj.insert(key.into(), json!(message));
        }
        if let Some((field, value)) = extra {
            obj.insert(field.into(), value);
        }
    }
    json_response(status, &body)
}

/// A JSON response with DynamoDB's headers: request id and the CRC32 of the body.
pub fn json_response(status: StatusCode, body: &Json) -> Response {
    bytes_response(
        status,
        serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()),
    )
}

/// A serialized JSON response with DynamoDB's headers.
pub fn bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let crc = crc32fast::hash(&bytes);
    let mut resp = (status, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(&crc.to_string()) {
        h.insert("x-amz-crc32", v);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// A request id in the shape DynamoDB uses (52 upper-case alphanumerics).
pub fn request_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let a = uuid::Uuid::new_v4().as_u128();
    let b = uuid::Uuid::new_v4().as_u128();
    let mut out = String::with_capacity(52);
    for i in 0..52u32 {
        let src = if i < 26 {
            a >> (i * 4)
        } else {
            b >> ((i - 26) * 4)
        };
        out.push(ALPHABET[(src % 36) as usize] as char);
    }
    out
}
