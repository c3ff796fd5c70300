//! The store conformance suite against the DynamoDB store, over HTTP to moto's server mode.

use std::sync::Arc;

use herald_aws::{DynamoStore, RequestCounter};
use herald_core::ports::Store;
use tokio::sync::OnceCell;

// One table for the binary (cases use unique keys); a client per test, as each test has its own
// runtime.
async fn store() -> Arc<dyn Store> {
    static TABLE: OnceCell<String> = OnceCell::const_new();
    static BUCKET: OnceCell<String> = OnceCell::const_new();
    let counter = RequestCounter::default();
    let client = herald_tests::aws::dynamodb(&counter).await;
    let s3 = herald_tests::aws::s3().await;
    let table = TABLE
        .get_or_init(|| async { herald_tests::aws::fresh_table(&client).await })
        .await;
    let bucket = BUCKET
        .get_or_init(|| async { herald_tests::aws::fresh_bucket(&s3).await })
        .await;
    Arc::new(
        DynamoStore::new(client, table.clone(), chrono::Duration::days(30))
            .with_data_bucket(s3, bucket.clone()),
    )
}

herald_tests::store_conformance!(store().await);

/// A transition whose answer was lost after it committed: the SDK retries it, the retry fails
/// its condition against the write itself, and the write token tells it was applied.
#[tokio::test]
async fn a_retried_update_that_had_committed_reads_as_applied() {
    use herald_core::ports::{Runs, Write};
    use herald_core::recipient::RecipientRef;
    use herald_core::run::{RunEvent, RunStatus};
    use herald_tests::fixtures::{run, t0, transition, unique};

    let lose = herald_tests::aws::LoseAnswers::new("UpdateItem");
    let client = herald_tests::aws::dynamodb_with(lose.clone()).await;
    let table = herald_tests::aws::fresh_table_without_stream(&client).await;
    let store = DynamoStore::new(client, table, chrono::Duration::days(30));
    let (wf, runs) = run(
        &unique("wf"),
        None,
        &[RecipientRef::user(unique("u"))],
        t0(),
    );
    store.insert_run(&wf, &runs, None).await.unwrap();

    let mut t = transition(&runs[0], 0, 1, RunStatus::Processing, t0());
    t.events = vec![RunEvent::ok("step", None, serde_json::Value::Null, t0())];
    lose.arm(1);
    assert_eq!(store.transition(&t).await.unwrap(), Write::Applied);
    assert_eq!(
        lose.lost(),
        1,
        "the first answer was lost and the SDK retried"
    );
    let stored = store.get_recipient_run(runs[0].id).await.unwrap().unwrap();
    assert_eq!(stored.cursor, 1);
    // Applied once: one event, not two.
    assert_eq!(
        store.recipient_run_events(runs[0].id).await.unwrap().len(),
        1
    );
    // A second writer with the same expectation really lost.
    assert_eq!(store.transition(&t).await.unwrap(), Write::LostRace);
}

/// A trigger that died after writing its recipient runs but before its commit marker leaves
/// runs that can never run: the sweep does not wake them, and takes them out of the due index.
#[tokio::test]
async fn runs_of_a_trigger_that_never_committed_leave_the_due_index() {
    use herald_core::ports::{Runs, Sweep};
    use herald_core::recipient::RecipientRef;
    use herald_tests::fixtures::{run, unique};

    let fail = herald_tests::aws::FailRequests::new("PutItem");
    let client = herald_tests::aws::dynamodb_with(fail.clone()).await;
    let table = herald_tests::aws::fresh_table_without_stream(&client).await;
    let store = DynamoStore::new(client.clone(), table.clone(), chrono::Duration::days(30));
    let old: chrono::DateTime<chrono::Utc> = "2002-01-01T00:00:00Z".parse().unwrap_or_default();
    let key = unique("wf");
    let (wf, runs) = run(&key, None, &[RecipientRef::user(unique("u"))], old);
    fail.arm(1);
    assert!(
        store.insert_run(&wf, &runs, None).await.is_err(),
        "the commit marker's put failed"
    );
    let (committed, committed_runs) = run(&key, None, &[RecipientRef::user(unique("u"))], old);
    store
        .insert_run(&committed, &committed_runs, None)
        .await
        .unwrap();

    let found = store
        .overdue(old + chrono::Duration::hours(3), 100)
        .await
        .unwrap();
    assert!(
        !found.workflow_runs.contains(&wf.id),
        "an orphan is not woken"
    );
    assert!(
        found.workflow_runs.contains(&committed.id),
        "a committed run is"
    );
    let item = client
        .get_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("RUNS#{key}#R#{}", wf.id)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("RR#{}#{}", wf.id, runs[0].id)),
        )
        .send()
        .await
        .expect("GetItem");
    let item = item.item().expect("the orphan run item");
    assert!(!item.contains_key("gsi3pk"), "out of the due index");
    assert!(item.contains_key("expires_at"), "left to expire");
}
