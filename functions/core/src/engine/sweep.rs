//! The sweeper: a backstop for wake-ups that were lost (a function that died before it
//! registered one, a message stuck in a dead-letter queue). Waking is idempotent, so the sweep
//! and the normal wake-ups may both fire.

use super::Engine;
use crate::error::EngineError;

/// How overdue work must be before the sweeper wakes it.
pub const SWEEP_BOUND: chrono::Duration = chrono::Duration::minutes(2);

/// How much one sweep wakes at most (the next sweep takes the rest).
pub const SWEEP_LIMIT: usize = 1_000;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Wake-ups handed back from the dead-letter queue.
    pub redriven: usize,
    /// Workflow runs woken because they were overdue.
    pub workflow_runs: usize,
    /// Messages whose overdue delivery attempt was woken.
    pub messages: usize,
}

impl Engine {
    /// Redrives failed wake-ups, then wakes every workflow run and delivery overdue by more
    /// than [`SWEEP_BOUND`].
    /// One wake-up that fails is logged and left for the next sweep; the others go on.
    pub async fn sweep(&self) -> Result<SweepReport, EngineError> {
        let now = self.now();
        let redriven = self.waker.redrive().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not redrive the dead-letter queue");
            0
        });
        let overdue = self.store.overdue(now - SWEEP_BOUND, SWEEP_LIMIT).await?;
        let mut report = SweepReport {
            redriven,
            ..SweepReport::default()
        };
        for id in &overdue.workflow_runs {
            tracing::warn!(workflow_run_id = %id, "overdue; waking it");
            match self.waker.wake_at(*id, now).await {
                Ok(()) => report.workflow_runs += 1,
                Err(e) => tracing::error!(workflow_run_id = %id, error = %e, "could not wake it"),
            }
        }
        for id in &overdue.messages {
            tracing::warn!(message_id = %id, "delivery overdue; waking it");
            match self.waker.deliver_at(*id, now).await {
                Ok(()) => report.messages += 1,
                Err(e) => tracing::error!(message_id = %id, error = %e, "could not wake it"),
            }
        }
        Ok(report)
    }
}
