//! Executing recipient runs: step by step, each step one conditional transition.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::delay::{delay_until, DelayOutcome};
use super::{scope, Engine};
use crate::definition::{ChannelStep, Step, Workflow};
use crate::error::EngineError;
use crate::ids;
use crate::message::{DeliveryStatus, Message, MessageContent};
use crate::preference::{evaluate, Target, Verdict};
use crate::run::{RecipientRun, RunEvent, RunStatus, Transition};
use crate::template::markdown_to_html;

/// Recipient runs one resume advances at most before handing the rest to another pass.
pub const RUNS_PER_RESUME: usize = 1_000;

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
        let runs = self.store.active_recipient_runs(workflow_run_id).await?;
        let mut report = ResumeReport::default();
        let mut more_runs = false;
        for run in runs {
            if report.completed + report.paused >= self.budget.runs {
                more_runs = true;
                break;
            }
            match self.advance(run, now).await? {
                Outcome::Completed => report.completed += 1,
                Outcome::Paused => report.paused += 1,
                Outcome::Untouched => report.untouched += 1,
            }
        }
        if more_fanout || more_runs {
            report.more = true;
            self.waker.run_now(workflow_run_id).await?;
        }
        Ok(report)
    }

    async fn advance(
        &self,
        mut run: RecipientRun,
        now: DateTime<Utc>,
    ) -> Result<Outcome, EngineError> {
        let Some(workflow) = self.workflows.get(&run.workflow_key) else {
            let event = RunEvent::error(
                "workflow_missing",
                None,
                json!({"message": format!("workflow `{}` is no longer loaded", run.workflow_key)}),
                now,
            );
            self.apply(
                &run,
                run.cursor,
                RunStatus::Completed,
                None,
                None,
                vec![event],
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
            if run.status == RunStatus::Paused {
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
            let step_count = u32::try_from(workflow.steps.len()).unwrap_or(u32::MAX);
            let applied = if run.cursor >= step_count {
                let event =
                    RunEvent::ok("workflow_recipient_run_completed", None, Value::Null, now);
                self.apply(
                    &run,
                    step_count,
                    RunStatus::Completed,
                    None,
                    None,
                    vec![event],
                    now,
                )
                .await?
            } else {
                let step = &workflow.steps[run.cursor as usize];
                // One read of recipient, actor and tenant per advance: its steps all run at
                // the same instant, so they see the same recipient.
                let scope = match scope {
                    Some(ref built) => built,
                    None => scope.insert(scope::build(self.store.as_ref(), &workflow, &run).await?),
                };
                self.execute_step(&workflow, step, &run, scope, now).await?
            };
            match applied {
                Some(next) if next.status == RunStatus::Paused => return Ok(Outcome::Paused),
                Some(next) if next.status == RunStatus::Completed => return Ok(Outcome::Completed),
                Some(next) => run = next,
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
        step: &Step,
        run: &RecipientRun,
        scope: &Value,
        now: DateTime<Utc>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let here = Some((step.step_ref(), step.type_name()));
        let next = run.cursor + 1;
        if run.cursor == 0 {
            if let Some(conditions) = &workflow.conditions {
                if !conditions.evaluate(scope, now) {
                    // Knock: a recipient failing the trigger conditions gets no steps at all.
                    let event = RunEvent::ok(
                        "trigger_conditions_not_met",
                        None,
                        json!({"reason": "the workflow's trigger conditions are not met"}),
                        now,
                    );
                    let end = u32::try_from(workflow.steps.len()).unwrap_or(u32::MAX);
                    return self
                        .apply(run, end, RunStatus::Completed, None, None, vec![event], now)
                        .await;
                }
            }
        }
        if let Some(conditions) = step.conditions() {
            if !conditions.evaluate(scope, now) {
                let event = RunEvent::ok(
                    "step_skipped",
                    here,
                    json!({"reason": "step conditions not met"}),
                    now,
                );
                return self.continue_with(run, event, now).await;
            }
        }
        match step {
            Step::Delay(delay) => {
                if run.settings.skip_delay {
                    let event =
                        RunEvent::ok("delay_skipped", here, json!({"reason": "skip_delay"}), now);
                    return self.continue_with(run, event, now).await;
                }
                match delay_until(delay, scope, now) {
                    DelayOutcome::Until(at) => {
                        // Register the wake-up before pausing: a crash in between leaves an extra
                        // wake-up (harmless), never a paused run that nothing wakes.
                        self.waker.wake_at(run.workflow_run_id, at).await?;
                        let event = RunEvent::ok(
                            "delay_started",
                            here,
                            json!({"until": at.to_rfc3339()}),
                            now,
                        );
                        self.apply(
                            run,
                            next,
                            RunStatus::Paused,
                            Some(at),
                            None,
                            vec![event],
                            now,
                        )
                        .await
                    }
                    DelayOutcome::Elapsed(at) => {
                        let event = RunEvent::ok(
                            "delay_elapsed",
                            here,
                            json!({"until": at.to_rfc3339()}),
                            now,
                        );
                        self.continue_with(run, event, now).await
                    }
                    DelayOutcome::Invalid(reason) => {
                        let event =
                            RunEvent::error("delay_skipped", here, json!({"message": reason}), now);
                        self.continue_with(run, event, now).await
                    }
                }
            }
            Step::Channel(channel) => {
                // Preferences are read when the step runs (after any delay), not at trigger.
                if !workflow.override_preferences {
                    let set = self
                        .effective_preferences(
                            &run.recipient,
                            run.tenant.as_deref(),
                            &scope["tenant"],
                        )
                        .await?;
                    let target = Target {
                        workflow_key: &workflow.key,
                        categories: &workflow.categories,
                        channel_type: channel.channel_type.as_str(),
                        channel_key: &channel.channel_key,
                        commercial: workflow.is_commercial,
                    };
                    if let Verdict::Skip { reason } = evaluate(set.as_ref(), &target, scope, now) {
                        let event = RunEvent::ok(
                            "step_skipped",
                            here,
                            json!({"reason": "recipient preferences opt out", "detail": reason}),
                            now,
                        );
                        return self.continue_with(run, event, now).await;
                    }
                }
                match render(channel, scope) {
                    Ok(content) => {
                        let message = self.new_message(workflow, channel, run, content, now);
                        let event = RunEvent::ok(
                            "message_created",
                            here,
                            json!({"message_id": message.id.to_string()}),
                            now,
                        );
                        self.apply(
                            run,
                            next,
                            RunStatus::Processing,
                            None,
                            Some(message),
                            vec![event],
                            now,
                        )
                        .await
                    }
                    Err(reason) => {
                        // A template that cannot render will not render on retry: halt the run.
                        let event =
                            RunEvent::error("step_failed", here, json!({"message": reason}), now);
                        let end = u32::try_from(workflow.steps.len()).unwrap_or(u32::MAX);
                        self.apply(run, end, RunStatus::Completed, None, None, vec![event], now)
                            .await
                    }
                }
            }
        }
    }

    fn new_message(
        &self,
        workflow: &Workflow,
        channel: &ChannelStep,
        run: &RecipientRun,
        content: MessageContent,
        now: DateTime<Utc>,
    ) -> Message {
        Message {
            id: ids::message_id(run.id, &channel.step_ref),
            channel_key: channel.channel_key.clone(),
            channel_type: channel.channel_type,
            recipient: run.recipient.clone(),
            actors: run.actor.iter().cloned().collect(),
            workflow_key: workflow.key.clone(),
            categories: workflow.categories.clone(),
            workflow_run_id: run.workflow_run_id,
            recipient_run_id: run.id,
            step_ref: channel.step_ref.clone(),
            tenant: run.tenant.clone(),
            data: run.data.clone(),
            status: if run.settings.sandbox_mode {
                DeliveryStatus::NotSent
            } else {
                // In-app messages are delivered the moment they exist.
                DeliveryStatus::Delivered
            },
            content,
            engagements: Vec::new(),
            inserted_at: now,
            updated_at: now,
        }
    }

    /// Moves past the current step, recording `event`.
    async fn continue_with(
        &self,
        run: &RecipientRun,
        event: RunEvent,
        now: DateTime<Utc>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let next = run.cursor + 1;
        self.apply(
            run,
            next,
            RunStatus::Processing,
            None,
            None,
            vec![event],
            now,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        run: &RecipientRun,
        to_cursor: u32,
        status: RunStatus,
        wake_at: Option<DateTime<Utc>>,
        message: Option<Message>,
        events: Vec<RunEvent>,
        now: DateTime<Utc>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let errors = events
            .iter()
            .filter(|e| e.status == crate::run::EventStatus::Error)
            .count() as u32;
        let transition = Transition {
            run_id: run.id,
            workflow_run_id: run.workflow_run_id,
            workflow_key: run.workflow_key.clone(),
            cancellation_key: run.cancellation_key.clone(),
            from_cursor: run.cursor,
            to_cursor,
            status,
            wake_at,
            message,
            events,
            at: now,
        };
        if !self.store.transition(&transition).await? {
            return Ok(None);
        }
        let mut next = run.clone();
        next.cursor = to_cursor;
        next.status = status;
        next.wake_at = wake_at;
        next.error_count += errors;
        next.updated_at = now;
        Ok(Some(next))
    }
}

fn render(channel: &ChannelStep, scope: &Value) -> Result<MessageContent, String> {
    let markdown = channel
        .markdown_body
        .render(scope)
        .map_err(|e| e.to_string())?;
    let action_url = match &channel.action_url {
        Some(t) => Some(t.render(scope).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok(MessageContent {
        html: markdown_to_html(&markdown),
        markdown,
        action_url,
    })
}
