//! Start-up: a config file or `TRIBUTARY_*` variable with an unknown key stops the start naming
//! the key; environment overrides still work; the INFO log is Tributary's own; the open-file
//! limit is raised to the hard limit and divided (both logged).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Runs `tributary serve` with `args` and `env`, expecting it to stop by itself: (exit code,
/// stderr).
fn serve_expecting_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "tributary kept running: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn unknown_keys_in_the_config_file_stop_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (text, key) in [
        ("[storage]\ndurabilty = \"buffered\"\n", "durabilty"),
        ("regoin = \"eu-west-1\"\n", "regoin"),
        ("[server]\nidle_timeout = 5\n", "idle_timeout"),
        (
            "[[replication.tables]]\nname = \"T\"\npartition_key = \"pk:S\"\nreplica = [\"x\"]\n",
            "replica",
        ),
        (
            "[[functions.deploy]]\nname = \"f\"\ncode = \"f.wasm\"\nmemory = 128\n",
            "memory",
        ),
    ] {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).expect("write");
        let (code, stderr) = serve_expecting_exit(&["--config", file.to_str().expect("path")], &[]);
        assert_eq!(code, Some(2), "{text}: {stderr}");
        assert!(
            stderr.contains("invalid configuration") && stderr.contains(key),
            "{text}: {stderr}"
        );
    }
}

#[test]
fn environment_variables_are_checked_and_still_work() {
    // A typo under a known section is an error naming it.
    let (code, stderr) = serve_expecting_exit(&[], &[("TRIBUTARY_STORAGE__DURABILTY", "buffered")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("durabilty"), "{stderr}");
    // A bad value is an error too.
    let (code, stderr) =
        serve_expecting_exit(&[], &[("TRIBUTARY_SERVER__MAX_CONNECTIONS", "lots")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.to_lowercase().contains("max_connections"),
        "{stderr}"
    );

    // Valid overrides apply; variables that are not settings (the CLI's TRIBUTARY_ENDPOINT)
    // are left alone.
    std::env::set_var("TRIBUTARY_STORAGE__DURABILITY", "buffered");
    std::env::set_var("TRIBUTARY_ENDPOINT", "http://127.0.0.1:1");
    let server = Server::start();
    std::env::remove_var("TRIBUTARY_STORAGE__DURABILITY");
    std::env::remove_var("TRIBUTARY_ENDPOINT");
    assert!(
        server.log_text().contains("durability=Buffered"),
        "{}",
        server.log_text()
    );
}

#[tokio::test]
async fn the_info_log_is_tributarys_own() {
    let mut server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "logs").await;
    for i in 0..50 {
        c.put_item()
            .table_name("logs")
            .item("pk", s("p"))
            .item("sk", n(&i.to_string()))
            .send()
            .await
            .expect("put");
    }
    server.restart();
    let log = server.log_text();
    assert!(log.contains(" INFO tributary::server"), "{log}");
    // Every line is a Tributary crate's: no fjall / lsm-tree / wasmtime internals at INFO.
    for line in log.lines().filter(|l| l.contains(" INFO ")) {
        let target = line
            .split(" INFO ")
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default();
        assert!(
            target.starts_with("tributary"),
            "a dependency's line at INFO: {line}"
        );
    }
}

#[test]
fn the_open_file_limit_is_raised_and_divided() {
    let hard: u64 = std::fs::read_to_string("/proc/self/limits")
        .expect("limits")
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|v| v.parse().ok())
        .expect("hard limit");
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    // Started with a soft limit of 512 under a higher hard limit.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -S -n 512 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_tributary"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http_get(addr, "/"), Ok((200, _))) {
        assert!(Instant::now() < deadline, "not healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", child.id())).expect("server limits");
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).expect("log");
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .expect("soft limit");
    if hard > 512 {
        assert_eq!(soft, hard, "{limits}");
        assert!(
            text.contains(&format!("open-file limit raised from 512 to {hard}")),
            "{text}"
        );
    }
    assert!(
        text.contains("fjall keeps at most") && text.contains("client connections"),
        "{text}"
    );
}
