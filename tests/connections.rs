//! Connections as a bounded resource: idle connections (2,000 of them, more than the limit)
//! do not keep a real client out, slow request heads and idle keep-alive connections are
//! closed after their timeouts, and shutdown does not wait for idle connections.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// A server whose `[server]` section is `settings` (the config file lives in the TempDir).
fn server_with(settings: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("server.toml");
    std::fs::write(&file, format!("[server]\n{settings}\n")).expect("config");
    let server = Server::start_with(&["--config", file.to_str().expect("path")]);
    (server, dir)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// How long until the server closes `s` (reads return end of stream), at most `within`.
fn closed_after(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(started.elapsed())
            }
            Err(_) => return None,
        }
    }
}

/// One keep-alive GET / on `s`, returning the status.
fn get_health(s: &mut TcpStream) -> u16 {
    let host = s.peer_addr().expect("peer");
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .expect("send");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed before the answer");
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if raw.len() >= end + 4 + length {
                return head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .expect("status");
            }
        }
    }
}

/// 2,000 connections that never send anything, opened before a real client: the client's
/// requests are answered promptly while they stay open.
async fn idle_connections_do_not_starve(settings: &str) {
    let (server, _dir) = server_with(settings);
    let idle: Vec<TcpStream> = (0..2000).map(|_| connect(server.addr)).collect();
    let c = server.client();
    let started = Instant::now();
    create_table(
        &c,
        "busy",
        ("pk", aws_sdk_dynamodb::types::ScalarAttributeType::S),
        None,
    )
    .await;
    for i in 0..20 {
        let op = Instant::now();
        c.put_item()
            .table_name("busy")
            .item("pk", s(&i.to_string()))
            .send()
            .await
            .expect("put while idle connections are open");
        let got = c
            .get_item()
            .table_name("busy")
            .key("pk", s(&i.to_string()))
            .send()
            .await
            .expect("get while idle connections are open");
        assert!(got.item().is_some());
        assert!(
            op.elapsed() < Duration::from_secs(5),
            "request {i} took {:?}",
            op.elapsed()
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
    let (status, _) = http_get(server.addr, "/").expect("health");
    assert_eq!(status, 200);
}

#[tokio::test]
async fn two_thousand_idle_connections_under_the_default_limit() {
    idle_connections_do_not_starve("").await;
}

#[tokio::test]
async fn two_thousand_idle_connections_over_the_limit() {
    // Most of them wait in the backlog; each accepted newcomer closes the longest-idle one.
    idle_connections_do_not_starve("max_connections = 200").await;
}

#[test]
fn at_the_limit_a_new_client_closes_an_idle_connection() {
    let (server, _dir) = server_with("max_connections = 4");
    let mut idle: Vec<TcpStream> = (0..4).map(|_| connect(server.addr)).collect();
    // Let the server accept all four.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let r = raw_call(server.addr, "DynamoDB_20120810.ListTables", "{}");
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_secs(3));
    let closed = idle
        .iter_mut()
        .filter_map(|s| closed_after(s, Duration::from_millis(500)))
        .count();
    assert!(closed >= 1, "an idle connection made room");
}

#[test]
fn slow_request_heads_are_cut_off() {
    let (server, _dir) = server_with("header_read_timeout_secs = 1.0");
    // Nothing sent at all.
    let mut silent = connect(server.addr);
    // A head trickling in a header line at a time (slowloris).
    let mut slow = connect(server.addr);
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("send");
    let trickle = std::thread::spawn(move || {
        let started = Instant::now();
        let mut i = 0;
        while started.elapsed() < Duration::from_secs(8) {
            if slow.write_all(format!("X-{i}: v\r\n").as_bytes()).is_err() {
                return Some(started.elapsed());
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    });
    let silent_closed = closed_after(&mut silent, Duration::from_secs(8)).expect("silent closed");
    assert!(
        silent_closed >= Duration::from_millis(700) && silent_closed < Duration::from_secs(4),
        "{silent_closed:?}"
    );
    let slow_closed = trickle.join().expect("thread").expect("slow head closed");
    assert!(slow_closed < Duration::from_secs(5), "{slow_closed:?}");
    // A prompt client is unaffected.
    let mut prompt = connect(server.addr);
    assert_eq!(get_health(&mut prompt), 200);
    assert_eq!(get_health(&mut prompt), 200);
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let (server, _dir) = server_with("idle_timeout_secs = 1.0");
    let mut s = connect(server.addr);
    // Keep-alive works within the timeout...
    assert_eq!(get_health(&mut s), 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get_health(&mut s), 200);
    // ...and the connection is closed once idle for longer.
    let closed = closed_after(&mut s, Duration::from_secs(8)).expect("idle connection closed");
    assert!(
        closed >= Duration::from_millis(600) && closed < Duration::from_secs(4),
        "{closed:?}"
    );
    let (status, _) = http_get(server.addr, "/").expect("health");
    assert_eq!(status, 200);
}

#[test]
fn shutdown_does_not_wait_for_idle_connections() {
    let (mut server, _dir) = server_with("");
    let mut used = connect(server.addr);
    assert_eq!(get_health(&mut used), 200);
    let _idle: Vec<TcpStream> = (0..100).map(|_| connect(server.addr)).collect();
    let started = Instant::now();
    server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(server.log_text().contains("stopped"));
}

/// Request bodies share `server.max_request_memory_mb`: while one connection holds most of it
/// (a large body still arriving), another large body waits and is answered 503 after half the
/// body timeout, a small request is answered at once, and once the first is done the large
/// one fits.
#[test]
fn request_bodies_share_a_memory_budget() {
    let (server, _dir) = server_with("max_request_memory_mb = 1\nbody_read_timeout_secs = 2.0");
    let addr = server.addr;
    let head = |len: usize| {
        format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    let answer = |s: &mut TcpStream| {
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        String::from_utf8_lossy(&raw).to_string()
    };
    // 900 KB declared, one byte sent: it holds 900 KB until its body timeout (2 s).
    let mut holder = connect(addr);
    holder
        .write_all(format!("{}{{", head(900 * 1024)).as_bytes())
        .expect("send head");
    std::thread::sleep(Duration::from_millis(200));
    // Another 900 KB body does not fit: 503 after waiting half the body timeout.
    let big_body = format!("{{{}}}", " ".repeat(900 * 1024 - 2));
    let mut waiting = connect(addr);
    let started = Instant::now();
    waiting
        .write_all(format!("{}{big_body}", head(big_body.len())).as_bytes())
        .expect("send");
    let text = answer(&mut waiting);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("ServiceUnavailable"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A small request fits beside the holder.
    let mut small = connect(addr);
    small
        .write_all(format!("{}{{}}", head(2)).as_bytes())
        .expect("send");
    let text = answer(&mut small);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    // The holder times out (408) and lets go; the large body now fits.
    let text = answer(&mut holder);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let mut after = connect(addr);
    after
        .write_all(format!("{}{big_body}", head(big_body.len())).as_bytes())
        .expect("send");
    let text = answer(&mut after);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

/// A Lambda request body trickling in is cut off at the body timeout (408 in Lambda's error
/// shape), so it cannot hold its share of the request memory for ever.
#[test]
fn a_slow_lambda_body_times_out() {
    let (server, _dir) = server_with("body_read_timeout_secs = 1.0");
    let addr = server.addr;
    let mut s = connect(addr);
    let started = Instant::now();
    s.write_all(
        format!(
            "POST /2015-03-31/functions HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .expect("send head");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("RequestTimeoutException"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _) = http_get(addr, "/").expect("health");
    assert_eq!(status, 200);
}
