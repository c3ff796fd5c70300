//! The engine and HTTP app of a function, built once per cold start.

use std::sync::Arc;

use herald_aws::{AwsWaker, DynamoStore, RequestCounter, SesSender, StageSecrets};
use herald_core::definition::Provider;
use herald_core::definition::{load_files, WorkflowFiles, WorkflowSet};
use herald_core::ports::fetcher::Fetcher;
use herald_core::ports::Senders;
use herald_core::{Clock, Engine, SystemClock};
use herald_fetch::{Outbound, ReqwestFetcher};
use herald_http::App;
use include_dir::{include_dir, Dir};

use crate::config::Config;

/// The workflows deployed with the functions: the repository's `workflows/`, compiled in.
static WORKFLOWS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../workflows");

/// The clients a function's engine runs on.
pub struct Clients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// EventBridge Scheduler.
    pub scheduler: aws_sdk_scheduler::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// S3, for the data bucket.
    pub s3: aws_sdk_s3::Client,
    /// The outbound guard's HTTP client.
    pub fetcher: Arc<dyn Fetcher>,
    /// The channels' senders.
    pub senders: Senders,
}

/// A function's dependencies.
pub struct Deps {
    /// The engine over DynamoDB and Scheduler/SQS.
    pub engine: Engine,
    /// The HTTP handlers.
    pub app: App,
}

impl Deps {
    /// Reads the configuration and builds every client once.
    ///
    /// Only a function that `delivers` (step-resume) reads the stage's secret and makes senders:
    /// the API functions never hold a channel's credentials.
    pub async fn from_env(
        delivers: bool,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let mut workflows = bundled_workflows()?;
        if !delivers {
            let fetcher = Self::fetcher(&config)?;
            let clients = Clients {
                dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
                scheduler: aws_sdk_scheduler::Client::new(&sdk),
                sqs: aws_sdk_sqs::Client::new(&sdk),
                s3: herald_aws::s3_client(&sdk),
                fetcher,
                senders: Senders::new(),
            };
            return Self::from_clients(&config, clients, workflows, Arc::new(SystemClock));
        }
        // `{"env": NAME}` settings: the stage's secret, then the function's environment.
        let secrets = match &config.secrets_arn {
            Some(arn) => {
                StageSecrets::read(&aws_sdk_secretsmanager::Client::new(&sdk), arn).await?
            }
            None => StageSecrets::default(),
        };
        workflows.resolve_channels(&|name| secrets.lookup(name))?;
        Self::build(&config, &sdk, workflows, Arc::new(SystemClock))
    }

    /// The senders of `workflows`' channels (settings resolved): SMTP, webhooks over `fetcher`,
    /// and SES over `sdk`'s configuration (its requests counted by `counter`, if given).
    pub fn senders(
        sdk: &aws_config::SdkConfig,
        workflows: &WorkflowSet,
        fetcher: Arc<dyn Fetcher>,
        counter: Option<RequestCounter>,
    ) -> Result<Senders, Box<dyn std::error::Error + Send + Sync>> {
        let channels = workflows.channels();
        let senders = herald_delivery::senders(channels, fetcher)?.with(
            Provider::Ses,
            Arc::new(SesSender::new(sdk, channels, counter)),
        );
        senders.check(channels)?;
        Ok(senders)
    }

    /// Builds the dependencies from explicit parts (tests pass their own clock and workflows).
    pub fn build(
        config: &Config,
        sdk: &aws_config::SdkConfig,
        workflows: WorkflowSet,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let fetcher = Self::fetcher(config)?;
        let senders = Self::senders(sdk, &workflows, fetcher.clone(), None)?;
        Self::from_clients(
            config,
            Clients {
                dynamodb: aws_sdk_dynamodb::Client::new(sdk),
                scheduler: aws_sdk_scheduler::Client::new(sdk),
                sqs: aws_sdk_sqs::Client::new(sdk),
                s3: herald_aws::s3_client(sdk),
                fetcher,
                senders,
            },
            workflows,
            clock,
        )
    }

    /// The outbound guard's HTTP client, for fetch steps and webhooks.
    pub fn fetcher(
        config: &Config,
    ) -> Result<Arc<dyn Fetcher>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Arc::new(ReqwestFetcher::new(Outbound::from_setting(
            config.allow_private_networks,
        ))?))
    }

    /// Builds the dependencies over given clients (tests pass counting clients).
    pub fn from_clients(
        config: &Config,
        clients: Clients,
        workflows: WorkflowSet,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let retention = chrono::Duration::days(config.retention_days);
        let store = Arc::new(
            DynamoStore::new(clients.dynamodb, config.table.clone(), retention)
                .with_data_bucket(clients.s3, config.data_bucket.clone()),
        );
        let waker = Arc::new(AwsWaker::new(
            clients.scheduler,
            clients.sqs,
            clock.clone(),
            config.waker.clone(),
        ));
        let mut engine = Engine::new(store, waker, clock, Arc::new(workflows))
            .with_fetcher(clients.fetcher)
            .with_senders(clients.senders)
            .with_delivery_timeout(config.delivery_timeout);
        if let Some(tz) = config.default_timezone {
            engine = engine.with_default_timezone(tz);
        }
        let app = App::new(engine.clone(), config.api_keys.clone()).with_user_tokens(
            config.publishable_keys.clone(),
            config.user_token_keys.clone(),
        );
        Ok(Self { engine, app })
    }
}

/// Loads the compiled-in workflows straight from the binary.
pub fn bundled_workflows() -> Result<WorkflowSet, Box<dyn std::error::Error + Send + Sync>> {
    let mut files = WorkflowFiles::new("workflows");
    add_files(&WORKFLOWS, &mut files);
    Ok(load_files(&files)?)
}

fn add_files(dir: &Dir<'_>, files: &mut WorkflowFiles) {
    for file in dir.files() {
        files.insert(file.path(), file.contents());
    }
    for sub in dir.dirs() {
        add_files(sub, files);
    }
}
