//! The step-resume function: which workflow runs (or message deliveries) an event wakes, and
//! resuming them.
//!
//! Three sources, told apart by the records' `eventSource`, each read as its typed event:
//! - the table stream (`aws:dynamodb`): new workflow-run items, which start new runs, and new
//!   queued messages, whose first delivery attempt it makes (the event source mapping filters to
//!   those two);
//! - the wake-up queue (`aws:sqs`): a [`WakeMessage`] body each; failures are reported per
//!   message (`batchItemFailures`) so one bad run does not redeliver the batch;
//! - Scheduler: the [`WakeMessage`] itself.

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use herald_aws::WakeMessage;
use herald_core::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use thiserror::Error;
use uuid::Uuid;

/// How many records of one stream batch are handled at once (the batch size).
const STREAM_CONCURRENCY: usize = 10;

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

/// The part of a workflow-run or message item that step-resume reads from the stream.
#[derive(Deserialize)]
struct NewItem {
    sk: String,
    id: Option<String>,
    status: Option<String>,
}

/// What a stream record starts.
enum Started {
    /// A new workflow run.
    Run(Uuid),
    /// A new message to deliver.
    Delivery(Uuid),
}

/// Resumes the run, or makes the delivery attempt, a wake-up names.
async fn wake(engine: &Engine, wake: &WakeMessage) -> Result<(), herald_core::EngineError> {
    if let Some(id) = wake.workflow_run_id {
        engine.resume(id).await?;
    }
    if let Some(id) = wake.message_id {
        engine.deliver(id).await?;
    }
    Ok(())
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
            // Deliveries of one batch go out together (bounded), not one after another.
            let outcomes: Vec<_> = futures::stream::iter(stream.records.iter().filter_map(started))
                .map(|s| async move {
                    match s {
                        Started::Run(id) => engine.resume(id).await.map(|_| ()),
                        Started::Delivery(id) => engine.deliver(id).await.map(|_| ()),
                    }
                })
                .buffer_unordered(STREAM_CONCURRENCY)
                .collect()
                .await;
            outcomes.into_iter().collect::<Result<Vec<()>, _>>()?;
            Ok(json!({}))
        }
        Some("aws:sqs") => {
            let queue: SqsEvent =
                serde_json::from_value(event.clone()).map_err(|_| unrecognised(&event))?;
            Ok(serde_json::to_value(resume_queued(engine, queue).await).unwrap_or_default())
        }
        Some(other) => Err(ResumeError::Unrecognised(format!("records from `{other}`"))),
        None if event.get("sweep") == Some(&Value::Bool(true)) => {
            // The stage's rate schedule: redrive dead letters, wake what is overdue.
            let report = engine.sweep().await?;
            tracing::info!(?report, "swept");
            Ok(serde_json::to_value(report).unwrap_or_default())
        }
        None => {
            let wake: WakeMessage =
                serde_json::from_value(event.clone()).map_err(|_| unrecognised(&event))?;
            self::wake(engine, &wake).await?;
            Ok(json!({}))
        }
    }
}

/// Resumes the run of each queued wake-up; the ones that failed are redelivered.
async fn resume_queued(engine: &Engine, queue: SqsEvent) -> SqsBatchResponse {
    // The batch's wake-ups are handled together (bounded), each reported on its own.
    let failed: Vec<String> = futures::stream::iter(queue.records)
        .map(|message| async move {
            let message_id = message.message_id.unwrap_or_default();
            let wake_up = message
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<WakeMessage>(b).ok());
            let ok = match wake_up {
                Some(w) => wake(engine, &w)
                    .await
                    .map_err(|e| tracing::error!(wake = ?w, error = %e, "wake-up failed"))
                    .is_ok(),
                None => {
                    tracing::error!(message_id, "wake-up message is not a WakeMessage; dropped");
                    true
                }
            };
            (!ok).then_some(message_id)
        })
        .buffer_unordered(STREAM_CONCURRENCY)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for message_id in failed {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = message_id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// What a stream record inserting a workflow-run item or a queued message starts.
fn started(record: &EventRecord) -> Option<Started> {
    if record.event_name != "INSERT" {
        return None;
    }
    let item: NewItem = serde_dynamo::from_item(record.change.new_image.clone()).ok()?;
    let id = item.id.and_then(|s| Uuid::parse_str(&s).ok())?;
    match item.sk.as_str() {
        "WFRUN" => Some(Started::Run(id)),
        "MSG" if item.status.as_deref() == Some("queued") => Some(Started::Delivery(id)),
        _ => None,
    }
}
