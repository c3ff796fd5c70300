//! Delivering a message: one attempt at a time, each claimed by a conditional write before it
//! is made and recorded after, retried with backoff as durable wake-ups (Knock: up to 8
//! attempts over about 30 minutes), then `undelivered`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::Engine;
use crate::error::EngineError;
use crate::message::{DeliveryLog, DeliveryStatus, Message, MessageEvent};
use crate::ports::{AttemptRecord, Attempted, Outgoing, Verdict, Write};

/// Knock makes at most 8 attempts to deliver a message.
pub const MAX_ATTEMPTS: u32 = 8;

/// The wait after each failed attempt before the next (about 30 minutes in all), each
/// stretched by up to ±20 % of jitter so retries of many messages spread out.
pub const BACKOFF: [Duration; 7] = [
    Duration::from_secs(15),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(120),
    Duration::from_secs(240),
    Duration::from_secs(480),
    Duration::from_secs(900),
];

/// How long an attempt may take (Knock's webhook timeout); see [`Engine::with_delivery_timeout`].
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(50);

/// A claim outlives its attempt's timeout by this much before another attempt may be claimed.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// What one [`Engine::deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryReport {
    /// An attempt was made; the message's status after it.
    Attempted(DeliveryStatus),
    /// The next attempt is not due yet (its wake-up was registered again).
    NotDue,
    /// Another worker holds or made this attempt.
    LostRace,
    /// Nothing to do: no such message, or its delivery is finished.
    Finished,
}

impl Engine {
    /// Makes the next delivery attempt of message `message_id` if one is due.
    ///
    /// Safe to call any number of times, concurrently: an attempt is claimed by a conditional
    /// write before it is made, so two workers never make the same one. A worker that dies
    /// after its claim leaves the claim to lapse; the next attempt then goes out with the same
    /// stable id (`webhook-id`, the SMTP `Message-ID`), which is the only way Herald sends a
    /// message twice.
    pub async fn deliver(&self, message_id: Uuid) -> Result<DeliveryReport, EngineError> {
        let Some(message) = self.store.get_message(message_id).await? else {
            return Ok(DeliveryReport::Finished);
        };
        let Some(due) = message
            .delivery
            .next_attempt_at
            .filter(|_| message.status.is_pending())
        else {
            return Ok(DeliveryReport::Finished);
        };
        let now = self.now();
        if due > now {
            // Early or re-delivered wake-up: make sure the real one is registered.
            self.waker.deliver_at(message_id, due).await?;
            return Ok(DeliveryReport::NotDue);
        }
        let attempt = message.delivery.attempts + 1;
        let lease = chrono::Duration::from_std(self.delivery_timeout + LEASE_MARGIN)
            .unwrap_or_else(|_| chrono::Duration::minutes(1));
        let lease_until = now + lease;
        let claimed = self
            .store
            .claim_attempt(message_id, attempt, now, lease_until)
            .await?;
        if claimed == Write::LostRace {
            return Ok(DeliveryReport::LostRace);
        }
        let started = std::time::Instant::now();
        let attempted = if attempt > MAX_ATTEMPTS {
            // The last attempt's claim lapsed without an outcome (a crash): Knock makes no 9th.
            exhausted()
        } else {
            self.attempt(&message, attempt, now).await
        };
        let finished = self.now();
        let timing = Timing {
            lease_until,
            started: now,
            finished,
            took: started.elapsed(),
        };
        let record = self.record(&message, attempt, attempted, timing);
        let (status, next) = (record.status, record.next_attempt_at);
        let recorded = match self.store.record_attempt(message_id, &record).await {
            Ok(recorded) => recorded,
            Err(e) => {
                // The outcome is lost: come back when the claim lapses and try again.
                if let Err(w) = self.waker.deliver_at(message_id, lease_until).await {
                    tracing::warn!(%message_id, error = %w, "no wake-up for the lapsed claim");
                }
                return Err(e.into());
            }
        };
        if recorded == Write::LostRace {
            // This attempt outlived its claim and a later one was claimed: that one counts.
            tracing::warn!(%message_id, attempt, "delivery attempt outlived its claim");
            return Ok(DeliveryReport::LostRace);
        }
        if let Some(at) = next {
            self.waker.deliver_at(message_id, at).await?;
        }
        Ok(DeliveryReport::Attempted(status))
    }

    /// Hands the message to its channel's sender.
    async fn attempt(&self, message: &Message, attempt: u32, now: DateTime<Utc>) -> Attempted {
        let channels = self.workflows.channels();
        let Some(channel) = channels.channel(&message.channel_key) else {
            return refused(format!(
                "channel `{}` is no longer configured",
                message.channel_key
            ));
        };
        let Some(sender) = self.senders.get(channel.provider) else {
            return refused(format!(
                "no sender is configured for provider `{}`",
                channel.provider.as_str()
            ));
        };
        sender
            .send(Outgoing {
                message,
                channel,
                attempt,
                now,
                timeout: self.delivery_timeout,
            })
            .await
    }

    /// What an attempt's outcome writes: the status, the next attempt's time, log and events.
    fn record(
        &self,
        message: &Message,
        attempt: u32,
        attempted: Attempted,
        timing: Timing,
    ) -> AttemptRecord {
        let Timing {
            lease_until,
            started,
            finished,
            took,
        } = timing;
        let id = message.id;
        let event = |status: DeliveryStatus, data: Value| {
            MessageEvent::new(id, attempt, status.as_str(), data, finished)
        };
        let (status, next_attempt_at, events) = match &attempted.verdict {
            Verdict::Sent => (
                DeliveryStatus::Sent,
                None,
                vec![event(DeliveryStatus::Sent, Value::Null)],
            ),
            Verdict::Delivered => (
                DeliveryStatus::Delivered,
                None,
                vec![event(DeliveryStatus::Delivered, Value::Null)],
            ),
            Verdict::Retry(why) => {
                let retry = attempt < MAX_ATTEMPTS;
                let tried = event(
                    DeliveryStatus::DeliveryAttempted,
                    json!({"attempt": attempt, "max_attempts": MAX_ATTEMPTS, "retryable": retry, "failure_details": why}),
                );
                if retry {
                    let wait = backoff(id, attempt);
                    (
                        DeliveryStatus::DeliveryAttempted,
                        Some(finished + wait),
                        vec![tried],
                    )
                } else {
                    let gave_up = event(
                        DeliveryStatus::Undelivered,
                        json!({"failure_reason": "retries_exhausted", "failure_details": why}),
                    );
                    (DeliveryStatus::Undelivered, None, vec![tried, gave_up])
                }
            }
            Verdict::Fatal(why) => (
                DeliveryStatus::Undelivered,
                None,
                vec![event(
                    DeliveryStatus::Undelivered,
                    json!({"failure_reason": "fatal_error", "failure_details": why}),
                )],
            ),
        };
        let provider = self
            .workflows
            .channels()
            .channel(&message.channel_key)
            .map(|c| c.provider.service_name())
            .unwrap_or("Herald");
        AttemptRecord {
            attempt,
            lease_until,
            status,
            next_attempt_at,
            log: DeliveryLog {
                id: Uuid::new_v5(&id, format!("log:{attempt}").as_bytes()),
                attempt,
                service_name: provider.to_string(),
                request: attempted.request,
                response: attempted.response,
                duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                inserted_at: started,
            },
            events,
            at: finished,
        }
    }
}

/// When an attempt was claimed until, started, ended, and how long it took.
struct Timing {
    lease_until: DateTime<Utc>,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
    took: Duration,
}

/// The outcome of a claim past the last attempt: none is made.
fn exhausted() -> Attempted {
    let why = format!("attempt {MAX_ATTEMPTS} ended without an outcome and no more are made");
    Attempted {
        response: json!({"error": why}),
        verdict: Verdict::Retry(why),
        request: Value::Null,
    }
}

/// An attempt that was never made, for a reason no retry mends.
fn refused(why: String) -> Attempted {
    Attempted {
        response: json!({"error": why}),
        verdict: Verdict::Fatal(why),
        request: Value::Null,
    }
}

/// The wait after failed attempt `attempt`: [`BACKOFF`] with ±20 % jitter derived from the
/// message and attempt, so a replayed decision is the same decision.
pub fn backoff(message_id: Uuid, attempt: u32) -> chrono::Duration {
    let base = BACKOFF[(attempt.max(1) as usize - 1).min(BACKOFF.len() - 1)];
    let seed = Uuid::new_v5(&message_id, format!("backoff:{attempt}").as_bytes());
    // 0..=400 → 0.8..=1.2 of the base wait.
    let spread = (seed.as_u128() % 401) as u32;
    let millis = base.as_millis() as u64 * u64::from(800 + spread) / 1000;
    chrono::Duration::milliseconds(i64::try_from(millis).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_bounded_jitter_and_spans_about_half_an_hour() {
        let id = Uuid::new_v4();
        let mut total = chrono::Duration::zero();
        for attempt in 1..MAX_ATTEMPTS {
            let wait = backoff(id, attempt);
            let base = chrono::Duration::from_std(BACKOFF[attempt as usize - 1]).unwrap();
            assert!(
                wait >= base * 8 / 10 && wait <= base * 12 / 10,
                "{attempt}: {wait}"
            );
            assert_eq!(wait, backoff(id, attempt), "deterministic");
            total += wait;
        }
        assert!(
            total >= chrono::Duration::minutes(24) && total <= chrono::Duration::minutes(38),
            "{total}"
        );
    }
}
