//! AWS clients for tests, talking to the moto server `tests/run.sh` starts on loopback.
//!
//! The endpoint comes from `AWS_ENDPOINT_URL`, which the SDK itself honours, exactly as a Lambda
//! would be configured; there is no test-only code path in the adapters.

use aws_config::{BehaviorVersion, SdkConfig};
use herald_aws::{DynamoStore, RequestCounter};

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
    dynamodb_with(counter.clone()).await
}

/// A DynamoDB client whose requests pass through `interceptor` (a counter, a fault injector).
pub async fn dynamodb_with(
    interceptor: impl aws_smithy_runtime_api::client::interceptors::Intercept + 'static,
) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(&config().await)
        .interceptor(interceptor)
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

/// A fresh table as [`fresh_table`] makes it, without its stream: for store tests that write
/// thousands of items and never read the stream. moto copies a table's stream records on every
/// transaction, which makes such tests quadratic; the store behaves the same either way.
pub async fn fresh_table_without_stream(client: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("herald-test-{}", uuid::Uuid::new_v4().simple());
    DynamoStore::create_table_with_stream(client, &name, false)
        .await
        .expect("create table on moto");
    name
}

/// A fresh, empty S3 bucket on moto, for payloads too large for an item.
pub async fn fresh_bucket(s3: &aws_sdk_s3::Client) -> String {
    let name = format!("herald-data-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create bucket on moto");
    name
}

/// A plain S3 client on moto.
pub async fn s3() -> aws_sdk_s3::Client {
    herald_aws::s3_client(&config().await)
}

/// A fresh Herald stack on moto: table, schedule group, wake-up queue and dead-letter queue, and
/// SDK clients that count their requests.
pub struct Stack {
    /// The functions' configuration.
    pub config: herald_lambda::Config,
    /// Counts every request of the clients below.
    pub counter: RequestCounter,
    /// DynamoDB client.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Scheduler client.
    pub scheduler: aws_sdk_scheduler::Client,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// S3 client (the data bucket).
    pub s3: aws_sdk_s3::Client,
    /// The SDK configuration the clients were made from (for SES).
    pub sdk: SdkConfig,
}

impl Stack {
    /// Creates the resources, with unique names.
    pub async fn create() -> Self {
        let counter = RequestCounter::default();
        let sdk = config().await;
        let dynamodb = dynamodb(&counter).await;
        let scheduler = aws_sdk_scheduler::Client::from_conf(
            aws_sdk_scheduler::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        let s3 = aws_sdk_s3::Client::from_conf(
            herald_aws::s3_config(&sdk)
                .interceptor(counter.clone())
                .build(),
        );
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let table = fresh_table(&dynamodb).await;
        let data_bucket = fresh_bucket(&s3).await;
        let group = format!("herald-{suffix}");
        scheduler
            .create_schedule_group()
            .name(&group)
            .send()
            .await
            .expect("schedule group");
        let queue = sqs
            .create_queue()
            .queue_name(format!("wake-{suffix}"))
            .send()
            .await
            .expect("queue");
        let dlq = sqs
            .create_queue()
            .queue_name(format!("dlq-{suffix}"))
            .send()
            .await
            .expect("dlq");
        let config = herald_lambda::Config {
            table,
            data_bucket,
            retention_days: 30,
            api_keys: vec![crate::server::API_KEY.to_string()],
            publishable_keys: Vec::new(),
            user_token_keys: Default::default(),
            default_timezone: None,
            allow_private_networks: false,
            delivery_timeout: std::time::Duration::from_secs(5),
            secrets_arn: None,
            waker: herald_aws::WakerConfig {
                schedule_group: group,
                target_arn: "arn:aws:lambda:us-east-1:123456789012:function:step-resume".into(),
                role_arn: "arn:aws:iam::123456789012:role/scheduler".into(),
                dead_letter_arn: format!("arn:aws:sqs:us-east-1:123456789012:dlq-{suffix}"),
                queue_url: queue.queue_url().expect("queue url").to_string(),
                dead_letter_url: dlq.queue_url().expect("dlq url").to_string(),
            },
        };
        counter.reset();
        Self {
            config,
            counter,
            dynamodb,
            scheduler,
            sqs,
            s3,
            sdk,
        }
    }
}

impl Stack {
    /// The functions' dependencies on this stack's clients (requests counted), with
    /// `workflows` (settings resolved) and `clock`.
    pub fn deps(
        &self,
        workflows: herald_core::definition::WorkflowSet,
        clock: std::sync::Arc<dyn herald_core::Clock>,
    ) -> herald_lambda::Deps {
        let fetcher = herald_lambda::Deps::fetcher(&self.config).expect("fetcher");
        let senders = herald_lambda::Deps::senders(
            &self.sdk,
            &workflows,
            fetcher.clone(),
            Some(self.counter.clone()),
        )
        .expect("senders");
        herald_lambda::Deps::from_clients(
            &self.config,
            herald_lambda::Clients {
                dynamodb: self.dynamodb.clone(),
                scheduler: self.scheduler.clone(),
                sqs: self.sqs.clone(),
                s3: self.s3.clone(),
                fetcher,
                senders,
            },
            workflows,
            clock,
        )
        .expect("deps")
    }
}

/// The next `n` requests of one operation, counted down as they pass: what a fault-injecting
/// interceptor strikes.
#[derive(Debug, Clone)]
struct Armed {
    operation: &'static str,
    left: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Armed {
    fn new(operation: &'static str) -> Self {
        Self {
            operation,
            left: Default::default(),
        }
    }

    fn arm(&self, n: u32) {
        self.left.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the request `cfg` describes is one to strike (counting it down if so).
    fn strikes(&self, cfg: &aws_smithy_types::config_bag::ConfigBag) -> bool {
        use std::sync::atomic::Ordering;
        cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .is_some_and(|m| m.name() == self.operation)
            && self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }
}

/// An interceptor that loses the answers of the next `n` requests of one operation after they
/// were applied: the answer becomes a 500, so the SDK retries a request that had committed, as
/// when a connection drops on the way back.
#[derive(Debug, Clone)]
pub struct LoseAnswers {
    armed: Armed,
    lost: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl LoseAnswers {
    /// Loses nothing until [`LoseAnswers::arm`]; `operation` is the SDK's name (`UpdateItem`).
    pub fn new(operation: &'static str) -> Self {
        Self {
            armed: Armed::new(operation),
            lost: Default::default(),
        }
    }

    /// Loses the answers of the next `n` requests of the operation.
    pub fn arm(&self, n: u32) {
        self.armed.arm(n);
    }

    /// How many answers were lost so far.
    pub fn lost(&self) -> u32 {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for LoseAnswers {
    fn name(&self) -> &'static str {
        "HeraldTestLoseAnswers"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if self.armed.strikes(cfg) && context.response().status().is_success() {
            self.lost.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            *context.response_mut().status_mut() =
                aws_smithy_runtime_api::http::StatusCode::try_from(500u16)?;
        }
        Ok(())
    }
}

/// An interceptor that fails the next `n` requests of one operation before they are sent, as
/// when a function dies just before a call.
#[derive(Debug, Clone)]
pub struct FailRequests {
    armed: Armed,
}

impl FailRequests {
    /// Fails nothing until [`FailRequests::arm`]; `operation` is the SDK's name (`PutItem`).
    pub fn new(operation: &'static str) -> Self {
        Self {
            armed: Armed::new(operation),
        }
    }

    /// Fails the next `n` requests of the operation.
    pub fn arm(&self, n: u32) {
        self.armed.arm(n);
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for FailRequests {
    fn name(&self) -> &'static str {
        "HeraldTestFailRequests"
    }

    fn read_before_transmit(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if self.armed.strikes(cfg) {
            return Err("injected: the function died before this request".into());
        }
        Ok(())
    }
}
