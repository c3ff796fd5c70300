//! Prints the batch figures: 1,000 triggers from parallel clients into one recipient's window on
//! the embedded store (file-backed, as `herald` runs), then the close that continues with all of
//! them; and 1,000 recipients' windows opened by one trigger.
//!
//! Run: `cargo bench -p herald-tests --bench batch` (`BATCH_TRIGGERS` overrides 1,000).

use std::sync::Arc;
use std::time::Instant;

use chrono::Duration;
use herald_core::ports::Store;
use herald_embedded::SqliteStore;
use herald_tests::batching::{digest, world};
use serde_json::json;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BATCH_TRIGGERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let dir = std::env::temp_dir().join(format!("herald-batch-bench-{}", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).expect("store"));
    let w = Arc::new(world(store, &[("digest", digest())]));

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            w.trigger_and_run(
                "digest",
                json!({"recipients": ["reader"], "cancellation_key": format!("k{i}")}),
            )
            .await;
            t.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    for t in tasks {
        latencies.push(t.await.expect("task"));
    }
    let total = started.elapsed();
    latencies.sort();
    println!(
        "{n} parallel triggers into one window     {:>8.1} ms ({:.0} joins/s)",
        total.as_secs_f64() * 1e3,
        n as f64 / total.as_secs_f64()
    );
    println!(
        "  trigger + join, per trigger            median {:.2} ms, p99 {:.2} ms",
        latencies[n / 2].as_secs_f64() * 1e3,
        latencies[n * 99 / 100].as_secs_f64() * 1e3
    );
    let closing = Instant::now();
    w.advance(Duration::minutes(10)).await;
    println!(
        "close: read {n} activities, one message   {:>8.1} ms",
        closing.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(w.messages("reader").await.len(), 1);

    let recipients: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    let opening = Instant::now();
    w.trigger_and_run("digest", json!({"recipients": recipients}))
        .await;
    println!(
        "one trigger opening {n} recipients' windows {:>6.1} ms",
        opening.elapsed().as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
}
