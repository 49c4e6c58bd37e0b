//! Transport security: HTTPS on the API port (`[tls]`) driven by the AWS CLI with
//! `--no-verify-ssl` and with a CA bundle, and replication through a nats-server that
//! requires credentials (right ones replicate; wrong ones log a clear error while the region
//! keeps serving locally).

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::ScalarAttributeType;
use common::*;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn aws(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    // `.ci/run` sets AWS_CLI to the CLI it found or installed.
    let cli = std::env::var("AWS_CLI").unwrap_or_else(|_| "aws".to_owned());
    let out = Command::new(cli)
        .args(args)
        .envs(env.iter().copied())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("the AWS CLI is needed: run `bash .ci/run` (it installs it) or set AWS_CLI");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn https_with_the_aws_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed to make a test certificate");
    assert!(made.success());
    let config = dir.path().join("tls.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n\n[auth]\nmode = \"sigv4\"\n\n[[auth.users]]\nname = \"admin\"\naccess_key_id = \"AKIAADMIN\"\nsecret_access_key = \"admin-secret\"\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    )
    .expect("config");
    let port = free_port();
    let log = dir.path().join("server.log");
    let _server = Killed(
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir.path().join("data"))
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start"),
    );
    wait_for("listening on https", &log, || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(&format!("listening on https://127.0.0.1:{port}"))
    });
    let endpoint = format!("https://127.0.0.1:{port}");
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIAADMIN"),
        ("AWS_SECRET_ACCESS_KEY", "admin-secret"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ];
    let (ok, out, err) = aws(
        &[
            "dynamodb",
            "create-table",
            "--endpoint-url",
            &endpoint,
            "--no-verify-ssl",
            "--table-name",
            "Secure",
            "--attribute-definitions",
            "AttributeName=pk,AttributeType=S",
            "--key-schema",
            "AttributeName=pk,KeyType=HASH",
            "--billing-mode",
            "PAY_PER_REQUEST",
        ],
        &env,
    );
    assert!(ok, "{out}\n{err}");
    let ca = cert.display().to_string();
    let (ok, out, err) = aws(
        &[
            "dynamodb",
            "list-tables",
            "--endpoint-url",
            &endpoint,
            "--ca-bundle",
            &ca,
        ],
        &env,
    );
    assert!(ok, "{err}");
    assert!(out.contains("Secure"), "{out}");
    // Plain HTTP on the TLS port gets no answer in clear.
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let plain = http_get(addr, "/");
    assert!(!matches!(plain, Ok((200, _))), "{plain:?}");
    // And the wrong secret over TLS is still refused.
    let (ok, _, err) = aws(
        &[
            "dynamodb",
            "list-tables",
            "--endpoint-url",
            &endpoint,
            "--no-verify-ssl",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAADMIN"),
            ("AWS_SECRET_ACCESS_KEY", "wrong"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ],
    );
    assert!(!ok);
    assert!(err.contains("InvalidSignatureException"), "{err}");
}

/// A nats-server that requires a user and password.
fn nats_with_password(dir: &Path, port: u16) -> Killed {
    let binary = ["/usr/sbin/nats-server", "/usr/local/bin/nats-server"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .map(str::to_owned)
        .or_else(|| std::env::var("NATS_SERVER").ok())
        .unwrap_or_else(|| "nats-server".to_owned());
    let child = Command::new(binary)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
        .args(["--user", "repl", "--pass", "s3cret", "-sd"])
        .arg(dir.join("nats"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server is needed: apt-get install nats-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Killed(child)
}

/// A region's config: NATS with a user and password, and (`shared`) the global table.
fn region_config(dir: &Path, name: &str, port: u16, password: &str, shared: bool) -> String {
    let path = dir.join(format!("{name}.toml"));
    let mut text = format!(
        "[replication]\nnats = [\"nats://127.0.0.1:{port}\"]\nnats_user = \"repl\"\nnats_password = \"{password}\"\n"
    );
    if shared {
        text.push_str("peers = [\"us-east-1\", \"eu-west-1\"]\n\n[[replication.tables]]\nname = \"Shared\"\npartition_key = \"pk:S\"\nreplicas = [\"us-east-1\", \"eu-west-1\"]\n");
    }
    std::fs::write(&path, text).expect("config");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_through_a_nats_server_that_requires_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _nats = nats_with_password(dir.path(), port);
    let a = Server::start_in(
        "us-east-1",
        &[
            "--config",
            &region_config(dir.path(), "a", port, "s3cret", true),
        ],
    );
    let b = Server::start_in(
        "eu-west-1",
        &[
            "--config",
            &region_config(dir.path(), "b", port, "s3cret", true),
        ],
    );
    a.client()
        .put_item()
        .table_name("Shared")
        .item("pk", s("k1"))
        .send()
        .await
        .expect("put in us-east-1");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = b
            .client()
            .get_item()
            .table_name("Shared")
            .key("pk", s("k1"))
            .send()
            .await
            .expect("get in eu-west-1");
        if got.item().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not replicated:\n{}\n{}",
            a.log_text(),
            b.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Wrong credentials: a clear error in the log, local tables keep serving.
    let c = Server::start_in(
        "ap-southeast-1",
        &[
            "--config",
            &region_config(dir.path(), "c", port, "wrong", false),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c
        .log_text()
        .contains("the NATS server refused this region's credentials")
    {
        assert!(Instant::now() < deadline, "{}", c.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        c.log_text().to_lowercase().contains("authorization"),
        "{}",
        c.log_text()
    );
    let local = c.client();
    create_table(&local, "Local", ("pk", ScalarAttributeType::S), None).await;
    local
        .put_item()
        .table_name("Local")
        .item("pk", s("x"))
        .send()
        .await
        .expect("local writes go on");
}
