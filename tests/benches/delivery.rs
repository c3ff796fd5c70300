//! Prints delivery throughput on the local worker path (file-backed store, tokio timers, the
//! real senders): one trigger for N recipients, timed until every message is delivered to the
//! loopback webhook receiver, then until every email is accepted by the loopback SMTP server.
//!
//! Run through `bash tests/bench.sh` (it starts the delivery servers); `DELIVERY_MESSAGES`
//! overrides 1,000.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::definition::{load_files, WorkflowFiles};
use herald_core::engine::{ResumeBudget, TriggerRequest};
use herald_core::message::DeliveryStatus;
use herald_core::ports::fetcher::Fetcher;
use herald_core::ports::{MessageQuery, Store, Waker};
use herald_core::{Engine, SystemClock};
use herald_embedded::{run_worker, SqliteStore, TokioWaker};
use herald_fetch::{Outbound, ReqwestFetcher};
use herald_tests::delivery::Receivers;
use serde_json::json;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("DELIVERY_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let receivers = Receivers::from_env();
    let mut files = WorkflowFiles::new("workflows");
    files.insert("channels.json", receivers.channels_json());
    files.insert(
        "hook/workflow.json",
        json!({"name": "hook", "steps": [{"ref": "hook", "type": "channel", "channel_key": "hooks",
            "template": {"method": "post", "url": "{{ data.url }}", "body": "{\"id\": \"{{ recipient.id }}\"}"}}]})
        .to_string(),
    );
    files.insert(
        "mail/workflow.json",
        json!({"name": "mail", "steps": [{"ref": "email", "type": "channel", "channel_key": "email",
            "template": {"subject": "Hi {{ recipient.id }}", "html_body": "<p>Hello <b>{{ recipient.id }}</b></p>"}}]})
        .to_string(),
    );
    let mut workflows = load_files(&files).expect("workflows");
    workflows
        .resolve_channels(&|name| std::env::var(name).ok())
        .expect("settings");
    let dir = std::env::temp_dir().join(format!("herald-delivery-bench-{}", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).expect("store"));
    let clock = Arc::new(SystemClock);
    let (waker, wakeups) = TokioWaker::new(clock.clone());
    let waker: Arc<dyn Waker> = Arc::new(waker);
    let fetcher: Arc<dyn Fetcher> =
        Arc::new(ReqwestFetcher::new(Outbound::AllowPrivate).expect("client"));
    let senders = herald_delivery::senders(workflows.channels(), fetcher.clone()).expect("senders");
    let engine = Engine::new(store.clone(), waker, clock, Arc::new(workflows))
        .with_budget(ResumeBudget::UNBOUNDED)
        .with_fetcher(fetcher)
        .with_senders(senders);
    tokio::spawn(run_worker(engine.clone(), wakeups));

    let key = uuid::Uuid::new_v4().simple().to_string();
    let hooks: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
    let url = format!("{}/hooks/ok/{key}", receivers.http);
    let (took, run) = timed(
        &engine,
        &store,
        "hook",
        json!({"recipients": hooks, "data": {"url": url}}),
        n,
        DeliveryStatus::Delivered,
    )
    .await;
    println!(
        "webhook: {n} messages delivered to the loopback receiver in {:.2} s ({:.0} messages/s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    let received = receivers.hooks(&key).await;
    assert_eq!(received.len(), n, "each delivered once ({run})");

    let mail: Vec<_> = (0..n)
        .map(|i| json!({"id": format!("m{i}-{key}"), "email": format!("m{i}-{key}@example.com")}))
        .collect();
    let (took, _) = timed(
        &engine,
        &store,
        "mail",
        json!({"recipients": mail}),
        n,
        DeliveryStatus::Sent,
    )
    .await;
    println!(
        "smtp: {n} emails accepted by the loopback SMTP server in {:.2} s ({:.0} emails/s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Triggers `workflow` and waits until `n` of its messages reach `status`.
async fn timed(
    engine: &Engine,
    store: &Arc<dyn Store>,
    workflow: &str,
    body: serde_json::Value,
    n: usize,
    status: DeliveryStatus,
) -> (Duration, uuid::Uuid) {
    let started = Instant::now();
    let run = engine
        .trigger(workflow, TriggerRequest::from_json(&body).expect("trigger"))
        .await
        .expect("triggered");
    let q = MessageQuery {
        workflow_run_id: Some(run),
        statuses: vec![status],
        ..Default::default()
    };
    loop {
        if store.count_messages(&q).await.expect("count") as usize >= n {
            return (started.elapsed(), run);
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "deliveries stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
