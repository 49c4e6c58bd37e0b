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

#[test]
fn cors_preflight_and_headers() {
    let server = Server::start();
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
