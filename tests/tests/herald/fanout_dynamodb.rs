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

/// Each fan-out step of 98 subscribers costs 4 DynamoDB requests: the fan-out (`GetItem`), a
/// page of subscribers (`Query`), which of them already have runs (`BatchGetItem`), and one
/// `TransactWriteItems`.
#[tokio::test]
async fn aws_request_budget_per_fanout_step() {
    let counter = RequestCounter::default();
    let client = herald_tests::aws::dynamodb(&counter).await;
    let table = herald_tests::aws::fresh_table_without_stream(&client).await;
    let store: Arc<dyn Store> =
        Arc::new(DynamoStore::new(client, table, chrono::Duration::days(30)));
    let audience = fanout::Audience::create(store.as_ref(), 495).await;
    let (engine, _) = fanout::engine(store.clone());
    let id = engine
        .trigger("project-update", audience.trigger("budget"))
        .await
        .expect("trigger");
    counter.reset();
    let more = engine.expand_fanout(id, 5).await.expect("fan-out");
    assert!(more, "the team and its members are still to come");
    let per_op = counter.snapshot();
    eprintln!("budget: 5 fan-out steps of 98 subscribers: {per_op:?}");
    assert_eq!(counter.count("DynamoDB.TransactWriteItems"), 5);
    assert_eq!(counter.count("DynamoDB.Query"), 5);
    assert_eq!(counter.count("DynamoDB.BatchGetItem"), 5);
    assert_eq!(
        counter.count("DynamoDB.GetItem"),
        6,
        "5 steps + the final `more` check"
    );
    assert_eq!(counter.total("DynamoDB"), 21);
}
