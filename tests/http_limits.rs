//! Request sizes and encodings on the wire: 16 MB bodies accepted, larger ones refused with a
//! DynamoDB-shaped 413 (with Content-Length or chunked), gzip and deflate request bodies (the
//! inflated size capped while inflating), broken or unknown encodings, compressed responses.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{PutRequest, Select, WriteRequest};
use common::*;

const MAX: usize = 16 * 1024 * 1024;

/// Sends raw bytes (a whole request with `Connection: close`) and reads the answer.
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, HashMap<String, String>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    s.write_all(request).expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read answer");
    split_response(&raw)
}

fn split_response(raw: &[u8]) -> (u16, HashMap<String, String>, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[end + 4..].to_vec())
}

/// A DynamoDB POST with extra headers and a body sent with Content-Length.
fn post(addr: SocketAddr, target: &str, extra: &[(&str, &str)], body: &[u8]) -> RawResponse {
    let mut req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: {target}\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (k, v) in extra {
        req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    let (status, headers, body) = exchange(addr, &req);
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    RawResponse {
        status,
        headers,
        body,
        json,
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("zlib");
    e.finish().expect("zlib")
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// The server still answers normally.
fn assert_alive(server: &Server) {
    let r = raw_call(server.addr, "DynamoDB_20120810.ListTables", "{}");
    assert_eq!(r.status, 200, "{:?}", r.json);
}

/// The server process's peak resident memory in KiB (found by its data directory).
fn server_peak_rss_kib(server: &Server) -> u64 {
    let needle = server.data_dir.to_string_lossy().to_string();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let path = entry.expect("entry").path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            let status = std::fs::read_to_string(path.join("status")).expect("status");
            return status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("VmHWM");
        }
    }
    panic!("server process not found");
}

#[tokio::test]
async fn an_8_7_mb_batch_write_is_accepted() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "big").await;
    // 25 items of ~350 KB each: about 8.7 MB in one BatchWriteItem.
    let writes: Vec<WriteRequest> = (0..25)
        .map(|i| {
            let item = item(&[
                ("pk", s("p")),
                ("sk", n(&i.to_string())),
                ("d", s(&"x".repeat(350 * 1024))),
            ]);
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("put"),
                )
                .build()
        })
        .collect();
    let out = c
        .batch_write_item()
        .request_items("big", writes)
        .send()
        .await
        .expect("8.7 MB BatchWriteItem");
    assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    // A Scan page stops at 1 MB: count page by page.
    let mut count = 0;
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name("big")
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("count");
        count += page.count();
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    assert_eq!(count, 25);
}

#[test]
fn bodies_over_16_mb_get_a_dynamodb_shaped_413() {
    let server = Server::start();
    // Exactly 16 MB is read whole (and is then judged as JSON: padding spaces are fine).
    let mut body = b"{".to_vec();
    body.resize(MAX - 1, b' ');
    body.push(b'}');
    let r = post(server.addr, "DynamoDB_20120810.ListTables", &[], &body);
    assert_eq!(r.status, 200, "{:?}", r.json);

    // One byte more, announced by Content-Length: refused, and the answer reaches the client.
    body.insert(1, b' ');
    let r = post(server.addr, "DynamoDB_20120810.ListTables", &[], &body);
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json,
        serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
            "message": "Request size exceeds the maximum allowed size of 16777216 bytes"
        })
    );
    assert!(r.headers.contains_key("x-amzn-requestid"));

    // The same body sent chunked (no length known up front).
    let mut req = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr
    )
    .into_bytes();
    for chunk in body.chunks(1 << 20) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (status, _, answer) = exchange(server.addr, &req);
    assert_eq!(status, 413);
    let json: serde_json::Value = serde_json::from_slice(&answer).expect("json");
    assert_eq!(
        json["__type"],
        "com.amazonaws.dynamodb.v20120810#ValidationException"
    );
    assert_alive(&server);
}

#[tokio::test]
async fn gzip_and_deflate_requests() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "zipped").await;
    for (encoding, body) in [
        (
            "gzip",
            gzip(
                br#"{"TableName":"zipped","Item":{"pk":{"S":"g"},"sk":{"N":"1"},"v":{"S":"gz"}}}"#,
            ),
        ),
        (
            "deflate",
            zlib(
                br#"{"TableName":"zipped","Item":{"pk":{"S":"d"},"sk":{"N":"1"},"v":{"S":"df"}}}"#,
            ),
        ),
    ] {
        let r = post(
            server.addr,
            "DynamoDB_20120810.PutItem",
            &[("Content-Encoding", encoding)],
            &body,
        );
        assert_eq!(r.status, 200, "{encoding}: {:?}", r.json);
    }
    // gzip members may be concatenated (RFC 1952).
    let mut two = gzip(br#"{"TableName":"zipped","Item":{"pk":{"S":"m"},"#);
    two.extend(gzip(br#""sk":{"N":"1"}}}"#));
    let r = post(
        server.addr,
        "DynamoDB_20120810.PutItem",
        &[("Content-Encoding", "gzip")],
        &two,
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    for pk in ["g", "d", "m"] {
        let got = c
            .get_item()
            .table_name("zipped")
            .key("pk", s(pk))
            .key("sk", n("1"))
            .send()
            .await
            .expect("get");
        assert!(got.item().is_some(), "item {pk} was written");
    }
}

#[test]
fn unknown_encodings_and_broken_streams_are_errors() {
    let server = Server::start();
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.CreateTable",
        r#"{"TableName":"encodings","BillingMode":"PAY_PER_REQUEST",
            "KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],
            "AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}]}"#,
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    let put = br#"{"TableName":"encodings","Item":{"pk":{"S":"x"}}}"#;
    let good = gzip(put);
    let mut junk = good.clone();
    junk.extend_from_slice(b"junk");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("br", good.clone(), "Unsupported Content-Encoding 'br'"),
        ("gzip, deflate", good.clone(), "Only one Content-Encoding"),
        ("gzip", put.to_vec(), "not a valid gzip stream"),
        (
            "gzip",
            good[..good.len() - 1].to_vec(),
            "not a valid gzip stream",
        ),
        ("gzip", junk, "not a valid gzip stream"),
        ("gzip", Vec::new(), "empty"),
        ("deflate", put.to_vec(), "not a valid deflate stream"),
        ("deflate", gzip(put), "not a valid deflate stream"),
    ];
    for (encoding, body, needle) in cases {
        let r = post(
            server.addr,
            "DynamoDB_20120810.PutItem",
            &[("Content-Encoding", encoding)],
            &body,
        );
        // DynamoDB answers these with InternalServerError.
        assert_eq!(r.status, 500, "{encoding}: {:?}", r.json);
        assert_eq!(
            r.json["__type"], "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "{encoding}"
        );
        let message = r.json["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{encoding}: {message}");
    }
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.GetItem",
        r#"{"TableName":"encodings","Key":{"pk":{"S":"x"}}}"#,
    );
    assert_eq!(r.json, serde_json::json!({}), "nothing was written");
    assert_alive(&server);
}

#[test]
fn a_gzip_bomb_is_refused_without_taking_memory() {
    let server = Server::start();
    // 64 gzip members of 16 MiB of spaces each: about 1 MB that inflates to 1 GiB.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![b' '; MAX]).expect("gzip");
    let member = e.finish().expect("gzip");
    let bomb: Vec<u8> = std::iter::repeat_n(member.as_slice(), 64)
        .flatten()
        .copied()
        .collect();
    assert!(bomb.len() < 2 * 1024 * 1024, "{}", bomb.len());
    let started = Instant::now();
    let r = post(
        server.addr,
        "DynamoDB_20120810.ListTables",
        &[("Content-Encoding", "gzip")],
        &bomb,
    );
    assert_eq!(r.status, 413, "{:?}", r.json);
    assert_eq!(
        r.json,
        serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
            "message": "Decompressed request size exceeds the maximum allowed size of 16777216 bytes"
        })
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // The inflated body stopped at 16 MB: nowhere near a gigabyte was ever held.
    let peak = server_peak_rss_kib(&server);
    assert!(peak < 400 * 1024, "peak RSS {peak} KiB");
    // Just under the limit once inflated is accepted.
    let mut ok = b"{".to_vec();
    ok.resize(MAX - 1, b' ');
    ok.push(b'}');
    let r = post(
        server.addr,
        "DynamoDB_20120810.ListTables",
        &[("Content-Encoding", "gzip")],
        &gzip(&ok),
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_alive(&server);
}

#[test]
fn responses_are_compressed_when_accepted() {
    let server = Server::start();
    for name in ["alpha", "beta"] {
        let r = raw_call(
            server.addr,
            "DynamoDB_20120810.CreateTable",
            &format!(
                r#"{{"TableName":"{name}","BillingMode":"PAY_PER_REQUEST",
                "KeySchema":[{{"AttributeName":"pk","KeyType":"HASH"}}],
                "AttributeDefinitions":[{{"AttributeName":"pk","AttributeType":"S"}}]}}"#
            ),
        );
        assert_eq!(r.status, 200);
    }
    let expected = serde_json::json!({"TableNames": ["alpha", "beta"]});
    for (accept, coding) in [
        ("gzip", Some("gzip")),
        ("deflate, gzip;q=0", Some("deflate")),
        ("br;q=1, *;q=0.5", Some("gzip")),
        ("identity", None),
    ] {
        let r = post(
            server.addr,
            "DynamoDB_20120810.ListTables",
            &[("Accept-Encoding", accept)],
            b"{}",
        );
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(
            r.headers.get("content-encoding").map(String::as_str),
            coding,
            "{accept}"
        );
        // x-amz-crc32 is the CRC32 of the bytes sent (compressed), as DynamoDB's.
        let crc: u32 = r.headers["x-amz-crc32"].parse().expect("crc");
        assert_eq!(crc, crc32fast::hash(&r.body), "{accept}");
        let plain = match coding {
            Some("gzip") => gunzip(&r.body),
            Some(_) => {
                let mut out = Vec::new();
                flate2::read::ZlibDecoder::new(r.body.as_slice())
                    .read_to_end(&mut out)
                    .expect("inflate");
                out
            }
            None => r.body.clone(),
        };
        let json: serde_json::Value = serde_json::from_slice(&plain).expect("json");
        assert_eq!(json, expected, "{accept}");
    }
    // Errors are compressed too.
    let r = post(
        server.addr,
        "DynamoDB_20120810.DescribeTable",
        &[("Accept-Encoding", "gzip")],
        br#"{"TableName":"missing"}"#,
    );
    assert_eq!(r.status, 400);
    let json: serde_json::Value = serde_json::from_slice(&gunzip(&r.body)).expect("json");
    assert_eq!(
        json["__type"],
        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
    );
    assert_alive(&server);
}
