//! Bodies of the DynamoDB protocol on the wire: a request body is read under DynamoDB's 16 MB
//! limit (within a time limit), inflated when `Content-Encoding` says `gzip` or `deflate` (the
//! inflated size is capped *while* inflating, so a small bomb cannot take memory), and a
//! response body is compressed when the client's `Accept-Encoding` asks for it (its
//! `x-amz-crc32` is then the CRC32 of the compressed bytes, as DynamoDB's).

use std::io::Read;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use http_body_util::BodyExt;

/// DynamoDB's largest request body (and, here, largest inflated body): 16 MB.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// How much of an oversized body is read and thrown away so that the client, still sending,
/// gets the error instead of a reset connection. Past it the connection is closed.
const MAX_DRAIN_BYTES: u64 = 256 * 1024 * 1024;

/// Bodies larger than this are (de)compressed on a blocking thread, not on a request worker.
const BLOCKING_THRESHOLD: usize = 64 * 1024;

/// A content coding this server reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    /// The zlib format (RFC 9110 "deflate").
    Deflate,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over [`MAX_REQUEST_BYTES`], as sent or once inflated.
    TooLarge { inflated: bool },
    /// An unsupported `Content-Encoding` or a body that is not a valid stream of it. DynamoDB
    /// answers these with InternalServerError (500).
    Encoding(String),
    /// The body ended early or broke off (malformed chunked encoding, client gone).
    Incomplete(String),
    /// The body did not arrive within the time limit.
    Timeout,
}

/// The coding of a request body from its `Content-Encoding` (absent or `identity`: none).
pub fn request_coding(headers: &HeaderMap) -> Result<Option<Coding>, BodyError> {
    let mut codings = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value
            .to_str()
            .map_err(|_| BodyError::Encoding("Content-Encoding is not ASCII".into()))?;
        for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token.to_ascii_lowercase().as_str() {
                "identity" => {}
                "gzip" | "x-gzip" => codings.push(Coding::Gzip),
                "deflate" => codings.push(Coding::Deflate),
                _ => {
                    return Err(BodyError::Encoding(format!(
                        "Unsupported Content-Encoding '{}': gzip and deflate are supported",
                        truncate(token, 64)
                    )))
                }
            }
        }
    }
    match codings.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(BodyError::Encoding(
            "Only one Content-Encoding may be applied to a request body".into(),
        )),
    }
}

/// Reads a whole request body as sent: at most [`MAX_REQUEST_BYTES`], within `timeout`.
pub async fn read_raw(
    headers: &HeaderMap,
    body: Body,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    // An unknown coding is refused before the body is read.
    request_coding(headers)?;
    match tokio::time::timeout(timeout, collect_limited(headers, body)).await {
        Ok(raw) => raw,
        Err(_) => Err(BodyError::Timeout),
    }
}

/// The request as sent, inflated per its `Content-Encoding` (the output capped at 16 MB while
/// inflating; large bodies are inflated on the blocking pool).
pub async fn decode(headers: &HeaderMap, raw: Bytes) -> Result<Bytes, BodyError> {
    let Some(coding) = request_coding(headers)? else {
        return Ok(raw);
    };
    if raw.len() > BLOCKING_THRESHOLD {
        tokio::task::spawn_blocking(move || inflate(coding, &raw, MAX_REQUEST_BYTES))
            .await
            .map_err(|e| BodyError::Encoding(format!("inflating the request failed: {e}")))?
    } else {
        inflate(coding, &raw, MAX_REQUEST_BYTES)
    }
    .map(Bytes::from)
}

/// The body's bytes, refusing (after draining what the client still sends) past the limit.
async fn collect_limited(headers: &HeaderMap, mut body: Body) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
        drain(body).await;
        return Err(BodyError::TooLarge { inflated: false });
    }
    // Grown as bytes arrive: a declared length is a promise, not memory to reserve.
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(1 << 20) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Incomplete(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len().saturating_add(data.len()) > MAX_REQUEST_BYTES {
                drain(body).await;
                return Err(BodyError::TooLarge { inflated: false });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// Reads and discards the rest of a body, up to [`MAX_DRAIN_BYTES`].
async fn drain(mut body: Body) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len() as u64);
            if seen > MAX_DRAIN_BYTES {
                return;
            }
        }
    }
}

/// Inflates `raw`, failing as soon as the output passes `limit` bytes. Concatenated gzip members
/// are one body (RFC 1952); bytes after the end of a deflate stream are an error.
pub fn inflate(coding: Coding, raw: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    if raw.is_empty() {
        return Err(BodyError::Encoding(format!(
            "The request body is empty, not a {} stream",
            coding.name()
        )));
    }
    let broken = |e: std::io::Error| {
        BodyError::Encoding(format!(
            "The request body is not a valid {} stream: {e}",
            coding.name()
        ))
    };
    let cap = limit as u64 + 1;
    let mut out = Vec::new();
    match coding {
        Coding::Gzip => {
            flate2::bufread::MultiGzDecoder::new(raw)
                .take(cap)
                .read_to_end(&mut out)
                .map_err(broken)?;
        }
        Coding::Deflate => {
            let mut decoder = flate2::bufread::ZlibDecoder::new(raw);
            (&mut decoder)
                .take(cap)
                .read_to_end(&mut out)
                .map_err(broken)?;
            if out.len() <= limit && decoder.total_in() != raw.len() as u64 {
                return Err(BodyError::Encoding(format!(
                    "The request body is not a valid deflate stream: {} bytes follow its end",
                    (raw.len() as u64).saturating_sub(decoder.total_in())
                )));
            }
        }
    }
    if out.len() > limit {
        return Err(BodyError::TooLarge { inflated: true });
    }
    Ok(out)
}

/// The coding to answer with, from the request's `Accept-Encoding`: gzip when acceptable,
/// else deflate; none when neither is (or `q=0`).
pub fn accepted_coding(headers: &HeaderMap) -> Option<Coding> {
    let mut gzip = None;
    let mut deflate = None;
    let mut any = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next_back()
                .unwrap_or(1.0);
            let accepted = q > 0.0;
            match name.as_str() {
                "gzip" | "x-gzip" => gzip = Some(accepted),
                "deflate" => deflate = Some(accepted),
                "*" => any = Some(accepted),
                _ => {}
            }
        }
    }
    let any = any.unwrap_or(false);
    if gzip.unwrap_or(any) {
        Some(Coding::Gzip)
    } else if deflate.unwrap_or(any) {
        Some(Coding::Deflate)
    } else {
        None
    }
}

/// Compresses a DynamoDB response's body with `coding`, setting `Content-Encoding` and the
/// CRC32 of the bytes sent. Responses without a body are left alone.
pub async fn compress_response(response: Response, coding: Coding) -> Response {
    let (mut parts, body) = response.into_parts();
    // Our DynamoDB responses are whole bodies already in memory: this only takes them out.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if bytes.is_empty() {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let compressed = if bytes.len() > BLOCKING_THRESHOLD {
        let input = bytes.clone();
        tokio::task::spawn_blocking(move || deflate_bytes(coding, &input))
            .await
            .ok()
            .flatten()
    } else {
        deflate_bytes(coding, &bytes)
    };
    let Some(compressed) = compressed else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let h = &mut parts.headers;
    h.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.name()),
    );
    h.remove(header::CONTENT_LENGTH);
    if let Ok(v) = HeaderValue::from_str(&crc32fast::hash(&compressed).to_string()) {
        h.insert("x-amz-crc32", v);
    }
    Response::from_parts(parts, Body::from(compressed))
}

fn deflate_bytes(coding: Coding, input: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    // Fast compression: JSON shrinks well at any level, and large answers must not cost much.
    let level = flate2::Compression::fast();
    match coding {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(input).ok()?;
            e.finish().ok()
        }
        Coding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(input).ok()?;
            e.finish().ok()
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("value"));
        h
    }

    #[test]
    fn inflates_gzip_members_and_zlib() {
        let mut two = gzip(b"{\"a\":");
        two.extend(gzip(b"1}"));
        assert_eq!(
            inflate(Coding::Gzip, &two, 100).expect("gzip"),
            b"{\"a\":1}"
        );
        assert_eq!(
            inflate(Coding::Deflate, &zlib(b"{}"), 100).expect("zlib"),
            b"{}"
        );
    }

    #[test]
    fn broken_streams_are_errors() {
        let good = gzip(b"{}");
        let cut = &good[..good.len() - 1];
        assert!(matches!(
            inflate(Coding::Gzip, cut, 100),
            Err(BodyError::Encoding(_))
        ));
        let mut junk = good.clone();
        junk.extend_from_slice(b"junk");
        assert!(matches!(
            inflate(Coding::Gzip, &junk, 100),
            Err(BodyError::Encoding(_))
        ));
        assert!(matches!(
            inflate(Coding::Gzip, b"", 100),
            Err(BodyError::Encoding(_))
        ));
        assert!(matches!(
            inflate(Coding::Gzip, b"{}", 100),
            Err(BodyError::Encoding(_))
        ));
        let mut z = zlib(b"{}");
        z.extend_from_slice(&zlib(b"{}"));
        assert!(matches!(
            inflate(Coding::Deflate, &z, 100),
            Err(BodyError::Encoding(_))
        ));
    }

    #[test]
    fn inflated_size_is_capped_while_inflating() {
        let bomb = gzip(&vec![b' '; 1 << 20]);
        assert!(bomb.len() < 4096);
        assert_eq!(
            inflate(Coding::Gzip, &bomb, 1000),
            Err(BodyError::TooLarge { inflated: true })
        );
        assert_eq!(
            inflate(Coding::Gzip, &bomb, 1 << 20).map(|v| v.len()),
            Ok(1 << 20)
        );
    }

    #[test]
    fn content_encoding_header() {
        let h = |v| request_coding(&headers(header::CONTENT_ENCODING, v));
        assert_eq!(h("gzip"), Ok(Some(Coding::Gzip)));
        assert_eq!(h("Deflate"), Ok(Some(Coding::Deflate)));
        assert_eq!(h("identity"), Ok(None));
        assert!(matches!(h("br"), Err(BodyError::Encoding(m)) if m.contains("'br'")));
        assert!(matches!(h("gzip, gzip"), Err(BodyError::Encoding(_))));
        assert_eq!(request_coding(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn accept_encoding_header() {
        let a = |v| accepted_coding(&headers(header::ACCEPT_ENCODING, v));
        assert_eq!(a("gzip"), Some(Coding::Gzip));
        assert_eq!(a("deflate, gzip;q=0"), Some(Coding::Deflate));
        assert_eq!(a("identity"), None);
        assert_eq!(a("*"), Some(Coding::Gzip));
        assert_eq!(a("*;q=0, identity"), None);
        assert_eq!(a("br, gzip;q=0.5"), Some(Coding::Gzip));
        assert_eq!(accepted_coding(&HeaderMap::new()), None);
    }
}
