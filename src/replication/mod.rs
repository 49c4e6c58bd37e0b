//! Replication between regions over NATS JetStream (global tables). The client reconnects
//! forever in the background (a region starts and serves local reads and writes whether NATS
//! is up or not) and the replication stream is created once NATS answers. Then:
//! - `publish`: this region's changes of global tables, from the change log, to JetStream;
//! - `apply`: the other regions' changes, from a durable consumer, through last writer wins;
//! - `presence`: which regions have joined (a JetStream key-value bucket);
//! - `backfill`: a new replica's existing items, once its region has joined;
//! - `declared_tables`: global tables declared in the config file;
//! - a task dropping tombstones older than `tombstone_hours`.

pub mod apply;
pub mod backfill;
pub mod declared_tables;
pub mod error;
pub mod message;
pub mod presence;
pub mod publish;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use tributary_engine::Engine;

use crate::config::ReplicationConfig;
use error::ReplicationError;

/// The subjects of the replication stream: `tributary.repl.<origin region>[.<table>]`.
pub const SUBJECTS: &str = "tributary.repl.>";

/// Gauge: 1 while the NATS connection is up.
pub const CONNECTED: &str = "tributary_replication_nats_connected";

/// A region's link to NATS.
pub struct Replication {
    /// Kept so that the connection lives as long as the server.
    _client: async_nats::Client,
}

/// Whether the current run of failed connection attempts was reported (once per run: the
/// client retries every two seconds).
static FAILURE_REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A failed connection attempt: reported once as an error (credentials refused say so), then
/// at debug level until a connection succeeds.
fn connection_failed(reason: &str) {
    if FAILURE_REPORTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::debug!("replication: NATS connection attempt failed: {reason}");
    } else if reason.contains("authorization") || reason.contains("authentication") {
        tracing::error!(
            "replication: the NATS server refused this region's credentials ({reason}): check [replication] nats_user/nats_password, nats_token or nats_credentials_file; local tables keep serving, retrying"
        );
    } else {
        tracing::error!(
            "replication: cannot connect to NATS ({reason}); local tables keep serving, retrying"
        );
    }
}

/// The NATS connection's credentials and TLS settings from `[replication]`.
async fn nats_options(
    config: &ReplicationConfig,
) -> Result<async_nats::ConnectOptions, ReplicationError> {
    let set = |p: &std::path::Path| !p.as_os_str().is_empty();
    let mut options = if set(&config.nats_credentials_file) {
        async_nats::ConnectOptions::new()
            .credentials_file(&config.nats_credentials_file)
            .await
            .map_err(|source| ReplicationError::Credentials {
                path: config.nats_credentials_file.clone(),
                source,
            })?
    } else {
        async_nats::ConnectOptions::new()
    };
    if !config.nats_user.is_empty() {
        options = options.user_and_password(config.nats_user.clone(), config.nats_password.clone());
    }
    if !config.nats_token.is_empty() {
        options = options.token(config.nats_token.clone());
    }
    if set(&config.nats_tls_ca_file) {
        options = options.add_root_certificates(config.nats_tls_ca_file.clone());
    }
    if set(&config.nats_tls_cert_file) || set(&config.nats_tls_key_file) {
        options = options.add_client_certificate(
            config.nats_tls_cert_file.clone(),
            config.nats_tls_key_file.clone(),
        );
    }
    Ok(options.require_tls(config.nats_tls_required))
}

/// Connects when NATS servers are configured (`None` otherwise). Returns at once: the
/// connection and the stream are set up in the background, retried until NATS answers.
pub async fn start(
    config: &ReplicationConfig,
    engine: &Arc<Engine>,
) -> Result<Option<Replication>, ReplicationError> {
    let region = engine.region();
    if config.nats.is_empty() {
        tracing::info!(
            "replication: off (no NATS server configured; --nats URL to join other regions)"
        );
        return Ok(None);
    }
    let urls = config.nats.join(",");
    let client = nats_options(config)
        .await?
        .name(format!("tributary {region}"))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((attempts as u64 * 100).min(2_000))
        })
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Connected => {
                    FAILURE_REPORTED.store(false, std::sync::atomic::Ordering::Relaxed);
                    metrics::gauge!(CONNECTED).set(1.0);
                    tracing::info!("replication: connected to NATS")
                }
                async_nats::Event::Disconnected => {
                    metrics::gauge!(CONNECTED).set(0.0);
                    tracing::warn!("replication: NATS connection lost; local writes go on and are sent when it is back")
                }
                async_nats::Event::ServerError(e) => connection_failed(&e.to_string()),
                async_nats::Event::ClientError(e) => connection_failed(&e.to_string()),
                other => tracing::debug!("replication: NATS {other}"),
            }
        })
        .connect(urls.as_str())
        .await
        .map_err(|e| ReplicationError::Address {
            urls: urls.clone(),
            source: Box::new(e),
        })?;
    metrics::gauge!(CONNECTED).set(0.0);
    let js = jetstream::new(client.clone());
    tracing::info!(nats = %urls, region, peers = ?config.peers, stream = %config.stream, "replication: joining other regions through NATS JetStream");
    let (ctx, name) = (js.clone(), config.stream.clone());
    let progress = engine
        .aux_keyspace("replication")
        .map_err(ReplicationError::State)?;
    let presence = Arc::new(presence::Presence::new(js.clone(), &config.stream, region));
    let publisher = publish::Publisher {
        engine: engine.clone(),
        js: js.clone(),
        progress: Arc::new(publish::Progress::new(progress)),
        presence: presence.clone(),
        stream: config.stream.clone(),
        backfilling: Default::default(),
        warned: Default::default(),
    };
    let applier = apply::run(engine.clone(), js.clone(), config.stream.clone());
    spawn_tombstone_collector(engine.clone(), config.tombstone_hours);
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(200);
        loop {
            let cfg = jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![SUBJECTS.into()],
                storage: jetstream::stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                max_age: Duration::from_secs(7 * 24 * 3600),
                ..Default::default()
            };
            match ctx.get_or_create_stream(cfg).await {
                Ok(_) => {
                    tracing::info!(stream = %name, "replication: stream ready");
                    tokio::spawn(presence.run());
                    tokio::spawn(publisher.run());
                    tokio::spawn(applier);
                    return;
                }
                Err(e) => {
                    tracing::debug!(stream = %name, "replication: stream not ready yet: {e}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    Ok(Some(Replication { _client: client }))
}

/// Drops tombstones older than `hours`, checking every tenth of that (at most hourly).
fn spawn_tombstone_collector(engine: Arc<Engine>, hours: f64) {
    let lifetime = Duration::from_secs_f64(hours.max(0.0) * 3600.0);
    let every = (lifetime / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let e = engine.clone();
            let ms = lifetime.as_millis() as u64;
            match tokio::task::spawn_blocking(move || e.collect_tombstones(ms)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(tombstones = n, "replication: dropped old tombstones"),
                Ok(Err(e)) => tracing::warn!("replication: tombstone collection failed: {e}"),
                Err(e) => tracing::warn!("replication: tombstone collection panicked: {e}"),
            }
        }
    });
}
