//! The batches role: batch windows, the activities that joined them, and the run that waits
//! for each to close.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::outcome::Write;
use super::page::{Page, PageRequest};
use crate::batch::{Batch, BatchActivity, BatchStatus};
use crate::error::StoreError;
use crate::recipient::RecipientRef;
use crate::run::Transition;

/// Filters of a batch listing.
#[derive(Debug, Clone, Default)]
pub struct BatchQuery {
    /// Batches with this status.
    pub status: Option<BatchStatus>,
    /// Batches of this workflow.
    pub workflow_key: Option<String>,
    /// Batches of this recipient.
    pub recipient: Option<RecipientRef>,
}

/// Batches by group (workflow, recipient, batch key): at most one open per group. Opening,
/// joining and closing are each one atomic write together with the run's own transition.
#[async_trait]
pub trait Batches: Send + Sync {
    /// The batch `group` collects into now: open, or the last one if it closed.
    async fn current_batch(&self, group: &str) -> Result<Option<Batch>, StoreError>;

    /// A batch by id.
    async fn get_batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError>;

    /// Opens `batch` with its first `activity`, all or nothing with `transition` (the opening
    /// run pauses for the window). Applies only if the group's current batch is still
    /// `replaces` (`None`: the group has none yet). A batch without an activity records a
    /// flush-leading window (stored closed).
    async fn open_batch(
        &self,
        batch: &Batch,
        replaces: Option<Uuid>,
        activity: Option<&BatchActivity>,
        transition: &Transition,
    ) -> Result<Write, StoreError>;

    /// Adds `activity` to its batch if the batch is open and not full, all or nothing with
    /// `transition` (the joining run ends); moves the batch's end to `closes_at` when given (a
    /// sliding window).
    async fn join_batch(
        &self,
        activity: &BatchActivity,
        closes_at: Option<DateTime<Utc>>,
        transition: &Transition,
    ) -> Result<Write, StoreError>;

    /// Closes an open batch, all or nothing with `transition` (the opener's link marked
    /// closed, so its key cancels it again).
    async fn close_batch(
        &self,
        batch_id: Uuid,
        transition: &Transition,
    ) -> Result<Write, StoreError>;

    /// The activities of a batch in the order they joined.
    async fn batch_activities(&self, batch_id: Uuid) -> Result<Vec<BatchActivity>, StoreError>;

    /// Moves the end of an open batch to `at` (a flush); [`Write::LostRace`] if it is not open.
    async fn flush_batch(&self, batch_id: Uuid, at: DateTime<Utc>) -> Result<Write, StoreError>;

    /// Lists batches, newest first.
    async fn list_batches(
        &self,
        query: &BatchQuery,
        page: &PageRequest,
    ) -> Result<Page<Batch>, StoreError>;
}
