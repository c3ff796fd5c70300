//! Workflow runs (one per trigger) and recipient runs (one per recipient), their statuses,
//! events and the transitions between them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::data::RunData;
use crate::message::Message;
use crate::recipient::RecipientRef;

/// The status of a recipient run, as Knock names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Stored, not yet picked up.
    Queued,
    /// Being executed.
    Processing,
    /// Waiting for a wake-up (a delay).
    Paused,
    /// Every step ran, or the run halted.
    Completed,
    /// Stopped by a cancel.
    Cancelled,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Processing,
        RunStatus::Paused,
        RunStatus::Completed,
        RunStatus::Cancelled,
    ];

    /// Knock's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Processing => "processing",
            RunStatus::Paused => "paused",
            RunStatus::Completed => "completed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Parses Knock's name of a status.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The statuses of a run that can still change (and so be cancelled).
    pub const ACTIVE: [RunStatus; 3] =
        [RunStatus::Queued, RunStatus::Processing, RunStatus::Paused];

    /// Whether the run can still change (and so be cancelled).
    pub fn is_active(self) -> bool {
        Self::ACTIVE.contains(&self)
    }
}

/// One trigger request.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRun {
    /// The `workflow_run_id` returned by the trigger.
    pub id: Uuid,
    /// The workflow key.
    pub workflow_key: String,
    /// The trigger's cancellation key.
    pub cancellation_key: Option<String>,
    /// The trigger's actor.
    pub actor: Option<RecipientRef>,
    /// The trigger's tenant id.
    pub tenant: Option<String>,
    /// The trigger's `data` (stored once, referenced by its runs when large).
    pub data: RunData,
    /// How many recipient runs it has.
    pub recipient_count: usize,
    /// When it was stored.
    pub inserted_at: DateTime<Utc>,
}

/// Per-run switches set at trigger time (`settings` of the trigger body).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSettings {
    /// Skip every delay step.
    #[serde(default)]
    pub skip_delay: bool,
    /// Create messages as `not_sent` and deliver nothing.
    #[serde(default)]
    pub sandbox_mode: bool,
}

/// The run of one workflow for one recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientRun {
    /// Derived from the workflow run id and the recipient (see [`crate::ids`]).
    pub id: Uuid,
    /// The trigger this run belongs to.
    pub workflow_run_id: Uuid,
    /// The workflow key.
    pub workflow_key: String,
    /// Who the run is for.
    pub recipient: RecipientRef,
    /// Who caused it.
    pub actor: Option<RecipientRef>,
    /// The tenant id.
    pub tenant: Option<String>,
    /// The cancellation key given at trigger.
    pub cancellation_key: Option<String>,
    /// The trigger's data, with this recipient's `$trigger_data` (and later a fetch's answer)
    /// merged over it.
    pub data: RunData,
    /// For a subscriber reached by fan-out: the subscription's properties plus `object`, the
    /// object subscribed to; templates see it as `recipient.subscription`.
    pub subscription: Option<Value>,
    /// Trigger settings.
    pub settings: RunSettings,
    /// Current status.
    pub status: RunStatus,
    /// Index of the next step to execute.
    pub cursor: u32,
    /// When a paused run is due.
    pub wake_at: Option<DateTime<Utc>>,
    /// How many error events the run recorded.
    pub error_count: u32,
    /// Failed attempts of the current step (an `http_fetch` retrying); 0 when it moves on.
    pub attempt: u32,
    /// The batch this run opened, if it reached a batch step first.
    pub batch: Option<RunBatch>,
    /// The version of the workflow it was triggered with, which all its steps execute (`None`
    /// for a run stored before versions were kept: it runs the loaded definition).
    pub workflow_version: Option<String>,
    /// When it was stored.
    pub inserted_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A run's link to the batch it opened: while the batch is open the run only waits for it, and
/// a cancel with the run's key removes the run's activity instead of the run (Knock's rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunBatch {
    /// The batch.
    pub id: Uuid,
    /// Whether its window is still open.
    pub open: bool,
    /// After it closed: what templates see (`activities`, `actors`, `total_activities`,
    /// `total_actors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Value>,
}

/// Whether an event records success or an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// The step did what it should.
    Ok,
    /// The step failed or was skipped for a reason worth seeing.
    Error,
}

/// Something that happened to a recipient run, shown in `GET /v1/workflow_recipient_runs/{id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    /// Event name, such as `delay_started` or `message_created`.
    pub event: String,
    /// Ok or error.
    pub status: EventStatus,
    /// The step it concerns.
    pub step_ref: Option<String>,
    /// The type of that step.
    pub step_type: Option<String>,
    /// Details.
    pub data: Value,
    /// When it happened.
    pub inserted_at: DateTime<Utc>,
}

impl RunEvent {
    /// A successful event of a step.
    pub fn ok(event: &str, step: Option<(&str, &str)>, data: Value, at: DateTime<Utc>) -> Self {
        Self::new(event, EventStatus::Ok, step, data, at)
    }

    /// An error event of a step.
    pub fn error(event: &str, step: Option<(&str, &str)>, data: Value, at: DateTime<Utc>) -> Self {
        Self::new(event, EventStatus::Error, step, data, at)
    }

    fn new(
        event: &str,
        status: EventStatus,
        step: Option<(&str, &str)>,
        data: Value,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            event: event.to_string(),
            status,
            step_ref: step.map(|(r, _)| r.to_string()),
            step_type: step.map(|(_, t)| t.to_string()),
            data,
            inserted_at: at,
        }
    }
}

/// A conditional state change of one recipient run: applied only if the run is still active and
/// still at `from_cursor`; the message (if any) and events are written in the same atomic step.
#[derive(Debug, Clone)]
pub struct Transition {
    /// The recipient run.
    pub run_id: Uuid,
    /// Its workflow run (with the two fields below, where a partitioned store finds the run).
    pub workflow_run_id: Uuid,
    /// Its workflow key.
    pub workflow_key: String,
    /// Its cancellation key.
    pub cancellation_key: Option<String>,
    /// The cursor the run must still be at.
    pub from_cursor: u32,
    /// Whether the run must (still) hold an open batch: a resume that saw the run before it
    /// opened its batch cannot then move it (say, join its own batch).
    pub from_holding: bool,
    /// The new cursor.
    pub to_cursor: u32,
    /// The new status (`processing`, `paused` or `completed`).
    pub status: RunStatus,
    /// The new wake-up time, for `paused`.
    pub wake_at: Option<DateTime<Utc>>,
    /// A message created by this step; stored only if none exists with its id.
    pub message: Option<Message>,
    /// New `data` for the run (an `http_fetch` merged its answer, a batch closed).
    pub data: Option<RunData>,
    /// The run's batch link as it is after the change (`None`: unchanged).
    pub batch: Option<RunBatch>,
    /// The failed attempts of the step at `to_cursor`.
    pub attempt: u32,
    /// Events to append.
    pub events: Vec<RunEvent>,
    /// When the change happens.
    pub at: DateTime<Utc>,
}

impl Transition {
    /// How many of its events are errors: what it adds to the run's `error_count`.
    pub fn error_count(&self) -> u32 {
        let errors = self
            .events
            .iter()
            .filter(|e| e.status == EventStatus::Error);
        u32::try_from(errors.count()).unwrap_or(u32::MAX)
    }
}

/// A recipient run that a cancel stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelledRun {
    /// The recipient run.
    pub id: Uuid,
    /// Its workflow run.
    pub workflow_run_id: Uuid,
    /// Its pending wake-up, if it was paused.
    pub wake_at: Option<DateTime<Utc>>,
}
