//! The engine and HTTP app of a function, built once per cold start.

use std::sync::Arc;

use herald_aws::{AwsWaker, DynamoStore};
use herald_core::definition::{load_dir, WorkflowSet};
use herald_core::{Clock, Engine, SystemClock};
use herald_fetch::ReqwestFetcher;
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
        let fetcher = ReqwestFetcher::new()?;
        let mut engine =
            Engine::new(store, waker, clock, Arc::new(workflows)).with_fetcher(Arc::new(fetcher));
        if let Some(tz) = config.default_timezone {
            engine = engine.with_default_timezone(tz);
        }
        let app = App::new(engine.clone(), config.api_key.clone());
        Ok(Self { engine, app })
    }
}

/// Loads the compiled-in workflows (written to a temporary folder, then read like a local one).
pub fn bundled_workflows() -> Result<WorkflowSet, Box<dyn std::error::Error + Send + Sync>> {
    let dir = std::env::temp_dir().join(format!(
        "herald-workflows-{}",
        uuid::Uuid::new_v4().simple()
    ));
    write_dir(&WORKFLOWS, &dir)?;
    let workflows = load_dir(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(workflows?)
}

fn write_dir(embedded: &Dir<'_>, root: &std::path::Path) -> std::io::Result<()> {
    for file in embedded.files() {
        let path = root.join(file.path());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, file.contents())?;
    }
    for sub in embedded.dirs() {
        write_dir(sub, root)?;
    }
    Ok(())
}
