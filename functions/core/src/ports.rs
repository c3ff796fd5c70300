//! The engine's ports: storage and wake-ups. Adapters live under `infra/`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::batch::{Batch, BatchActivity, BatchStatus};
use crate::error::{StoreError, WakeError};
use crate::fanout::FanOut;
use crate::message::{DeliveryStatus, Engagement, Message};
use crate::object::Object;
use crate::recipient::RecipientRef;
use crate::run::{CancelledRun, RecipientRun, RunEvent, RunStatus, Transition, WorkflowRun};
use crate::subscription::Subscription;
use crate::user::User;

/// One page of a listing, newest first. Cursors are opaque strings owned by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Cursor for the next (older) page, if there is one.
    pub after: Option<String>,
    /// Cursor for the previous (newer) page, if there is one.
    pub before: Option<String>,
}

impl<T> Page<T> {
    /// Assembles a page from up to `size + 1` rows fetched after (or, when `backwards`, before)
    /// a cursor, each with its own cursor: the extra row only tells that more exist.
    pub fn from_rows(mut rows: Vec<(String, T)>, request: &PageRequest, size: usize) -> Self {
        let backwards = request.before.is_some();
        let more = rows.len() > size;
        rows.truncate(size);
        if backwards {
            rows.reverse();
        }
        let first = rows.first().map(|(c, _)| c.clone());
        let last = rows.last().map(|(c, _)| c.clone());
        let (newer, older) = if backwards {
            (more, true)
        } else {
            (request.after.is_some(), more)
        };
        Page {
            after: if older { last } else { None },
            before: if newer { first } else { None },
            items: rows.into_iter().map(|(_, item)| item).collect(),
        }
    }
}

/// Where a listing starts and how long its page is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page (1–50 at the API).
    pub page_size: usize,
    /// Return items older than this cursor.
    pub after: Option<String>,
    /// Return items newer than this cursor.
    pub before: Option<String>,
}

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

    /// The comparison operator, as SQL and DynamoDB write it.
    pub fn operator(self) -> &'static str {
        match self {
            Bound::Gt => ">",
            Bound::Gte => ">=",
            Bound::Lt => "<",
            Bound::Lte => "<=",
        }
    }
}

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

/// Filters of a batch listing.
#[derive(Debug, Clone, Default)]
pub struct BatchQuery {
    /// Batches with this status.
    pub status: Option<BatchStatus>,
    /// Batches of this workflow.
    pub workflow_key: Option<String>,
    /// Batches of this recipient.
    pub recipient: Option<RecipientRef>,
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

/// A workflow run that still has active recipient runs, with its earliest pending wake-up.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRun {
    /// The workflow run.
    pub workflow_run_id: Uuid,
    /// `None` when some recipient run is queued or processing (so it must run now); else the
    /// earliest `wake_at` of its paused recipient runs.
    pub wake_at: Option<DateTime<Utc>>,
}

/// A preference set as a store keeps it: Knock's JSON with a version for conditional merges.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPreferenceSet {
    /// The user or object the set belongs to.
    pub owner: RecipientRef,
    /// `default`, or a tenant id.
    pub set_id: String,
    /// The set in Knock's wire shape.
    pub set: Value,
    /// Incremented by every write; a merge writes only if the version is unchanged.
    pub version: u64,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// When a preference-set write applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteIf {
    /// Always (a replace).
    Always,
    /// Only if no set exists yet.
    Absent,
    /// Only if the stored set still has this version (a merge computed from it).
    Version(u64),
}

/// Durable storage of the recipient directory: objects, tenants, subscriptions and preference
/// sets. Every write is atomic; merges of preference sets are conditional on a version.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Creates or merges an object (set object): given properties replace stored ones.
    async fn upsert_object(
        &self,
        collection: &str,
        id: &str,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Object, StoreError>;

    /// An object by collection and id.
    async fn get_object(&self, collection: &str, id: &str) -> Result<Option<Object>, StoreError>;

    /// Deletes an object with its subscriptions and preference sets; whether it existed.
    async fn delete_object(&self, collection: &str, id: &str) -> Result<bool, StoreError>;

    /// Lists the objects of a collection by id.
    async fn list_objects(
        &self,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Object>, StoreError>;

    /// Creates or replaces the subscriptions of `recipients` to `object`, all with `properties`.
    async fn put_subscriptions(
        &self,
        object: &RecipientRef,
        recipients: &[RecipientRef],
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError>;

    /// Deletes the subscriptions of `recipients` to `object`; returns those that existed.
    async fn delete_subscriptions(
        &self,
        object: &RecipientRef,
        recipients: &[RecipientRef],
    ) -> Result<Vec<Subscription>, StoreError>;

    /// The subscribers of `object`, ordered by recipient (a stable order to page through).
    async fn list_subscribers(
        &self,
        object: &RecipientRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError>;

    /// The subscriptions of `recipient`, ordered by object.
    async fn list_subscriptions_of(
        &self,
        recipient: &RecipientRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError>;

    /// Writes a preference set if `condition` holds; returns whether it was written.
    async fn put_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
        set: &Value,
        condition: WriteIf,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// A preference set of `owner`.
    async fn get_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<Option<StoredPreferenceSet>, StoreError>;

    /// Every preference set of `owner`, by set id.
    async fn list_preference_sets(
        &self,
        owner: &RecipientRef,
    ) -> Result<Vec<StoredPreferenceSet>, StoreError>;

    /// Deletes a preference set; whether it existed.
    async fn delete_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<bool, StoreError>;
}

/// Durable storage of users, runs and messages. Every state change is atomic and conditional:
/// implementations never read, decide and write back across calls.
#[async_trait]
pub trait Store: Directory {
    /// Creates or merges a user (identify): given properties replace stored ones, others stay.
    async fn upsert_user(
        &self,
        id: &str,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError>;

    /// A user by id.
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError>;

    /// Stores a workflow run, all its recipient runs and its fan-out (if it triggered objects),
    /// all or nothing: a cancel sees either none of them or all. Storing the same run again
    /// (a retry) is not an error and changes nothing.
    async fn insert_run(
        &self,
        run: &WorkflowRun,
        recipients: &[RecipientRun],
        fanout: Option<&FanOut>,
    ) -> Result<(), StoreError>;

    /// The fan-out of a workflow run, if it has one.
    async fn get_fanout(&self, workflow_run_id: Uuid) -> Result<Option<FanOut>, StoreError>;

    /// One step of a fan-out, all or nothing: stores `runs` (skipping any that already exist)
    /// and replaces the fan-out with `next`, only if the stored fan-out is still at version
    /// `next.version - 1` and not cancelled. Returns whether it was applied.
    async fn advance_fanout(
        &self,
        next: &FanOut,
        runs: &[RecipientRun],
    ) -> Result<bool, StoreError>;

    /// A recipient run by id.
    async fn get_recipient_run(&self, id: Uuid) -> Result<Option<RecipientRun>, StoreError>;

    /// The events of a recipient run, oldest first.
    async fn recipient_run_events(&self, id: Uuid) -> Result<Vec<RunEvent>, StoreError>;

    /// The active (queued, processing, paused) recipient runs of a workflow run.
    async fn active_recipient_runs(
        &self,
        workflow_run_id: Uuid,
    ) -> Result<Vec<RecipientRun>, StoreError>;

    /// Lists recipient runs, newest first.
    async fn list_recipient_runs(
        &self,
        query: &RunQuery,
        page: &PageRequest,
    ) -> Result<Page<RecipientRun>, StoreError>;

    /// Applies `transition` if the run is still active and at `transition.from_cursor`; returns
    /// whether it was applied. The message is created only if none with its id exists.
    async fn transition(&self, transition: &Transition) -> Result<bool, StoreError>;

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

    /// The batch `group` collects into now: open, or the last one if it closed.
    async fn current_batch(&self, group: &str) -> Result<Option<Batch>, StoreError>;

    /// A batch by id.
    async fn get_batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError>;

    /// Opens `batch` with its first `activity`, all or nothing with `transition` (the opening
    /// run pauses for the window). Applies only if the group's current batch is still
    /// `replaces` (`None`: the group has none yet). Returns whether it was applied. A batch
    /// without an activity records a flush-leading window (stored closed).
    async fn open_batch(
        &self,
        batch: &Batch,
        replaces: Option<Uuid>,
        activity: Option<&BatchActivity>,
        transition: &Transition,
    ) -> Result<bool, StoreError>;

    /// Adds `activity` to its batch if the batch is open and not full, all or nothing with
    /// `transition` (the joining run ends); moves the batch's end to `closes_at` when given (a
    /// sliding window). Returns whether it was applied.
    async fn join_batch(
        &self,
        activity: &BatchActivity,
        closes_at: Option<DateTime<Utc>>,
        transition: &Transition,
    ) -> Result<bool, StoreError>;

    /// Closes an open batch, all or nothing with `transition` (the opener's link marked
    /// closed, so its key cancels it again). Returns whether it was applied.
    async fn close_batch(
        &self,
        batch_id: Uuid,
        transition: &Transition,
    ) -> Result<bool, StoreError>;

    /// The activities of a batch in the order they joined.
    async fn batch_activities(&self, batch_id: Uuid) -> Result<Vec<BatchActivity>, StoreError>;

    /// Moves the end of an open batch to `at` (a flush). Returns whether the batch was open.
    async fn flush_batch(&self, batch_id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Lists batches, newest first.
    async fn list_batches(
        &self,
        query: &BatchQuery,
        page: &PageRequest,
    ) -> Result<Page<Batch>, StoreError>;

    /// Counts `run_id` into throttle `key`: opens a window ending at `window_ends` if none is
    /// open at `now`, then admits the run if it is already counted or fewer than `limit` runs
    /// are. Returns whether the run is admitted; asking again for the same run gives the same
    /// answer while the window lasts.
    async fn throttle(
        &self,
        key: &str,
        run_id: Uuid,
        limit: u32,
        window_ends: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Workflow runs with active recipient runs or an unfinished fan-out, for re-arming
    /// wake-ups after a restart.
    async fn pending_runs(&self) -> Result<Vec<PendingRun>, StoreError>;

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

/// Wake-ups: how a workflow run gets executed now or at a later time. Delivery is at least once;
/// the engine makes repeated or stale wake-ups harmless.
#[async_trait]
pub trait Waker: Send + Sync {
    /// Starts a workflow run just stored, as soon as possible (on AWS the table stream does it;
    /// to wake an existing run now, use [`Waker::wake_at`] with the current time).
    async fn run_now(&self, workflow_run_id: Uuid) -> Result<(), WakeError>;

    /// Executes the workflow run's due recipient runs at `at`. Registering the same
    /// (run, time) twice registers one wake-up.
    async fn wake_at(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError>;

    /// Drops a wake-up that no longer wakes anything (best effort; stale wake-ups are no-ops).
    async fn forget(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError>;
}
