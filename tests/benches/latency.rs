//! Prints Herald's local-mode latency figures: trigger latency for 1 and 1,000 recipients
//! (through the HTTP handler, on the file-backed store with full sync) and wake-up lateness of
//! delayed runs on the in-process timers.
//!
//! Run: `cargo bench -p herald-tests --bench latency`

use std::time::{Duration, Instant};

use herald_core::definition::{from_json, ChannelType, Channels, WorkflowSet};
use herald_core::ports::MessageQuery;
use herald_core::recipient::RecipientRef;
use herald_tests::bench::{local, percentile, Local};
use serde_json::json;
use tower::ServiceExt;

fn workflows() -> WorkflowSet {
    let mut channels = Channels::default();
    channels.insert("in-app", ChannelType::InAppFeed);
    let feed = json!({"ref": "feed", "type": "channel", "channel_key": "in-app", "template": {"markdown_body": "Hi {{ recipient.id }}"}});
    let wait = json!({"ref": "wait", "type": "delay", "settings": {"delay_for": {"unit": "seconds", "value": 1}}});
    let defs = [("delayed", json!({"name": "Delayed", "steps": [wait, feed]}))];
    WorkflowSet::new(
        defs.iter()
            .map(|(k, v)| from_json(k, v, &channels).expect("workflow")),
    )
}

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name:<34} n={:<4} median={:>8.2} ms  p95={:>8.2} ms  max={:>8.2} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        ms[ms.len() - 1]
    );
}

fn trigger_request(recipients: usize, i: usize) -> lambda_http::Request {
    let ids: Vec<String> = (0..recipients).map(|r| format!("bench-{i}-{r}")).collect();
    let body = json!({"recipients": ids, "cancellation_key": format!("k{i}"), "data": {"n": i}});
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/v1/workflows/delayed/trigger")
        .header("authorization", "Bearer sk_bench")
        .body(lambda_http::Body::from(body.to_string()))
        .expect("request")
}

#[tokio::main]
async fn main() {
    let Local { store, router, .. } = &local(workflows());

    for (recipients, rounds) in [(1usize, 200usize), (1_000, 20)] {
        let mut ms = Vec::with_capacity(rounds);
        for i in 0..rounds {
            let req = trigger_request(recipients, recipients * 1_000 + i);
            let start = Instant::now();
            let resp = router
                .clone()
                .oneshot(req)
                .await
                .expect("the router is infallible");
            ms.push(start.elapsed().as_secs_f64() * 1e3);
            assert_eq!(resp.status(), 200);
        }
        summary(&format!("trigger, {recipients} recipient(s)"), ms);
    }

    // Wake-up lateness: every run above waits 1 s; measure message time minus due time.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut lateness = Vec::new();
    for i in 0..200usize {
        let user = RecipientRef::user(format!("bench-{}-0", 1_000 + i));
        let q = MessageQuery {
            recipient: Some(user.clone()),
            ..Default::default()
        };
        let page = store
            .list_messages(&q, &Default::default())
            .await
            .expect("messages");
        let message = page.items.first().expect("a message per delayed run");
        let run = store
            .get_recipient_run(message.recipient_run_id)
            .await
            .expect("run")
            .expect("run");
        let due = run.inserted_at + chrono::Duration::seconds(1);
        lateness.push(
            (message.inserted_at - due)
                .num_microseconds()
                .unwrap_or_default() as f64
                / 1e3,
        );
    }
    summary("wake-up lateness (1 s delay)", lateness);
}
