//! Batch steps: open, join, wait for and close batches (see [`crate::batch`]).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::StepContext;
use crate::batch::{flatten, group_key, shown, summarize, Batch, BatchActivity, BatchStatus};
use crate::data::RunData;
use crate::definition::{BatchKey, BatchStep};
use crate::engine::execute::Change;
use crate::engine::window::{ahead, resolve_path, timezone};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::path;
use crate::ports::Write;
use crate::run::{RecipientRun, RunBatch, RunEvent, RunStatus};

/// How often a run retries joining or opening when other runs keep changing the batch first.
const ATTEMPTS: usize = 50;

/// Renders a batch or throttle key against the scope; `""` when the step has none. A key over
/// [`crate::limits::MAX_ID_BYTES`] is refused (the step is skipped), as on every store it is
/// part of a store key.
pub(super) fn render_key(key: Option<&BatchKey>, scope: &Value) -> Result<String, String> {
    let rendered = match key {
        None => String::new(),
        Some(BatchKey::Template(t)) => t.render(scope).map_err(|e| e.to_string())?,
        Some(BatchKey::Path(p)) => match path::resolve(scope, p) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        },
    };
    if rendered.len() > crate::limits::MAX_ID_BYTES {
        return Err(format!(
            "the key is {} bytes, more than {}",
            rendered.len(),
            crate::limits::MAX_ID_BYTES
        ));
    }
    Ok(rendered)
}

/// The id of the batch `run` opens at `step_ref`: retries of the same open give the same id.
fn batch_id(run: &RecipientRun, step_ref: &str) -> Uuid {
    Uuid::new_v5(&run.id, format!("batch:{step_ref}").as_bytes())
}

fn activity(batch_id: Uuid, run: &RecipientRun, now: DateTime<Utc>) -> BatchActivity {
    BatchActivity {
        batch_id,
        run_id: run.id,
        workflow_run_id: run.workflow_run_id,
        workflow_key: run.workflow_key.clone(),
        cancellation_key: run.cancellation_key.clone(),
        recipient: run.recipient.clone(),
        actor: run.actor.clone(),
        data: run.data.clone(),
        inserted_at: now,
        cancelled: false,
    }
}

/// A flush-leading window is stored as a closed batch without activities whose window has not
/// ended: the first run went on alone, and the next one opens the batch that accumulates.
fn is_leading_window(b: &Batch, now: DateTime<Utc>) -> bool {
    b.status == BatchStatus::Closed && b.count == 0 && b.closes_at > now
}

impl Engine {
    /// A batch step.
    pub(in crate::engine) async fn batch_step(
        &self,
        cx: StepContext<'_, BatchStep>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let (workflow, step, run, scope, now) = cx.parts();
        if let Some(link) = &run.batch {
            if link.summary.is_none() {
                return self.wait_or_close(cx, link).await;
            }
        }
        let here = Some((step.step_ref.as_str(), "batch"));
        let key = match render_key(step.key.as_ref(), scope) {
            Ok(k) => k,
            Err(why) => {
                let event = RunEvent::error("step_skipped", here, json!({"message": why}), now);
                return self.continue_with(workflow, run, event, now).await;
            }
        };
        let group = group_key(&workflow.key, &step.step_ref, &run.recipient, &key);
        for _ in 0..ATTEMPTS {
            let current = self.store.current_batch(&group).await?;
            let outcome = match &current {
                Some(b) if b.status == BatchStatus::Open && !b.is_full() => {
                    self.join(cx, b).await?
                }
                _ => self.open(cx, &group, &key, current.as_ref()).await?,
            };
            match outcome {
                Attempt::Done(next) => return Ok(next.map(|b| *b)),
                Attempt::Raced => {
                    // The batch changed under us; unless the run itself moved on, look again.
                    match self.store.get_recipient_run(run.id).await? {
                        Some(now_run)
                            if now_run.status.is_active()
                                && now_run.cursor == run.cursor
                                && now_run.batch == run.batch => {}
                        _ => return Ok(None),
                    }
                }
            }
        }
        Err(EngineError::Store(crate::error::StoreError::Contention(
            format!("batch `{group}` kept changing; the run will be retried"),
        )))
    }

    async fn join(
        &self,
        cx: StepContext<'_, BatchStep>,
        batch: &Batch,
    ) -> Result<Attempt, EngineError> {
        let (workflow, step, run, _, now) = cx.parts();
        let here = Some((step.step_ref.as_str(), "batch"));
        let closes_at = match (step.sliding, step.window, step.extension_limit) {
            (true, Some(window), Some(limit)) => {
                let slid = window.add_to(now).unwrap_or(batch.closes_at);
                let cap = limit.add_to(batch.opened_at).unwrap_or(batch.closes_at);
                Some(slid.min(cap))
            }
            _ => None,
        };
        let event = RunEvent::ok(
            "batch_joined",
            here,
            json!({"batch_id": batch.id.to_string(), "workflow_recipient_run_id": batch.opener_run_id.to_string()}),
            now,
        );
        // Knock: the run of a later trigger ends when its activity joins the open batch.
        let change = Change::to(workflow.end(), RunStatus::Completed).event(event);
        let transition = self.transition(run, change, now);
        let activity = activity(batch.id, run, now);
        if self
            .store
            .join_batch(&activity, closes_at, &transition)
            .await?
            == Write::LostRace
        {
            return Ok(Attempt::Raced);
        }
        let full = match batch.max_items {
            Some(_) => self
                .store
                .get_batch(batch.id)
                .await?
                .is_some_and(|b| b.is_full()),
            None => false,
        };
        if full || closes_at.unwrap_or(batch.closes_at) <= now {
            // Full (or overdue): the opener closes it now rather than at the window's end.
            self.wake_now(batch.opener_workflow_run_id).await?;
        }
        Ok(Attempt::Done(Some(Box::new(Self::applied(
            run, transition,
        )))))
    }

    async fn open(
        &self,
        cx: StepContext<'_, BatchStep>,
        group: &str,
        key: &str,
        current: Option<&Batch>,
    ) -> Result<Attempt, EngineError> {
        let (workflow, step, run, scope, now) = cx.parts();
        let here = Some((step.step_ref.as_str(), "batch"));
        let leading = current.filter(|b| is_leading_window(b, now));
        // The window opens at the first trigger; a dynamic end is read once, when it opens.
        let closes_at = match (leading, &step.until_field_path, step.window) {
            (Some(lead), _, _) => Ok(lead.closes_at),
            (None, Some(p), _) => {
                resolve_path(scope, p, now, timezone(scope, self.default_timezone))
            }
            (None, None, Some(w)) => w.add_to(now).ok_or_else(|| "the window overflows".into()),
            (None, None, None) => Err("no window".to_string()),
        };
        let closes_at = match ahead(closes_at, now) {
            Ok(t) => t,
            Err(why) => {
                let event = RunEvent::error("step_skipped", here, json!({"message": why}), now);
                let next = self.continue_with(workflow, run, event, now).await?;
                return Ok(Attempt::Done(next.map(Box::new)));
            }
        };
        let id = batch_id(run, &step.step_ref);
        let mut batch = Batch {
            id,
            group: group.to_string(),
            workflow_key: workflow.key.clone(),
            step_ref: step.step_ref.clone(),
            recipient: run.recipient.clone(),
            batch_key: key.to_string(),
            opener_run_id: run.id,
            opener_workflow_run_id: run.workflow_run_id,
            status: BatchStatus::Open,
            count: 1,
            max_items: step.max_items,
            opened_at: leading.map_or(now, |l| l.opened_at),
            closes_at,
        };
        let replaces = current.map(|b| b.id);
        if step.flush_leading && leading.is_none() {
            // The first activity goes on alone; its window collects the ones after it.
            batch.status = BatchStatus::Closed;
            batch.count = 0;
            let event = RunEvent::ok(
                "batch_flushed_leading",
                here,
                json!({"batch_id": id.to_string()}),
                now,
            );
            let change = Change::to(workflow.after(run.cursor), RunStatus::Processing).event(event);
            let transition = self.transition(run, change, now);
            let applied = self
                .store
                .open_batch(&batch, replaces, None, &transition)
                .await?;
            return Ok(if applied.applied() {
                Attempt::Done(Some(Box::new(Self::applied(run, transition))))
            } else {
                Attempt::Raced
            });
        }
        // Register the wake-up before pausing, as a delay does: one per window, on the opener.
        self.waker.wake_at(run.workflow_run_id, closes_at).await?;
        let event = RunEvent::ok(
            "batch_opened",
            here,
            json!({"batch_id": id.to_string(), "closes_at": closes_at.to_rfc3339()}),
            now,
        );
        let change = Change::to(run.cursor, RunStatus::Paused)
            .wake(closes_at)
            .batch(RunBatch {
                id,
                open: true,
                summary: None,
            })
            .event(event);
        let transition = self.transition(run, change, now);
        let activity = activity(id, run, now);
        let applied = self
            .store
            .open_batch(&batch, replaces, Some(&activity), &transition)
            .await?;
        Ok(if applied.applied() {
            Attempt::Done(Some(Box::new(Self::applied(run, transition))))
        } else {
            Attempt::Raced
        })
    }

    /// The opener woke: sleep on if the window moved, else close the batch and go on with it.
    async fn wait_or_close(
        &self,
        cx: StepContext<'_, BatchStep>,
        link: &RunBatch,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let (workflow, step, run, _, now) = cx.parts();
        let here = Some((step.step_ref.as_str(), "batch"));
        let mut run = run.clone();
        if link.open {
            let Some(batch) = self.store.get_batch(link.id).await? else {
                return Err(EngineError::Store(crate::error::StoreError::Corrupt(
                    format!("batch {} of run {} is missing", link.id, run.id),
                )));
            };
            if batch.status == BatchStatus::Open && batch.closes_at > now && !batch.is_full() {
                // Woken early (a Scheduler wake-up comes up to a minute early; a sliding
                // window moved): make sure the window's end is registered, then sleep on.
                self.waker
                    .wake_at(run.workflow_run_id, batch.closes_at)
                    .await?;
                if run.wake_at == Some(batch.closes_at) && run.status == RunStatus::Paused {
                    return Ok(Some(run));
                }
                let change = Change::to(run.cursor, RunStatus::Paused).wake(batch.closes_at);
                return self.apply(&run, change, now).await;
            }
            let closed = RunBatch {
                id: link.id,
                open: false,
                summary: None,
            };
            let change = Change::to(run.cursor, RunStatus::Processing).batch(closed);
            let transition = self.transition(&run, change, now);
            // Close it together with the link; if it is closed already, only the link is left.
            let applied = if batch.status == BatchStatus::Open {
                self.store.close_batch(batch.id, &transition).await?
            } else {
                self.store.transition(&transition).await?
            };
            if applied == Write::LostRace {
                return Ok(None);
            }
            run = Self::applied(&run, transition);
        }
        // Closed: its activities no longer change, so reading them now is exact.
        let listed = self.store.batch_activities(link.id).await?;
        let shown = shown(listed.iter(), step.order, step.render_limit);
        let mut activities = Vec::with_capacity(listed.len());
        for (activity, shown) in listed.into_iter().zip(shown) {
            let data = self.data_of(&activity.data).await?;
            // Only rendered activities keep their whole data: a batch of a hundred 10 MB
            // triggers holds ten of them at most.
            let data = if shown { data } else { flatten(&data) };
            activities.push((activity, data));
        }
        let summary = summarize(&activities, step.order, step.render_limit);
        let total = summary.vars["total_activities"].as_u64().unwrap_or(0);
        let data = json!({"batch_id": link.id.to_string(), "total_activities": total});
        if total == 0 {
            // Knock: a batch whose activities were all cancelled closes empty and sends nothing.
            let event = RunEvent::ok("batch_closed_empty", here, data, now);
            return self.halt(workflow, &run, event, now).await;
        }
        let event = RunEvent::ok("batch_closed", here, data, now);
        let change = Change::to(workflow.after(run.cursor), RunStatus::Processing)
            .data(RunData::of(self.keep_data(summary.data).await?))
            .batch(RunBatch {
                id: link.id,
                open: false,
                summary: Some(summary.vars),
            })
            .event(event);
        self.apply(&run, change, now).await
    }

    /// Closes the open `batch` now (the flush endpoint): its opener is woken and continues
    /// with what the batch holds. Returns whether the batch was open.
    pub async fn flush_batch(&self, batch: &Batch) -> Result<bool, EngineError> {
        let now = self.now();
        if self.store.flush_batch(batch.id, now).await? == Write::LostRace {
            return Ok(false);
        }
        self.waker
            .wake_at(batch.opener_workflow_run_id, now)
            .await?;
        Ok(true)
    }
}

/// One try at opening or joining.
enum Attempt {
    /// It took effect (or the step moved on without a batch): the run as it is now.
    Done(Option<Box<RecipientRun>>),
    /// Someone changed the batch first; look again.
    Raced,
}
