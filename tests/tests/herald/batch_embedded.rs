//! Batch steps on the embedded store: concurrency, Knock's cancellation rules, every setting.

use std::sync::Arc;

use chrono::Duration;
use herald_core::ports::Store;
use herald_core::recipient::RecipientRef;
use herald_core::run::RunStatus;
use herald_embedded::SqliteStore;
use herald_tests::batching::{digest, feed, triggers_race_into_one_window, world, World};
use serde_json::{json, Value};
use uuid::Uuid;

fn store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::in_memory().expect("store"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_parallel_triggers_make_one_continuing_run() {
    triggers_race_into_one_window(store(), 1000, 0, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_cancelled_of_a_thousand_leave_nine_hundred() {
    triggers_race_into_one_window(store(), 1000, 100, 1000).await;
}

fn digest_world() -> World {
    world(store(), &[("digest", digest())])
}

fn comment(who: &str, key: &str, actor: &str) -> Value {
    json!({"recipients": [who], "actor": {"id": actor, "name": actor}, "cancellation_key": key,
           "data": {"comment": key}})
}

async fn run_status(w: &World, workflow_run: Uuid, who: &str) -> RunStatus {
    w.run_of(workflow_run, who).await.status
}

#[tokio::test]
async fn a_cancel_removes_its_activity_and_the_window_stays_open_for_later_triggers() {
    let w = digest_world();
    w.trigger_and_run("digest", comment("u", "k1", "a")).await;
    w.trigger_and_run("digest", comment("u", "k2", "b")).await;
    w.cancel("digest", "k2").await;
    assert_eq!(
        w.open_batches("digest").await.len(),
        1,
        "the window is still open"
    );
    w.clock.advance(Duration::minutes(5));
    w.trigger_and_run("digest", comment("u", "k3", "c")).await;
    w.advance(Duration::minutes(5)).await;
    assert_eq!(w.messages("u").await, vec!["2 new comments from 2 people"]);
}

#[tokio::test]
async fn a_batch_whose_activities_were_all_cancelled_sends_nothing() {
    let w = digest_world();
    let opener = w.trigger_and_run("digest", comment("u", "k1", "a")).await;
    w.trigger_and_run("digest", comment("u", "k2", "b")).await;
    w.cancel("digest", "k1").await;
    w.cancel("digest", "k2").await;
    assert_eq!(
        run_status(&w, opener, "u").await,
        RunStatus::Paused,
        "the opener waits out the window"
    );
    w.advance(Duration::minutes(10)).await;
    assert!(w.messages("u").await.is_empty());
    assert_eq!(run_status(&w, opener, "u").await, RunStatus::Completed);
    let id = herald_core::ids::recipient_run_id(opener, &RecipientRef::user("u"));
    let events = w.store.recipient_run_events(id).await.expect("events");
    assert!(events.iter().any(|e| e.event == "batch_closed_empty"));
}

#[tokio::test]
async fn after_the_window_closes_only_the_openers_key_cancels_the_continuing_run() {
    let wf = json!({"name": "Digest then wait", "steps": [
        {"ref": "batch", "type": "batch", "settings": {"batch_window": {"unit": "minutes", "value": 10}}},
        {"ref": "wait", "type": "delay", "settings": {"delay_for": {"unit": "hours", "value": 1}}},
        feed("feed", "{{ total_activities }}")
    ]});
    let w = world(store(), &[("later", wf)]);
    let opener = w.trigger_and_run("later", comment("u", "first", "a")).await;
    let joiner = w
        .trigger_and_run("later", comment("u", "second", "b"))
        .await;
    assert_eq!(
        run_status(&w, joiner, "u").await,
        RunStatus::Completed,
        "joined and ended"
    );
    // The opener's key during the window removes its activity only.
    w.cancel("later", "first").await;
    w.advance(Duration::minutes(10)).await;
    assert_eq!(
        run_status(&w, opener, "u").await,
        RunStatus::Paused,
        "now in the delay"
    );
    w.cancel("later", "second").await;
    assert_eq!(
        run_status(&w, opener, "u").await,
        RunStatus::Paused,
        "an absorbed key does nothing"
    );
    w.cancel("later", "first").await;
    assert_eq!(run_status(&w, opener, "u").await, RunStatus::Cancelled);
    w.advance(Duration::hours(1)).await;
    assert!(w.messages("u").await.is_empty(), "nothing after the cancel");
}

#[tokio::test]
async fn the_item_limit_closes_the_window_early() {
    let wf = json!({"name": "Three", "steps": [
        {"ref": "batch", "type": "batch", "settings": {"batch_window": {"unit": "hours", "value": 1},
                                                      "batch_items_max_limit": 3}},
        feed("feed", "{{ total_activities }}")
    ]});
    let w = world(store(), &[("three", wf)]);
    for k in ["a", "b", "c"] {
        w.trigger_and_run("three", comment("u", k, k)).await;
    }
    // The third join asked for the opener to run now; no time has passed.
    w.advance(Duration::zero()).await;
    assert_eq!(w.messages("u").await, vec!["3"]);
    // The next one opens a new batch.
    w.trigger_and_run("three", comment("u", "d", "d")).await;
    assert_eq!(w.open_batches("three").await.len(), 1);
}

#[tokio::test]
async fn a_sliding_window_moves_with_each_activity_up_to_its_limit() {
    let wf = json!({"name": "Sliding", "steps": [
        {"ref": "batch", "type": "batch", "settings": {
            "batch_window_type": "sliding", "batch_window": {"unit": "minutes", "value": 5},
            "batch_window_extension_limit": {"unit": "minutes", "value": 12}}},
        feed("feed", "{{ total_activities }}")
    ]});
    let w = world(store(), &[("sliding", wf)]);
    w.trigger_and_run("sliding", comment("u", "a", "a")).await;
    w.clock.advance(Duration::minutes(4));
    w.trigger_and_run("sliding", comment("u", "b", "b")).await;
    // The first wake-up (at 5 min) finds the window moved to 9 min and sleeps on.
    w.advance(Duration::minutes(1)).await;
    assert!(w.messages("u").await.is_empty());
    w.clock.advance(Duration::minutes(3));
    w.trigger_and_run("sliding", comment("u", "c", "c")).await;
    // Moved to 13 min but capped at 12.
    let open = w.open_batches("sliding").await;
    assert_eq!(
        open[0].closes_at,
        herald_tests::fixtures::t0() + Duration::minutes(12)
    );
    w.advance(Duration::minutes(4)).await;
    assert_eq!(w.messages("u").await, vec!["3"]);
}

#[tokio::test]
async fn flush_leading_sends_the_first_at_once_and_batches_the_rest() {
    let wf = json!({"name": "Leading", "steps": [
        {"ref": "batch", "type": "batch", "settings": {"batch_window": {"unit": "minutes", "value": 10},
                                                      "batch_execution_mode": "flush_leading"}},
        feed("feed", "{{ total_activities | default: 'first' }}")
    ]});
    let w = world(store(), &[("leading", wf)]);
    w.trigger_and_run("leading", comment("u", "a", "a")).await;
    assert_eq!(w.messages("u").await, vec!["first"]);
    w.trigger_and_run("leading", comment("u", "b", "b")).await;
    w.trigger_and_run("leading", comment("u", "c", "c")).await;
    w.advance(Duration::minutes(10)).await;
    assert_eq!(w.messages("u").await, vec!["2", "first"]);
    // A window with only the leading item closes as a no-op; the next trigger leads again.
    w.trigger_and_run("leading", comment("v", "d", "d")).await;
    w.advance(Duration::minutes(10)).await;
    assert_eq!(w.messages("v").await, vec!["first"]);
    w.trigger_and_run("leading", comment("v", "e", "e")).await;
    assert_eq!(w.messages("v").await, vec!["first", "first"]);
}

#[tokio::test]
async fn batch_keys_order_render_limit_and_merged_data() {
    let wf = json!({"name": "Keyed", "steps": [
        {"ref": "batch", "type": "batch", "settings": {"batch_window": {"unit": "minutes", "value": 10},
            "batch_key": "{{ data.page }}", "batch_order": "desc", "batch_items_render_limit": 2}},
        feed("feed", "{{ data.page }}: {{ total_activities }} [{% for a in activities %}{{ a.data.n }} {% endfor %}] last={{ data.n }}")
    ]});
    let w = world(store(), &[("keyed", wf)]);
    for (page, n) in [("p1", 1), ("p2", 2), ("p1", 3), ("p1", 4)] {
        w.trigger_and_run(
            "keyed",
            json!({"recipients": ["u"], "data": {"page": page, "n": n, "nested": {"x": 1}}}),
        )
        .await;
    }
    assert_eq!(w.open_batches("keyed").await.len(), 2, "one batch per key");
    w.advance(Duration::minutes(10)).await;
    let mut got = w.messages("u").await;
    got.sort();
    assert_eq!(got, vec!["p1: 3 [3 4 ] last=4", "p2: 1 [2 ] last=2"]);
}

#[tokio::test]
async fn a_dynamic_window_is_read_when_the_batch_opens() {
    let wf = json!({"name": "Until", "steps": [
        {"ref": "batch", "type": "batch", "settings": {"batch_until_field_path": "recipient.digest_at"}},
        feed("feed", "{{ total_activities }}")
    ]});
    let w = world(store(), &[("until", wf)]);
    let at = herald_tests::fixtures::t0() + Duration::minutes(30);
    w.trigger_and_run(
        "until",
        json!({"recipients": [{"id": "u", "digest_at": at.to_rfc3339()}]}),
    )
    .await;
    w.trigger_and_run("until", json!({"recipients": ["u"]}))
        .await;
    assert_eq!(w.open_batches("until").await[0].closes_at, at);
    w.advance(Duration::minutes(29)).await;
    assert!(w.messages("u").await.is_empty());
    w.advance(Duration::minutes(1)).await;
    assert_eq!(w.messages("u").await, vec!["2"]);
}

#[tokio::test]
async fn a_flush_closes_an_open_batch_now() {
    let w = digest_world();
    w.trigger_and_run("digest", comment("u", "k1", "a")).await;
    w.trigger_and_run("digest", comment("u", "k2", "a")).await;
    let open = w.open_batches("digest").await;
    assert!(w.engine.flush_batch(&open[0]).await.expect("flush"));
    w.advance(Duration::zero()).await;
    assert_eq!(w.messages("u").await, vec!["2 new comments from 1 people"]);
    assert!(!w.engine.flush_batch(&open[0]).await.expect("flush closed"));
}
