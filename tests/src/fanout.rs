//! Fan-out scenarios run against every store (embedded and DynamoDB): an object with many
//! subscribers, a crash in the middle, a cancel in the middle.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use herald_core::definition::{from_json, ChannelType, Channels, WorkflowSet};
use herald_core::engine::{CancelRequest, TriggerRequest};
use herald_core::ports::{PageRequest, RunQuery, Store};
use herald_core::recipient::RecipientRef;
use herald_core::run::{RecipientRun, RunStatus};
use herald_core::{Engine, ManualClock};
use serde_json::{json, Map};
use uuid::Uuid;

use crate::crash::{CrashingStore, Fuse, When};
use crate::fixtures::{t0, unique};
use crate::recording_waker::RecordingWaker;

/// The workflow every scenario triggers: wait an hour, then a feed message that names the
/// subscription.
pub fn workflows() -> WorkflowSet {
    let mut channels = Channels::default();
    channels.insert("in-app", ChannelType::InAppFeed);
    let w = json!({"name": "Project update", "steps": [
        {"ref": "wait", "type": "delay", "settings": {"delay_for": {"unit": "hours", "value": 1}}},
        {"ref": "feed", "type": "channel", "channel_key": "in-app",
         "template": {"markdown_body": "{{ recipient.id }} ({{ recipient.subscription.role }} of {{ recipient.subscription.object.id }})"}}]});
    WorkflowSet::new([from_json("project-update", &w, &channels).expect("valid workflow")])
}

/// An engine over `store` on a manual clock.
pub fn engine(store: Arc<dyn Store>) -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let engine = Engine::new(
        store,
        Arc::new(RecordingWaker::default()),
        clock.clone(),
        Arc::new(workflows()),
    );
    (engine, clock)
}

/// A project with `n` user subscribers (`<prefix>-s0` … ), one team subscribed to it with 5
/// members of its own, and the names of the project and the actor (subscriber 0).
pub struct Audience {
    /// The project object.
    pub project: RecipientRef,
    /// Subscriber ids.
    pub prefix: String,
    /// Total subscribers created.
    pub n: usize,
}

impl Audience {
    /// Stores the audience.
    pub async fn create(store: &dyn Store, n: usize) -> Self {
        let prefix = unique("sub");
        let project = RecipientRef::object("projects", unique("p"));
        let team = RecipientRef::object("teams", format!("{prefix}-team"));
        let watcher = json!({"role": "watcher"});
        let users: Vec<RecipientRef> = (0..n)
            .map(|i| RecipientRef::user(format!("{prefix}-s{i}")))
            .collect();
        for chunk in users.chunks(100) {
            store
                .put_subscriptions(&project, chunk, watcher.as_object().expect("map"), t0())
                .await
                .expect("subscribe");
        }
        let member = json!({"role": "member"});
        store
            .put_subscriptions(&project, std::slice::from_ref(&team), &Map::new(), t0())
            .await
            .expect("subscribe team");
        let members: Vec<RecipientRef> = (0..5)
            .map(|i| RecipientRef::user(format!("{prefix}-m{i}")))
            .collect();
        store
            .put_subscriptions(&team, &members, member.as_object().expect("map"), t0())
            .await
            .expect("subscribe members");
        Self { project, prefix, n }
    }

    /// Who the trigger reaches: the project, subscribers 1.. (0 is the actor), the team, its
    /// 5 members and the direct recipient `<prefix>-direct`.
    pub fn expected(&self) -> usize {
        1 + (self.n - 1) + 1 + 5 + 1
    }

    /// A trigger of the project, subscriber 1 again (de-duplicated) and a direct recipient,
    /// by subscriber 0.
    pub fn trigger(&self, cancellation_key: &str) -> TriggerRequest {
        TriggerRequest::from_json(&json!({
            "recipients": [
                {"id": self.project.id, "collection": "projects"},
                format!("{}-s1", self.prefix),
                format!("{}-direct", self.prefix),
            ],
            "actor": {"id": format!("{}-s0", self.prefix), "name": "Ann"},
            "cancellation_key": cancellation_key,
        }))
        .expect("valid trigger")
    }
}

/// Every recipient run of a workflow run, in any status.
pub async fn all_runs(store: &dyn Store, workflow_run_id: Uuid) -> Vec<RecipientRun> {
    let query = RunQuery {
        workflow_run_id: Some(workflow_run_id),
        ..RunQuery::default()
    };
    let mut page = PageRequest {
        page_size: 1_000,
        ..PageRequest::default()
    };
    let mut out = Vec::new();
    loop {
        let got = store
            .list_recipient_runs(&query, &page)
            .await
            .expect("list runs");
        out.extend(got.items);
        match got.after {
            Some(a) => page.after = Some(a),
            None => return out,
        }
    }
}

fn assert_once_each(runs: &[RecipientRun], expected: usize) {
    let ids: HashSet<_> = runs.iter().map(|r| r.recipient.id_key()).collect();
    assert_eq!(ids.len(), runs.len(), "a recipient got two runs");
    assert_eq!(runs.len(), expected, "every recipient gets exactly one run");
}

/// Resumes until nothing is left, as the waker would.
async fn resume_to_end(engine: &Engine, id: Uuid) {
    for _ in 0..10_000 {
        if !engine.resume(id).await.expect("resume").more {
            return;
        }
    }
    panic!("resume never finished");
}

/// Everyone subscribed is reached once; the actor is not; nested subscriptions go two deep;
/// templates see `recipient.subscription`.
pub async fn reaches_every_subscriber_once(store: Arc<dyn Store>, n: usize) {
    let audience = Audience::create(store.as_ref(), n).await;
    let (engine, clock) = engine(store.clone());
    let id = engine
        .trigger("project-update", audience.trigger(&unique("k")))
        .await
        .expect("trigger");
    resume_to_end(&engine, id).await;
    let runs = all_runs(store.as_ref(), id).await;
    assert_once_each(&runs, audience.expected());
    let actor = RecipientRef::user(format!("{}-s0", audience.prefix));
    assert!(
        runs.iter().all(|r| r.recipient != actor),
        "the actor is excluded"
    );
    assert!(runs.iter().all(|r| r.status == RunStatus::Paused));
    // After the delay, messages name the subscription's properties.
    clock.advance(Duration::hours(1));
    resume_to_end(&engine, id).await;
    let member = RecipientRef::user(format!("{}-m2", audience.prefix));
    let page = store
        .list_messages(
            &herald_core::ports::MessageQuery {
                recipient: Some(member.clone()),
                ..Default::default()
            },
            &PageRequest {
                page_size: 10,
                ..PageRequest::default()
            },
        )
        .await
        .expect("messages");
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        page.items[0].content.in_app().unwrap().markdown,
        format!("{} (member of {}-team)", member.id, audience.prefix)
    );
}

/// A crash at any write of a fan-out step, then a rerun: nobody lost, nobody twice.
pub async fn survives_crashes(store: Arc<dyn Store>, n: usize) {
    assert!(
        n > 98 * 4,
        "the crashes below happen within the first 5 fan-out steps"
    );
    let audience = Audience::create(store.as_ref(), n).await;
    let (engine, _) = engine(store.clone());
    let id = engine
        .trigger("project-update", audience.trigger(&unique("k")))
        .await
        .expect("trigger");
    for (k, when) in [(2, When::After), (1, When::Before), (2, When::After)] {
        let crashing: Arc<dyn Store> = Arc::new(CrashingStore {
            inner: store.clone(),
            fuse: Fuse::new(k, when),
        });
        let (crashy, _) = self::engine(crashing);
        assert!(
            crashy.expand_fanout(id, 1_000).await.is_err(),
            "the fuse blows during the fan-out"
        );
    }
    resume_to_end(&engine, id).await;
    assert_once_each(&all_runs(store.as_ref(), id).await, audience.expected());
}

/// A cancel while the fan-out is half-way covers the runs created before it and stops the
/// rest; a partial cancel keeps its recipients from being created later.
pub async fn cancel_covers_runs_created_later(store: Arc<dyn Store>, n: usize) {
    assert!(n > 400, "the fan-out must still be under way after 2 steps");
    let audience = Audience::create(store.as_ref(), n).await;
    let (engine, _) = engine(store.clone());
    let key = unique("k");

    // Partial cancel of a late subscriber while the fan-out is under way.
    let id = engine
        .trigger("project-update", audience.trigger(&key))
        .await
        .expect("trigger");
    assert!(engine.expand_fanout(id, 2).await.expect("fan-out"));
    let late = RecipientRef::user(format!("{}-s{}", audience.prefix, n - 1));
    engine
        .cancel(
            "project-update",
            CancelRequest {
                cancellation_key: key.clone(),
                recipients: Some(vec![late.clone()]),
            },
        )
        .await
        .expect("partial cancel");
    resume_to_end(&engine, id).await;
    let runs = all_runs(store.as_ref(), id).await;
    assert_eq!(runs.len(), audience.expected() - 1);
    assert!(runs.iter().all(|r| r.recipient != late), "never created");

    // Cancel of everyone half-way: nothing stays active, nothing more is created.
    let key2 = unique("k");
    let id2 = engine
        .trigger("project-update", audience.trigger(&key2))
        .await
        .expect("trigger");
    assert!(engine.expand_fanout(id2, 2).await.expect("fan-out"));
    engine
        .cancel(
            "project-update",
            CancelRequest {
                cancellation_key: key2,
                recipients: None,
            },
        )
        .await
        .expect("cancel");
    resume_to_end(&engine, id2).await;
    let runs = all_runs(store.as_ref(), id2).await;
    assert!(runs.len() < audience.expected(), "the fan-out stopped");
    assert!(
        runs.iter().all(|r| r.status == RunStatus::Cancelled),
        "every run created before the cancel is cancelled"
    );
}
