//! The `step-resume` Lambda: starts new runs (table stream) and wakes paused ones (SQS and
//! Scheduler).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald_lambda::run_step_resume().await
}
