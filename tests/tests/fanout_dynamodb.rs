//! Subscriber fan-out on the DynamoDB store, over HTTP to moto's server mode. Smaller than the
//! embedded suite's 10,000 because moto serves one request at a time; the transactions, their
//! conditions and the cancel ordering are the same at any size.

use std::sync::Arc;

use herald_aws::{DynamoStore, RequestCounter};
use herald_core::ports::Store;
use herald_tests::fanout;

// A table per test, without a stream: moto backs a whole table up (stream records included)
// for every transaction, so small tables keep the suite fast.
async fn store() -> Arc<dyn Store> {
    let counter = RequestCounter::default();
    let client = herald_tests::aws::dynamodb(&counter).await;
    let table = herald_tests::aws::fresh_table_without_stream(&client).await;
    Arc::new(DynamoStore::new(client, table, chrono::Duration::days(30)))
}

#[tokio::test]
async fn every_subscriber_gets_one_run() {
    fanout::reaches_every_subscriber_once(store().await, 200).await;
}

#[tokio::test]
async fn a_crash_mid_fanout_loses_and_repeats_nobody() {
    fanout::survives_crashes(store().await, 500).await;
}

#[tokio::test]
async fn a_cancel_mid_fanout_covers_later_runs() {
    fanout::cancel_covers_runs_created_later(store().await, 500).await;
}
