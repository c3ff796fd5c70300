//! The sweep role: what should have been woken a while ago and is still waiting, found through
//! an index of due work (never a scan), for the sweeper to wake again.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreError;

/// Overdue work, most overdue first, each listed once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overdue {
    /// Workflow runs with an active recipient run that is due.
    pub workflow_runs: Vec<Uuid>,
    /// Messages whose next delivery attempt is due.
    pub messages: Vec<Uuid>,
}

/// Due work by the time it was due.
#[async_trait]
pub trait Sweep: Send + Sync {
    /// Workflow runs with an active recipient run due before `before` (paused with a
    /// `wake_at` before it, or queued or processing and unchanged since before it), and
    /// messages whose next delivery attempt (or a lapsed attempt's claim) is due before it; at
    /// most `limit` of each.
    async fn overdue(&self, before: DateTime<Utc>, limit: usize) -> Result<Overdue, StoreError>;
}
