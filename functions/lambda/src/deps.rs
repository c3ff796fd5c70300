//! The engine and HTTP app of a function, built once per cold start.

use std::sync::Arc;

use herald_aws::{AwsWaker, DynamoStore};
use herald_core::definition::{load_files, WorkflowFiles, WorkflowSet};
use herald_core::{Clock, Engine, SystemClock};
use herald_fetch::{Outbound, ReqwestFetcher};
use herald_http::App;
use include_dir::{include_dir, Dir};

use crate::config::Config;

/// The workflows deployed with the functions: the repository's `workflows/`, compiled in.
static WORKFLOWS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../workflows");

/// A function's dependencies.
pub struct Deps {
    /// The engine over DynamoDB and Scheduler/SQS.
    pub engine: Engine,
    /// The HTTP handlers.
    pub app: App,
}

impl Deps {
    /// Reads the configuration and builds every client once.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::build(&config, &sdk, bundled_workflows()?, Arc::new(SystemClock))
    }

    /// Builds the dependencies from explicit parts (tests pass their own clock and workflows).
    pub fn build(
        config: &Config,
        sdk: &aws_config::SdkConfig,
        workflows: WorkflowSet,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Self::from_clients(
            config,
            aws_sdk_dynamodb::Client::new(sdk),
            aws_sdk_scheduler::Client::new(sdk),
            aws_sdk_sqs::Client::new(sdk),
            workflows,
            clock,
        )
    }

    /// Builds the dependencies over given clients (tests pass counting clients).
    pub fn from_clients(
        config: &Config,
        dynamodb: aws_sdk_dynamodb::Client,
        scheduler: aws_sdk_scheduler::Client,
        sqs: aws_sdk_sqs::Client,
        workflows: WorkflowSet,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let retention = chrono::Duration::days(config.retention_days);
        let store = Arc::new(DynamoStore::new(dynamodb, config.table.clone(), retention));
        let waker = Arc::new(AwsWaker::new(
            scheduler,
            sqs,
            clock.clone(),
            config.waker.clone(),
        ));
        let fetcher = ReqwestFetcher::new(Outbound::from_setting(config.allow_private_networks))?;
        let mut engine =
            Engine::new(store, waker, clock, Arc::new(workflows)).with_fetcher(Arc::new(fetcher));
        if let Some(tz) = config.default_timezone {
            engine = engine.with_default_timezone(tz);
        }
        let app = App::new(engine.clone(), config.api_key.clone());
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
