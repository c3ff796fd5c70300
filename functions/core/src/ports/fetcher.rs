//! The port an `http_fetch` step calls through; the adapter (an HTTP client) lives under `infra/`.

use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

/// Knock's limit on how long a fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// A rendered request.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// `GET`, `POST`, `PUT`, `DELETE` or `PATCH`.
    pub method: String,
    /// The URL, query parameters included.
    pub url: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<String>,
    /// How long to wait for the whole answer.
    pub timeout: Duration,
    /// Whether redirects are followed (a fetch step: yes, checked by the outbound guard; a
    /// webhook delivery: never, as Knock's and Standard Webhooks' senders do).
    pub follow_redirects: bool,
}

impl std::fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Rendered headers often carry credentials.
        f.debug_struct("FetchRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &crate::message::redacted(&self.headers))
            .field("body_bytes", &self.body.as_ref().map(String::len))
            .field("timeout", &self.timeout)
            .field("follow_redirects", &self.follow_redirects)
            .finish()
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body as text, at most the adapter's cap.
    pub body: String,
    /// Whether the body was longer than the cap (and cut there).
    pub truncated: bool,
}

/// Why a request got no answer.
#[derive(Debug, Error)]
pub enum FetchError {
    /// No answer within the timeout.
    #[error("the request timed out")]
    Timeout,
    /// The request could not be sent or its answer read; trying again may work.
    #[error("the request failed: {0}")]
    Failed(String),
    /// The request may not be made, or its answer not taken, and trying again cannot change
    /// that: an invalid URL, a destination the outbound guard refuses, an answer over the cap.
    #[error("the request was refused: {0}")]
    Refused(String),
}

/// Sends HTTP requests for `http_fetch` steps.
#[async_trait]
pub trait Fetcher: Send + Sync {
    /// Sends `request` and reads the whole answer.
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, FetchError>;
}
