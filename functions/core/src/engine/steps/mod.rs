//! One module per step type: what executing the step does to a recipient run.

mod batch;
mod branch;
mod channel;
pub mod delay;
mod fetch;
mod throttle;
mod trigger_workflow;

pub use fetch::RETRY_DELAYS;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::definition::Workflow;
use crate::run::RecipientRun;

/// What a step executes with: its workflow, its definition, the run at it, the run's scope
/// (recipient, actor, tenant, data) and the instant of this pass.
pub(in crate::engine) struct StepContext<'a, S> {
    pub workflow: &'a Workflow,
    pub step: &'a S,
    pub run: &'a RecipientRun,
    pub scope: &'a Value,
    pub now: DateTime<Utc>,
}

impl<'a, S> StepContext<'a, S> {
    /// The context's parts, in field order, for a step to bind at once.
    pub fn parts(
        self,
    ) -> (
        &'a Workflow,
        &'a S,
        &'a RecipientRun,
        &'a Value,
        DateTime<Utc>,
    ) {
        (self.workflow, self.step, self.run, self.scope, self.now)
    }
}

// Only references and an instant: copied freely, whatever the step type.
impl<S> Clone for StepContext<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for StepContext<'_, S> {}
