//! Prints the local store's write throughput under concurrency, the workload of the peer
//! benchmark: single-recipient triggers with a cancellation key and a 3 s delay, 50 in flight,
//! then half of them cancelled, then the wake-ups of the rest (every uncancelled run fires
//! exactly once, no cancelled one fires). Through the router in-process, on the file-backed
//! store with every commit synced.
//!
//! Run: `cargo bench -p herald-tests --bench throughput` (`HERALD_BENCH_TRIGGERS` to resize).

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::definition::{from_json, ChannelType, Channels, WorkflowSet};
use herald_core::ports::{MessageQuery, PageRequest, Store};
use herald_tests::bench::{local, percentile, Local};
use serde_json::json;
use tokio::sync::Semaphore;
use tower::ServiceExt;

const IN_FLIGHT: usize = 50;
const DELAY_SECS: i64 = 3;

fn workflows() -> WorkflowSet {
    let mut channels = Channels::default();
    channels.insert("in-app", ChannelType::InAppFeed);
    let feed = json!({"ref": "feed", "type": "channel", "channel_key": "in-app", "template": {"markdown_body": "Hi {{ recipient.id }}"}});
    let wait = json!({"ref": "wait", "type": "delay", "settings": {"delay_for": {"unit": "seconds", "value": DELAY_SECS}}});
    let until =
        json!({"ref": "wait", "type": "delay", "settings": {"delay_until_field_path": "data.due"}});
    let defs = [
        (
            "delayed",
            json!({"name": "Delayed", "steps": [wait, feed.clone()]}),
        ),
        (
            "due",
            json!({"name": "Due together", "steps": [until, feed]}),
        ),
    ];
    WorkflowSet::new(
        defs.iter()
            .map(|(k, v)| from_json(k, v, &channels).expect("workflow")),
    )
}

fn request(path: &str, body: serde_json::Value) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", "Bearer sk_bench")
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(body.to_string()))
        .expect("request")
}

/// Sends `bodies` to `path`, `IN_FLIGHT` at a time: requests/s, each latency (ms, sorted) and
/// when each was answered (in the order of `bodies`).
async fn load(
    router: &axum::Router,
    path: &str,
    bodies: Vec<serde_json::Value>,
    expect: u16,
) -> (f64, Vec<f64>, Vec<chrono::DateTime<chrono::Utc>>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(bodies.len());
    for body in bodies {
        let permit = slots.clone().acquire_owned().await.expect("slots");
        let (router, path) = (router.clone(), path.to_string());
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let resp = router
                .oneshot(request(&path, body))
                .await
                .expect("infallible");
            drop(permit);
            assert_eq!(resp.status().as_u16(), expect, "{path}");
            (start.elapsed().as_secs_f64() * 1e3, chrono::Utc::now())
        }));
    }
    let mut ms = Vec::with_capacity(tasks.len());
    let mut answered = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (latency, at) = t.await.expect("request task");
        ms.push(latency);
        answered.push(at);
    }
    let rate = ms.len() as f64 / started.elapsed().as_secs_f64();
    ms.sort_by(|a, b| a.total_cmp(b));
    (rate, ms, answered)
}

/// Every message of `workflow` in the store.
async fn messages(store: &dyn Store, workflow: &str) -> Vec<herald_core::message::Message> {
    let query = MessageQuery {
        workflow_key: Some(workflow.into()),
        ..Default::default()
    };
    let mut all = Vec::new();
    let mut page = PageRequest {
        page_size: 50,
        ..Default::default()
    };
    loop {
        let got = store.list_messages(&query, &page).await.expect("messages");
        all.extend(got.items);
        match got.after {
            Some(after) => page.after = Some(after),
            None => return all,
        }
    }
}

fn line(name: &str, rate: f64, ms: &[f64]) {
    println!(
        "{name:<28} {rate:>8.0}/s  p50={:>6.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        percentile(ms, 0.5),
        percentile(ms, 0.99),
        ms[ms.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("HERALD_BENCH_TRIGGERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let Local { store, router, .. } = &local(workflows());

    let triggers = (0..n)
        .map(|i| json!({"recipients": [format!("u{i}")], "cancellation_key": format!("k{i}"), "data": {"n": i}}))
        .collect();
    let (rate, ms, _) = load(router, "/v1/workflows/delayed/trigger", triggers, 200).await;
    line(&format!("trigger ({n}, {IN_FLIGHT} in flight)"), rate, &ms);

    let cancels = (0..n)
        .step_by(2)
        .map(|i| json!({"cancellation_key": format!("k{i}")}))
        .collect();
    let (rate, ms, cancelled_at) = load(router, "/v1/workflows/delayed/cancel", cancels, 204).await;
    line(
        &format!("cancel ({}, {IN_FLIGHT} in flight)", n.div_ceil(2)),
        rate,
        &ms,
    );

    // Every uncancelled run fires, when due; a cancelled one fires only if it was due before its
    // cancel was answered (then it completed first). Message ids are derived from the run and
    // step, so a run cannot leave two messages; what is checked is that none is missing or extra.
    let uncancelled = n / 2; // the odd indices
    let deadline = Instant::now() + Duration::from_secs(DELAY_SECS as u64 + 60);
    let messages = loop {
        let all = messages(store.as_ref(), "delayed").await;
        let fired = all
            .iter()
            .filter(|m| {
                m.recipient.id[1..]
                    .parse::<usize>()
                    .is_ok_and(|i| i % 2 == 1)
            })
            .count();
        if fired >= uncancelled || Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut lateness = Vec::new();
    let mut early = 0usize;
    for m in &messages {
        let i: usize = m.recipient.id[1..].parse().expect("index");
        let run = store
            .get_recipient_run(m.recipient_run_id)
            .await
            .expect("run")
            .expect("run");
        if i.is_multiple_of(2) {
            assert_eq!(
                run.status,
                herald_core::run::RunStatus::Completed,
                "run {i}"
            );
            assert!(
                m.inserted_at < cancelled_at[i / 2],
                "run {i} fired after its cancel"
            );
            early += 1;
            continue;
        }
        let due = run.inserted_at + chrono::Duration::seconds(DELAY_SECS);
        lateness.push((m.inserted_at - due).num_microseconds().unwrap_or_default() as f64 / 1e3);
    }
    assert_eq!(
        messages.len() - early,
        uncancelled,
        "every uncancelled run fired"
    );
    lateness.sort_by(|a, b| a.total_cmp(b));
    println!(
        "wake-up lateness ({} due)      p50={:>6.2} ms  p99={:>7.2} ms  max={:>7.2} ms; every uncancelled run fired, no cancelled one after its cancel ({early} were due before it)",
        lateness.len(),
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        lateness[lateness.len() - 1]
    );

    due_together(router, store.as_ref(), n.min(2_000)).await;
}

/// `n` runs whose delay ends at the same instant (`delay_until_field_path`): how late the
/// wake-ups are when all of them are due together.
async fn due_together(router: &axum::Router, store: &dyn Store, n: usize) {
    let due = chrono::Utc::now() + chrono::Duration::seconds(DELAY_SECS + 2);
    let triggers = (0..n)
        .map(|i| json!({"recipients": [format!("d{i}")], "data": {"due": due.to_rfc3339()}}))
        .collect();
    let (rate, ms, _) = load(router, "/v1/workflows/due/trigger", triggers, 200).await;
    line(&format!("trigger ({n} due together)"), rate, &ms);
    assert!(
        chrono::Utc::now() < due,
        "the triggers were answered before they fell due"
    );
    let deadline = Instant::now() + Duration::from_secs(DELAY_SECS as u64 + 60);
    let fired = loop {
        let fired = messages(store, "due").await;
        if fired.len() >= n || Instant::now() > deadline {
            break fired;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(fired.len(), n, "every run due together fired once");
    let mut lateness: Vec<f64> = fired
        .iter()
        .map(|m| (m.inserted_at - due).num_microseconds().unwrap_or_default() as f64 / 1e3)
        .collect();
    lateness.sort_by(|a, b| a.total_cmp(b));
    assert!(lateness[0] >= 0.0, "none fired early");
    println!(
        "wake-up lateness ({n} due together) p50={:>6.2} ms  p99={:>7.2} ms  max={:>7.2} ms; each fired once",
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        lateness[lateness.len() - 1]
    );
}
