//! The deliveries role: the attempts to deliver a message, each claimed before it is made and
//! recorded after, so two workers never make the same attempt.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::outcome::Write;
use crate::error::StoreError;
use crate::message::{DeliveryLog, DeliveryStatus, MessageEvent};

/// What an attempt came to, written by [`Deliveries::record_attempt`].
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// The attempt (as claimed).
    pub attempt: u32,
    /// The claim's `lease_until`: the record applies only to that claim, once.
    pub lease_until: DateTime<Utc>,
    /// The message's status after it.
    pub status: DeliveryStatus,
    /// When the next attempt is due (only while the status is pending).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The attempt's log.
    pub log: DeliveryLog,
    /// The events it caused (`message.sent`, …).
    pub events: Vec<MessageEvent>,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// A message whose delivery is not finished, for a restarted process to re-arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingDelivery {
    /// The message.
    pub message_id: Uuid,
    /// When its next attempt is due.
    pub due_at: DateTime<Utc>,
}

/// Delivery attempts on stored messages.
#[async_trait]
pub trait Deliveries: Send + Sync {
    /// Claims attempt `attempt` (1 for the first) of message `id`: applied only if the
    /// message is still pending, has had `attempt - 1` attempts, and its next attempt is due
    /// at `now`. The claim holds until `lease_until`; after that, another attempt may be claimed.
    async fn claim_attempt(
        &self,
        id: Uuid,
        attempt: u32,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Write, StoreError>;

    /// Records what claimed attempt `record.attempt` came to, with its log and events: applied
    /// only while that claim still stands (no later attempt claimed, not recorded already).
    async fn record_attempt(&self, id: Uuid, record: &AttemptRecord) -> Result<Write, StoreError>;

    /// The logs of a message's attempts, oldest first.
    async fn delivery_logs(&self, id: Uuid) -> Result<Vec<DeliveryLog>, StoreError>;

    /// A message's events, oldest first.
    async fn message_events(&self, id: Uuid) -> Result<Vec<MessageEvent>, StoreError>;
}
