//! Typed errors of the engine and of its storage port.

use thiserror::Error;

/// A failure of a storage adapter.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend failed or could not be reached.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// A stored item could not be decoded.
    #[error("corrupt stored item: {0}")]
    Corrupt(String),
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
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Registering a wake-up failed.
    #[error(transparent)]
    Wake(#[from] WakeError),
}

impl EngineError {
    /// An [`EngineError::InvalidParams`] with one field error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidParams(vec![FieldError::new(field, message)])
    }
}
