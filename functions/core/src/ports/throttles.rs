//! The throttles role: how many runs a throttle window has admitted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreError;

/// Whether a throttle step let a run through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The run is counted in the window and goes on.
    Admitted,
    /// The window is full: the run ends.
    Throttled,
}

/// Throttle windows by key: the runs each counted, up to its limit.
#[async_trait]
pub trait Throttles: Send + Sync {
    /// Counts `run_id` into throttle `key`: opens a window ending at `window_ends` if none is
    /// open at `now`, then admits the run if it is already counted or fewer than `limit` runs
    /// are. Asking again for the same run gives the same answer while the window lasts.
    async fn throttle(
        &self,
        key: &str,
        run_id: Uuid,
        limit: u32,
        window_ends: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError>;
}
