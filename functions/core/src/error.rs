//! Typed errors of the engine and of its storage port.

use thiserror::Error;

/// The error a backend's client returned, kept as the source of a [`StoreError`].
pub type BackendSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of a storage adapter. A lost race is not one: conditional writes answer with
/// [`crate::ports::Write`].
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend failed or could not be reached.
    #[error("storage backend error: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// The backend client's own error, when there is one.
        #[source]
        source: Option<BackendSource>,
    },
    /// Concurrent writers kept conflicting and the write was given up after retries; nothing
    /// was written, and trying again later is safe.
    #[error("storage contention: {0}")]
    Contention(String),
    /// A stored item could not be decoded.
    #[error("corrupt stored item: {0}")]
    Corrupt(String),
    /// The backend refused the write as invalid (too large an item): trying again cannot help.
    #[error("storage refused the write: {0}")]
    Rejected(String),
}

impl StoreError {
    /// Whether trying the same operation again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Backend { .. } | Self::Contention(_))
    }
}

impl StoreError {
    /// A backend failure described by `message` alone.
    pub fn backend(message: impl Into<String>) -> Self {
        Self::Backend {
            message: message.into(),
            source: None,
        }
    }

    /// A backend failure caused by the client error `source`.
    pub fn backend_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Backend {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// A failure of a wake-up adapter.
#[derive(Debug, Error)]
#[error("wake-up backend error: {0}")]
pub struct WakeError(pub String);

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a dotted path of the request body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why the engine refused or failed an operation.
#[derive(Debug, Error)]
pub enum EngineError {
    /// No workflow with this key is loaded.
    #[error("The workflow `{0}` was not found")]
    WorkflowMissing(String),
    /// The request's parameters are invalid.
    #[error("Invalid parameters: {}", .0.iter().map(|e| format!("{} {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    InvalidParams(Vec<FieldError>),
    /// The actor was given by id but was never identified.
    #[error("The actor `{0}` was not found; identify it first or pass it inline")]
    ActorMissing(String),
    /// An idempotency key was used again within its retention with another request.
    #[error("The Idempotency-Key `{0}` was already used with different parameters or another workflow; use a new key for a different request")]
    IdempotencyConflict(String),
    /// The workflow version a run was triggered with can no longer be executed.
    #[error("{0}")]
    VersionUnavailable(String),
    /// A request with this idempotency key is still under way; retry shortly.
    #[error("A request with the Idempotency-Key `{0}` is still in progress; retry it shortly")]
    IdempotencyInProgress(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Registering a wake-up failed.
    #[error(transparent)]
    Wake(#[from] WakeError),
}

impl EngineError {
    /// Whether trying again later may succeed (a backend or wake-up failure); anything else
    /// fails the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(e) => e.is_transient(),
            Self::Wake(_) => true,
            _ => false,
        }
    }

    /// Whether the caller's request is at fault (a 4xx): nothing was stored for it.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Store(_) | Self::Wake(_))
    }

    /// An [`EngineError::InvalidParams`] with one field error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidParams(vec![FieldError::new(field, message)])
    }
}
