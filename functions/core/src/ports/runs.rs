//! The runs role: workflow runs and their recipient runs — stored by a trigger, advanced by
//! conditional transitions, stopped by a cancel.

use async_trait::async_trait;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use super::outcome::Write;
use super::page::{Page, PageRequest};
use crate::error::StoreError;
use crate::fanout::FanOut;
use crate::recipient::RecipientRef;
use crate::run::{CancelledRun, RecipientRun, RunEvent, RunStatus, Transition, WorkflowRun};

/// Filters of a recipient-run listing.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Runs of this workflow.
    pub workflow_key: Option<String>,
    /// Runs with one of these statuses.
    pub statuses: Vec<RunStatus>,
    /// Runs of this recipient.
    pub recipient: Option<RecipientRef>,
    /// Runs of this tenant.
    pub tenant: Option<String>,
    /// Runs of this workflow run.
    pub workflow_run_id: Option<Uuid>,
    /// Only runs with (`true`) or without (`false`) errors.
    pub has_errors: Option<bool>,
}

/// The active recipient runs of a workflow run, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActiveRuns {
    /// The runs that decode, in the order they were stored.
    pub runs: Vec<RecipientRun>,
    /// Active runs whose stored item cannot be decoded: they can only be ended, with
    /// [`Runs::end_unreadable_run`], so they never hold up the others.
    pub unreadable: Vec<Uuid>,
}

/// What a cancel matches: the active runs of a (workflow, cancellation key), optionally only some
/// recipients'.
#[derive(Debug, Clone)]
pub struct CancelFilter {
    /// The workflow key.
    pub workflow_key: String,
    /// The cancellation key.
    pub cancellation_key: String,
    /// Only these recipients; `None` for all.
    pub recipients: Option<Vec<RecipientRef>>,
}

/// Workflow runs (one per trigger) and their recipient runs with their event history. Every
/// state change is atomic and conditional: implementations never read, decide and write back
/// across calls.
#[async_trait]
pub trait Runs: Send + Sync {
    /// Stores a workflow run, all its recipient runs and its fan-out (if it triggered objects),
    /// all or nothing: a cancel sees either none of them or all. Storing the same run again
    /// (a retry) is not an error and changes nothing.
    async fn insert_run(
        &self,
        run: &WorkflowRun,
        recipients: &[RecipientRun],
        fanout: Option<&FanOut>,
    ) -> Result<(), StoreError>;

    /// A recipient run by id.
    async fn get_recipient_run(&self, id: Uuid) -> Result<Option<RecipientRun>, StoreError>;

    /// The events of a recipient run, oldest first.
    async fn recipient_run_events(&self, id: Uuid) -> Result<Vec<RunEvent>, StoreError>;

    /// The active (queued, processing, paused) recipient runs of a workflow run; one whose
    /// item cannot be decoded is reported by id, not as an error.
    async fn active_recipient_runs(&self, workflow_run_id: Uuid) -> Result<ActiveRuns, StoreError>;

    /// Ends the active run `id` of `workflow_run_id` whose item cannot be decoded: status
    /// completed, one more error, `event` appended, without reading the item.
    /// [`Write::LostRace`] if it is no longer active.
    async fn end_unreadable_run(
        &self,
        workflow_run_id: Uuid,
        id: Uuid,
        event: &RunEvent,
    ) -> Result<Write, StoreError>;

    /// Lists recipient runs, newest first; a run whose item cannot be decoded is left out of
    /// the page (which may then be shorter; its cursors stay valid).
    async fn list_recipient_runs(
        &self,
        query: &RunQuery,
        page: &PageRequest,
    ) -> Result<Page<RecipientRun>, StoreError>;

    /// Applies `transition` if the run is still active and at `transition.from_cursor`
    /// ([`Write::LostRace`] otherwise). The message is created only if none with its id exists.
    async fn transition(&self, transition: &Transition) -> Result<Write, StoreError>;

    /// Cancels the active runs matching `filter` and returns them. After this returns, no
    /// transition of those runs can be applied, no fan-out of the same (workflow, cancellation
    /// key) creates a run `filter` matches, and the matching activities of open batches are
    /// cancelled. A run waiting for the batch it opened is not cancelled while the batch is
    /// open (only its activity is).
    async fn cancel(
        &self,
        filter: &CancelFilter,
        at: DateTime<Utc>,
    ) -> Result<Vec<CancelledRun>, StoreError>;
}
