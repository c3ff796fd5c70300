//! The recovery role of a store that wakes its own runs (the embedded one): what to re-arm
//! after a restart. On AWS the scheduler keeps wake-ups durable, so the DynamoDB store has none.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreError;

/// A workflow run that still has active recipient runs, with its earliest pending wake-up.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRun {
    /// The workflow run.
    pub workflow_run_id: Uuid,
    /// `None` when some recipient run is queued or processing (so it must run now); else the
    /// earliest `wake_at` of its paused recipient runs.
    pub wake_at: Option<DateTime<Utc>>,
}

/// Finds the runs a restarted process must wake.
#[async_trait]
pub trait Recovery: Send + Sync {
    /// Workflow runs with active recipient runs or an unfinished fan-out.
    async fn pending_runs(&self) -> Result<Vec<PendingRun>, StoreError>;

    /// Messages whose delivery is not finished, with when each is due.
    async fn pending_deliveries(&self) -> Result<Vec<super::PendingDelivery>, StoreError>;
}
