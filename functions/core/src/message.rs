//! Messages: what a channel step produces for a recipient, with its delivery and engagement state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::data::RunData;
use crate::definition::ChannelType;
use crate::recipient::RecipientRef;

/// Delivery status of a message, as Knock names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt.
    Queued,
    /// Processed in sandbox mode; not delivered.
    NotSent,
    /// Handed to the provider (SMTP and SES go no further).
    Sent,
    /// Delivered (in-app messages when created, webhooks on a 2xx).
    Delivered,
    /// An attempt failed; another is due.
    DeliveryAttempted,
    /// The provider took it, then dropped it for bad recipient data.
    Bounced,
    /// Delivery failed for good.
    Undelivered,
}

impl DeliveryStatus {
    /// The statuses of a message whose delivery is not finished.
    pub const PENDING: [DeliveryStatus; 2] =
        [DeliveryStatus::Queued, DeliveryStatus::DeliveryAttempted];

    /// Knock's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::NotSent => "not_sent",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::DeliveryAttempted => "delivery_attempted",
            DeliveryStatus::Bounced => "bounced",
            DeliveryStatus::Undelivered => "undelivered",
        }
    }

    /// Whether another attempt may still be made.
    pub fn is_pending(self) -> bool {
        Self::PENDING.contains(&self)
    }

    /// Parses Knock's name of a status.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(Value::String(name.to_string())).ok()
    }
}

/// An engagement a recipient can have with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engagement {
    /// Shown to the recipient.
    Seen,
    /// Read.
    Read,
    /// Interacted with.
    Interacted,
    /// A link in it was clicked.
    LinkClicked,
    /// Archived (hidden from the feed).
    Archived,
}

impl Engagement {
    /// Every engagement.
    pub const ALL: [Engagement; 5] = [
        Engagement::Seen,
        Engagement::Read,
        Engagement::Interacted,
        Engagement::LinkClicked,
        Engagement::Archived,
    ];

    /// Knock's name of the engagement.
    pub fn as_str(self) -> &'static str {
        match self {
            Engagement::Seen => "seen",
            Engagement::Read => "read",
            Engagement::Interacted => "interacted",
            Engagement::LinkClicked => "link_clicked",
            Engagement::Archived => "archived",
        }
    }

    /// Parses Knock's name of an engagement.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// The name of the field holding when it happened (`read_at`…), in Knock's JSON and in
    /// the stores.
    pub fn timestamp_field(self) -> &'static str {
        match self {
            Engagement::Seen => "seen_at",
            Engagement::Read => "read_at",
            Engagement::Interacted => "interacted_at",
            Engagement::LinkClicked => "link_clicked_at",
            Engagement::Archived => "archived_at",
        }
    }
}

/// The rendered content of an in-app message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageContent {
    /// The rendered markdown body.
    pub markdown: String,
    /// The markdown rendered to HTML.
    pub html: String,
    /// The rendered action URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_url: Option<String>,
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailContent {
    /// The `From` address (the channel's `from`).
    pub from: String,
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The HTML part, layout applied; absent for a text-only email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    /// The text part, layout applied.
    pub text_body: String,
}

/// A rendered webhook request (signatures are added at each attempt, not kept).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookContent {
    /// `GET`, `POST`, `PUT`, `DELETE` or `PATCH`.
    pub method: String,
    /// The URL, query parameters included.
    pub url: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl std::fmt::Debug for WebhookContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookContent")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &redacted(&self.headers))
            .field("body", &self.body.as_ref().map(|b| b.len()))
            .finish()
    }
}

/// Headers as logs may show them (see [`redact_header`]).
pub fn redacted(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), redact_header(k, v)))
        .collect()
}

/// What a message carries, by channel type. Stored as JSON; the variants have distinct
/// fields, so stored in-app content of older versions still reads as [`Content::InApp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// An email.
    Email(EmailContent),
    /// A webhook request.
    Webhook(WebhookContent),
    /// An in-app feed item.
    InApp(MessageContent),
}

impl Content {
    /// The in-app content, if this is an in-app message.
    pub fn in_app(&self) -> Option<&MessageContent> {
        match self {
            Content::InApp(c) => Some(c),
            _ => None,
        }
    }
}

/// Where a message's delivery stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryState {
    /// Attempts claimed so far.
    pub attempts: u32,
    /// While the delivery is pending: when the next attempt is due (or, while one is under
    /// way, when its claim lapses and another may be made).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// One entry of a message's history (Knock's `MessageEvent`): `message.sent`, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageEvent {
    /// Its id.
    pub id: Uuid,
    /// Knock's type: `message.queued`, `message.sent`, `message.delivery_attempted`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Details (`attempt`, `failure_reason`, …).
    #[serde(default)]
    pub data: Value,
    /// When it happened.
    pub inserted_at: DateTime<Utc>,
}

impl MessageEvent {
    /// The event `message.<status>` for message `message_id`, with `data`; its id is derived
    /// from the message, the attempt and the type, so writing it again changes nothing.
    pub fn new(
        message_id: Uuid,
        attempt: u32,
        status: &str,
        data: Value,
        at: DateTime<Utc>,
    ) -> Self {
        let kind = format!("message.{status}");
        Self {
            id: Uuid::new_v5(&message_id, format!("{attempt}:{kind}").as_bytes()),
            kind,
            data,
            inserted_at: at,
        }
    }
}

/// One delivery attempt as Knock's `MessageDeliveryLog` shows it: the request without its
/// secrets, the response's status and the start of its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryLog {
    /// Its id.
    pub id: Uuid,
    /// Which attempt (1 for the first).
    pub attempt: u32,
    /// The provider (`SMTP`, `Amazon SES`, `Webhook`).
    pub service_name: String,
    /// `{method, host, path, query, headers, body}` as far as they apply.
    pub request: Value,
    /// `{status, body}` (the body cut to [`DeliveryLog::EXCERPT`] bytes), or `{error}`.
    pub response: Value,
    /// How long the attempt took.
    pub duration_ms: u64,
    /// When it started.
    pub inserted_at: DateTime<Utc>,
}

impl DeliveryLog {
    /// How much of a response body a log keeps.
    pub const EXCERPT: usize = 2048;

    /// The first [`Self::EXCERPT`] bytes of `text`, cut at a character boundary.
    pub fn excerpt(text: &str) -> String {
        let mut end = text.len().min(Self::EXCERPT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_string()
    }
}

/// A message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Derived from the recipient run and step (see [`crate::ids::message_id`]).
    pub id: Uuid,
    /// The channel key.
    pub channel_key: String,
    /// The channel type.
    pub channel_type: ChannelType,
    /// Who it is for.
    pub recipient: RecipientRef,
    /// Who caused it.
    pub actors: Vec<RecipientRef>,
    /// The workflow key (Knock's `source.key`).
    pub workflow_key: String,
    /// The workflow's categories.
    pub categories: Vec<String>,
    /// The workflow run.
    pub workflow_run_id: Uuid,
    /// The recipient run.
    pub recipient_run_id: Uuid,
    /// The step that created it.
    pub step_ref: String,
    /// The version of the workflow that created it (`source.version_id`).
    pub workflow_version: Option<String>,
    /// The tenant id.
    pub tenant: Option<String>,
    /// The run's data when it was created.
    pub data: RunData,
    /// Delivery status.
    pub status: DeliveryStatus,
    /// Rendered content.
    pub content: Content,
    /// Where its delivery stands.
    pub delivery: DeliveryState,
    /// After a batch: `{activities, total_activities, total_actors}` of the batch (at most the
    /// step's render limit of activities), as Knock's feed items carry them.
    pub batch: Option<Value>,
    /// What happened to it so far, oldest first, as created (later events are read with
    /// [`crate::ports::Deliveries::message_events`]).
    pub events: Vec<MessageEvent>,
    /// When each engagement happened; absent when it did not (or was undone).
    pub engagements: Vec<(Engagement, DateTime<Utc>)>,
    /// When it was created.
    pub inserted_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Message {
    /// When `engagement` happened, if it did.
    pub fn engaged_at(&self, engagement: Engagement) -> Option<DateTime<Utc>> {
        self.engagements
            .iter()
            .find(|(e, _)| *e == engagement)
            .map(|(_, at)| *at)
    }
}

/// A header's value as logs and the content endpoint show it: masked when its name suggests a
/// credential (`Authorization`, `X-Api-Key`, `…-Token`, `…-Secret`, `Cookie`, signatures).
pub fn redact_header(name: &str, value: &str) -> String {
    let name = name.to_ascii_lowercase();
    let secret = [
        "authorization",
        "cookie",
        "key",
        "token",
        "secret",
        "signature",
        "password",
    ]
    .iter()
    .any(|word| name.contains(word));
    if secret {
        "[redacted]".to_string()
    } else {
        value.to_string()
    }
}
