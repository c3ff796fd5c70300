//! The fan-outs role: the progress of a trigger that reached an object's subscribers.

use async_trait::async_trait;
use uuid::Uuid;

use super::outcome::Write;
use crate::error::StoreError;
use crate::fanout::FanOut;
use crate::run::RecipientRun;

/// Fan-out progress: which page of subscribers a workflow run has reached. A fan-out is stored
/// with its workflow run (see [`super::Runs::insert_run`]) and advanced one page at a time.
#[async_trait]
pub trait FanOuts: Send + Sync {
    /// The fan-out of a workflow run, if it has one.
    async fn get_fanout(&self, workflow_run_id: Uuid) -> Result<Option<FanOut>, StoreError>;

    /// One step of a fan-out, all or nothing: stores `runs` (skipping any that already exist)
    /// and replaces the fan-out with `next`, only if the stored fan-out is still at version
    /// `next.version - 1` and not cancelled ([`Write::LostRace`] otherwise).
    async fn advance_fanout(
        &self,
        next: &FanOut,
        runs: &[RecipientRun],
    ) -> Result<Write, StoreError>;
}
