//! The HTTP edge as DynamoDB has it: DescribeEndpoints, CORS (preflight and headers), the
//! `Server` header, UnknownOperationException naming the operation, oversized request heads.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;

fn assert_alive(server: &Server) {
    let r = raw_call(server.addr, "DynamoDB_20120810.ListTables", "{}");
    assert_eq!(r.status, 200, "{:?}", r.json);
}

/// Sends raw request bytes, returns the whole answer as text.
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // The server may answer (and close) before it has read everything.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}

#[tokio::test]
async fn describe_endpoints() {
    let server = Server::start();
    let out = server
        .client()
        .describe_endpoints()
        .send()
        .await
        .expect("DescribeEndpoints");
    let endpoints = out.endpoints();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].address(), server.addr.to_string());
    assert_eq!(endpoints[0].cache_period_in_minutes(), 1440);

    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.DescribeEndpoints",
        "{not json",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["__type"],
        "com.amazon.coral.service#SerializationException"
    );
}

/// A server whose `[server]` section holds `settings`.
fn server_with(settings: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("server.toml");
    std::fs::write(&config, format!("[server]\n{settings}\n")).expect("config");
    let server = Server::start_with(&["--config", config.to_str().expect("utf-8")]);
    (server, dir)
}

#[test]
fn cors_preflight_and_headers() {
    // With every origin allowed (`cors_origins = ["*"]`), CORS is DynamoDB's.
    let (server, _dir) = server_with("cors_origins = [\"*\"]");
    // A preflight echoes what the browser asks for, allows any origin, may be cached two days.
    let (status, headers, body) = http_request(
        server.addr,
        "OPTIONS",
        "/",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "content-type, x-amz-target, authorization",
            ),
        ],
        b"",
    )
    .expect("preflight");
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["access-control-allow-methods"], "POST");
    assert_eq!(
        headers["access-control-allow-headers"],
        "content-type, x-amz-target, authorization"
    );
    assert_eq!(headers["access-control-max-age"], "172800");
    assert_eq!(headers["content-length"], "0");
    assert!(headers.contains_key("x-amzn-requestid"));

    // OPTIONS without Origin is not a preflight: DynamoDB's 404.
    let (status, _, body) = http_request(server.addr, "OPTIONS", "/", &[], b"").expect("options");
    assert_eq!(status, 404);
    assert_eq!(body, b"<UnknownOperationException/>\n");

    // A cross-origin request's answer (success or error) lets the script read it.
    for target in [
        "DynamoDB_20120810.ListTables",
        "DynamoDB_20120810.NoSuchThing",
    ] {
        let (status, headers, _) = http_request(
            server.addr,
            "POST",
            "/",
            &[
                ("Origin", "https://app.example"),
                ("X-Amz-Target", target),
                ("Content-Type", "application/x-amz-json-1.0"),
            ],
            b"{}",
        )
        .expect("post");
        assert!(status == 200 || status == 400, "{status}");
        assert_eq!(headers["access-control-allow-origin"], "*", "{target}");
        assert_eq!(
            headers["access-control-expose-headers"],
            "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"
        );
    }
    // Same-origin (no Origin): no CORS headers.
    let r = raw_call(server.addr, "DynamoDB_20120810.ListTables", "{}");
    assert!(!r.headers.contains_key("access-control-allow-origin"));
    assert_alive(&server);
}

/// By default no web page may drive the server: requests carrying an Origin are refused
/// (a text/plain CreateFunction or Invoke needs no preflight), preflights too, and so are
/// requests whose Host is not this server's (DNS rebinding). A listed origin is allowed and
/// echoed.
#[test]
fn browsers_are_refused_unless_allowed() {
    let server = Server::start();
    let page = [
        ("Origin", "http://evil.example"),
        ("Content-Type", "text/plain"),
    ];
    let (status, headers, body) =
        http_request(server.addr, "POST", "/2015-03-31/functions", &page, b"{}").expect("post");
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["x-amzn-errortype"], "AccessDeniedException");
    assert!(String::from_utf8_lossy(&body).contains("server.cors_origins"));
    let (status, _, _) = http_request(
        server.addr,
        "POST",
        "/2015-03-31/functions/f/invocations",
        &page,
        b"{}",
    )
    .expect("invoke");
    assert_eq!(status, 403);
    let (status, _, body) = http_request(
        server.addr,
        "POST",
        "/",
        &[
            ("Origin", "http://evil.example"),
            ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
        ],
        b"{}",
    )
    .expect("post");
    assert_eq!(status, 403);
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        json["__type"],
        "com.amazon.coral.service#AccessDeniedException"
    );
    let (status, headers, _) = http_request(
        server.addr,
        "OPTIONS",
        "/",
        &[
            ("Origin", "http://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    )
    .expect("preflight");
    assert_eq!(status, 403);
    assert!(!headers.contains_key("access-control-allow-origin"));

    // DNS rebinding: the page's own host name in Host.
    let rebound = format!(
        "POST / HTTP/1.1\r\nHost: rebind.evil.example:{}\r\nConnection: close\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 2\r\n\r\n{{}}",
        server.addr.port()
    );
    let answer = raw(server.addr, rebound.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("server.allowed_hosts"), "{answer}");
    let localhost = format!(
        "POST / HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 2\r\n\r\n{{}}",
        server.addr.port()
    );
    let answer = raw(server.addr, localhost.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // An allowed origin is echoed, with Vary: Origin.
    let (server, _dir) = server_with("cors_origins = [\"http://localhost:3000\"]");
    let (status, headers, _) = http_request(
        server.addr,
        "POST",
        "/",
        &[
            ("Origin", "http://localhost:3000"),
            ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
        ],
        b"{}",
    )
    .expect("post");
    assert_eq!(status, 200);
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(headers["vary"], "Origin");
    let (status, _, _) = http_request(
        server.addr,
        "POST",
        "/",
        &[
            ("Origin", "http://localhost:3001"),
            ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
        ],
        b"{}",
    )
    .expect("post");
    assert_eq!(status, 403);
}

#[test]
fn server_header_on_every_answer() {
    let server = Server::start();
    let r = raw_call(server.addr, "DynamoDB_20120810.ListTables", "{}");
    assert_eq!(r.headers["server"], "Server");
    let r = raw_call(server.addr, "DynamoDB_20120810.Nope", "{}");
    assert_eq!(r.headers["server"], "Server");
    let (_, headers, _) = http_request(server.addr, "GET", "/", &[], b"").expect("health");
    assert_eq!(headers["server"], "Server");
}

#[test]
fn unknown_operations_are_named() {
    let server = Server::start();
    for (target, message) in [
        (
            "DynamoDB_20120810.NoSuchOperation",
            "Unknown operation: DynamoDB_20120810.NoSuchOperation",
        ),
        (
            "DynamoDBStreams_20120810.PutItem",
            "Unknown operation: DynamoDBStreams_20120810.PutItem",
        ),
        (
            "Nonsense_2020.ListTables",
            "Unknown operation: Nonsense_2020.ListTables",
        ),
        ("NoDot", "Unknown operation: NoDot"),
    ] {
        let r = raw_call(server.addr, target, "{}");
        assert_eq!(r.status, 400);
        assert_eq!(
            r.json,
            serde_json::json!({
                "__type": "com.amazon.coral.service#UnknownOperationException",
                "Message": message
            }),
            "{target}"
        );
    }
    let r = raw_call(server.addr, "", "{}");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["__type"],
        "com.amazon.coral.service#UnknownOperationException"
    );
    assert!(r.json["Message"]
        .as_str()
        .unwrap_or_default()
        .contains("Missing X-Amz-Target"));
    assert_alive(&server);
}

#[test]
fn oversized_heads_are_400() {
    let server = Server::start();
    let expected = serde_json::json!({
        "__type": "com.amazon.coral.service#SerializationException",
        "Message": "The request line or headers are too large"
    });
    let check = |what: &str, request: Vec<u8>| {
        let answer = raw(server.addr, &request);
        assert!(
            answer.starts_with("HTTP/1.1 400 "),
            "{what}: {}",
            answer.chars().take(200).collect::<String>()
        );
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(body).expect("json body");
        assert_eq!(json, expected, "{what}");
        assert!(answer.to_ascii_lowercase().contains("server: server"));
    };
    // One huge header.
    check(
        "header",
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(1024 * 1024)
        )
        .into_bytes(),
    );
    // Too many headers.
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    check(
        "headers",
        format!("POST / HTTP/1.1\r\nHost: x\r\n{many}\r\n").into_bytes(),
    );
    // A huge request line.
    check(
        "request line",
        format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100_000)).into_bytes(),
    );
    assert_alive(&server);
}
