//! Prints the subscriber fan-out figures: an object with 100,000 subscribers triggered on the
//! embedded store (file-backed, as `herald` runs), expanded page by page exactly as resumes do.
//!
//! Run: `cargo bench -p herald-tests --bench fanout` (`FANOUT_SUBSCRIBERS` overrides 100,000).

use std::sync::Arc;
use std::time::Instant;

use herald_core::engine::TriggerRequest;
use herald_core::ports::Store;
use herald_core::recipient::RecipientRef;
use herald_embedded::SqliteStore;
use herald_tests::fanout;
use serde_json::{json, Map};

/// Peak resident memory of this process, from the kernel's accounting.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("FANOUT_SUBSCRIBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("herald-fanout-bench-{}", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).expect("store"));
    let project = RecipientRef::object("projects", "big");
    let started = Instant::now();
    let users: Vec<RecipientRef> = (0..n)
        .map(|i| RecipientRef::user(format!("u{i}")))
        .collect();
    for chunk in users.chunks(100) {
        store
            .put_subscriptions(&project, chunk, &Map::new(), herald_tests::fixtures::t0())
            .await
            .expect("subscribe");
    }
    println!(
        "subscribe {n} users (100 per call)      {:>8.1} s",
        started.elapsed().as_secs_f64()
    );

    // As the local server runs it: each resume finishes its workflow run's work.
    let (engine, _clock) = fanout::engine(store.clone());
    let engine = engine.with_budget(herald_core::engine::ResumeBudget::UNBOUNDED);
    let trigger = TriggerRequest::from_json(&json!({
        "recipients": [{"id": "big", "collection": "projects"}],
        "cancellation_key": "bench",
    }))
    .expect("trigger");
    let started = Instant::now();
    let id = engine
        .trigger("project-update", trigger)
        .await
        .expect("trigger");
    println!(
        "trigger (answer time)                   {:>8.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    // Fan-out in function-sized passes, as step-resume does on AWS.
    let started = Instant::now();
    let mut passes = 0;
    while engine
        .expand_fanout(id, herald_core::engine::FANOUT_STEPS_PER_RESUME)
        .await
        .expect("fan-out")
    {
        passes += 1;
    }
    let fanout_s = started.elapsed().as_secs_f64();
    let runs = fanout::all_runs(store.as_ref(), id).await.len();
    println!(
        "fan-out: {runs} recipient runs in {fanout_s:.1} s = {:.0} runs/s ({} resume passes of {} pages of {})",
        runs as f64 / fanout_s,
        passes + 1,
        herald_core::engine::FANOUT_STEPS_PER_RESUME,
        herald_core::engine::FANOUT_PAGE,
    );

    let started = Instant::now();
    let mut passes = 0;
    loop {
        passes += 1;
        if !engine.resume(id).await.expect("resume").more {
            break;
        }
    }
    let resume_s = started.elapsed().as_secs_f64();
    println!(
        "first step (delay) for all runs: {resume_s:.1} s = {:.0} runs/s ({passes} passes)",
        runs as f64 / resume_s
    );
    println!(
        "peak memory                             {:>8.1} MiB",
        peak_rss_mib()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
