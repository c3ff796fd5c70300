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

/// What a batch costs on DynamoDB, counted on the real SDK calls: the resume that opens a batch,
/// one that joins it, and the one that closes it and sends the digest.
#[tokio::test]
async fn aws_request_budget_per_batch_operation() {
    use chrono::Duration;
    use herald_core::engine::TriggerRequest;
    use herald_tests::batching::{digest, world};
    use serde_json::json;

    let counter = RequestCounter::default();
    let client = herald_tests::aws::dynamodb(&counter).await;
    let table = herald_tests::aws::fresh_table_without_stream(&client).await;
    let store: Arc<dyn Store> =
        Arc::new(DynamoStore::new(client, table, chrono::Duration::days(30)));
    let w = world(store, &[("digest", digest())]);
    let body = json!({"recipients": ["budget-reader"], "cancellation_key": "b"});
    let mut resumes = Vec::new();
    for _ in 0..2 {
        let request = TriggerRequest::from_json(&body).expect("trigger");
        let run = w.engine.trigger("digest", request).await.expect("trigger");
        counter.reset();
        w.engine.resume(run).await.expect("resume");
        resumes.push(counter.snapshot());
        assert_eq!(
            counter.count("DynamoDB.TransactWriteItems"),
            1,
            "one transaction each"
        );
    }
    counter.reset();
    w.advance(Duration::minutes(10)).await;
    let close = counter.snapshot();
    eprintln!("budget: batch open (whole resume): {:?}", resumes[0]);
    eprintln!("budget: batch join (whole resume): {:?}", resumes[1]);
    eprintln!("budget: batch close and digest (whole resume): {close:?}");
    assert_eq!(w.messages("budget-reader").await.len(), 1);
    // Closing: the batch, one transaction closing it, the activities, and the transaction that
    // moves on and creates the message.
    assert_eq!(counter.count("DynamoDB.TransactWriteItems"), 2);
}
