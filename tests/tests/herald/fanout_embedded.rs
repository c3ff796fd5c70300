//! Subscriber fan-out on the embedded store, at the scale the issue asks CI to prove: 10,000.

use std::sync::Arc;

use herald_embedded::SqliteStore;
use herald_tests::fanout;

fn store() -> Arc<dyn herald_core::ports::Store> {
    Arc::new(SqliteStore::in_memory().expect("store"))
}

#[tokio::test]
async fn ten_thousand_subscribers_each_get_one_run() {
    fanout::reaches_every_subscriber_once(store(), 10_000).await;
}

#[tokio::test]
async fn a_crash_mid_fanout_loses_and_repeats_nobody() {
    fanout::survives_crashes(store(), 10_000).await;
}

#[tokio::test]
async fn a_cancel_mid_fanout_covers_later_runs() {
    fanout::cancel_covers_runs_created_later(store(), 10_000).await;
}
