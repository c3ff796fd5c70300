//! Builders for runs and messages, with unique ids so cases can share one store.

use chrono::{DateTime, Utc};
use herald_core::definition::ChannelType;
use herald_core::fanout::{FanOut, Source};
use herald_core::ids;
use herald_core::message::{Content, DeliveryState, DeliveryStatus, Message, MessageContent};
use herald_core::recipient::RecipientRef;
use herald_core::run::{RecipientRun, RunSettings, RunStatus, Transition, WorkflowRun};
use serde_json::{json, Map};
use uuid::Uuid;

/// A fixed instant tests start from.
pub fn t0() -> DateTime<Utc> {
    "2026-03-01T12:00:00Z".parse().unwrap_or_default()
}

/// A unique name with `prefix`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// A workflow run of `workflow_key` for `recipients`, with `cancellation_key`, and its recipient runs.
pub fn run(
    workflow_key: &str,
    cancellation_key: Option<&str>,
    recipients: &[RecipientRef],
    at: DateTime<Utc>,
) -> (WorkflowRun, Vec<RecipientRun>) {
    let id = ids::new_workflow_run_id();
    let runs = recipients
        .iter()
        .map(|r| RecipientRun {
            id: ids::recipient_run_id(id, r),
            workflow_run_id: id,
            workflow_key: workflow_key.to_string(),
            recipient: r.clone(),
            actor: None,
            tenant: Some("acme".into()),
            cancellation_key: cancellation_key.map(str::to_string),
            subscription: None,
            data: json!({"n": 1})
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into(),
            settings: RunSettings::default(),
            status: RunStatus::Queued,
            cursor: 0,
            wake_at: None,
            error_count: 0,
            attempt: 0,
            batch: None,
            workflow_version: None,
            inserted_at: at,
            updated_at: at,
        })
        .collect::<Vec<_>>();
    let run = WorkflowRun {
        id,
        workflow_key: workflow_key.to_string(),
        cancellation_key: cancellation_key.map(str::to_string),
        actor: None,
        tenant: Some("acme".into()),
        data: Map::new().into(),
        recipient_count: runs.len(),
        inserted_at: at,
    };
    (run, runs)
}

/// The message step `step_ref` of `run` would create.
pub fn message(run: &RecipientRun, step_ref: &str, at: DateTime<Utc>) -> Message {
    Message {
        id: ids::message_id(run.id, step_ref),
        channel_key: "in-app".into(),
        channel_type: ChannelType::InAppFeed,
        recipient: run.recipient.clone(),
        actors: vec![RecipientRef::user("actor-1")],
        workflow_key: run.workflow_key.clone(),
        categories: vec!["c".into()],
        workflow_run_id: run.workflow_run_id,
        recipient_run_id: run.id,
        step_ref: step_ref.into(),
        workflow_version: run.workflow_version.clone(),
        tenant: run.tenant.clone(),
        data: run.data.clone(),
        status: DeliveryStatus::Delivered,
        content: Content::InApp(MessageContent {
            markdown: "hi".into(),
            html: "<p>hi</p>".into(),
            action_url: None,
        }),
        delivery: DeliveryState::default(),
        batch: None,
        events: Vec::new(),
        engagements: Vec::new(),
        inserted_at: at,
        updated_at: at,
    }
}

/// A transition of `run` from `from` to `to` with `status`.
pub fn transition(
    run: &RecipientRun,
    from: u32,
    to: u32,
    status: RunStatus,
    at: DateTime<Utc>,
) -> Transition {
    Transition {
        run_id: run.id,
        workflow_run_id: run.workflow_run_id,
        workflow_key: run.workflow_key.clone(),
        cancellation_key: run.cancellation_key.clone(),
        from_cursor: from,
        from_holding: false,
        to_cursor: to,
        status,
        wake_at: None,
        message: None,
        events: Vec::new(),
        data: None,
        batch: None,
        attempt: 0,
        at,
    }
}

/// A trigger of `key` (cancellation key `k`) to the object `projects/p1`, with the fan-out to
/// its subscribers not yet started.
pub fn object_fanout(key: &str) -> (WorkflowRun, Vec<RecipientRun>, FanOut) {
    let (wf, runs) = run(
        key,
        Some("k"),
        &[RecipientRef::object("projects", "p1")],
        t0(),
    );
    let fanout = FanOut {
        workflow_run_id: wf.id,
        workflow_key: key.to_string(),
        cancellation_key: Some("k".into()),
        actor: None,
        tenant: None,
        data: Default::default(),
        settings: RunSettings::default(),
        workflow_version: None,
        queue: vec![Source {
            object: RecipientRef::object("projects", "p1"),
            depth: 1,
        }],
        after: None,
        excluded: Vec::new(),
        cancelled: false,
        version: 1,
    };
    (wf, runs, fanout)
}
