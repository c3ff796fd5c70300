//! Batch concurrency on the DynamoDB store, over HTTP to moto's server mode: parallel triggers
//! race to open and join one window; every join is one transaction with the run's transition.

use std::sync::Arc;

use herald_aws::{DynamoStore, RequestCounter};
use herald_core::ports::Store;
use herald_tests::batching::triggers_race_into_one_window;

async fn store() -> Arc<dyn Store> {
    let counter = RequestCounter::default();
    let client = herald_tests::aws::dynamodb(&counter).await;
    // moto copies stream records inside every transaction; without a stream it stays fast.
    let table = herald_tests::aws::fresh_table_without_stream(&client).await;
    Arc::new(DynamoStore::new(client, table, chrono::Duration::days(30)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_parallel_triggers_make_one_continuing_run() {
    triggers_race_into_one_window(store().await, 1000, 0, 32).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_cancelled_of_a_thousand_leave_nine_hundred() {
    triggers_race_into_one_window(store().await, 1000, 100, 32).await;
}
