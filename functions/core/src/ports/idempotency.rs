//! The idempotency role: claims of trigger idempotency keys, taken atomically so that concurrent
//! requests with one key agree on one workflow run.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::outcome::Write;
use crate::error::StoreError;
use crate::idempotency::IdempotencyClaim;

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free (or its claim had expired): it is now the caller's.
    Won,
    /// An unexpired claim holds the key (possibly the caller's own, taken by a retried write).
    Held(IdempotencyClaim),
}

/// Idempotency keys, each claimed by one request at a time and forgotten at its `expires_at`.
#[async_trait]
pub trait IdempotencyKeys: Send + Sync {
    /// Claims `claim.key` for `claim` unless an unexpired claim holds it, which is returned.
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError>;

    /// Marks `key`'s claim completed if it is still `workflow_run_id`'s.
    async fn complete_idempotency_key(
        &self,
        key: &str,
        workflow_run_id: Uuid,
    ) -> Result<Write, StoreError>;

    /// Forgets `key` if its claim is still `workflow_run_id`'s and not completed (the request
    /// failed before storing anything, so the key may be used again).
    async fn release_idempotency_key(
        &self,
        key: &str,
        workflow_run_id: Uuid,
    ) -> Result<Write, StoreError>;
}
