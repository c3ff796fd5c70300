//! The step types of a workflow, as the engine executes them.
//!
//! A workflow's steps are kept as a flat program: a branch step is followed by the steps of each
//! of its branches, each branch ending in a [`Step::Jump`] past the branch (or to the end, when
//! the branch `terminates`). A recipient run's cursor is an index into that program, so nested
//! branches need nothing more from storage than the cursor it already keeps.

use std::sync::Arc;

use super::layouts::Layout;
use super::{ChannelType, Duration};
use crate::condition::Conditions;
use crate::template::Template;

/// One step of a workflow.
#[derive(Debug)]
pub enum Step {
    /// Pauses the run.
    Delay(DelayStep),
    /// Creates a message on a channel.
    Channel(ChannelStep),
    /// Collects the activities of many triggers into one continuing run.
    Batch(BatchStep),
    /// Stops the run when the recipient had too many runs through it lately.
    Throttle(ThrottleStep),
    /// Chooses the first branch whose conditions hold.
    Branch(BranchStep),
    /// Calls an HTTP endpoint and merges its JSON answer into `data`.
    Fetch(FetchStep),
    /// Triggers another workflow.
    TriggerWorkflow(TriggerWorkflowStep),
    /// The end of a branch: continue at this index (internal, never a step of its own).
    Jump(u32),
}

impl Step {
    /// The step's `ref` (empty for a [`Step::Jump`]).
    pub fn step_ref(&self) -> &str {
        match self {
            Step::Delay(s) => &s.step_ref,
            Step::Channel(s) => &s.step_ref,
            Step::Batch(s) => &s.step_ref,
            Step::Throttle(s) => &s.step_ref,
            Step::Branch(s) => &s.step_ref,
            Step::Fetch(s) => &s.step_ref,
            Step::TriggerWorkflow(s) => &s.step_ref,
            Step::Jump(_) => "",
        }
    }

    /// The step's `conditions`: the step is skipped when they do not hold.
    pub fn conditions(&self) -> Option<&Conditions> {
        match self {
            Step::Delay(s) => s.conditions.as_ref(),
            Step::Channel(s) => s.conditions.as_ref(),
            Step::Batch(s) => s.conditions.as_ref(),
            Step::Throttle(s) => s.conditions.as_ref(),
            Step::Fetch(s) => s.conditions.as_ref(),
            Step::TriggerWorkflow(s) => s.conditions.as_ref(),
            // Knock: a branch step has no conditions of its own; its branches do.
            Step::Branch(_) | Step::Jump(_) => None,
        }
    }

    /// The step's Knock type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Step::Delay(_) => "delay",
            Step::Channel(_) => "channel",
            Step::Batch(_) => "batch",
            Step::Throttle(_) => "throttle",
            Step::Branch(_) => "branch",
            Step::Fetch(_) => "http_fetch",
            Step::TriggerWorkflow(_) => "trigger_workflow",
            Step::Jump(_) => "jump",
        }
    }
}

/// A `delay` step: a fixed wait, a wait until a time found in the run's scope, or both (the
/// duration is then an offset from that time).
#[derive(Debug)]
pub struct DelayStep {
    /// The step's `ref`.
    pub step_ref: String,
    /// `settings.delay_for`.
    pub delay_for: Option<Duration>,
    /// `settings.delay_until_field_path` (`data.due_at`, `recipient.x`, …): an ISO-8601 time, a
    /// duration or a window rule.
    pub delay_until_field_path: Option<String>,
    /// Step conditions.
    pub conditions: Option<Conditions>,
}

/// A `channel` step.
#[derive(Debug)]
pub struct ChannelStep {
    /// The step's `ref`.
    pub step_ref: String,
    /// The channel the message goes to.
    pub channel_key: String,
    /// The channel's type.
    pub channel_type: ChannelType,
    /// The step's template, by channel type.
    pub template: ChannelTemplate,
    /// Step conditions.
    pub conditions: Option<Conditions>,
}

/// A channel step's `template`, in Knock's fields for its channel type; every field is Liquid.
#[derive(Debug)]
pub enum ChannelTemplate {
    /// An in-app feed item.
    InApp {
        /// `markdown_body`.
        markdown_body: Template,
        /// `action_url`.
        action_url: Option<Template>,
    },
    /// An email.
    Email {
        /// `subject`.
        subject: Template,
        /// `html_body`.
        html_body: Option<Template>,
        /// `text_body` (derived from the HTML when absent).
        text_body: Option<Template>,
        /// `settings.layout_key`'s layout.
        layout: Option<Arc<Layout>>,
    },
    /// A webhook request (`channel_type: http`).
    Webhook {
        /// `method` (upper case).
        method: String,
        /// `url`.
        url: Template,
        /// `headers`.
        headers: Vec<Pair>,
        /// `query_params`.
        query_params: Vec<Pair>,
        /// `body`.
        body: Option<Template>,
    },
}

/// Whether a batch lists its rendered activities from the first or the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOrder {
    /// The first activities (`asc`, the default).
    Asc,
    /// The last activities (`desc`).
    Desc,
}

/// A `batch` step.
#[derive(Debug)]
pub struct BatchStep {
    /// The step's `ref`.
    pub step_ref: String,
    /// `settings.batch_window`.
    pub window: Option<Duration>,
    /// `settings.batch_until_field_path`: the window's end read from the scope when it opens.
    pub until_field_path: Option<String>,
    /// `settings.batch_window_type: sliding`: each activity moves the end to now + window.
    pub sliding: bool,
    /// `settings.batch_window_extension_limit`: a sliding window never closes later than
    /// this after it opened.
    pub extension_limit: Option<Duration>,
    /// `settings.batch_key`: a Liquid template or a `data` field naming the batch.
    pub key: Option<BatchKey>,
    /// `settings.batch_items_max_limit` (2–1000): the window closes once this many joined.
    pub max_items: Option<u32>,
    /// `settings.batch_order`.
    pub order: BatchOrder,
    /// `settings.batch_items_render_limit` (1–100, default 10).
    pub render_limit: u32,
    /// `settings.batch_execution_mode: flush_leading`: the first activity goes on at once and
    /// the batch of the later ones continues on the second activity's run.
    pub flush_leading: bool,
    /// Step conditions.
    pub conditions: Option<Conditions>,
}

/// How a batch key is computed.
#[derive(Debug)]
pub enum BatchKey {
    /// A Liquid template (`{{ data.page_id }}-{{ actor.id }}`).
    Template(Template),
    /// A field path, in full (`page_id` in the definition is `data.page_id` here).
    Path(String),
}

/// A `throttle` step.
#[derive(Debug)]
pub struct ThrottleStep {
    /// The step's `ref`.
    pub step_ref: String,
    /// `settings.throttle_window`.
    pub window: Option<Duration>,
    /// `settings.throttle_window_field_path`.
    pub window_field_path: Option<String>,
    /// `settings.throttle_limit` (default 1).
    pub limit: u32,
    /// `settings.throttle_key`, as for a batch.
    pub key: Option<BatchKey>,
    /// Step conditions.
    pub conditions: Option<Conditions>,
}

/// A `branch` step: its branches' steps follow it in the workflow's program.
#[derive(Debug)]
pub struct BranchStep {
    /// The step's `ref`.
    pub step_ref: String,
    /// The branches in order; the last is the default (no conditions).
    pub branches: Vec<Branch>,
}

/// One branch of a [`BranchStep`].
#[derive(Debug)]
pub struct Branch {
    /// Its `name`.
    pub name: String,
    /// When it is taken; `None` for the default branch.
    pub conditions: Option<Conditions>,
    /// Index of its first step (possibly the [`Step::Jump`] closing an empty branch).
    pub start: u32,
    /// Whether the workflow ends after this branch.
    pub terminates: bool,
}

/// A `key`/`value` pair of a fetch request's headers or query.
#[derive(Debug)]
pub struct Pair {
    /// The name (Liquid).
    pub key: Template,
    /// The value (Liquid).
    pub value: Template,
}

/// An `http_fetch` step.
#[derive(Debug)]
pub struct FetchStep {
    /// The step's `ref`.
    pub step_ref: String,
    /// `settings.method` (upper case).
    pub method: String,
    /// `settings.url`.
    pub url: Template,
    /// `settings.headers`.
    pub headers: Vec<Pair>,
    /// `settings.query_params`.
    pub query_params: Vec<Pair>,
    /// `settings.body`.
    pub body: Option<Template>,
    /// `settings.response_path`: where in `data` the answer goes; merged into `data` if unset.
    pub response_path: Option<String>,
    /// Step conditions.
    pub conditions: Option<Conditions>,
}

/// A `trigger_workflow` step; every field is a Liquid template.
#[derive(Debug)]
pub struct TriggerWorkflowStep {
    /// The step's `ref`.
    pub step_ref: String,
    /// `settings.workflow_key`.
    pub workflow_key: Template,
    /// `settings.recipients` (default `{{ recipient.id }}`): one id, a JSON array of ids or
    /// recipient references.
    pub recipients: Option<Template>,
    /// `settings.actor` (default `{{ actor.id }}`).
    pub actor: Option<Template>,
    /// `settings.tenant` (default `{{ tenant.id }}`).
    pub tenant: Option<Template>,
    /// `settings.data` (default: this run's `data`): renders to a JSON object.
    pub data: Option<Template>,
    /// `settings.cancellation_key` (default `{{ workflow.cancellation_key }}`).
    pub cancellation_key: Option<Template>,
    /// Step conditions.
    pub conditions: Option<Conditions>,
}
