//! The waker port: how a workflow run gets executed, or a message delivered, now or at a later
//! time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::WakeError;

/// Wake-ups. Delivery is at least once; the engine makes repeated or stale wake-ups harmless.
#[async_trait]
pub trait Waker: Send + Sync {
    /// Starts a workflow run the trigger has just stored. On AWS this does nothing: the
    /// table's stream starts every committed run. It never wakes a run that already exists;
    /// use [`Waker::wake_at`] with the current time for that.
    async fn start_new_run(&self, workflow_run_id: Uuid) -> Result<(), WakeError>;

    /// Executes the workflow run's due recipient runs at `at` (now, if `at` has passed).
    /// Registering the same (run, time) twice registers one wake-up.
    async fn wake_at(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError>;

    /// Delivers a message a transition has just stored. On AWS this does nothing: the table's
    /// stream hands every new message to delivery.
    async fn deliver_new(&self, message_id: Uuid) -> Result<(), WakeError>;

    /// Makes the next delivery attempt of message `message_id` at `at` (now, if `at` has
    /// passed). Registering the same (message, time) twice registers one wake-up.
    async fn deliver_at(&self, message_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError>;

    /// Drops a wake-up that no longer wakes anything (best effort; stale wake-ups are no-ops).
    async fn forget(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError>;

    /// Hands wake-ups that failed for good (a dead-letter queue) back to be tried again;
    /// returns how many. A waker without such a place has none.
    async fn redrive(&self) -> Result<usize, WakeError> {
        Ok(0)
    }
}
