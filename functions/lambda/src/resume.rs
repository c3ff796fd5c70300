//! The step-resume function: which workflow runs an event wakes, and resuming them.
//!
//! Three sources, told apart by the records' `eventSource`, each read as its typed event:
//! - the table stream (`aws:dynamodb`): new workflow-run items (the event source mapping filters
//!   to those); starts new runs;
//! - the wake-up queue (`aws:sqs`): a [`WakeMessage`] body each; failures are reported per
//!   message (`batchItemFailures`) so one bad run does not redeliver the batch;
//! - Scheduler: the [`WakeMessage`] itself.

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use herald_aws::WakeMessage;
use herald_core::Engine;
use serde::Deserialize;
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

/// The part of a workflow-run item that step-resume reads from the stream.
#[derive(Deserialize)]
struct WorkflowRunItem {
    sk: String,
    id: Option<String>,
}

fn unrecognised(event: &Value) -> ResumeError {
    ResumeError::Unrecognised(event.to_string().chars().take(200).collect())
}

/// Handles one step-resume event; the returned value is the Lambda response.
pub async fn handle_resume_event(engine: &Engine, event: Value) -> Result<Value, ResumeError> {
    let source = event
        .get("Records")
        .and_then(|r| r.get(0))
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match source.as_deref() {
        Some("aws:dynamodb") => {
            let stream: StreamEvent =
                serde_json::from_value(event.clone()).map_err(|_| unrecognised(&event))?;
            for record in &stream.records {
                if let Some(id) = new_workflow_run(record) {
                    engine.resume(id).await?;
                }
            }
            Ok(json!({}))
        }
        Some("aws:sqs") => {
            let queue: SqsEvent =
                serde_json::from_value(event.clone()).map_err(|_| unrecognised(&event))?;
            Ok(serde_json::to_value(resume_queued(engine, queue).await).unwrap_or_default())
        }
        Some(other) => Err(ResumeError::Unrecognised(format!("records from `{other}`"))),
        None => {
            let wake: WakeMessage =
                serde_json::from_value(event.clone()).map_err(|_| unrecognised(&event))?;
            engine.resume(wake.workflow_run_id).await?;
            Ok(json!({}))
        }
    }
}

/// Resumes the run of each queued wake-up; the ones that failed are redelivered.
async fn resume_queued(engine: &Engine, queue: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in queue.records {
        let message_id = message.message_id.unwrap_or_default();
        let wake = message
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<WakeMessage>(b).ok());
        let ok = match wake {
            Some(w) => engine
                .resume(w.workflow_run_id)
                .await
                .map_err(|e| {
                    tracing::error!(workflow_run_id = %w.workflow_run_id, error = %e, "resume failed");
                })
                .is_ok(),
            None => {
                tracing::error!(message_id, "wake-up message is not a WakeMessage; dropped");
                true
            }
        };
        if !ok {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The workflow run id of a stream record inserting a workflow-run item.
fn new_workflow_run(record: &EventRecord) -> Option<Uuid> {
    if record.event_name != "INSERT" {
        return None;
    }
    let item: WorkflowRunItem = serde_dynamo::from_item(record.change.new_image.clone()).ok()?;
    if item.sk != "WFRUN" {
        return None;
    }
    item.id.and_then(|s| Uuid::parse_str(&s).ok())
}
