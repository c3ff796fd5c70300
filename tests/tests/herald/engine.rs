//! The engine's execution semantics on an injected clock: no test here sleeps.

use std::sync::Arc;

use chrono::Duration;
use herald_core::definition::{from_json, Channels, WorkflowSet};
use herald_core::engine::{CancelRequest, TriggerRequest};
use herald_core::ports::{MessageQuery, Store};
use herald_core::recipient::RecipientRef;
use herald_core::run::RunStatus;
use herald_core::{Engine, EngineError, ManualClock};
use herald_embedded::SqliteStore;
use herald_tests::fixtures::t0;
use herald_tests::recording_waker::RecordingWaker;
use serde_json::{json, Value};
use uuid::Uuid;

struct World {
    engine: Engine,
    store: Arc<dyn Store>,
    waker: Arc<RecordingWaker>,
    clock: Arc<ManualClock>,
}

fn workflows() -> WorkflowSet {
    let channels = {
        let mut c = Channels::default();
        c.insert("in-app", herald_core::definition::ChannelType::InAppFeed);
        c
    };
    let feed = json!({"ref": "feed", "type": "channel", "channel_key": "in-app",
        "template": {"markdown_body": "Hi {{ recipient.name | default: recipient.id }} from {{ actor.name }}: {{ data.project }}"}});
    let defs = [
        (
            "reminder",
            json!({"name": "Reminder", "steps": [
            {"ref": "wait", "type": "delay", "settings": {"delay_for": {"unit": "seconds", "value": 2}}}, feed.clone()]}),
        ),
        (
            "until",
            json!({"name": "Until", "steps": [
            {"ref": "wait", "type": "delay", "settings": {"delay_until_field_path": "data.due_at"}}, feed.clone()]}),
        ),
        ("now", json!({"name": "Now", "steps": [feed.clone()]})),
        (
            "broken",
            json!({"name": "Broken", "steps": [{"ref": "feed", "type": "channel", "channel_key": "in-app",
            "template": {"markdown_body": "{{ data.x | divided_by: 0 }}"}}]}),
        ),
    ];
    WorkflowSet::new(
        defs.iter()
            .map(|(k, v)| from_json(k, v, &channels).expect("valid workflow")),
    )
}

fn world_on(store: Arc<dyn Store>) -> World {
    let waker = Arc::new(RecordingWaker::default());
    let clock = Arc::new(ManualClock::new(t0()));
    let engine = Engine::new(
        store.clone(),
        waker.clone(),
        clock.clone(),
        Arc::new(workflows()),
    );
    World {
        engine,
        store,
        waker,
        clock,
    }
}

fn world() -> World {
    world_on(Arc::new(SqliteStore::in_memory().expect("store")))
}

fn trigger_body(v: Value) -> TriggerRequest {
    TriggerRequest::from_json(&v).expect("valid trigger")
}

impl World {
    async fn messages_of(&self, user: &str) -> u64 {
        let q = MessageQuery {
            recipient: Some(RecipientRef::user(user)),
            ..Default::default()
        };
        self.store.count_messages(&q).await.unwrap()
    }

    async fn status(&self, run: Uuid, user: &str) -> RunStatus {
        let id = herald_core::ids::recipient_run_id(run, &RecipientRef::user(user));
        self.store
            .get_recipient_run(id)
            .await
            .unwrap()
            .unwrap()
            .status
    }
}

#[tokio::test]
async fn given_a_delay_when_the_clock_passes_it_then_one_message_per_recipient() {
    let w = world();
    let run = w
        .engine
        .trigger(
            "reminder",
            trigger_body(json!({"recipients": ["a", "b", "c"], "data": {"project": "X"}})),
        )
        .await
        .unwrap();
    assert_eq!(w.waker.started(), vec![run], "the trigger starts the run");
    assert_eq!(w.status(run, "a").await, RunStatus::Queued);

    let report = w.engine.resume(run).await.unwrap();
    assert_eq!(report.paused, 3);
    assert_eq!(
        w.waker.wakes(),
        vec![(run, t0() + Duration::seconds(2))],
        "one wake-up for all three recipients"
    );
    assert_eq!(w.status(run, "b").await, RunStatus::Paused);

    // An early wake-up does nothing.
    w.clock.advance(Duration::seconds(1));
    assert_eq!(w.engine.resume(run).await.unwrap().untouched, 3);
    assert_eq!(w.messages_of("a").await, 0);

    w.clock.advance(Duration::seconds(1));
    assert_eq!(w.engine.resume(run).await.unwrap().completed, 3);
    for u in ["a", "b", "c"] {
        assert_eq!(w.messages_of(u).await, 1);
        assert_eq!(w.status(run, u).await, RunStatus::Completed);
    }
}

#[tokio::test]
async fn given_a_duplicate_wakeup_then_no_second_message() {
    let w = world();
    let run = w
        .engine
        .trigger("reminder", trigger_body(json!({"recipients": ["a"]})))
        .await
        .unwrap();
    w.engine.resume(run).await.unwrap();
    w.clock.advance(Duration::seconds(3));
    let (first, second) = tokio::join!(w.engine.resume(run), w.engine.resume(run));
    first.unwrap();
    second.unwrap();
    w.engine.resume(run).await.unwrap();
    assert_eq!(w.messages_of("a").await, 1);
}

#[tokio::test]
async fn given_a_cancel_then_no_message_for_cancelled_recipients_only() {
    let w = world();
    let body = json!({"recipients": ["a", "b", "c"], "cancellation_key": "invite-1"});
    let run = w
        .engine
        .trigger("reminder", trigger_body(body))
        .await
        .unwrap();
    w.engine.resume(run).await.unwrap();
    let cancel =
        CancelRequest::from_json(&json!({"cancellation_key": "invite-1", "recipients": ["b"]}))
            .unwrap();
    assert_eq!(w.engine.cancel("reminder", cancel).await.unwrap(), 1);
    w.clock.advance(Duration::seconds(5));
    w.engine.resume(run).await.unwrap();
    assert_eq!(
        (
            w.messages_of("a").await,
            w.messages_of("b").await,
            w.messages_of("c").await
        ),
        (1, 0, 1)
    );
    assert_eq!(w.status(run, "b").await, RunStatus::Cancelled);
    assert!(
        w.waker.forgotten.lock().unwrap().is_empty(),
        "a and c still need the wake-up"
    );
}

#[tokio::test]
async fn given_a_cancel_of_every_recipient_then_the_wakeup_is_dropped() {
    let w = world();
    let run = w
        .engine
        .trigger(
            "reminder",
            trigger_body(json!({"recipients": ["a", "b"], "cancellation_key": "k"})),
        )
        .await
        .unwrap();
    w.engine.resume(run).await.unwrap();
    w.engine
        .cancel(
            "reminder",
            CancelRequest::from_json(&json!({"cancellation_key": "k"})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        w.waker.forgotten.lock().unwrap().clone(),
        vec![(run, t0() + Duration::seconds(2))]
    );
    w.clock.advance(Duration::seconds(5));
    assert_eq!(
        w.engine.resume(run).await.unwrap(),
        Default::default(),
        "a stale wake-up resumes nothing"
    );
    assert_eq!(w.messages_of("a").await + w.messages_of("b").await, 0);
}

#[tokio::test]
async fn given_a_cancel_before_the_run_started_then_nothing_is_sent() {
    let w = world();
    let run = w
        .engine
        .trigger(
            "now",
            trigger_body(json!({"recipients": ["a"], "cancellation_key": "k"})),
        )
        .await
        .unwrap();
    // The cancel lands between the 200 and the worker picking the run up.
    w.engine
        .cancel(
            "now",
            CancelRequest::from_json(&json!({"cancellation_key": "k"})).unwrap(),
        )
        .await
        .unwrap();
    w.engine.resume(run).await.unwrap();
    assert_eq!(w.messages_of("a").await, 0);
}

#[tokio::test]
async fn given_a_cancel_before_the_trigger_then_the_trigger_still_runs() {
    let w = world();
    w.engine
        .cancel(
            "now",
            CancelRequest::from_json(&json!({"cancellation_key": "k"})).unwrap(),
        )
        .await
        .unwrap();
    let run = w
        .engine
        .trigger(
            "now",
            trigger_body(json!({"recipients": ["a"], "cancellation_key": "k"})),
        )
        .await
        .unwrap();
    w.engine.resume(run).await.unwrap();
    assert_eq!(w.messages_of("a").await, 1);
}

#[tokio::test]
async fn given_finished_runs_then_cancel_leaves_them() {
    let w = world();
    let run = w
        .engine
        .trigger(
            "now",
            trigger_body(json!({"recipients": ["a"], "cancellation_key": "k"})),
        )
        .await
        .unwrap();
    w.engine.resume(run).await.unwrap();
    let n = w
        .engine
        .cancel(
            "now",
            CancelRequest::from_json(&json!({"cancellation_key": "k"})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(w.status(run, "a").await, RunStatus::Completed);
}

#[tokio::test]
async fn given_delay_until_a_field_then_it_waits_for_that_time_or_skips_a_bad_one() {
    let w = world();
    let due = t0() + Duration::hours(3);
    let run = w
        .engine
        .trigger(
            "until",
            trigger_body(json!({"recipients": ["a"], "data": {"due_at": due.to_rfc3339()}})),
        )
        .await
        .unwrap();
    w.engine.resume(run).await.unwrap();
    assert_eq!(w.waker.wakes(), vec![(run, due)]);

    let bad = w
        .engine
        .trigger(
            "until",
            trigger_body(json!({"recipients": ["b"], "data": {"due_at": "tomorrow"}})),
        )
        .await
        .unwrap();
    w.engine.resume(bad).await.unwrap();
    assert_eq!(
        w.messages_of("b").await,
        1,
        "an invalid delay is skipped, the run goes on"
    );
    let id = herald_core::ids::recipient_run_id(bad, &RecipientRef::user("b"));
    let events = w.store.recipient_run_events(id).await.unwrap();
    let skipped = events
        .iter()
        .find(|e| e.event == "delay_skipped")
        .expect("the skip is recorded");
    assert_eq!(skipped.step_ref.as_deref(), Some("wait"));
    assert_eq!(
        w.store
            .get_recipient_run(id)
            .await
            .unwrap()
            .unwrap()
            .error_count,
        1
    );
}

#[tokio::test]
async fn given_skip_delay_then_the_message_is_immediate() {
    let w = world();
    let run = w
        .engine
        .trigger(
            "reminder",
            trigger_body(json!({"recipients": ["a"], "settings": {"skip_delay": true}})),
        )
        .await
        .unwrap();
    w.engine.resume(run).await.unwrap();
    assert_eq!(w.messages_of("a").await, 1);
    assert!(w.waker.wakes().is_empty());
}

#[tokio::test]
async fn given_inline_recipients_and_actor_then_they_are_identified_and_rendered() {
    let w = world();
    let body = json!({"recipients": [{"id": "ann", "name": "Ann"}, "bob"], "actor": {"id": "zed", "name": "Zed"}, "data": {"project": "Apollo"}});
    let run = w.engine.trigger("now", trigger_body(body)).await.unwrap();
    assert_eq!(
        w.store.get_user("ann").await.unwrap().unwrap().properties["name"],
        json!("Ann")
    );
    w.engine.resume(run).await.unwrap();
    let q = MessageQuery {
        recipient: Some(RecipientRef::user("ann")),
        ..Default::default()
    };
    let page = w
        .store
        .list_messages(&q, &Default::default())
        .await
        .unwrap();
    assert_eq!(
        page.items[0].content.in_app().unwrap().markdown,
        "Hi Ann from Zed: Apollo"
    );
    let q = MessageQuery {
        recipient: Some(RecipientRef::user("bob")),
        ..Default::default()
    };
    let page = w
        .store
        .list_messages(&q, &Default::default())
        .await
        .unwrap();
    assert_eq!(
        page.items[0].content.in_app().unwrap().markdown,
        "Hi bob from Zed: Apollo"
    );
}

#[tokio::test]
async fn given_duplicate_recipients_then_one_run_each() {
    let w = world();
    let run = w
        .engine
        .trigger(
            "now",
            trigger_body(json!({"recipients": ["a", "a", {"id": "a"}]})),
        )
        .await
        .unwrap();
    assert_eq!(
        w.store.active_recipient_runs(run).await.unwrap().runs.len(),
        1
    );
}

#[tokio::test]
async fn given_an_unknown_actor_or_workflow_then_typed_errors() {
    let w = world();
    let e = w
        .engine
        .trigger(
            "now",
            trigger_body(json!({"recipients": ["a"], "actor": "ghost"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, EngineError::ActorMissing(ref id) if id == "ghost"),
        "{e:?}"
    );
    let e = w
        .engine
        .trigger("nope", trigger_body(json!({"recipients": ["a"]})))
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::WorkflowMissing(_)), "{e:?}");
}

#[tokio::test]
async fn given_a_template_that_fails_then_the_run_halts_with_an_error_event() {
    let w = world();
    let run = w
        .engine
        .trigger(
            "broken",
            trigger_body(json!({"recipients": ["a"], "data": {"x": 4}})),
        )
        .await
        .unwrap();
    w.engine.resume(run).await.unwrap();
    let id = herald_core::ids::recipient_run_id(run, &RecipientRef::user("a"));
    let stored = w.store.get_recipient_run(id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.error_count),
        (RunStatus::Completed, 1)
    );
    assert_eq!(w.messages_of("a").await, 0);
}

#[tokio::test]
async fn given_a_restart_then_stored_runs_are_rearmed_and_fire_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = {
        let w = world_on(Arc::new(SqliteStore::open(dir.path()).unwrap()));
        let run = w
            .engine
            .trigger("reminder", trigger_body(json!({"recipients": ["a"]})))
            .await
            .unwrap();
        w.engine.resume(run).await.unwrap();
        let queued = w
            .engine
            .trigger("now", trigger_body(json!({"recipients": ["q"]})))
            .await
            .unwrap();
        let _ = queued; // stored, never resumed: the "crash" happens here
        run
    };
    let reopened = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let w = world_on(reopened.clone());
    let rearmed = herald_embedded::recover(reopened.as_ref(), w.waker.as_ref())
        .await
        .unwrap();
    assert_eq!(rearmed, 2);
    assert_eq!(w.waker.wakes(), vec![(run, t0() + Duration::seconds(2))]);
    assert_eq!(w.waker.started().len(), 1, "the queued run starts at once");
    w.engine.resume(w.waker.started()[0]).await.unwrap();
    assert_eq!(w.messages_of("q").await, 1);
    w.clock.advance(Duration::seconds(2));
    w.engine.resume(run).await.unwrap();
    w.engine.resume(run).await.unwrap();
    assert_eq!(w.messages_of("a").await, 1);
}

#[tokio::test]
async fn an_unreadable_recipient_run_is_ended_and_the_others_go_on() {
    let w = world();
    let users: Vec<RecipientRef> = ["ok-1", "poisoned", "ok-2"]
        .into_iter()
        .map(RecipientRef::user)
        .collect();
    let (wf, mut runs) = herald_tests::fixtures::run("now", None, &users, t0());
    runs[1].data = herald_tests::conformance::unreadable_data();
    w.store.insert_run(&wf, &runs, None).await.unwrap();

    let report = w
        .engine
        .resume(wf.id)
        .await
        .expect("one bad run fails no one else");
    assert_eq!(report.completed, 3);
    assert_eq!(w.messages_of("ok-1").await, 1);
    assert_eq!(w.messages_of("ok-2").await, 1);
    assert_eq!(w.messages_of("poisoned").await, 0);
    let events = w.store.recipient_run_events(runs[1].id).await.unwrap();
    let last = events.last().expect("an event");
    assert_eq!(last.event, "workflow_recipient_run_failed");
    assert_eq!(last.status, herald_core::run::EventStatus::Error);
    // Nothing is left to wake, and a second pass changes nothing.
    let again = w.engine.resume(wf.id).await.expect("again");
    assert_eq!(again, herald_core::engine::ResumeReport::default());
}

#[tokio::test]
async fn a_transient_failure_of_one_run_is_retried_alone() {
    use herald_tests::crash::{CrashingStore, Fuse, When};
    let inner: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().expect("store"));
    // The store fails its first write: one recipient's transition.
    let fuse = Fuse::new(1, When::Before);
    let store: Arc<dyn Store> = Arc::new(CrashingStore {
        inner: inner.clone(),
        fuse: fuse.clone(),
    });
    let w = world_on(store);
    let users: Vec<RecipientRef> = ["a", "b", "c"]
        .into_iter()
        .map(RecipientRef::user)
        .collect();
    let (wf, runs) = herald_tests::fixtures::run("now", None, &users, t0());
    inner.insert_run(&wf, &runs, None).await.unwrap();

    let failed = w.engine.resume(wf.id).await;
    assert!(
        failed.is_err(),
        "the pass reports the failure, to be retried"
    );
    assert!(fuse.blown());
    let mut delivered = 0;
    for u in ["a", "b", "c"] {
        delivered += w.messages_of(u).await;
    }
    assert_eq!(delivered, 2, "the other two went on");
    let retried = w.engine.resume(wf.id).await.expect("the retry");
    assert_eq!(retried.completed, 1);
    for u in ["a", "b", "c"] {
        assert_eq!(w.messages_of(u).await, 1, "{u}");
    }
}

#[tokio::test]
async fn the_local_worker_retries_a_failed_pass_with_backoff() {
    use herald_embedded::{run_worker_with, Retry, TokioWaker};
    use herald_tests::crash::{CrashingStore, Fuse, When};
    let inner: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().expect("store"));
    // Writes 1 and 2 store the workflow's version and the trigger's runs; write 3, a
    // recipient's first step, fails.
    let fuse = Fuse::new(3, When::Before);
    let store: Arc<dyn Store> = Arc::new(CrashingStore {
        inner: inner.clone(),
        fuse: fuse.clone(),
    });
    let clock: Arc<dyn herald_core::Clock> = Arc::new(herald_core::SystemClock);
    let (waker, wakeups) = TokioWaker::new(clock.clone());
    let engine = Engine::new(store, Arc::new(waker), clock, Arc::new(workflows()));
    let retry = Retry {
        first: std::time::Duration::from_millis(20),
        max: std::time::Duration::from_millis(80),
    };
    tokio::spawn(run_worker_with(engine.clone(), wakeups, retry));
    engine
        .trigger("now", trigger_body(json!({"recipients": ["a", "b"]})))
        .await
        .expect("trigger");
    let q = |u: &str| MessageQuery {
        recipient: Some(RecipientRef::user(u)),
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let a = inner.count_messages(&q("a")).await.unwrap();
        let b = inner.count_messages(&q("b")).await.unwrap();
        if a + b == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the failed pass was not retried"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(fuse.blown(), "a write did fail");
    assert_eq!(Retry::DEFAULT.wait(1), std::time::Duration::from_secs(1));
    assert_eq!(Retry::DEFAULT.wait(4), std::time::Duration::from_secs(8));
    assert_eq!(Retry::DEFAULT.wait(30), std::time::Duration::from_secs(300));
}

#[tokio::test]
async fn the_sweep_wakes_runs_overdue_by_more_than_two_minutes() {
    let w = world();
    let run = w
        .engine
        .trigger("reminder", trigger_body(json!({"recipients": ["late"]})))
        .await
        .unwrap();
    w.engine.resume(run).await.unwrap();
    let done = w
        .engine
        .trigger("now", trigger_body(json!({"recipients": ["done"]})))
        .await
        .unwrap();
    w.engine.resume(done).await.unwrap();
    assert_eq!(w.status(run, "late").await, RunStatus::Paused);
    let armed = w.waker.wakes().len();

    // Due at +2 s: at +1 min it is not yet overdue by the bound.
    w.clock.set(t0() + Duration::minutes(1));
    let report = w.engine.sweep().await.unwrap();
    assert_eq!(report, herald_core::engine::SweepReport::default());
    // Its wake-up was lost: at +3 min the sweep wakes it, and only it.
    w.clock.set(t0() + Duration::minutes(3));
    let report = w.engine.sweep().await.unwrap();
    assert_eq!(report.workflow_runs, 1, "{report:?}");
    let wakes = w.waker.wakes();
    assert_eq!(wakes.len(), armed + 1);
    assert_eq!(wakes.last(), Some(&(run, w.engine.now())));
    w.engine.resume(run).await.unwrap();
    assert_eq!(w.messages_of("late").await, 1);
    assert_eq!(w.engine.sweep().await.unwrap().workflow_runs, 0);
}
