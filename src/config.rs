//! Configuration: the embedded `config/default.toml` < a config file < `TRIBUTARY_*`
//! environment variables < command-line flags (figment layering). Unknown keys are errors
//! naming the key (a typo must not silently leave a default in force); environment variables
//! whose first key is not a setting (`TRIBUTARY_ENDPOINT`, the CLI's) are not configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use tributary_engine::Durability;

/// The built-in defaults, mirrored in `config/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub region: String,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub account_id: String,
    /// Request-handling threads; 0 means one per CPU core.
    pub worker_threads: usize,
    pub storage: StorageConfig,
    pub change_log: ChangeLogConfig,
    pub ttl: TtlConfig,
    pub log: LogConfig,
    pub functions: FunctionsConfig,
    pub replication: ReplicationConfig,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub tls: TlsConfig,
}

/// The top-level keys of [`Config`]: `TRIBUTARY_*` variables are read only under these.
const TOP_LEVEL_KEYS: &[&str] = &[
    "region",
    "listen",
    "data_dir",
    "account_id",
    "worker_threads",
    "storage",
    "change_log",
    "ttl",
    "log",
    "functions",
    "replication",
    "server",
    "auth",
    "tls",
];

/// Client connections (`[server]`); see `crate::connections`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Connections open at once; at the limit a new one closes the longest-idle one. Lowered
    /// at start when the open-file limit cannot hold it.
    pub max_connections: usize,
    /// Seconds a client has to send a whole request head (from connecting, or from the first
    /// byte of a following request).
    pub header_read_timeout_secs: f64,
    /// Seconds a keep-alive connection may wait for its next request.
    pub idle_timeout_secs: f64,
    /// Seconds a DynamoDB request body (up to 16 MB) may take to arrive.
    pub body_read_timeout_secs: f64,
    /// Megabytes that request bodies in progress may hold together (see `api/budget.rs`).
    pub max_request_memory_mb: u64,
    /// Seconds requests in progress get to finish at shutdown.
    pub shutdown_grace_secs: f64,
    /// Host header values accepted besides the listen address (see `api/origin.rs`).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Browser origins (CORS) allowed to call the server; `*` for any.
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

/// `[auth]`: who may call the server (see `crate::auth`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

/// Whether requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Any credentials are accepted (loopback only, unless `--insecure`).
    None,
    /// Requests are verified (SigV4) and authorized by the signer's policy.
    Sigv4,
}

/// A principal (`[[auth.users]]`): its keys, account and policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Default: the server's `account_id`.
    #[serde(default)]
    pub account_id: Option<String>,
    /// An IAM policy document: a file path, or the JSON itself. None: administrator of its
    /// account.
    #[serde(default)]
    pub policy: Option<String>,
}

/// `[tls]`: the API port's certificate and key (PEM files); both empty: plain HTTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsConfig {
    /// Whether HTTPS is configured.
    pub fn enabled(&self) -> bool {
        !self.cert.as_os_str().is_empty() || !self.key.as_os_str().is_empty()
    }
}

impl ServerConfig {
    /// Seconds as a duration; negative, NaN or huge values are clamped.
    pub fn secs(v: f64) -> std::time::Duration {
        std::time::Duration::from_secs_f64(if v.is_finite() {
            v.clamp(0.001, 1e9)
        } else {
            1e9
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationConfig {
    /// NATS servers (`nats://host:port`); none: this region replicates nothing.
    pub nats: Vec<String>,
    /// NATS credentials: user and password, a token, or a `.creds` file; empty: none.
    #[serde(default)]
    pub nats_user: String,
    #[serde(default)]
    pub nats_password: String,
    #[serde(default)]
    pub nats_token: String,
    #[serde(default)]
    pub nats_credentials_file: PathBuf,
    /// TLS to NATS: CA bundle, client certificate and key (PEM), TLS required.
    #[serde(default)]
    pub nats_tls_ca_file: PathBuf,
    #[serde(default)]
    pub nats_tls_cert_file: PathBuf,
    #[serde(default)]
    pub nats_tls_key_file: PathBuf,
    #[serde(default)]
    pub nats_tls_required: bool,
    /// The JetStream stream that carries every region's changes.
    pub stream: String,
    /// The other regions (the default replicas of the tables declared below).
    #[serde(default)]
    pub peers: Vec<String>,
    /// Hours a deleted item's tombstone is kept (see README "Global tables").
    pub tombstone_hours: f64,
    /// Global tables that exist in every region from the start.
    #[serde(default)]
    pub tables: Vec<GlobalTableDecl>,
}

/// A global table declared in the config file (`[[replication.tables]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalTableDecl {
    pub name: String,
    /// `name:TYPE`, e.g. `pk:S`.
    pub partition_key: String,
    #[serde(default)]
    pub sort_key: Option<String>,
    /// Every region of the table; default: this region and `peers`.
    #[serde(default)]
    pub replicas: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionsConfig {
    /// Invocations that may run at once, across all functions (Lambda's concurrency limit):
    /// past it, Invoke answers TooManyRequestsException and mappings wait (both counted as
    /// throttles).
    pub max_concurrency: usize,
    /// MB that running invocations may hold together: each reserves its MemorySize (the cap
    /// of its instance's memories and tables) while it runs; past it, Invoke is throttled
    /// and mappings and queued events wait. A function whose MemorySize exceeds it is refused.
    pub memory_budget_mb: u64,
    /// Most asynchronous invocations (`InvocationType: Event`) queued at once; past it,
    /// Invoke answers TooManyRequestsException.
    pub async_queue_size: usize,
    /// Seconds before an asynchronous invocation that failed is retried (the second retry
    /// waits twice as long; Lambda: 60).
    pub async_retry_delay_secs: f64,
    /// Seconds a queued asynchronous event is kept before it is discarded (Lambda: 6 hours).
    pub async_max_event_age_secs: f64,
    /// Functions (and their mappings) deployed at start; see `crate::declared_functions`.
    #[serde(default)]
    pub deploy: Vec<crate::declared_functions::DeclaredFunction>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub durability: Durability,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtlConfig {
    /// Seconds between sweeps that delete expired items.
    pub sweep_interval_secs: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeLogConfig {
    /// Hours a change-log record is kept (DynamoDB Streams: 24).
    pub retention_hours: f64,
    /// Seconds between trimming passes.
    pub trim_interval_secs: f64,
    /// Bench-only: write no change-log records, to measure what the log costs.
    pub bench_disable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub filter: String,
}

impl FunctionsConfig {
    /// The runtime's settings.
    pub fn settings(&self) -> tributary_runtime::functions::Settings {
        let secs = |s: f64| std::time::Duration::from_secs_f64(s.clamp(0.0, 1e9));
        tributary_runtime::functions::Settings {
            max_concurrency: self.max_concurrency,
            memory_budget_mb: self.memory_budget_mb,
            queue: tributary_runtime::functions::QueueSettings {
                max_events: self.async_queue_size,
                retry_delay: secs(self.async_retry_delay_secs),
                max_age: secs(self.async_max_event_age_secs),
                ..Default::default()
            },
        }
    }
}

/// Values given on the command line; only those present override.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication: Option<ReplicationOverrides>,
}

#[derive(Debug, Default, Serialize)]
pub struct ReplicationOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats: Option<Vec<String>>,
}

#[derive(Debug, Default, Serialize)]
pub struct StorageOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durability: Option<Durability>,
}

impl Config {
    pub fn load(
        file: Option<&PathBuf>,
        overrides: &Overrides,
    ) -> Result<Config, Box<figment::Error>> {
        let mut fig = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(f) = file {
            if !f.exists() {
                return Err(Box::new(figment::Error::from(format!(
                    "config file {} does not exist",
                    f.display()
                ))));
            }
            fig = fig.merge(Toml::file(f));
        }
        let env = Env::prefixed("TRIBUTARY_").split("__").filter(|key| {
            let top = key.as_str().split('.').next().unwrap_or("");
            TOP_LEVEL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(top))
        });
        fig.merge(env)
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse() {
        let c = Config::load(None, &Overrides::default()).expect("defaults");
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.storage.durability, Durability::Fsync);
    }

    #[test]
    fn top_level_keys_are_the_settings() {
        let c = Config::load(None, &Overrides::default()).expect("defaults");
        let json = serde_json::to_value(&c).expect("json");
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut expected = TOP_LEVEL_KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (text, key) in [
            ("[storage]\ndurabilty = \"buffered\"\n", "durabilty"),
            ("regoin = \"eu-west-1\"\n", "regoin"),
            ("[server]\nmax_conections = 5\n", "max_conections"),
            ("[sever]\nmax_connections = 5\n", "sever"),
        ] {
            let f = dir.path().join("c.toml");
            std::fs::write(&f, text).expect("write");
            let e = Config::load(Some(&f), &Overrides::default()).expect_err(text);
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn flags_override_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "region = \"eu-west-1\"\nlisten = \"127.0.0.1:9000\"\n").expect("write");
        let o = Overrides {
            listen: Some("127.0.0.1:9001".parse().expect("addr")),
            ..Default::default()
        };
        let c = Config::load(Some(&f), &o).expect("load");
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.listen.port(), 9001);
    }
}
