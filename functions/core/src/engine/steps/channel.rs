//! Channel steps: check the recipient's preferences and data, render the template, create the
//! message. A message that leaves Herald (email, webhook) is created `queued`, in the same
//! write as the step, and delivered after that write (see `engine/deliver.rs`).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::fetch::render_request;
use super::StepContext;
use crate::definition::{ChannelStep, ChannelTemplate, ChannelType, Layout, Workflow};
use crate::engine::execute::Change;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::ids;
use crate::message::{
    Content, DeliveryState, DeliveryStatus, EmailContent, Message, MessageContent, MessageEvent,
    WebhookContent,
};
use crate::preference::{evaluate, Target, Verdict};
use crate::run::{RecipientRun, RunEvent, RunStatus};
use crate::template::{html_to_text, markdown_to_html, Template};

/// Why a channel step did not render.
enum Unrendered {
    /// The recipient lacks what the channel needs: the step is skipped, the run goes on.
    Skip(&'static str),
    /// The template failed: the run halts.
    Fail(String),
}

impl From<String> for Unrendered {
    fn from(reason: String) -> Self {
        Unrendered::Fail(reason)
    }
}

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
        let from = self
            .workflows
            .channels()
            .channel(&channel.channel_key)
            .and_then(|c| c.setting("from"))
            .unwrap_or_default();
        match render(&channel.template, scope, from) {
            Ok(content) => {
                let message = new_message(workflow, channel, run, content, scope, now);
                let (id, leaves) = (message.id, message.status == DeliveryStatus::Queued);
                let event = RunEvent::ok(
                    "message_created",
                    here,
                    json!({"message_id": id.to_string()}),
                    now,
                );
                let change = Change::to(workflow.after(run.cursor), RunStatus::Processing)
                    .message(message)
                    .event(event);
                let next = self.apply(run, change, now).await?;
                if next.is_some() && leaves {
                    // The run does not wait for its delivery. Should this hand-off be lost
                    // (a crash), the store still holds the message as due: on AWS the table
                    // stream delivers it, locally the restart re-arms it.
                    self.waker.deliver_new(id).await?;
                }
                Ok(next)
            }
            Err(Unrendered::Skip(reason)) => {
                let event = RunEvent::ok("step_skipped", here, json!({"reason": reason}), now);
                self.continue_with(workflow, run, event, now).await
            }
            Err(Unrendered::Fail(reason)) => {
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
    content: Content,
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
    let id = ids::message_id(run.id, &channel.step_ref);
    let (status, delivery) = if run.settings.sandbox_mode {
        (DeliveryStatus::NotSent, DeliveryState::default())
    } else if channel.channel_type == ChannelType::InAppFeed {
        // In-app messages are delivered the moment they exist.
        (DeliveryStatus::Delivered, DeliveryState::default())
    } else {
        let due = DeliveryState {
            attempts: 0,
            next_attempt_at: Some(now),
        };
        (DeliveryStatus::Queued, due)
    };
    Message {
        id,
        channel_key: channel.channel_key.clone(),
        channel_type: channel.channel_type,
        recipient: run.recipient.clone(),
        actors,
        workflow_key: workflow.key.clone(),
        categories: workflow.categories.clone(),
        workflow_run_id: run.workflow_run_id,
        recipient_run_id: run.id,
        step_ref: channel.step_ref.clone(),
        workflow_version: Some(workflow.version.clone()),
        tenant: run.tenant.clone(),
        data: run.data.clone(),
        status,
        delivery,
        batch: batch_summary(scope),
        events: vec![MessageEvent::new(id, 0, status.as_str(), Value::Null, now)],
        content,
        engagements: Vec::new(),
        inserted_at: now,
        updated_at: now,
    }
}

/// The batch a run closed, as its messages carry it.
fn batch_summary(scope: &Value) -> Option<Value> {
    let total = scope.get("total_activities")?;
    Some(json!({
        "activities": scope.get("activities").cloned().unwrap_or(Value::Array(Vec::new())),
        "total_activities": total,
        "total_actors": scope.get("total_actors").cloned().unwrap_or(json!(0)),
    }))
}

fn render(template: &ChannelTemplate, scope: &Value, from: &str) -> Result<Content, Unrendered> {
    let text = |t: &Template| t.render(scope).map_err(|e| e.to_string());
    match template {
        ChannelTemplate::InApp {
            markdown_body,
            action_url,
        } => {
            let markdown = text(markdown_body)?;
            Ok(Content::InApp(MessageContent {
                html: markdown_to_html(&markdown),
                markdown,
                action_url: action_url.as_ref().map(text).transpose()?,
            }))
        }
        ChannelTemplate::Email {
            subject,
            html_body,
            text_body,
            layout,
        } => {
            // Knock's required data for email: the recipient's `email`.
            let to = match &scope["recipient"]["email"] {
                Value::String(e) if !e.trim().is_empty() => e.trim().to_string(),
                _ => return Err(Unrendered::Skip("recipient has no email address")),
            };
            let html = html_body.as_ref().map(text).transpose()?;
            let plain = match (text_body, &html) {
                (Some(t), _) => text(t)?,
                (None, Some(h)) => html_to_text(h),
                (None, None) => String::new(),
            };
            let (html_body, text_body) = match layout {
                Some(layout) => (
                    html.map(|h| wrap(&layout.html, layout, scope, &h))
                        .transpose()?,
                    wrap(&layout.text, layout, scope, &plain)?,
                ),
                None => (html, plain),
            };
            Ok(Content::Email(EmailContent {
                from: from.to_string(),
                to,
                subject: text(subject)?.trim().to_string(),
                html_body,
                text_body,
            }))
        }
        ChannelTemplate::Webhook {
            method,
            url,
            headers,
            query_params,
            body,
        } => {
            let (url, headers, body) =
                render_request(url, headers, query_params, body.as_ref(), scope)?;
            Ok(Content::Webhook(WebhookContent {
                method: method.clone(),
                url,
                headers,
                body,
            }))
        }
    }
}

/// Renders a layout part around `content`, over the same scope as the template.
fn wrap(part: &Template, layout: &Layout, scope: &Value, content: &str) -> Result<String, String> {
    let mut scope = scope.clone();
    if let Value::Object(vars) = &mut scope {
        vars.insert("content".into(), Value::String(content.to_string()));
    }
    part.render(&scope)
        .map_err(|e| format!("layout `{}`: {e}", layout.key))
}
