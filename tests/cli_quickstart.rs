//! The README quick start, run verbatim with the real AWS CLI against the real server: the
//! test takes the quick start's AWS CLI block from README.md, joins continued lines, and runs
//! each command (after the block's `export`s) with only the endpoint address replaced.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const README: &str = include_str!("../README.md");
const README_ENDPOINT: &str = "http://127.0.0.1:8000";

/// The quick start's AWS CLI block: the first ```sh block of the "Quick start" section that
/// runs `aws`, as logical lines (backslash continuations joined).
fn quick_start_commands() -> Vec<String> {
    let section = README
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("README has a Quick start section");
    let block = section
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("aws dynamodb"))
        .expect("Quick start has an AWS CLI block");
    block
        .replace("\\\n", " ")
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

const HOW_TO_INSTALL: &str = "the AWS CLI is needed for this test and was not found: run `bash .ci/run` \
     (it installs it when missing), or `python3 -m venv .venv-awscli && .venv-awscli/bin/pip install awscli` \
     and set AWS_CLI=$PWD/.venv-awscli/bin/aws, or put `aws` on PATH";

/// `AWS_CLI` if set, else `.venv-awscli/bin/aws` (where `.ci/run` installs it), else `aws` on PATH.
fn aws_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("AWS_CLI").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "AWS_CLI={} does not exist; {HOW_TO_INSTALL}",
            p.display()
        );
        return p;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-awscli/bin/aws");
    if venv.is_file() {
        return venv;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("aws"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{HOW_TO_INSTALL}"))
}

/// Runs one README command line in bash after the block's `export`s, `aws` being the CLI
/// found by [`aws_cli`] with a time limit, with a private AWS config (`dir`) and JSON output.
fn run_cli_line(cli: &Path, exports: &[String], line: &str, dir: &Path) -> std::process::Output {
    let script = format!(
        "aws() {{ timeout 120 \"$AWS_CLI_BIN\" \"$@\"; }}\n{}\n{line}",
        exports.join("\n")
    );
    Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("AWS_CLI_BIN", cli)
        .env("AWS_DEFAULT_OUTPUT", "json")
        .env("AWS_PAGER", "")
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run bash")
}

#[test]
fn readme_quick_start_works_with_the_aws_cli() {
    let cli = aws_cli();
    let version = Command::new(&cli)
        .arg("--version")
        .output()
        .expect("run aws --version");
    assert!(
        version.status.success(),
        "`{} --version` failed; {HOW_TO_INSTALL}",
        cli.display()
    );

    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = quick_start_commands();
    let exports: Vec<&String> = lines.iter().filter(|l| l.starts_with("export ")).collect();
    let commands: Vec<&String> = lines.iter().filter(|l| !l.starts_with("export ")).collect();
    assert!(!exports.is_empty(), "the block sets credentials");
    assert!(
        commands.len() >= 4,
        "create-table, put-item, get-item and query at least"
    );
    let mut outputs = Vec::new();
    for line in &commands {
        assert!(line.starts_with("aws dynamodb "), "{line}");
        assert!(
            line.contains(&format!("--endpoint-url {README_ENDPOINT}")),
            "every command names the endpoint: {line}"
        );
        let line = line.replace(README_ENDPOINT, &server.endpoint());
        let exports: Vec<String> = exports.iter().map(|e| e.to_string()).collect();
        let out = run_cli_line(&cli, &exports, &line, dir.path());
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "`{line}` failed ({}):\n{stdout}\n{stderr}\nserver log:\n{}",
            out.status,
            server.log_text()
        );
        outputs.push((line, stdout));
    }
    let json = |verb: &str| -> serde_json::Value {
        let (line, out) = outputs
            .iter()
            .find(|(l, _)| l.starts_with(&format!("aws dynamodb {verb} ")))
            .unwrap_or_else(|| panic!("no {verb} command"));
        serde_json::from_str(out)
            .unwrap_or_else(|e| panic!("`{line}` printed no JSON ({e}): {out}"))
    };
    let created = json("create-table");
    assert_eq!(created["TableDescription"]["TableName"], "Music");
    let got = json("get-item");
    assert_eq!(got["Item"]["SongTitle"]["S"], "Call Me Today");
    assert_eq!(got["Item"]["Year"]["N"], "2015");
    let q = json("query");
    assert_eq!(q["Count"], 1);
    assert_eq!(q["Items"][0]["Artist"]["S"], "No One You Know");
}

/// `examples/audit/run.sh`, the one-command trigger scenario: the WAT handler built with
/// `tributary function build`, deployed and mapped with the AWS CLI (this build's binary).
#[test]
fn audit_example_scenario_runs() {
    let out = Command::new("bash")
        .arg("examples/audit/run.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TRIBUTARY_BIN", env!("CARGO_BIN_EXE_tributary"))
        .env("AWS_CLI", aws_cli())
        .output()
        .expect("run examples/audit/run.sh");
    assert!(
        out.status.success(),
        "examples/audit/run.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Audit"));
}

/// `examples/multi-region/run.sh --check`: NATS and three regions from `config/<region>.toml`,
/// a write in each region seen in all, and a table made global with ReplicaUpdates.
#[test]
fn multi_region_example_runs() {
    let mut cmd = Command::new("bash");
    cmd.args(["examples/multi-region/run.sh", "--check"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TRIBUTARY_BIN", env!("CARGO_BIN_EXE_tributary"));
    if std::env::var_os("NATS_SERVER").is_none()
        && !std::path::Path::new("/usr/sbin/nats-server").exists()
    {
        // run.sh finds it on PATH; say how to get it when it is nowhere.
        assert!(
            Command::new("sh").args(["-c", "command -v nats-server"]).status().is_ok_and(|s| s.success()),
            "nats-server is needed: run `bash .ci/run` (it installs it) or `apt-get install nats-server`"
        );
    }
    let out = cmd.output().expect("run examples/multi-region/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "examples/multi-region/run.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("every region holds every change"),
        "{stdout}"
    );
}

/// The README's Security section, verbatim: the server command runs `config/secure.toml` (on a
/// free port and its own data directory), and each AWS CLI command of the next block runs with
/// only the endpoint replaced; a command after `# fails with <Error>` must fail with that
/// error, every other one must succeed.
#[test]
fn readme_security_section_works_with_the_aws_cli() {
    let cli = aws_cli();
    let section = README
        .split("\n## ")
        .find(|s| s.starts_with("Security"))
        .expect("README has a Security section");
    let blocks: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    let serve = blocks
        .iter()
        .find(|b| b.contains(" serve "))
        .expect("a block starts the server");
    assert_eq!(
        serve.trim(),
        "cargo run --release -- serve --config config/secure.toml"
    );
    let server = Server::start_with(&["--config", "config/secure.toml"]);
    let commands = blocks
        .iter()
        .find(|b| b.contains("aws dynamodb"))
        .expect("a block runs the AWS CLI")
        .replace("\\\n", " ");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut expect_failure: Option<String> = None;
    let mut exports = Vec::new();
    let mut ran = 0;
    for line in commands.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(error) = line.strip_prefix("# fails with ") {
            expect_failure = Some(error.split(':').next().unwrap_or_default().to_owned());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with("export ") {
            exports.push(line.to_owned());
            continue;
        }
        assert!(
            line.contains(&format!("--endpoint-url {README_ENDPOINT}")),
            "{line}"
        );
        let line = line.replace(README_ENDPOINT, &server.endpoint());
        let out = run_cli_line(&cli, &exports, &line, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match expect_failure.take() {
            Some(error) => {
                assert!(!out.status.success(), "`{line}` should fail");
                assert!(stderr.contains(&error), "`{line}`: {stderr}");
            }
            None => assert!(
                out.status.success(),
                "`{line}` failed: {stderr}\nserver log:\n{}",
                server.log_text()
            ),
        }
        ran += 1;
    }
    assert!(ran >= 4, "create, put, and two refusals at least");
}
