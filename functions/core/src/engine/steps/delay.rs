//! Delay steps: when they end.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use serde_json::json;

use super::StepContext;
use crate::definition::DelayStep;
use crate::engine::execute::Change;
use crate::engine::window::{resolve_path, timezone};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::run::{RecipientRun, RunEvent, RunStatus};

impl Engine {
    /// A delay step: pause until it ends, or move on if it already has (or cannot be read).
    pub(in crate::engine) async fn delay_step(
        &self,
        cx: StepContext<'_, DelayStep>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let (workflow, delay, run, scope, now) = cx.parts();
        let here = Some((delay.step_ref.as_str(), "delay"));
        if run.settings.skip_delay {
            let event = RunEvent::ok("delay_skipped", here, json!({"reason": "skip_delay"}), now);
            return self.continue_with(workflow, run, event, now).await;
        }
        let tz = timezone(scope, self.default_timezone);
        match delay_until(delay, scope, now, tz) {
            DelayOutcome::Until(at) => {
                // Register the wake-up before pausing: a crash in between leaves an extra
                // wake-up (harmless), never a paused run that nothing wakes.
                self.waker.wake_at(run.workflow_run_id, at).await?;
                let event = RunEvent::ok(
                    "delay_started",
                    here,
                    json!({"until": at.to_rfc3339()}),
                    now,
                );
                let change = Change::to(workflow.after(run.cursor), RunStatus::Paused)
                    .wake(at)
                    .event(event);
                self.apply(run, change, now).await
            }
            DelayOutcome::Elapsed(at) => {
                let event = RunEvent::ok(
                    "delay_elapsed",
                    here,
                    json!({"until": at.to_rfc3339()}),
                    now,
                );
                self.continue_with(workflow, run, event, now).await
            }
            DelayOutcome::Invalid(reason) => {
                let event = RunEvent::error("delay_skipped", here, json!({"message": reason}), now);
                self.continue_with(workflow, run, event, now).await
            }
        }
    }
}

/// What a delay step resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum DelayOutcome {
    /// Pause until this instant (in the future).
    Until(DateTime<Utc>),
    /// The resolved time is not in the future: continue at once.
    Elapsed(DateTime<Utc>),
    /// The field path is missing or not a time: skip the step (recorded on the run).
    Invalid(String),
}

/// Resolves a delay step at `now` against `scope`, reading window rules in `tz`.
///
/// - `delay_for` alone: `now + delay_for`;
/// - `delay_until_field_path` alone: the time at the path (an ISO-8601 time, a `{unit, value}`
///   duration from now, or a window rule);
/// - both: the time at the path offset by `delay_for` (Knock's relative delay).
pub fn delay_until(step: &DelayStep, scope: &Value, now: DateTime<Utc>, tz: Tz) -> DelayOutcome {
    let base = match &step.delay_until_field_path {
        None => now,
        Some(p) => match resolve_path(scope, p, now, tz) {
            Ok(t) => t,
            Err(why) => return DelayOutcome::Invalid(why),
        },
    };
    let until = match step.delay_for {
        None => Some(base),
        Some(d) => d.add_to(base),
    };
    match until {
        None => DelayOutcome::Invalid("the delay overflows".into()),
        Some(t) if t > now => DelayOutcome::Until(t),
        Some(t) => DelayOutcome::Elapsed(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{Duration, DurationUnit};
    use serde_json::json;

    fn step(delay_for: Option<Duration>, path: Option<&str>) -> DelayStep {
        DelayStep {
            step_ref: "d".into(),
            delay_for,
            delay_until_field_path: path.map(str::to_string),
            conditions: None,
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn fixed_dynamic_and_relative_delays() {
        let now = t("2026-05-01T12:00:00Z");
        let two_s = Duration {
            unit: DurationUnit::Seconds,
            value: 2,
        };
        let minus_hour = Duration {
            unit: DurationUnit::Hours,
            value: -1,
        };
        let scope = json!({"data": {"due": "2026-05-03T09:00:00+02:00", "bad": "soon", "rel": {"unit": "minutes", "value": 5}},
                           "recipient": {"trial_ends": "2026-05-02T00:00:00Z"}});
        assert_eq!(
            delay_until(&step(Some(two_s), None), &scope, now, Tz::UTC),
            DelayOutcome::Until(t("2026-05-01T12:00:02Z"))
        );
        assert_eq!(
            delay_until(&step(None, Some("data.due")), &scope, now, Tz::UTC),
            DelayOutcome::Until(t("2026-05-03T07:00:00Z"))
        );
        assert_eq!(
            delay_until(&step(None, Some("data.rel")), &scope, now, Tz::UTC),
            DelayOutcome::Until(t("2026-05-01T12:05:00Z"))
        );
        assert_eq!(
            delay_until(
                &step(Some(minus_hour), Some("recipient.trial_ends")),
                &scope,
                now,
                Tz::UTC
            ),
            DelayOutcome::Until(t("2026-05-01T23:00:00Z"))
        );
        assert!(matches!(
            delay_until(&step(None, Some("data.bad")), &scope, now, Tz::UTC),
            DelayOutcome::Invalid(_)
        ));
        assert!(matches!(
            delay_until(&step(None, Some("data.none")), &scope, now, Tz::UTC),
            DelayOutcome::Invalid(_)
        ));
        assert_eq!(
            delay_until(
                &step(None, Some("data.due")),
                &scope,
                t("2026-06-01T00:00:00Z"),
                Tz::UTC
            ),
            DelayOutcome::Elapsed(t("2026-05-03T07:00:00Z"))
        );
    }
}
