//! `ReplicationError`: why a replication task stopped for a while (the task logs it and starts
//! again) or why replication could not start. NATS' many error types are kept as sources.

use tributary_engine::EngineError;

/// Any of async-nats' error types (each request kind has its own).
pub type NatsError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// A JetStream request (stream, consumer, message, acknowledgement) failed.
    #[error("{0}")]
    Nats(NatsError),
    /// Publishing this region's changes or replica sets failed.
    #[error("publishing to JetStream failed: {0}")]
    Publish(NatsError),
    #[error("consumer {durable}: {source}")]
    Consumer { durable: String, source: NatsError },
    #[error("cannot open the key-value bucket {bucket}: {source}")]
    OpenBucket { bucket: String, source: NatsError },
    #[error("cannot write to the bucket {bucket}: {source}")]
    WriteBucket { bucket: String, source: NatsError },
    #[error("invalid NATS address {urls}: {source}")]
    Address { urls: String, source: NatsError },
    #[error("cannot read the NATS credentials file {}: {source}", path.display())]
    Credentials {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the replication state: {0}")]
    State(EngineError),
    /// The storage refuses writes (a batch is left for redelivery), with the engine's reason.
    #[error("the storage cannot take writes: {0}")]
    StorageRefuses(String),
    /// A change failed on this side (not the change's fault): it is redelivered later.
    #[error("a change from {origin} not applied, redelivered later: {source}")]
    NotApplied { origin: String, source: EngineError },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A blocking task panicked.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

impl ReplicationError {
    /// A failed JetStream request.
    pub fn nats(e: impl std::error::Error + Send + Sync + 'static) -> ReplicationError {
        ReplicationError::Nats(Box::new(e))
    }

    /// A failed publication.
    pub fn publish(e: impl std::error::Error + Send + Sync + 'static) -> ReplicationError {
        ReplicationError::Publish(Box::new(e))
    }
}

pub type Result<T, E = ReplicationError> = std::result::Result<T, E>;
