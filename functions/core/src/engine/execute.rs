//! Executing recipient runs: step by step, each step one conditional transition.

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Value};
use uuid::Uuid;

use super::steps::StepContext;
use super::{scope, Engine};
use crate::data::RunData;
use crate::definition::{Step, Workflow};
use crate::error::EngineError;
use crate::message::Message;
use crate::ports::Write;
use crate::run::{RecipientRun, RunBatch, RunEvent, RunStatus, Transition};

/// Recipient runs one resume advances at most before handing the rest to another pass.
pub const RUNS_PER_RESUME: usize = 1_000;

/// Recipient runs one resume advances at once (their fetches and deliveries overlap).
pub const RUN_CONCURRENCY: usize = 16;

/// The most run data (as stored JSON) the runs advancing at once may hold: each reads its data
/// into its own scope, so runs with large data advance fewer at a time (at least one).
pub const DATA_IN_FLIGHT_BYTES: usize = 32 * 1024 * 1024;

/// What one [`Engine::resume`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeReport {
    /// Recipient runs that reached the end.
    pub completed: usize,
    /// Recipient runs now paused.
    pub paused: usize,
    /// Recipient runs left alone (not due, or changed by someone else).
    pub untouched: usize,
    /// Whether work was left for another pass (already requested from the waker).
    pub more: bool,
}

enum Outcome {
    Completed,
    Paused,
    Untouched,
}

impl Engine {
    /// Advances every active recipient run of `workflow_run_id` that is due, as far as it goes.
    ///
    /// Safe to call any number of times, concurrently, and for cancelled or finished runs: each
    /// step is a conditional transition, so a step takes effect at most once and never after a
    /// cancel. All runs reaching a delay in one call share the same `now`, so a thousand
    /// recipients delayed by the same step need one wake-up.
    ///
    /// One call does a bounded amount of work (fan-out pages, recipient runs advanced) so a
    /// function invocation stays inside its time limit; when work is left it asks the waker for
    /// another pass.
    pub async fn resume(&self, workflow_run_id: Uuid) -> Result<ResumeReport, EngineError> {
        let more_fanout = self
            .expand_fanout(workflow_run_id, self.budget.fanout_steps)
            .await?;
        let now = self.now();
        let active = self.store.active_recipient_runs(workflow_run_id).await?;
        let mut report = ResumeReport::default();
        // A run that could not finish its step for a transient reason (the store, the waker)
        // fails the pass once the others are done, so the wake-up is tried again.
        let mut transient = None;
        for id in active.unreadable {
            let why = json!({"message": "the run's stored state could not be read"});
            match self.end_unread(workflow_run_id, id, why, now).await {
                Ok(ended) => report.completed += usize::from(ended),
                Err(e) if e.is_transient() => {
                    transient.get_or_insert(e);
                }
                // Refused for good: it cannot run, and it must not stop the others.
                Err(e) => {
                    tracing::error!(%workflow_run_id, recipient_run_id = %id, error = %e, "could not end an unreadable run")
                }
            }
        }
        // Recipient runs advance side by side, at most RUN_CONCURRENCY (and
        // DATA_IN_FLIGHT_BYTES of data) at once: one slow fetch or delivery does not hold up a
        // thousand recipients, and one run's failure is its own (see `advance`).
        let mut waiting = active
            .runs
            .into_iter()
            .map(|run| (run.data.approx_bytes(), run))
            .peekable();
        let mut in_flight = FuturesUnordered::new();
        let mut data_in_flight = 0;
        loop {
            while in_flight.len() < RUN_CONCURRENCY
                && report.completed + report.paused + in_flight.len() < self.budget.runs
            {
                let fits = |bytes: usize| {
                    in_flight.is_empty() || data_in_flight + bytes <= DATA_IN_FLIGHT_BYTES
                };
                let Some((bytes, run)) = waiting.next_if(|(bytes, _)| fits(*bytes)) else {
                    break;
                };
                data_in_flight += bytes;
                in_flight.push(async move { (bytes, self.advance(run, now).await) });
            }
            let Some((bytes, outcome)) = in_flight.next().await else {
                break;
            };
            data_in_flight -= bytes;
            match outcome {
                Ok(Outcome::Completed) => report.completed += 1,
                Ok(Outcome::Paused) => report.paused += 1,
                Ok(Outcome::Untouched) => report.untouched += 1,
                Err(e) => {
                    tracing::warn!(%workflow_run_id, error = %e, "a recipient run will be retried");
                    transient.get_or_insert(e);
                }
            }
        }
        if let Some(e) = transient {
            return Err(e);
        }
        let more_runs = waiting.peek().is_some();
        if more_fanout || more_runs {
            report.more = true;
            self.wake_now(workflow_run_id).await?;
        }
        Ok(report)
    }

    /// Ends a run without reading or rewriting its item (it cannot be read, or refused a
    /// larger write), with a failure event carrying `data`; whether it was still active.
    async fn end_unread(
        &self,
        workflow_run_id: Uuid,
        id: Uuid,
        data: Value,
        now: DateTime<Utc>,
    ) -> Result<bool, EngineError> {
        tracing::error!(%workflow_run_id, recipient_run_id = %id, "ending a recipient run without reading it");
        let event = RunEvent::error("workflow_recipient_run_failed", None, data, now);
        Ok(self
            .store
            .end_unreadable_run(workflow_run_id, id, &event)
            .await?
            .applied())
    }

    /// Advances one run as far as it goes. A failure that would recur on every try (a stored
    /// value that cannot be read back, a write the store refuses) ends this run with the error
    /// recorded on it; a transient one is returned, for the pass to be tried again.
    async fn advance(
        &self,
        mut run: RecipientRun,
        now: DateTime<Utc>,
    ) -> Result<Outcome, EngineError> {
        match self.advance_steps(&mut run, now).await {
            Err(e) if !e.is_transient() => self.fail(&run, &e, now).await,
            outcome => outcome,
        }
    }

    async fn fail(
        &self,
        run: &RecipientRun,
        error: &EngineError,
        now: DateTime<Utc>,
    ) -> Result<Outcome, EngineError> {
        tracing::error!(recipient_run_id = %run.id, %error, "a recipient run failed");
        let workflow = self.known_workflow_of(run);
        let step = workflow
            .as_ref()
            .and_then(|w| w.steps.get(run.cursor as usize));
        let here = step.map(|s| (s.step_ref(), s.type_name()));
        let event = RunEvent::error(
            "workflow_recipient_run_failed",
            here,
            json!({"message": failure_message(error)}),
            now,
        );
        let end = workflow.as_ref().map_or(run.cursor, |w| w.end());
        match self
            .apply(run, Change::to(end, RunStatus::Completed).event(event), now)
            .await
        {
            Ok(Some(_)) => Ok(Outcome::Completed),
            Ok(None) => Ok(Outcome::Untouched),
            // The run cannot record its failure with its step's event (its item refused): end
            // it with the smallest write there is, so it never runs its step again.
            Err(e) if !e.is_transient() => {
                tracing::error!(recipient_run_id = %run.id, error = %e, "could not record a run's failure");
                match self
                    .end_unread(run.workflow_run_id, run.id, Value::Null, now)
                    .await
                {
                    Ok(_) => Ok(Outcome::Completed),
                    Err(e) if e.is_transient() => Err(e),
                    Err(e) => {
                        tracing::error!(recipient_run_id = %run.id, error = %e, "a run could not be ended");
                        Ok(Outcome::Untouched)
                    }
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn advance_steps(
        &self,
        run: &mut RecipientRun,
        now: DateTime<Utc>,
    ) -> Result<Outcome, EngineError> {
        let Some(workflow) = self.workflow_of(run).await? else {
            let event = RunEvent::error(
                "workflow_missing",
                None,
                json!({"message": format!("workflow `{}` is no longer loaded", run.workflow_key)}),
                now,
            );
            self.apply(
                run,
                Change::to(run.cursor, RunStatus::Completed).event(event),
                now,
            )
            .await?;
            return Ok(Outcome::Completed);
        };
        let mut first = true;
        let mut scope: Option<Value> = None;
        loop {
            if !run.status.is_active() {
                return Ok(if first {
                    Outcome::Untouched
                } else {
                    Outcome::Completed
                });
            }
            // A run holding an open batch is woken early on purpose (full, flushed): its batch
            // step decides whether to close.
            let holds_batch = run.batch.as_ref().is_some_and(|b| b.open);
            if run.status == RunStatus::Paused && !holds_batch {
                if let Some(at) = run.wake_at.filter(|at| *at > now) {
                    // Early or re-delivered wake-up: make sure the real one is registered.
                    self.waker.wake_at(run.workflow_run_id, at).await?;
                    return Ok(if first {
                        Outcome::Untouched
                    } else {
                        Outcome::Paused
                    });
                }
            }
            first = false;
            let end = workflow.end();
            let applied = if run.cursor >= end {
                let event =
                    RunEvent::ok("workflow_recipient_run_completed", None, Value::Null, now);
                self.apply(run, Change::to(end, RunStatus::Completed).event(event), now)
                    .await?
            } else {
                // One read of recipient, actor and tenant per advance: its steps all run at
                // the same instant, so they see the same recipient.
                let built = match scope {
                    Some(ref built) => built,
                    None => {
                        let data = self.data_of(&run.data).await?;
                        scope.insert(scope::build(self.store.as_ref(), &workflow, run, data).await?)
                    }
                };
                self.execute_step(&workflow, run, built, now).await?
            };
            match applied {
                Some(next) if next.status == RunStatus::Paused => return Ok(Outcome::Paused),
                Some(next) if next.status == RunStatus::Completed => return Ok(Outcome::Completed),
                Some(next) => {
                    // A step that changed what the scope shows (data, a closed batch) makes
                    // it be built again.
                    if next.data != run.data || next.batch != run.batch {
                        scope = None;
                    }
                    *run = next;
                }
                // Lost a race: a cancel stopped the run, or a concurrent resume advanced it and
                // carries it on from there. Either way this resume is done with it.
                None => return Ok(Outcome::Untouched),
            }
        }
    }

    /// Executes one step; returns the run as it is after the transition, or `None` if the
    /// transition lost a race.
    async fn execute_step(
        &self,
        workflow: &Workflow,
        run: &RecipientRun,
        scope: &Value,
        now: DateTime<Utc>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let step = &workflow.steps[run.cursor as usize];
        if let Step::Jump(_) = step {
            // A branch ended under an older definition's cursor: move on without an event.
            let to = workflow.resolve(run.cursor);
            return self
                .apply(run, Change::to(to, RunStatus::Processing), now)
                .await;
        }
        // A run waiting in its own batch or fetch retry is past its conditions already.
        let resuming = run.batch.as_ref().is_some_and(|b| b.summary.is_none()) || run.attempt > 0;
        if run.cursor == 0 && !resuming {
            if let Some(conditions) = &workflow.conditions {
                if !conditions.evaluate(scope, now) {
                    // Knock: a recipient failing the trigger conditions gets no steps at all.
                    let event = RunEvent::ok(
                        "trigger_conditions_not_met",
                        None,
                        json!({"reason": "the workflow's trigger conditions are not met"}),
                        now,
                    );
                    return self.halt(workflow, run, event, now).await;
                }
            }
        }
        let here = Some((step.step_ref(), step.type_name()));
        if let Some(conditions) = step.conditions().filter(|_| !resuming) {
            if !conditions.evaluate(scope, now) {
                let event = RunEvent::ok(
                    "step_skipped",
                    here,
                    json!({"reason": "step conditions not met"}),
                    now,
                );
                return self.continue_with(workflow, run, event, now).await;
            }
        }
        // One context per step type (a closure could not be generic over it).
        macro_rules! cx {
            ($step:expr) => {
                StepContext {
                    workflow,
                    step: $step,
                    run,
                    scope,
                    now,
                }
            };
        }
        match step {
            Step::Delay(delay) => self.delay_step(cx!(delay)).await,
            Step::Channel(channel) => self.channel_step(cx!(channel)).await,
            Step::Batch(batch) => self.batch_step(cx!(batch)).await,
            Step::Throttle(throttle) => self.throttle_step(cx!(throttle)).await,
            Step::Branch(branch) => self.branch_step(cx!(branch)).await,
            Step::Fetch(fetch) => self.fetch_step(cx!(fetch)).await,
            Step::TriggerWorkflow(t) => self.trigger_step(cx!(t)).await,
            Step::Jump(_) => Ok(None),
        }
    }

    /// Moves past the current step, recording `event`.
    pub(super) async fn continue_with(
        &self,
        workflow: &Workflow,
        run: &RecipientRun,
        event: RunEvent,
        now: DateTime<Utc>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let next = workflow.after(run.cursor);
        self.apply(
            run,
            Change::to(next, RunStatus::Processing).event(event),
            now,
        )
        .await
    }

    /// Ends the run here, recording `event` (a failure, a throttle, a batch joined).
    pub(super) async fn halt(
        &self,
        workflow: &Workflow,
        run: &RecipientRun,
        event: RunEvent,
        now: DateTime<Utc>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        self.apply(
            run,
            Change::to(workflow.end(), RunStatus::Completed).event(event),
            now,
        )
        .await
    }

    /// The transition that applies `change` to `run`.
    pub(super) fn transition(
        &self,
        run: &RecipientRun,
        change: Change,
        now: DateTime<Utc>,
    ) -> Transition {
        Transition {
            run_id: run.id,
            workflow_run_id: run.workflow_run_id,
            workflow_key: run.workflow_key.clone(),
            cancellation_key: run.cancellation_key.clone(),
            from_cursor: run.cursor,
            from_holding: run.batch.as_ref().is_some_and(|b| b.open),
            to_cursor: change.to_cursor,
            status: change.status,
            wake_at: change.wake_at,
            message: change.message,
            events: change.events,
            data: change.data,
            batch: change.batch,
            attempt: change.attempt,
            at: now,
        }
    }

    /// The run as it is after `transition` was applied to it.
    pub(super) fn applied(run: &RecipientRun, t: Transition) -> RecipientRun {
        let errors = t.error_count();
        let mut next = run.clone();
        next.cursor = t.to_cursor;
        next.status = t.status;
        next.wake_at = t.wake_at;
        next.error_count += errors;
        next.attempt = t.attempt;
        if let Some(data) = t.data {
            next.data = data;
        }
        if let Some(batch) = t.batch {
            next.batch = Some(batch);
        }
        next.updated_at = t.at;
        next
    }

    /// Applies `change` to `run` if it is still where this resume saw it.
    pub(super) async fn apply(
        &self,
        run: &RecipientRun,
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let transition = self.transition(run, change, now);
        if self.store.transition(&transition).await? == Write::LostRace {
            return Ok(None);
        }
        Ok(Some(Self::applied(run, transition)))
    }
}

/// A change to a recipient run, built up by a step and applied as one [`Transition`].
#[derive(Debug)]
pub(super) struct Change {
    to_cursor: u32,
    status: RunStatus,
    wake_at: Option<DateTime<Utc>>,
    message: Option<Message>,
    events: Vec<RunEvent>,
    data: Option<RunData>,
    batch: Option<RunBatch>,
    attempt: u32,
}

impl Change {
    /// Moves the run to `to_cursor` with `status`; the step's attempts start over.
    pub(super) fn to(to_cursor: u32, status: RunStatus) -> Self {
        Self {
            to_cursor,
            status,
            wake_at: None,
            message: None,
            events: Vec::new(),
            data: None,
            batch: None,
            attempt: 0,
        }
    }

    /// Records an event.
    pub(super) fn event(mut self, event: RunEvent) -> Self {
        self.events.push(event);
        self
    }

    /// Pauses until `at` (with status `paused`).
    pub(super) fn wake(mut self, at: DateTime<Utc>) -> Self {
        self.wake_at = Some(at);
        self
    }

    /// Creates a message.
    pub(super) fn message(mut self, message: Message) -> Self {
        self.message = Some(message);
        self
    }

    /// Replaces the run's data.
    pub(super) fn data(mut self, data: RunData) -> Self {
        self.data = Some(data);
        self
    }

    /// Sets the run's batch link.
    pub(super) fn batch(mut self, batch: RunBatch) -> Self {
        self.batch = Some(batch);
        self
    }

    /// Sets the failed attempts of the step the run will be at.
    pub(super) fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }
}

/// What a run's failure event says: the kind of failure, without a backend's internals.
fn failure_message(error: &EngineError) -> String {
    match error {
        EngineError::Store(crate::error::StoreError::Corrupt(_)) => {
            "a stored value could not be read back".into()
        }
        EngineError::Store(crate::error::StoreError::Rejected(_)) => {
            "the store refused to record the step (too large?)".into()
        }
        other => other.to_string(),
    }
}
