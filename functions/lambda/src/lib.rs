//! What Herald's Lambdas share. Each function's `main.rs` calls one `run_*` function here: the
//! clients are built once per cold start, then every event goes to the same handlers the local
//! server uses.

mod config;
mod deps;
mod resume;

pub use config::Config;
pub use deps::{bundled_workflows, Clients, Deps};
pub use herald_config::ConfigError;
pub use resume::{handle_resume_event, ResumeError};

/// Serves API Gateway HTTP API events with Knock's routes (the trigger, cancel and api functions).
pub async fn run_http() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let deps = Deps::from_env(false).await?;
    lambda_http::run(herald_http::router(deps.app)).await
}

/// Serves step-resume events: table stream records of new runs, SQS wake-ups and Scheduler
/// wake-ups.
pub async fn run_step_resume() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Deps::from_env(true).await?;
    let engine = &deps.engine;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            handle_resume_event(engine, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
