//! Messages: what a channel step produces for a recipient, with its delivery and engagement state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::definition::ChannelType;
use crate::recipient::RecipientRef;

/// Delivery status of a message, as Knock names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Enqueued.
    Queued,
    /// Processed in sandbox mode; not delivered.
    NotSent,
    /// Handed to the provider.
    Sent,
    /// Delivered (in-app messages are delivered when created).
    Delivered,
    /// Delivery failed for good.
    Undelivered,
}

impl DeliveryStatus {
    /// Knock's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::NotSent => "not_sent",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Undelivered => "undelivered",
        }
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

/// The rendered content of a message.
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
    /// The tenant id.
    pub tenant: Option<String>,
    /// The run's data when it was created.
    pub data: Map<String, Value>,
    /// Delivery status.
    pub status: DeliveryStatus,
    /// Rendered content.
    pub content: MessageContent,
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
