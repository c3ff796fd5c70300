//! Branch, throttle, delay windows, fetch and trigger-workflow steps, and trigger settings, on
//! an injected clock (nothing here sleeps, except a fetch's own timeout).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use herald_core::message::DeliveryStatus;
use herald_core::ports::{MessageQuery, PageRequest, Store};
use herald_core::recipient::RecipientRef;
use herald_core::run::RunStatus;
use herald_embedded::SqliteStore;
use herald_fetch::{Outbound, ReqwestFetcher};
use herald_tests::batching::{feed, world, World};
use herald_tests::fixtures::t0;
use serde_json::{json, Value};
use uuid::Uuid;

fn store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::in_memory().expect("store"))
}

async fn run_of(w: &World, workflow_run: Uuid, who: &str) -> herald_core::run::RecipientRun {
    w.run_of(workflow_run, who).await
}

fn branching() -> Value {
    json!({"name": "Plans", "steps": [
        {"ref": "plan", "type": "branch", "branches": [
            {"name": "Pro", "conditions": {"all": [{"variable": "recipient.plan", "operator": "equal_to", "argument": "pro"}]},
             "steps": [feed("pro", "pro"),
                {"ref": "size", "type": "branch", "branches": [
                    {"name": "Big", "conditions": {"all": [{"variable": "data.seats", "operator": "greater_than", "argument": 10}]},
                     "terminates": true, "steps": [feed("big", "big")]},
                    {"name": "Default", "steps": []}]}]},
            {"name": "Free", "conditions": {"all": [{"variable": "recipient.plan", "operator": "equal_to", "argument": "free"}]},
             "terminates": true, "steps": []},
            {"name": "Default", "steps": [feed("other", "other")]}]},
        feed("after", "after")
    ]})
}

#[tokio::test]
async fn branches_take_the_first_match_nest_and_terminate() {
    let w = world(store(), &[("plans", branching())]);
    for (who, plan, seats) in [
        ("p", "pro", 3),
        ("b", "pro", 50),
        ("f", "free", 1),
        ("o", "team", 1),
    ] {
        w.trigger_and_run(
            "plans",
            json!({"recipients": [{"id": who, "plan": plan}], "data": {"seats": seats}}),
        )
        .await;
    }
    assert_eq!(w.messages("p").await, vec!["after", "pro"]);
    assert_eq!(
        w.messages("b").await,
        vec!["big", "pro"],
        "the nested branch terminates"
    );
    assert!(
        w.messages("f").await.is_empty(),
        "an empty terminating branch ends the run"
    );
    assert_eq!(
        w.messages("o").await,
        vec!["after", "other"],
        "the default branch"
    );
}

#[tokio::test]
async fn a_throttle_stops_runs_past_its_limit_until_the_window_ends() {
    let wf = json!({"name": "Alerts", "steps": [
        {"ref": "throttle", "type": "throttle", "settings": {
            "throttle_window": {"unit": "hours", "value": 1}, "throttle_limit": 2, "throttle_key": "alert_id"}},
        feed("feed", "{{ data.alert_id }}")
    ]});
    let w = world(store(), &[("alerts", wf)]);
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(
            w.trigger_and_run(
                "alerts",
                json!({"recipients": ["u"], "data": {"alert_id": "cpu"}}),
            )
            .await,
        );
    }
    // Another key has its own window.
    w.trigger_and_run(
        "alerts",
        json!({"recipients": ["u"], "data": {"alert_id": "disk"}}),
    )
    .await;
    assert_eq!(w.messages("u").await, vec!["disk", "cpu", "cpu"]);
    let third = run_of(&w, runs[2], "u").await;
    assert_eq!(third.status, RunStatus::Completed);
    let events = w
        .store
        .recipient_run_events(third.id)
        .await
        .expect("events");
    assert!(events.iter().any(|e| e.event == "throttled"));
    w.clock.advance(Duration::hours(1));
    w.trigger_and_run(
        "alerts",
        json!({"recipients": ["u"], "data": {"alert_id": "cpu"}}),
    )
    .await;
    assert_eq!(w.messages("u").await.len(), 4, "a new window admits again");
}

fn wake_of(w: &World, run: Uuid) -> Option<DateTime<Utc>> {
    w.waker
        .wakes()
        .into_iter()
        .filter(|(r, _)| *r == run)
        .map(|(_, at)| at)
        .max()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

#[tokio::test]
async fn window_rules_follow_the_recipients_time_zone_across_a_dst_change() {
    let wf = json!({"name": "Morning", "steps": [
        {"ref": "wait", "type": "delay", "settings": {"delay_until_field_path": "data.when"}},
        feed("feed", "good morning")
    ]});
    let rule = json!({"frequency": "daily", "hours": 9, "minutes": 0});
    let w = world(store(), &[("morning", wf.clone())]);
    // Saturday 2026-03-07 15:00 UTC = 10:00 EST, past 09:00: next is Sunday 09:00, which is
    // already daylight time (the change is at 02:00 that Sunday): 13:00 UTC, not 14:00.
    w.clock.set(at("2026-03-07T15:00:00Z"));
    let run = w
        .trigger_and_run(
            "morning",
            json!({"recipients": [{"id": "ny", "timezone": "America/New_York"}], "data": {"when": rule}}),
        )
        .await;
    assert_eq!(wake_of(&w, run), Some(at("2026-03-08T13:00:00Z")));
    // The day before the change, the same rule is 14:00 UTC.
    w.clock.set(at("2026-03-06T15:00:00Z"));
    let run = w
        .trigger_and_run(
            "morning",
            json!({"recipients": [{"id": "ny2", "timezone": "America/New_York"}], "data": {"when": rule}}),
        )
        .await;
    assert_eq!(wake_of(&w, run), Some(at("2026-03-07T14:00:00Z")));
    // No recipient time zone: the environment's default, else UTC.
    let run = w
        .trigger_and_run(
            "morning",
            json!({"recipients": ["utc"], "data": {"when": rule}}),
        )
        .await;
    assert_eq!(wake_of(&w, run), Some(at("2026-03-07T09:00:00Z")));
    let channels = herald_tests::batching::channels();
    let set = herald_core::definition::WorkflowSet::new([herald_core::definition::from_json(
        "morning", &wf, &channels,
    )
    .expect("workflow")]);
    let paris = Engine::new(
        w.store.clone(),
        w.waker.clone(),
        w.clock.clone(),
        Arc::new(set),
    )
    .with_default_timezone(chrono_tz_paris());
    let request = herald_core::engine::TriggerRequest::from_json(
        &json!({"recipients": ["fr"], "data": {"when": rule}}),
    )
    .expect("trigger");
    let run = paris.trigger("morning", request).await.expect("trigger");
    paris.resume(run).await.expect("resume");
    assert_eq!(wake_of(&w, run), Some(at("2026-03-07T08:00:00Z")));
}

use herald_core::Engine;

fn chrono_tz_paris() -> chrono_tz::Tz {
    herald_core::window_rule::parse_timezone("Europe/Paris").expect("tz")
}

#[tokio::test]
async fn dynamic_delays_read_recipient_and_data_and_relative_offsets() {
    let wf = json!({"name": "Trial", "steps": [
        {"ref": "wait", "type": "delay", "settings": {"delay_until_field_path": "recipient.trial_ends_at",
                                                     "delay_for": {"unit": "days", "value": -1}}},
        feed("feed", "trial ends tomorrow"),
        {"ref": "again", "type": "delay", "settings": {"delay_until_field_path": "data.follow_up"}},
        feed("feed2", "follow up")
    ]});
    let w = world(store(), &[("trial", wf)]);
    let run = w
        .trigger_and_run(
            "trial",
            json!({"recipients": [{"id": "u", "trial_ends_at": "2026-05-10T12:00:00Z"}],
                   "data": {"follow_up": {"unit": "hours", "value": 2}}}),
        )
        .await;
    assert_eq!(wake_of(&w, run), Some(at("2026-05-09T12:00:00Z")));
    w.clock.set(at("2026-05-09T12:00:00Z"));
    w.engine.resume(run).await.expect("resume");
    assert_eq!(w.messages("u").await, vec!["trial ends tomorrow"]);
    assert_eq!(wake_of(&w, run), Some(at("2026-05-09T14:00:00Z")));
}

#[tokio::test]
async fn skip_delay_and_sandbox_mode_settings() {
    let wf = json!({"name": "Later", "steps": [
        {"ref": "wait", "type": "delay", "settings": {"delay_for": {"unit": "days", "value": 3}}},
        feed("feed", "hi")
    ]});
    let w = world(store(), &[("later", wf)]);
    w.trigger_and_run(
        "later",
        json!({"recipients": ["u"], "settings": {"skip_delay": true, "sandbox_mode": true}}),
    )
    .await;
    let page = w
        .store
        .list_messages(
            &MessageQuery {
                recipient: Some(RecipientRef::user("u")),
                ..Default::default()
            },
            &PageRequest {
                page_size: 5,
                ..Default::default()
            },
        )
        .await
        .expect("messages");
    assert_eq!(page.items.len(), 1, "sent without waiting 3 days");
    assert_eq!(page.items[0].status, DeliveryStatus::NotSent);
}

#[tokio::test]
async fn trigger_workflow_starts_a_child_with_the_parents_key_unless_cancelled_first() {
    let parent = json!({"name": "Parent", "steps": [
        {"ref": "wait", "type": "delay", "settings": {"delay_for": {"unit": "minutes", "value": 5}}},
        {"ref": "child", "type": "trigger_workflow", "settings": {"workflow_key": "child",
            "data": "{\"from\": \"{{ data.name }}\"}"}}
    ]});
    let child = json!({"name": "Child", "steps": [feed("feed", "child of {{ data.from }}")]});
    let w = world(store(), &[("parent", parent), ("child", child)]);
    let kept = w
        .trigger_and_run(
            "parent",
            json!({"recipients": ["u"], "cancellation_key": "k", "data": {"name": "p"}}),
        )
        .await;
    w.trigger_and_run(
        "parent",
        json!({"recipients": ["v"], "cancellation_key": "gone", "data": {"name": "q"}}),
    )
    .await;
    // Cancelling the parent before the step: no child.
    w.cancel("parent", "gone").await;
    w.advance(Duration::minutes(5)).await;
    assert!(w.messages("v").await.is_empty());
    let run = run_of(&w, kept, "u").await;
    let events = w.store.recipient_run_events(run.id).await.expect("events");
    let child_run = events
        .iter()
        .find(|e| e.event == "workflow_triggered")
        .and_then(|e| e.data["workflow_run_id"].as_str())
        .and_then(|s| Uuid::parse_str(s).ok())
        .expect("child run id");
    w.engine.resume(child_run).await.expect("child");
    assert_eq!(w.messages("u").await, vec!["child of p"]);
    let child = run_of(&w, child_run, "u").await;
    assert_eq!(
        child.cancellation_key.as_deref(),
        Some("k"),
        "default key: the parent's"
    );
}

/// A scripted answer: status, JSON body, delay in milliseconds.
type Answer = (u16, Value, u64);

/// What the server shares between requests: the script and how many requests came.
type Script = (Arc<Vec<Answer>>, Arc<AtomicUsize>);

/// A local HTTP server whose answers are scripted per request.
async fn serve(answers: Vec<Answer>) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let state = (Arc::new(answers), hits.clone());
    async fn answer(State((answers, hits)): State<Script>) -> (StatusCode, Json<Value>) {
        let i = hits.fetch_add(1, Ordering::SeqCst);
        let (status, body, delay_ms) = answers[i.min(answers.len() - 1)].clone();
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            Json(body),
        )
    }
    let app = Router::new()
        .route("/users/{id}", get(answer))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

fn fetching(base: &str, response_path: Option<&str>) -> Value {
    let mut settings = json!({"method": "get", "url": format!("{base}/users/{{{{ recipient.id }}}}"),
                              "headers": [{"key": "Authorization", "value": "Bearer t"}]});
    if let Some(p) = response_path {
        settings["response_path"] = json!(p);
    }
    json!({"name": "Fetch", "steps": [
        {"ref": "fetch", "type": "http_fetch", "settings": settings},
        feed("feed", "plan={{ data.plan }}{{ data.fetched.plan }}")
    ]})
}

fn fetch_world(wf: Value) -> World {
    fetch_world_with(wf, Outbound::AllowPrivate)
}

fn fetch_world_with(wf: Value, outbound: Outbound) -> World {
    let mut w = world(store(), &[("fetch", wf)]);
    let fetcher = Arc::new(ReqwestFetcher::new(outbound).expect("client"));
    w.engine = w
        .engine
        .clone()
        .with_fetcher(fetcher)
        .with_fetch_timeout(std::time::Duration::from_millis(300));
    w
}

#[tokio::test]
async fn a_fetch_merges_its_answer_into_data_or_at_a_path() {
    let (base, hits) = serve(vec![(200, json!({"plan": "pro"}), 0)]).await;
    let w = fetch_world(fetching(&base, None));
    w.trigger_and_run("fetch", json!({"recipients": ["u"]}))
        .await;
    assert_eq!(w.messages("u").await, vec!["plan=pro"]);
    let w = fetch_world(fetching(&base, Some("fetched")));
    w.trigger_and_run("fetch", json!({"recipients": ["v"]}))
        .await;
    assert_eq!(w.messages("v").await, vec!["plan=pro"]);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

/// Large trigger data and a large fetch answer are each stored once and layered, never copied
/// into the run: the run holds references, templates still see every field.
#[tokio::test]
async fn large_data_and_a_large_fetch_answer_are_layers_over_stored_payloads() {
    use herald_core::data::Part;
    let history = "y".repeat(100_000);
    let (base, _) = serve(vec![(200, json!({"plan": "pro", "history": history}), 0)]).await;
    let w = fetch_world(fetching(&base, Some("fetched")));
    let big = "z".repeat(50_000);
    let run = w
        .trigger_and_run(
            "fetch",
            json!({"recipients": [{"id": "u", "$trigger_data": {"plan": "own-"}}], "data": {"big": big}}),
        )
        .await;
    assert_eq!(w.messages("u").await, vec!["plan=own-pro"]);
    let stored = run_of(&w, run, "u").await;
    let kinds: Vec<(Option<&str>, bool)> = stored
        .data
        .layers()
        .iter()
        .map(|l| (l.at.as_deref(), matches!(l.part, Part::Stored(_))))
        .collect();
    assert_eq!(
        kinds,
        vec![(None, true), (None, false), (Some("fetched"), true)],
        "the trigger's data and the answer stored, the recipient's own fields inline"
    );
    let data = w.engine.data_of(&stored.data).await.expect("data");
    assert_eq!(data["big"].as_str().map(str::len), Some(50_000));
    assert_eq!(data["plan"], json!("own-"));
    assert_eq!(
        data["fetched"]["history"].as_str().map(str::len),
        Some(100_000)
    );
}

#[tokio::test]
async fn a_fetch_retries_5xx_and_timeouts_after_30_and_60_seconds() {
    let (base, hits) = serve(vec![
        (503, json!({}), 0),
        (200, json!({"plan": "slow"}), 2_000), // times out
        (200, json!({"plan": "pro"}), 0),
    ])
    .await;
    let w = fetch_world(fetching(&base, None));
    let run = w
        .trigger_and_run("fetch", json!({"recipients": ["u"]}))
        .await;
    assert_eq!(run_of(&w, run, "u").await.status, RunStatus::Paused);
    assert_eq!(wake_of(&w, run), Some(t0() + Duration::seconds(30)));
    w.advance(Duration::seconds(30)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(wake_of(&w, run), Some(t0() + Duration::seconds(90)));
    w.advance(Duration::seconds(60)).await;
    assert_eq!(w.messages("u").await, vec!["plan=pro"]);
}

#[tokio::test]
async fn a_fetch_that_keeps_failing_halts_and_4xx_is_not_retried() {
    let (base, hits) = serve(vec![(500, json!({}), 0)]).await;
    let w = fetch_world(fetching(&base, None));
    let run = w
        .trigger_and_run("fetch", json!({"recipients": ["u"]}))
        .await;
    w.advance(Duration::seconds(30)).await;
    w.advance(Duration::seconds(60)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "the first try and two retries"
    );
    let r = run_of(&w, run, "u").await;
    assert_eq!(r.status, RunStatus::Completed);
    assert!(w.messages("u").await.is_empty());
    let (base, hits) = serve(vec![(404, json!({}), 0)]).await;
    let w = fetch_world(fetching(&base, None));
    let run = w
        .trigger_and_run("fetch", json!({"recipients": ["u"]}))
        .await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(run_of(&w, run, "u").await.status, RunStatus::Completed);
}

#[tokio::test]
async fn a_cancel_during_the_retry_pause_stops_the_fetch() {
    let (base, hits) = serve(vec![(502, json!({}), 0), (200, json!({"plan": "pro"}), 0)]).await;
    let w = fetch_world(fetching(&base, None));
    let run = w
        .trigger_and_run(
            "fetch",
            json!({"recipients": ["u"], "cancellation_key": "k"}),
        )
        .await;
    w.cancel("fetch", "k").await;
    w.advance(Duration::seconds(30)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "no retry after the cancel");
    assert_eq!(run_of(&w, run, "u").await.status, RunStatus::Cancelled);
    assert!(w.messages("u").await.is_empty());
}

#[tokio::test]
async fn the_outbound_guard_refuses_internal_destinations_without_retrying() {
    let (base, hits) = serve(vec![(200, json!({"plan": "pro"}), 0)]).await;
    let port = base.rsplit(':').next().expect("port").to_string();
    // The loopback server by address, as a decimal address, and by a name resolving to it.
    for host in ["127.0.0.1", "2130706433", "localhost", "[::ffff:127.0.0.1]"] {
        let w = fetch_world_with(
            fetching(&format!("http://{host}:{port}"), None),
            Outbound::PublicOnly,
        );
        let run = w
            .trigger_and_run("fetch", json!({"recipients": ["u"]}))
            .await;
        let r = run_of(&w, run, "u").await;
        assert_eq!(r.status, RunStatus::Completed, "{host}: not retried");
        assert!(w.messages("u").await.is_empty(), "{host}");
        let events = w.store.recipient_run_events(r.id).await.expect("events");
        let failed = events
            .iter()
            .find(|e| e.event == "step_failed")
            .unwrap_or_else(|| panic!("{host}: the fetch step failed"));
        let why = failed.data["message"].as_str().unwrap_or_default();
        assert!(why.contains("refused"), "{host}: {why}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");
    // The same server is reachable when private networks are allowed (local development).
    let w = fetch_world_with(fetching(&base, None), Outbound::AllowPrivate);
    w.trigger_and_run("fetch", json!({"recipients": ["u"]}))
        .await;
    assert_eq!(w.messages("u").await, vec!["plan=pro"]);
}

#[tokio::test]
async fn a_fetch_answer_over_the_cap_fails_the_step() {
    let big = "x".repeat(herald_fetch::MAX_ANSWER_BYTES + 1);
    let (base, hits) = serve(vec![(200, json!({"plan": big}), 0)]).await;
    let w = fetch_world(fetching(&base, None));
    let run = w
        .trigger_and_run("fetch", json!({"recipients": ["u"]}))
        .await;
    let r = run_of(&w, run, "u").await;
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "not retried");
    assert!(w.messages("u").await.is_empty());
}

#[tokio::test]
async fn a_fetch_answer_nested_too_deep_fails_that_recipient_alone() {
    // 100 levels: serde_json reads it, but merged into a run's data it would not be read back.
    let deep = (0..100).fold(json!("x"), |v, _| json!({ "a": v }));
    let (base, _) = serve(vec![
        (200, json!({"plan": "pro"}), 0),
        (200, deep, 0),
        (200, json!({"plan": "pro"}), 0),
    ])
    .await;
    let w = fetch_world(fetching(&base, None));
    let run = w
        .trigger_and_run("fetch", json!({"recipients": ["a", "b", "c"]}))
        .await;
    let mut failed = Vec::new();
    for who in ["a", "b", "c"] {
        let r = run_of(&w, run, who).await;
        assert_eq!(r.status, RunStatus::Completed, "{who}");
        if w.messages(who).await.is_empty() {
            let events = w.store.recipient_run_events(r.id).await.expect("events");
            let last = events.last().expect("an event");
            assert_eq!(last.event, "step_failed");
            assert!(last.data["message"]
                .as_str()
                .is_some_and(|m| m.contains("deeper than 64")));
            failed.push(who);
        } else {
            assert_eq!(w.messages(who).await, vec!["plan=pro"]);
        }
    }
    assert_eq!(
        failed.len(),
        1,
        "one poisoned answer, one failed run: {failed:?}"
    );
}
