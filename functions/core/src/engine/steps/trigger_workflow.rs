//! `trigger_workflow` steps: trigger another workflow from this run.

use serde_json::{json, Value};
use uuid::Uuid;

use super::StepContext;
use crate::definition::TriggerWorkflowStep;
use crate::engine::execute::Change;
use crate::engine::{Engine, TriggerRequest};
use crate::error::EngineError;
use crate::recipient::RecipientRef;
use crate::run::{RecipientRun, RunEvent, RunStatus};
use crate::template::Template;

impl Engine {
    /// A `trigger_workflow` step. The child's workflow run id is derived from this run and
    /// step, so a retried step finds the child it already stored instead of a second one.
    pub(in crate::engine) async fn trigger_step(
        &self,
        cx: StepContext<'_, TriggerWorkflowStep>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let (workflow, step, run, scope, now) = cx.parts();
        let here = Some((step.step_ref.as_str(), "trigger_workflow"));
        let body = match request_body(step, run, scope) {
            Ok(b) => b,
            Err(why) => {
                let event = RunEvent::error("step_failed", here, json!({"message": why}), now);
                return self.halt(workflow, run, event, now).await;
            }
        };
        let key = body.0;
        if self.workflows.get(&key).is_none() {
            // Knock: a missing (inactive, archived) target skips the step.
            let event = RunEvent::error(
                "step_skipped",
                here,
                json!({"message": format!("workflow `{key}` is not loaded")}),
                now,
            );
            return self.continue_with(workflow, run, event, now).await;
        }
        // First mark the step as under way: a cancel that returned before this mark means no
        // child; one after it is, as in Knock, a cancel after the step (cancel the child
        // with its own key). A crash after the mark retries with the same child id.
        let run = if run.attempt == 0 {
            match self
                .apply(
                    run,
                    Change::to(run.cursor, RunStatus::Processing).attempt(1),
                    now,
                )
                .await?
            {
                Some(marked) => marked,
                None => return Ok(None),
            }
        } else {
            run.clone()
        };
        let run = &run;
        let child = Uuid::new_v5(&run.id, format!("trigger:{}", step.step_ref).as_bytes());
        let request = match TriggerRequest::from_json(&body.1) {
            Ok(r) => r,
            Err(e) => {
                let event =
                    RunEvent::error("step_failed", here, json!({"message": e.to_string()}), now);
                return self.halt(workflow, run, event, now).await;
            }
        };
        match self.trigger_as(&key, request, child).await {
            Ok(id) => {
                let event = RunEvent::ok(
                    "workflow_triggered",
                    here,
                    json!({"workflow": key, "workflow_run_id": id.to_string()}),
                    now,
                );
                self.continue_with(workflow, run, event, now).await
            }
            Err(e @ (EngineError::InvalidParams(_) | EngineError::ActorMissing(_))) => {
                let event =
                    RunEvent::error("step_failed", here, json!({"message": e.to_string()}), now);
                self.halt(workflow, run, event, now).await
            }
            Err(e) => Err(e),
        }
    }
}

/// The target key and the trigger body, rendered with Knock's defaults.
fn request_body(
    step: &TriggerWorkflowStep,
    run: &RecipientRun,
    scope: &Value,
) -> Result<(String, Value), String> {
    let text = |t: &Template| t.render(scope).map_err(|e| e.to_string());
    let opt = |t: &Option<Template>| -> Result<Option<String>, String> {
        Ok(t.as_ref()
            .map(text)
            .transpose()?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    };
    let key = text(&step.workflow_key)?.trim().to_string();
    let recipients = match opt(&step.recipients)? {
        None => json!([reference(&run.recipient)]),
        Some(s) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Array(items)) => Value::Array(items),
            Ok(v @ Value::Object(_)) => json!([v]),
            _ => json!([s]),
        },
    };
    let actor = match opt(&step.actor)? {
        None => run.actor.as_ref().map(reference),
        Some(s) => Some(serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s))),
    };
    let tenant = match opt(&step.tenant)? {
        None => run.tenant.clone().map(Value::String),
        Some(s) => Some(Value::String(s)),
    };
    let data = match opt(&step.data)? {
        None => scope["data"].clone(),
        Some(s) => match serde_json::from_str::<Value>(&s) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(format!("`data` must render to a JSON object, got `{s}`")),
        },
    };
    let cancellation_key = match &step.cancellation_key {
        None => run.cancellation_key.clone(),
        Some(t) => Some(text(t)?.trim().to_string()).filter(|s| !s.is_empty()),
    };
    let mut body = json!({"recipients": recipients, "data": data});
    if let Some(a) = actor {
        body["actor"] = a;
    }
    if let Some(t) = tenant {
        body["tenant"] = t;
    }
    if let Some(k) = cancellation_key {
        body["cancellation_key"] = Value::String(k);
    }
    Ok((key, body))
}

/// A recipient as a trigger body names it: a user by id (no identify), an object by reference.
fn reference(r: &RecipientRef) -> Value {
    match &r.collection {
        None => Value::String(r.id.clone()),
        Some(c) => json!({"id": r.id, "collection": c}),
    }
}
