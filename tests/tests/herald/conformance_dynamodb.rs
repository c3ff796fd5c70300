//! The store conformance suite against the DynamoDB store, over HTTP to moto's server mode.

use std::sync::Arc;

use herald_aws::{DynamoStore, RequestCounter};
use herald_core::ports::Store;
use tokio::sync::OnceCell;

// One table for the binary (cases use unique keys); a client per test, as each test has its own
// runtime.
async fn store() -> Arc<dyn Store> {
    static TABLE: OnceCell<String> = OnceCell::const_new();
    let counter = RequestCounter::default();
    let client = herald_tests::aws::dynamodb(&counter).await;
    let table = TABLE
        .get_or_init(|| async { herald_tests::aws::fresh_table(&client).await })
        .await;
    Arc::new(DynamoStore::new(
        client,
        table.clone(),
        chrono::Duration::days(30),
    ))
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
    let client = herald_tests::aws::dynamodb_losing(&lose).await;
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
