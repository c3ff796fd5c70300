//! The engine: trigger, execute and cancel workflow runs over the ports.

mod cancel;
mod delay;
mod execute;
mod fanout;
mod preferences;
mod recipients;
mod scope;
mod trigger;

use std::sync::Arc;

pub use cancel::CancelRequest;
pub use delay::{delay_until, DelayOutcome};
pub use execute::ResumeReport;
pub use preferences::DEFAULT_SET;
pub use trigger::{TriggerRequest, MAX_RECIPIENTS};

use crate::clock::Clock;
use crate::definition::WorkflowSet;
use crate::ports::{Store, Waker};

/// The workflow engine. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    waker: Arc<dyn Waker>,
    clock: Arc<dyn Clock>,
    workflows: Arc<WorkflowSet>,
}

impl Engine {
    /// An engine over the given ports and workflows.
    pub fn new(
        store: Arc<dyn Store>,
        waker: Arc<dyn Waker>,
        clock: Arc<dyn Clock>,
        workflows: Arc<WorkflowSet>,
    ) -> Self {
        Self {
            store,
            waker,
            clock,
            workflows,
        }
    }

    /// The store, for the read-only API routes.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The current time at the precision every store keeps (microseconds), so a time the
    /// engine hands to a waker equals the one a store gives back.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::SubsecRound::trunc_subsecs(self.clock.now(), 6)
    }

    /// The loaded workflows.
    pub fn workflows(&self) -> &Arc<WorkflowSet> {
        &self.workflows
    }
}
