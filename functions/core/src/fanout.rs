//! Subscriber fan-out: triggering an object also runs the workflow for every subscriber of it
//! (and of its subscribed objects, two levels deep). A fan-out is durable progress: which
//! objects are left to expand and where the current one's subscriber listing stopped, so a
//! crash or a function's time limit resumes it without losing or repeating anyone.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::data::RunData;
use crate::recipient::RecipientRef;
use crate::run::RunSettings;

/// Knock's nesting limit: parent object → child object → recipients.
pub const MAX_DEPTH: u8 = 2;

/// An object whose subscribers still have to be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The object.
    pub object: RecipientRef,
    /// 1 for an object named by the trigger, 2 for an object subscribed to one.
    pub depth: u8,
}

/// The durable state of one workflow run's fan-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanOut {
    /// The workflow run.
    pub workflow_run_id: Uuid,
    /// Its workflow key (the runs' partition together with the cancellation key).
    pub workflow_key: String,
    /// Its cancellation key.
    pub cancellation_key: Option<String>,
    /// The trigger's actor, never a recipient of the fan-out.
    pub actor: Option<RecipientRef>,
    /// The trigger's tenant.
    pub tenant: Option<String>,
    /// The trigger's data.
    pub data: RunData,
    /// The trigger's settings.
    pub settings: RunSettings,
    /// The workflow version the runs it creates execute.
    #[serde(default)]
    pub workflow_version: Option<String>,
    /// Objects left to expand; the first is in progress.
    pub queue: Vec<Source>,
    /// Where the first object's subscriber listing stopped.
    pub after: Option<String>,
    /// Recipients a partial cancel named while the fan-out was under way: never created.
    pub excluded: Vec<RecipientRef>,
    /// Set by a cancel of the whole (workflow, cancellation key): nothing more is created.
    pub cancelled: bool,
    /// Incremented by every write; each write is conditional on the version it read.
    pub version: u64,
}

impl FanOut {
    /// Whether nothing is left to do.
    pub fn is_finished(&self) -> bool {
        self.cancelled || self.queue.is_empty()
    }

    /// The fan-out after a cancel of its (workflow, cancellation key): a cancel of everyone
    /// stops it; a cancel of some recipients keeps those from being created later. The version
    /// moves on, so a step computed before the cancel cannot be applied after it.
    pub fn cancelled_by(mut self, recipients: Option<&[RecipientRef]>) -> Self {
        match recipients {
            None => self.cancelled = true,
            Some(recipients) => {
                for r in recipients {
                    if !self.excluded.contains(r) {
                        self.excluded.push(r.clone());
                    }
                }
            }
        }
        self.version += 1;
        self
    }
}
