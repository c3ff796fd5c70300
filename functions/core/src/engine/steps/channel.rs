//! Channel steps: check the recipient's preferences, render the template, create the message.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::StepContext;
use crate::definition::{ChannelStep, Workflow};
use crate::engine::execute::Change;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::ids;
use crate::message::{DeliveryStatus, Message, MessageContent};
use crate::preference::{evaluate, Target, Verdict};
use crate::run::{RecipientRun, RunEvent, RunStatus};
use crate::template::markdown_to_html;

impl Engine {
    /// A channel step.
    pub(in crate::engine) async fn channel_step(
        &self,
        cx: StepContext<'_, ChannelStep>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let (workflow, channel, run, scope, now) = cx.parts();
        let here = Some((channel.step_ref.as_str(), "channel"));
        // Preferences are read when the step runs (after any delay), not at trigger.
        if !workflow.override_preferences {
            let set = self
                .effective_preferences(&run.recipient, run.tenant.as_deref(), &scope["tenant"])
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
                return self.continue_with(workflow, run, event, now).await;
            }
        }
        match render(channel, scope) {
            Ok(content) => {
                let message = new_message(workflow, channel, run, content, scope, now);
                let event = RunEvent::ok(
                    "message_created",
                    here,
                    json!({"message_id": message.id.to_string()}),
                    now,
                );
                let change = Change::to(workflow.after(run.cursor), RunStatus::Processing)
                    .message(message)
                    .event(event);
                self.apply(run, change, now).await
            }
            Err(reason) => {
                // A template that cannot render will not render on retry: halt the run.
                let event = RunEvent::error("step_failed", here, json!({"message": reason}), now);
                self.halt(workflow, run, event, now).await
            }
        }
    }
}

fn new_message(
    workflow: &Workflow,
    channel: &ChannelStep,
    run: &RecipientRun,
    content: MessageContent,
    scope: &Value,
    now: DateTime<Utc>,
) -> Message {
    // After a batch the message names the batch's actors (Knock keeps up to 10).
    let mut actors: Vec<_> = run.actor.iter().cloned().collect();
    if let Some(batch_actors) = scope["actors"].as_array() {
        actors = batch_actors
            .iter()
            .filter_map(|a| serde_json::from_value(a.clone()).ok())
            .collect();
    }
    Message {
        id: ids::message_id(run.id, &channel.step_ref),
        channel_key: channel.channel_key.clone(),
        channel_type: channel.channel_type,
        recipient: run.recipient.clone(),
        actors,
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
