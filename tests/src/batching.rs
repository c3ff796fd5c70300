//! Batch scenarios shared by the embedded and DynamoDB test binaries: many triggers racing into
//! one recipient's window, with and without cancels while it is open.

use std::sync::Arc;

use chrono::Duration;
use herald_core::batch::BatchStatus;
use herald_core::definition::{from_json, ChannelType, Channels, WorkflowSet};
use herald_core::engine::{CancelRequest, TriggerRequest};
use herald_core::ports::{BatchQuery, MessageQuery, PageRequest, Store};
use herald_core::recipient::RecipientRef;
use herald_core::{Engine, ManualClock};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::fixtures::t0;
use crate::recording_waker::RecordingWaker;

/// An engine on an injected clock and a recording waker.
pub struct World {
    /// The engine.
    pub engine: Engine,
    /// Its store.
    pub store: Arc<dyn Store>,
    /// Its waker.
    pub waker: Arc<RecordingWaker>,
    /// Its clock.
    pub clock: Arc<ManualClock>,
}

/// A channel list with one in-app feed, `in-app`.
pub fn channels() -> Channels {
    let mut c = Channels::default();
    c.insert("in-app", ChannelType::InAppFeed);
    c
}

/// A feed step rendering `body`.
pub fn feed(step_ref: &str, body: &str) -> Value {
    json!({"ref": step_ref, "type": "channel", "channel_key": "in-app",
           "template": {"markdown_body": body}})
}

/// The workflow `digest`: a 10-minute batch, then a feed message naming the totals.
pub fn digest() -> Value {
    json!({"name": "Digest", "steps": [
        {"ref": "batch", "type": "batch", "settings": {"batch_window": {"unit": "minutes", "value": 10}}},
        feed("feed", "{{ total_activities }} new comments from {{ total_actors }} people")
    ]})
}

/// A world over `store` with the given workflows.
pub fn world(store: Arc<dyn Store>, defs: &[(&str, Value)]) -> World {
    let channels = channels();
    let set = WorkflowSet::new(
        defs.iter()
            .map(|(k, v)| from_json(k, v, &channels).expect("valid workflow")),
    );
    let waker = Arc::new(RecordingWaker::default());
    let clock = Arc::new(ManualClock::new(t0()));
    let engine = Engine::new(store.clone(), waker.clone(), clock.clone(), Arc::new(set));
    World {
        engine,
        store,
        waker,
        clock,
    }
}

impl World {
    /// Triggers `workflow` and resumes the run at once (as a trigger's `run_now` would).
    pub async fn trigger_and_run(&self, workflow: &str, body: Value) -> Uuid {
        let request = TriggerRequest::from_json(&body).expect("valid trigger");
        let run = self
            .engine
            .trigger(workflow, request)
            .await
            .expect("trigger");
        self.engine.resume(run).await.expect("resume");
        run
    }

    /// Cancels `key` of `workflow`.
    pub async fn cancel(&self, workflow: &str, key: &str) {
        let request = CancelRequest::from_json(&json!({"cancellation_key": key})).expect("cancel");
        self.engine.cancel(workflow, request).await.expect("cancel");
    }

    /// The open batches of `workflow`.
    pub async fn open_batches(&self, workflow: &str) -> Vec<herald_core::batch::Batch> {
        self.store
            .list_batches(
                &BatchQuery {
                    status: Some(BatchStatus::Open),
                    workflow_key: Some(workflow.to_string()),
                    recipient: None,
                },
                &PageRequest {
                    page_size: 50,
                    ..Default::default()
                },
            )
            .await
            .expect("list batches")
            .items
    }

    /// Moves the clock by `by` and resumes every workflow run woken by then.
    pub async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        let now = self.engine.now();
        let due: Vec<Uuid> = self
            .waker
            .wakes()
            .into_iter()
            .filter(|(_, at)| *at <= now)
            .map(|(run, _)| run)
            .chain(self.waker.started())
            .collect();
        let mut seen = std::collections::HashSet::new();
        for run in due {
            if seen.insert(run) {
                self.engine.resume(run).await.expect("resume");
            }
        }
    }

    /// The recipient run of user `who` in `workflow_run`.
    pub async fn run_of(&self, workflow_run: Uuid, who: &str) -> herald_core::run::RecipientRun {
        let id = herald_core::ids::recipient_run_id(workflow_run, &RecipientRef::user(who));
        self.store
            .get_recipient_run(id)
            .await
            .expect("get")
            .expect("run")
    }

    /// The feed messages of user `who`, newest first, as markdown.
    pub async fn messages(&self, who: &str) -> Vec<String> {
        let q = MessageQuery {
            recipient: Some(RecipientRef::user(who)),
            ..Default::default()
        };
        self.store
            .list_messages(
                &q,
                &PageRequest {
                    page_size: 50,
                    ..Default::default()
                },
            )
            .await
            .expect("messages")
            .items
            .into_iter()
            .map(|m| {
                m.content
                    .in_app()
                    .map(|c| c.markdown.clone())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// `n` triggers from parallel clients (at most `parallel` in flight) into one recipient's
/// 10-minute window, `cancelled` of them cancelled while it is open: exactly one continuing
/// run, whose message counts the rest.
pub async fn triggers_race_into_one_window(
    store: Arc<dyn Store>,
    n: usize,
    cancelled: usize,
    parallel: usize,
) {
    let who = format!("digest-{}", Uuid::new_v4().simple());
    let w = Arc::new(world(store, &[("digest", digest())]));
    let slots = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (w, who, slots) = (w.clone(), who.clone(), slots.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire().await.expect("semaphore");
            w.trigger_and_run(
                "digest",
                json!({"recipients": [who], "actor": {"id": format!("actor-{}", i % 7), "name": "A"},
                       "cancellation_key": format!("k{i}"), "data": {"i": i}}),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.expect("trigger task");
    }
    let open = w.open_batches("digest").await;
    let mine: Vec<_> = open
        .iter()
        .filter(|b| b.recipient == RecipientRef::user(&who))
        .collect();
    assert_eq!(mine.len(), 1, "one open batch for the recipient");
    assert_eq!(mine[0].count as usize, n, "every trigger joined it");
    for i in 0..cancelled {
        w.cancel("digest", &format!("k{i}")).await;
    }
    assert!(
        w.messages(&who).await.is_empty(),
        "nothing before the window closes"
    );
    w.advance(Duration::minutes(10)).await;
    let messages = w.messages(&who).await;
    let actors: std::collections::HashSet<usize> = (cancelled..n).map(|i| i % 7).collect();
    assert_eq!(
        messages,
        vec![format!(
            "{} new comments from {} people",
            n - cancelled,
            actors.len()
        )],
        "exactly one continuing run, counting every activity not cancelled"
    );
    let activities = w
        .store
        .batch_activities(mine[0].id)
        .await
        .expect("activities");
    assert_eq!(activities.len(), n);
    assert_eq!(activities.iter().filter(|a| a.cancelled).count(), cancelled);
}
