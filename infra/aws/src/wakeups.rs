//! [`AwsWaker`]: wake-ups on EventBridge Scheduler and SQS.
//!
//! # Precision
//!
//! EventBridge Scheduler fires a one-time `at(...)` schedule somewhere inside its minute (up to
//! 59 s late); Knock wakes delays within 1–5 s. Herald combines the two services:
//!
//! - a wake-up due within 15 minutes is an SQS message with `DelaySeconds` (second precision),
//!   on the queue that feeds step-resume;
//! - a later one is a Scheduler schedule at the minute *before* it is due, whose target is
//!   step-resume with a [`WakeMessage`]. That fires early by design; step-resume finds the run not
//!   yet due and hands the remaining seconds to the SQS queue, which then wakes it on time.
//!
//! One schedule per (workflow run, wake time), named after both, so creating it twice is a
//! `ConflictException` that means "already scheduled", and a thousand recipients delayed by the
//! same step cost one schedule. Schedules delete themselves after firing
//! (`ActionAfterCompletion: DELETE`), retry on failure and dead-letter to an SQS queue.
//! New runs are not started here: the table stream starts them (no dual write).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use aws_sdk_sqs::types::MessageAttributeValue;
use chrono::{DateTime, DurationRound, Utc};
use herald_core::error::WakeError;
use herald_core::ports::Waker;
use herald_core::Clock;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The longest delay SQS can hold a message for.
const SQS_MAX_DELAY_SECS: i64 = 900;

/// The payload of a schedule or a delayed SQS message: which workflow run to resume (or which
/// message to deliver), and when it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeMessage {
    /// The workflow run to resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_run_id: Option<Uuid>,
    /// The message whose next delivery attempt is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Uuid>,
    /// When it is due.
    pub at: DateTime<Utc>,
}

impl WakeMessage {
    /// A wake-up of workflow run `id` at `at`.
    pub fn run(id: Uuid, at: DateTime<Utc>) -> Self {
        Self {
            workflow_run_id: Some(id),
            message_id: None,
            at,
        }
    }

    /// A delivery attempt of message `id` at `at`.
    pub fn delivery(id: Uuid, at: DateTime<Utc>) -> Self {
        Self {
            workflow_run_id: None,
            message_id: Some(id),
            at,
        }
    }

    /// The schedule name: unique per (target, second), at most 64 characters.
    fn schedule_name(&self) -> String {
        match (self.workflow_run_id, self.message_id) {
            (Some(run), _) => AwsWaker::schedule_name(run, self.at),
            (None, Some(m)) => format!("herald-m-{}-{}", m.simple(), self.at.timestamp()),
            (None, None) => format!("herald-none-{}", self.at.timestamp()),
        }
    }

    fn target(&self) -> Uuid {
        self.workflow_run_id.or(self.message_id).unwrap_or_default()
    }
}

/// A registered wake-up: its target, its time (µs) and whether it went to SQS.
type WakeKey = (Uuid, i64, bool);

/// Where wake-ups go; read from the environment of each function.
#[derive(Debug, Clone)]
pub struct WakerConfig {
    /// `SCHEDULE_GROUP`: the per-environment schedule group.
    pub schedule_group: String,
    /// `STEP_RESUME_ARN`: the schedules' target.
    pub target_arn: String,
    /// `SCHEDULER_ROLE_ARN`: the role Scheduler assumes to invoke the target.
    pub role_arn: String,
    /// `SCHEDULER_DLQ_ARN`: where undeliverable wake-ups go.
    pub dead_letter_arn: String,
    /// `WAKE_QUEUE_URL`: the SQS queue feeding step-resume.
    pub queue_url: String,
    /// `WAKE_DLQ_URL`: the dead-letter queue the sweeper redrives.
    pub dead_letter_url: String,
}

/// The message attribute counting a wake-up's redrives.
const REDRIVES: &str = "herald-redrives";

/// A wake-up that failed for good this many times after being redriven stays in the dead-letter
/// queue (for an operator): it fails every time, and redriving it again only costs invocations.
pub const MAX_REDRIVES: u32 = 3;

/// Dead letters one sweep redrives at most (10 per `ReceiveMessage`).
const REDRIVE_ROUNDS: usize = 10;

/// A dead letter that is not a wake-up (a stream's failure record) is hidden this long, not
/// redriven: the sweeper's due index covers the runs it was about.
const KEEP_HIDDEN_SECS: i32 = 3_600;

/// The wake-up a dead letter carries: a [`WakeMessage`] body (from the queue or Scheduler), or
/// Lambda's record of a failed asynchronous invocation with it as `requestPayload`.
fn wake_of(body: &str) -> Option<WakeMessage> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let payload = value.get("requestPayload").unwrap_or(&value);
    serde_json::from_value(payload.clone()).ok()
}

/// Wake-ups on EventBridge Scheduler and SQS.
#[derive(Clone)]
pub struct AwsWaker {
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    clock: Arc<dyn Clock>,
    config: WakerConfig,
    // Wake-ups this process already registered, and whether on SQS; spares a thousand
    // recipients' worth of calls, yet still hands an early-fired schedule over to SQS.
    registered: Arc<Mutex<HashSet<WakeKey>>>,
    // One lock per wake-up, held while it is sent: recipient runs advancing side by side reach
    // the same delay together, and the first one's request serves them all.
    sending: Arc<Mutex<HashMap<WakeKey, Arc<tokio::sync::Mutex<()>>>>>,
}

impl AwsWaker {
    /// A waker over the given clients.
    pub fn new(
        scheduler: aws_sdk_scheduler::Client,
        sqs: aws_sdk_sqs::Client,
        clock: Arc<dyn Clock>,
        config: WakerConfig,
    ) -> Self {
        Self {
            scheduler,
            sqs,
            clock,
            config,
            registered: Arc::default(),
            sending: Arc::default(),
        }
    }

    /// The schedule name of a wake-up: unique per (workflow run, second), at most 64 characters.
    pub fn schedule_name(workflow_run_id: Uuid, at: DateTime<Utc>) -> String {
        format!("herald-{}-{}", workflow_run_id.simple(), at.timestamp())
    }

    /// When the schedule of a wake-up due `at` fires: the start of the minute before.
    pub fn schedule_time(at: DateTime<Utc>) -> DateTime<Utc> {
        let before = at - chrono::Duration::minutes(1);
        before
            .duration_trunc(chrono::Duration::minutes(1))
            .unwrap_or(before)
    }

    async fn enqueue(&self, message: &WakeMessage, delay_secs: i64) -> Result<(), WakeError> {
        self.enqueue_counted(message, delay_secs, 0).await
    }

    /// [`Self::enqueue`], carrying how many times the wake-up was redriven already.
    async fn enqueue_counted(
        &self,
        message: &WakeMessage,
        delay_secs: i64,
        redrives: u32,
    ) -> Result<(), WakeError> {
        let body = serde_json::to_string(message).map_err(|e| WakeError(e.to_string()))?;
        let mut send = self
            .sqs
            .send_message()
            .queue_url(&self.config.queue_url)
            .message_body(body)
            .delay_seconds(delay_secs.clamp(0, SQS_MAX_DELAY_SECS) as i32);
        if redrives > 0 {
            let count = MessageAttributeValue::builder()
                .data_type("Number")
                .string_value(redrives.to_string())
                .build()
                .map_err(|e| WakeError(e.to_string()))?;
            send = send.message_attributes(REDRIVES, count);
        }
        send.send()
            .await
            .map_err(|e| WakeError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    async fn schedule(&self, message: &WakeMessage) -> Result<(), WakeError> {
        let input = serde_json::to_string(message).map_err(|e| WakeError(e.to_string()))?;
        let fire = Self::schedule_time(message.at);
        let build = |e: aws_sdk_scheduler::error::BuildError| WakeError(e.to_string());
        let target = Target::builder()
            .arn(&self.config.target_arn)
            .role_arn(&self.config.role_arn)
            .input(input)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(20)
                    .maximum_event_age_in_seconds(86_400)
                    .build(),
            )
            .dead_letter_config(
                DeadLetterConfig::builder()
                    .arn(&self.config.dead_letter_arn)
                    .build(),
            )
            .build()
            .map_err(build)?;
        let result = self
            .scheduler
            .create_schedule()
            .name(message.schedule_name())
            .group_name(&self.config.schedule_group)
            .schedule_expression(format!("at({})", fire.format("%Y-%m-%dT%H:%M:%S")))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()
                    .map_err(build)?,
            )
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(WakeError(
                aws_sdk_scheduler::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }
}

impl AwsWaker {
    /// Registers a wake-up: on SQS when due within 15 minutes, else on Scheduler.
    async fn register(&self, message: WakeMessage) -> Result<(), WakeError> {
        let wait = message.at - self.clock.now();
        // Round up: waking a little late is harmless, waking early costs one more round trip.
        let delay = (wait.num_milliseconds() + 999).div_euclid(1000);
        let on_sqs = delay <= SQS_MAX_DELAY_SECS;
        let key = (message.target(), message.at.timestamp_micros(), on_sqs);
        let known = || {
            self.registered
                .lock()
                .map(|r| r.contains(&key))
                .unwrap_or(false)
        };
        if known() {
            return Ok(());
        }
        let lock = match self.sending.lock() {
            Ok(mut locks) => {
                if locks.len() > 10_000 {
                    locks.clear();
                }
                locks.entry(key).or_default().clone()
            }
            Err(_) => Arc::default(),
        };
        let _sending = lock.lock().await;
        if known() {
            return Ok(());
        }
        if on_sqs {
            self.enqueue(&message, delay).await?;
        } else {
            self.schedule(&message).await?;
        }
        if let Ok(mut r) = self.registered.lock() {
            if r.len() > 10_000 {
                r.clear();
            }
            r.insert(key);
        }
        Ok(())
    }
}

#[async_trait]
impl Waker for AwsWaker {
    async fn start_new_run(&self, _workflow_run_id: Uuid) -> Result<(), WakeError> {
        // The table stream delivers the new workflow-run item to step-resume: nothing to do, and
        // no second write that a crash could separate from the first.
        Ok(())
    }

    async fn wake_at(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        self.register(WakeMessage::run(workflow_run_id, at)).await
    }

    async fn deliver_new(&self, _message_id: Uuid) -> Result<(), WakeError> {
        // The table stream hands every new queued message to step-resume, as it does new runs.
        Ok(())
    }

    async fn deliver_at(&self, message_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        self.register(WakeMessage::delivery(message_id, at)).await
    }

    async fn redrive(&self) -> Result<usize, WakeError> {
        let sqs_error = |e: &dyn std::fmt::Display| WakeError(e.to_string());
        let mut moved = 0;
        for _ in 0..REDRIVE_ROUNDS {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.config.dead_letter_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .visibility_timeout(KEEP_HIDDEN_SECS)
                .message_attribute_names(REDRIVES)
                .send()
                .await
                .map_err(|e| sqs_error(&aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            if out.messages().is_empty() {
                break;
            }
            for letter in out.messages() {
                let Some(wake) = letter.body().and_then(wake_of) else {
                    tracing::warn!(
                        message_id = letter.message_id().unwrap_or_default(),
                        "a dead letter that is not a wake-up is left for inspection"
                    );
                    continue;
                };
                let redrives = letter
                    .message_attributes()
                    .and_then(|a| a.get(REDRIVES))
                    .and_then(|v| v.string_value())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0);
                if redrives >= MAX_REDRIVES {
                    tracing::error!(
                        ?wake,
                        redrives,
                        "a wake-up keeps failing; left in the dead-letter queue"
                    );
                    continue;
                }
                // Due already: on the queue at once, then out of the dead-letter queue.
                self.enqueue_counted(&wake, 0, redrives + 1).await?;
                if let Some(receipt) = letter.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.config.dead_letter_url)
                        .receipt_handle(receipt)
                        .send()
                        .await
                        .map_err(|e| sqs_error(&aws_sdk_sqs::error::DisplayErrorContext(e)))?;
                }
                moved += 1;
            }
        }
        Ok(moved)
    }

    async fn forget(&self, workflow_run_id: Uuid, at: DateTime<Utc>) -> Result<(), WakeError> {
        // Only schedules can be withdrawn; a delayed SQS message will find nothing to do.
        let result = self
            .scheduler
            .delete_schedule()
            .name(Self::schedule_name(workflow_run_id, at))
            .group_name(&self.config.schedule_group)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(WakeError(
                aws_sdk_scheduler::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_fire_in_the_minute_before_and_names_fit() {
        let at: DateTime<Utc> = "2026-05-01T10:30:25.5Z".parse().unwrap();
        assert_eq!(
            AwsWaker::schedule_time(at).to_rfc3339(),
            "2026-05-01T10:29:00+00:00"
        );
        let on_minute: DateTime<Utc> = "2026-05-01T10:30:00Z".parse().unwrap();
        assert_eq!(
            AwsWaker::schedule_time(on_minute).to_rfc3339(),
            "2026-05-01T10:29:00+00:00"
        );
        assert!(AwsWaker::schedule_name(Uuid::new_v4(), at).len() <= 64);
    }
}
