//! The messages role: what the engine sent, and what recipients did with it (seen, read,
//! archived, …).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::page::{Page, PageRequest};
use crate::error::StoreError;
use crate::message::{DeliveryStatus, Engagement, Message};
use crate::recipient::RecipientRef;

/// How a listing treats archived messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ArchivedFilter {
    /// Only messages that are not archived (the feed's default).
    #[default]
    Exclude,
    /// Archived and unarchived messages.
    Include,
    /// Only archived messages.
    Only,
}

/// An engagement filter: the message has (or has not) the engagement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngagementFilter {
    /// The engagement.
    pub engagement: Engagement,
    /// `true` for "has it" (`read`), `false` for "has not" (`unread`).
    pub present: bool,
}

/// Filters of a message listing; every given filter must match.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    /// Messages of this recipient.
    pub recipient: Option<RecipientRef>,
    /// Messages on this channel key.
    pub channel_key: Option<String>,
    /// Messages with one of these delivery statuses.
    pub statuses: Vec<DeliveryStatus>,
    /// Engagement filters.
    pub engagement: Vec<EngagementFilter>,
    /// Archived handling.
    pub archived: Option<ArchivedFilter>,
    /// Messages of this workflow (Knock's `source`).
    pub workflow_key: Option<String>,
    /// Messages of this tenant.
    pub tenant: Option<String>,
    /// Messages of this workflow run.
    pub workflow_run_id: Option<Uuid>,
    /// Messages of this recipient run.
    pub recipient_run_id: Option<Uuid>,
    /// Only these messages (Knock's `message_ids`).
    pub message_ids: Vec<Uuid>,
    /// Messages of a workflow with any of these categories.
    pub workflow_categories: Vec<String>,
    /// Only messages with (`true`) or without (`false`) a tenant.
    pub has_tenant: Option<bool>,
    /// Bounds on `inserted_at`; all must hold.
    pub inserted_at: Vec<(Bound, DateTime<Utc>)>,
}

/// A comparison of a time filter (`inserted_at.gte` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Strictly after.
    Gt,
    /// At or after.
    Gte,
    /// Strictly before.
    Lt,
    /// At or before.
    Lte,
}

impl Bound {
    /// Parses Knock's suffix (`gt`, `gte`, `lt`, `lte`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "gt" => Some(Bound::Gt),
            "gte" => Some(Bound::Gte),
            "lt" => Some(Bound::Lt),
            "lte" => Some(Bound::Lte),
            _ => None,
        }
    }
}

/// Messages, created by run transitions (see [`super::Runs::transition`]), read by the feed and
/// the messages API, and changed only by engagement updates.
#[async_trait]
pub trait Messages: Send + Sync {
    /// A message by id.
    async fn get_message(&self, id: Uuid) -> Result<Option<Message>, StoreError>;

    /// Lists messages, newest first.
    async fn list_messages(
        &self,
        query: &MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError>;

    /// Counts messages matching `query`.
    async fn count_messages(&self, query: &MessageQuery) -> Result<u64, StoreError>;

    /// Sets (`present`) or clears an engagement of a message at `at`; setting keeps the first
    /// time. Returns the updated message, or `None` if there is no such message.
    async fn set_engagement(
        &self,
        id: Uuid,
        engagement: Engagement,
        present: bool,
        at: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError>;
}
