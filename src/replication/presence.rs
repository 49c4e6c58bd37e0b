//! Which regions have joined. Each region writes its name into the JetStream key-value bucket
//! `<stream>_REGIONS` once the replication stream is ready (and again every minute, in case
//! the bucket was lost), so the region that adds a replica can tell a region that has joined
//! from one that never connected: a typo, or a region not started yet. Such a replica waits,
//! CREATING, with the reason in DescribeTable; its backfill starts once the region joins.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use parking_lot::Mutex;
use serde_json::json;
use tributary_engine::clock::now_ms;

use super::error::{NatsError, ReplicationError, Result};

/// How often a region that has not joined is asked about again.
const RECHECK: Duration = Duration::from_secs(1);
/// How often a region announces itself again.
const ANNOUNCE: Duration = Duration::from_secs(60);

/// The bucket's name for a replication stream: the stream's name with characters a bucket
/// name may not hold replaced by `_`, then `_REGIONS`.
pub fn bucket_name(stream: &str) -> String {
    let base: String = stream
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{base}_REGIONS")
}

pub struct Presence {
    js: jetstream::Context,
    bucket: String,
    region: String,
    store: tokio::sync::Mutex<Option<kv::Store>>,
    /// Regions asked about: whether they had joined, and when that was asked.
    seen: Mutex<HashMap<String, (bool, Instant)>>,
}

impl Presence {
    pub fn new(js: jetstream::Context, stream: &str, region: &str) -> Presence {
        Presence {
            js,
            bucket: bucket_name(stream),
            region: region.to_owned(),
            store: tokio::sync::Mutex::new(None),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The bucket, created when missing.
    async fn store(&self) -> Result<kv::Store> {
        let mut store = self.store.lock().await;
        if let Some(s) = &*store {
            return Ok(s.clone());
        }
        // The bucket's stream, as `create_key_value` makes it (which cannot be used: it asks
        // for account details that nats-server 2.9 answers in a form it does not parse).
        let config = jetstream::stream::Config {
            name: format!("KV_{}", self.bucket),
            description: Some("tributary: the regions that have joined".into()),
            subjects: vec![format!("$KV.{}.>", self.bucket)],
            max_messages_per_subject: 1,
            storage: jetstream::stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        };
        let cannot = |source: NatsError| ReplicationError::OpenBucket {
            bucket: self.bucket.clone(),
            source,
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map_err(|e| cannot(Box::new(e)))?;
        let s: kv::Store = self
            .js
            .get_key_value(self.bucket.as_str())
            .await
            .map_err(|e| cannot(Box::new(e)))?;
        *store = Some(s.clone());
        Ok(s)
    }

    async fn announce(&self) -> Result<()> {
        let value = json!({
            "region": self.region,
            "announced_ms": now_ms(),
            "version": env!("CARGO_PKG_VERSION"),
        });
        let store = self.store().await?;
        if let Err(e) = store
            .put(self.region.as_str(), value.to_string().into())
            .await
        {
            *self.store.lock().await = None; // the bucket may be gone: look it up again
            return Err(ReplicationError::WriteBucket {
                bucket: self.bucket.clone(),
                source: Box::new(e),
            });
        }
        Ok(())
    }

    /// Announces this region now and then, for as long as the server runs.
    pub async fn run(self: std::sync::Arc<Self>) {
        let mut announced = false;
        loop {
            match self.announce().await {
                Ok(()) if !announced => {
                    tracing::info!(bucket = %self.bucket, "replication: this region announced itself to the others");
                    announced = true;
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::debug!(
                        "replication: announcing this region failed ({e}); trying again"
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
            tokio::time::sleep(ANNOUNCE).await;
        }
    }

    /// Whether `region` has ever joined; None when NATS cannot tell now. A region seen is
    /// remembered; one not seen is asked about again at most once a second.
    pub async fn joined(&self, region: &str) -> Option<bool> {
        if let Some((joined, at)) = self.seen.lock().get(region) {
            if *joined || at.elapsed() < RECHECK {
                return Some(*joined);
            }
        }
        let store = self.store().await.ok()?;
        let joined = match store.get(region).await {
            Ok(v) => v.is_some(),
            Err(e) => {
                tracing::debug!(region, "replication: cannot read the regions bucket: {e}");
                return None;
            }
        };
        self.seen
            .lock()
            .insert(region.to_owned(), (joined, Instant::now()));
        Some(joined)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bucket_names_are_valid() {
        assert_eq!(
            super::bucket_name("TRIBUTARY_REPLICATION"),
            "TRIBUTARY_REPLICATION_REGIONS"
        );
        assert_eq!(super::bucket_name("a.b c-d"), "a_b_c-d_REGIONS");
    }
}
