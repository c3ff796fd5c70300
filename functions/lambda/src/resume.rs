//! The step-resume function: which workflow runs an event wakes, and resuming them.
//!
//! Three sources, told apart by shape:
//! - the table stream: `Records[].eventSource == "aws:dynamodb"`, new workflow-run items (the
//!   event source mapping filters to those); starts new runs;
//! - the wake-up queue: `Records[].eventSource == "aws:sqs"`, a [`WakeMessage`] body; failures are
//!   reported per message (`batchItemFailures`) so one bad run does not redeliver the batch;
//! - Scheduler: the [`WakeMessage`] itself.

use herald_aws::WakeMessage;
use herald_core::Engine;
use serde_json::{json, Value};
use thiserror::Error;
use uuid::Uuid;

/// Why step-resume failed an event (Lambda then retries it).
#[derive(Debug, Error)]
pub enum ResumeError {
    /// The event has none of the three known shapes.
    #[error("unrecognised step-resume event: {0}")]
    Unrecognised(String),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] herald_core::EngineError),
}

/// Handles one step-resume event; the returned value is the Lambda response.
pub async fn handle_resume_event(engine: &Engine, event: Value) -> Result<Value, ResumeError> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let source = records
            .first()
            .and_then(|r| r["eventSource"].as_str())
            .unwrap_or_default();
        return match source {
            "aws:dynamodb" => {
                for record in records {
                    if let Some(id) = new_workflow_run(record) {
                        engine.resume(id).await?;
                    }
                }
                Ok(json!({}))
            }
            "aws:sqs" => {
                let mut failures = Vec::new();
                for record in records {
                    let message_id = record["messageId"].as_str().unwrap_or_default();
                    let wake = record["body"]
                        .as_str()
                        .and_then(|b| serde_json::from_str::<WakeMessage>(b).ok());
                    let ok = match wake {
                        Some(w) => engine.resume(w.workflow_run_id).await.map_err(|e| {
                            tracing::error!(workflow_run_id = %w.workflow_run_id, error = %e, "resume failed");
                        }).is_ok(),
                        None => {
                            tracing::error!(message_id, "wake-up message is not a WakeMessage; dropped");
                            true
                        }
                    };
                    if !ok {
                        failures.push(json!({"itemIdentifier": message_id}));
                    }
                }
                Ok(json!({"batchItemFailures": failures}))
            }
            other => Err(ResumeError::Unrecognised(format!("records from `{other}`"))),
        };
    }
    match serde_json::from_value::<WakeMessage>(event.clone()) {
        Ok(wake) => {
            engine.resume(wake.workflow_run_id).await?;
            Ok(json!({}))
        }
        Err(_) => Err(ResumeError::Unrecognised(
            event.to_string().chars().take(200).collect(),
        )),
    }
}

/// The workflow run id of a stream record inserting a workflow-run item.
fn new_workflow_run(record: &Value) -> Option<Uuid> {
    if record["eventName"].as_str() != Some("INSERT") {
        return None;
    }
    let image = &record["dynamodb"]["NewImage"];
    if image["sk"]["S"].as_str() != Some("WFRUN") {
        return None;
    }
    image["id"]["S"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
}
