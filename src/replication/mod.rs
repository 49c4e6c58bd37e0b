//! Replication between regions over NATS JetStream. This first part connects: the client
//! reconnects forever in the background (a region starts and serves local reads and writes
//! whether NATS is up or not), and the replication stream is created once NATS answers.
//! Publishing local changes and applying other regions' (the engine's `apply_replicated`)
//! build on it.

use std::time::Duration;

use async_nats::jetstream;

use crate::config::ReplicationConfig;

/// The subjects of the replication stream: `tributary.repl.<table>.<origin region>`.
pub const SUBJECTS: &str = "tributary.repl.>";

/// Gauge: 1 while the NATS connection is up.
pub const CONNECTED: &str = "tributary_replication_nats_connected";

/// A region's link to NATS.
#[allow(dead_code)] // read by the publisher and the applier, the next part of global tables
pub struct Replication {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
}

/// Connects when NATS servers are configured (`None` otherwise). Returns at once: the
/// connection and the stream are set up in the background, retried until NATS answers.
pub async fn start(
    config: &ReplicationConfig,
    region: &str,
) -> Result<Option<Replication>, String> {
    if config.nats.is_empty() {
        tracing::info!(
            "replication: off (no NATS server configured; --nats URL to join other regions)"
        );
        return Ok(None);
    }
    let urls = config.nats.join(",");
    let client = async_nats::ConnectOptions::new()
        .name(format!("tributary {region}"))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((attempts as u64 * 100).min(2_000))
        })
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Connected => {
                    metrics::gauge!(CONNECTED).set(1.0);
                    tracing::info!("replication: connected to NATS")
                }
                async_nats::Event::Disconnected => {
                    metrics::gauge!(CONNECTED).set(0.0);
                    tracing::warn!("replication: NATS connection lost; local writes go on and are sent when it is back")
                }
                other => tracing::debug!("replication: NATS {other}"),
            }
        })
        .connect(urls.as_str())
        .await
        .map_err(|e| format!("invalid NATS address {urls}: {e}"))?;
    metrics::gauge!(CONNECTED).set(0.0);
    let js = jetstream::new(client.clone());
    tracing::info!(nats = %urls, region, stream = %config.stream, "replication: joining other regions through NATS JetStream");
    let (ctx, name) = (js.clone(), config.stream.clone());
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
    Ok(Some(Replication {
        client,
        jetstream: js,
    }))
}
