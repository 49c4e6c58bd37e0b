//! The engine's one error type. The API edge maps each variant to a DynamoDB `__type`.

use crate::value::Item;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// DynamoDB's ValidationException: bad parameters, bad expressions, limits.
    #[error("{0}")]
    Validation(String),
    /// The request body is not the JSON shape the operation takes (SerializationException).
    #[error("{0}")]
    Serialization(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// A condition expression evaluated to false; `item` is returned when the request asked
    /// for ReturnValuesOnConditionCheckFailure=ALL_OLD.
    #[error("{message}")]
    ConditionalCheckFailed { message: String, item: Option<Item> },
    /// A transaction was not applied; one reason per action, in order.
    #[error("{message}")]
    TransactionCanceled {
        message: String,
        reasons: Vec<serde_json::Value>,
    },
    /// A ClientRequestToken reused with different parameters.
    #[error("{0}")]
    IdempotentParameterMismatch(String),
    /// DynamoDB Streams: a shard iterator older than 15 minutes.
    #[error("{0}")]
    ExpiredIterator(String),
    /// DynamoDB Streams: a position in records already trimmed from the log.
    #[error("{0}")]
    TrimmedDataAccess(String),
    #[error("storage error: {0}")]
    Storage(#[from] fjall::Error),
    /// The storage cannot take writes for now (a passing resource failure such as a full disk
    /// or too many open files; the engine recovers by itself): InternalServerError, like any
    /// server-side failure, with the reason in the message.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<serde_json::Error> for EngineError {
    fn from(e: serde_json::Error) -> EngineError {
        EngineError::Internal(format!("JSON encoding failed: {e}"))
    }
}

impl EngineError {
    pub fn validation(msg: impl Into<String>) -> Self {
        EngineError::Validation(msg.into())
    }

    pub fn serialization(msg: impl Into<String>) -> Self {
        EngineError::Serialization(msg.into())
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        EngineError::ResourceNotFound(msg.into())
    }

    /// The DynamoDB error name for this error (the part after `#` in `__type`).
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Validation(_) => "ValidationException",
            EngineError::Serialization(_) => "SerializationException",
            EngineError::ResourceNotFound(_) => "ResourceNotFoundException",
            EngineError::ResourceInUse(_) => "ResourceInUseException",
            EngineError::LimitExceeded(_) => "LimitExceededException",
            EngineError::ConditionalCheckFailed { .. } => "ConditionalCheckFailedException",
            EngineError::ExpiredIterator(_) => "ExpiredIteratorException",
            EngineError::TransactionCanceled { .. } => "TransactionCanceledException",
            EngineError::IdempotentParameterMismatch(_) => "IdempotentParameterMismatchException",
            EngineError::TrimmedDataAccess(_) => "TrimmedDataAccessException",
            EngineError::Storage(_) | EngineError::Internal(_) | EngineError::Unavailable(_) => {
                "InternalServerError"
            }
        }
    }

    /// Whether the error is the client's fault (HTTP 400) rather than the server's (500).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            EngineError::Storage(_) | EngineError::Internal(_) | EngineError::Unavailable(_)
        )
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
