//! AWS clients for tests, talking to the moto server `tests/run.sh` starts on loopback.
//!
//! The endpoint comes from `AWS_ENDPOINT_URL`, which the SDK itself honours, exactly as a Lambda
//! would be configured; there is no test-only code path in the adapters.

use aws_config::{BehaviorVersion, SdkConfig};
use herald_dynamodb::{DynamoStore, RequestCounter};

/// The SDK configuration for the test AWS endpoint; panics with directions when it is not set.
pub async fn config() -> SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1"),
        "AWS_ENDPOINT_URL must point at the moto server on loopback; run the tests with `bash tests/run.sh`"
    );
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// A DynamoDB client that counts its requests into `counter`.
pub async fn dynamodb(counter: &RequestCounter) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(&config().await)
        .interceptor(counter.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// A fresh table with a unique name, created as the template declares it.
pub async fn fresh_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("herald-test-{}", uuid::Uuid::new_v4().simple());
    DynamoStore::create_table(client, &name)
        .await
        .expect("create table on moto");
    name
}
