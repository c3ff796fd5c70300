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
