//! [`DynamoStore`]: every storage role on one DynamoDB table per environment, one file per
//! role (`users.rs`, `directory.rs`, `runs.rs`, `fanouts.rs`, `batches.rs`, `throttles.rs`,
//! `messages.rs`), their request plumbing in `request.rs`.
//!
//! # Key schema
//!
//! | item | `pk` | `sk` | `gsi1pk` / `gsi1sk` | `gsi2pk` / `gsi2sk` |
//! |---|---|---|---|---|
//! | user | `USER#<id>` | `USER` | – | – |
//! | workflow run | `WFRUN#<workflow run id>` | `WFRUN` | – | – |
//! | recipient run | `RUNS#<workflow key>#K#<cancellation key>`, or `RUNS#<workflow key>#R#<workflow run id>` without a key | `RR#<workflow run id>#<recipient run id>` | `RRID#<recipient run id>` / `RR` | `RRALL` / `<inserted µs, 20 digits>#<id>` |
//! | message | `MSG#<message id>` | `MSG` | `MSGTO#<collection>#<recipient id>` / `<inserted µs>#<id>` | `MSGALL` / `<inserted µs>#<id>` |
//! | idempotency key | `IDEM#<key>` | `IDEM` | – | – |
//! | workflow definition | `DEF#<workflow key>` | `V#<version>` | – | – |
//! | payload (large run data, ≤ 350 KB; larger ones are S3 objects `payloads/<digest>`) | `PAYLOAD#<sha-256>` | `PAYLOAD` | – | – |
//!
//! - Recipient runs live in the partition of their (workflow key, cancellation key), so a cancel
//!   is one strongly consistent `Query` plus one conditional `UpdateItem` per matched run. All
//!   recipient runs of one trigger share that partition, so a resume reads them with one `Query`.
//! - The workflow-run item is written last by a trigger: it is the commit marker the table
//!   stream starts runs from (a trigger that died half-way never starts).
//! - Every transition is an `UpdateItem` conditioned on status and cursor; one that creates a
//!   message is a `TransactWriteItems` with a `Put` conditioned on `attribute_not_exists(pk)`.
//! - Run events are a list attribute on the run, appended in the same write.
//! - User properties are top-level attributes named `p.<property>` holding JSON text, so identify
//!   merges with one `UpdateItem` and never reads first.
//! - `expires_at` (epoch seconds) is the TTL attribute: set on finished runs and on messages.
//! - Objects, subscriptions and preference sets: see `directory.rs`; fan-out progress: see
//!   `fanouts.rs`; batches: see `batches.rs`.
//! - GSI3, the due index (keys only): active recipient runs (`DUE#<shard>` /
//!   `<due µs>#R#<workflow run id>`, due at `wake_at` or their last change) and messages with a
//!   pending attempt (`<due µs>#M#<message id>`), for the sweeper; removed when they finish.
//! - GSI1 (recipient run by id, messages by recipient, subscriptions by subscriber) and GSI2 (everything, newest first) serve
//!   the read API; they are eventually consistent, which the API tolerates.

mod batches;
mod codec;
mod definitions;
mod deliveries;
mod directory;
mod due;
mod expr;
mod fanouts;
mod idempotency;
mod messages;
mod paging;
mod payloads;
mod request;
mod runs;
mod sweep;
mod throttles;
mod users;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use herald_core::error::StoreError;

pub use payloads::{s3_client, s3_config, ITEM_PAYLOAD_MAX};

/// The DynamoDB store.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: chrono::Duration,
    data_bucket: Option<DataBucket>,
}

/// The S3 bucket holding payloads too large for an item.
#[derive(Clone, Debug)]
struct DataBucket {
    client: aws_sdk_s3::Client,
    name: String,
}

impl DynamoStore {
    /// A store on `table`; finished runs and messages expire after `retention`.
    pub fn new(client: Client, table: impl Into<String>, retention: chrono::Duration) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
            data_bucket: None,
        }
    }

    /// The same store keeping payloads larger than [`ITEM_PAYLOAD_MAX`] in S3 bucket `name`
    /// (without one, such data is refused).
    pub fn with_data_bucket(mut self, client: aws_sdk_s3::Client, name: impl Into<String>) -> Self {
        self.data_bucket = Some(DataBucket {
            client,
            name: name.into(),
        });
        self
    }

    /// Creates the table as `template.yaml` declares it (for tests and local tooling).
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        Self::create_table_with_stream(client, table, true).await
    }

    /// Creates the table as `template.yaml` declares it, with or without its stream (store tests
    /// that never read the stream may leave it off).
    pub async fn create_table_with_stream(
        client: &Client,
        table: &str,
        stream: bool,
    ) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(request::build_error)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(request::build_error)
        };
        let gsi = |n: u8, projection: ProjectionType| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(format!("gsi{n}"))
                .key_schema(key(&format!("gsi{n}pk"), KeyType::Hash)?)
                .key_schema(key(&format!("gsi{n}sk"), KeyType::Range)?)
                .projection(Projection::builder().projection_type(projection).build())
                .build()
                .map_err(request::build_error)
        };
        let mut create = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi(1, ProjectionType::All)?)
            .global_secondary_indexes(gsi(2, ProjectionType::All)?)
            // The due index: its keys say all the sweeper needs.
            .global_secondary_indexes(gsi(3, ProjectionType::KeysOnly)?);
        if stream {
            create = create.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .map_err(request::build_error)?,
            );
        }
        for name in [
            "pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk",
        ] {
            create = create.attribute_definitions(attr(name)?);
        }
        create.send().await.map_err(request::sdk_error)?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires_at")
                    .build()
                    .map_err(request::build_error)?,
            )
            .send()
            .await
            .map_err(request::sdk_error)?;
        Ok(())
    }
}
