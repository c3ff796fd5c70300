//! When a delay step ends.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::definition::{DelayStep, Duration};
use crate::path;

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

/// Resolves a delay step at `now` against `scope` (`{data, recipient, actor, tenant}`).
///
/// - `delay_for` alone: `now + delay_for`;
/// - `delay_until_field_path` alone: the ISO-8601 time (or `{unit, value}` duration from now) at
///   the path;
/// - both: the time at the path offset by `delay_for` (Knock's relative delay).
pub fn delay_until(step: &DelayStep, scope: &Value, now: DateTime<Utc>) -> DelayOutcome {
    let base = match &step.delay_until_field_path {
        None => now,
        Some(p) => match path::resolve(scope, p) {
            None | Some(Value::Null) => return DelayOutcome::Invalid(format!("`{p}` is missing")),
            Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => t.with_timezone(&Utc),
                Err(_) => {
                    return DelayOutcome::Invalid(format!("`{p}` is not an ISO-8601 time: `{s}`"))
                }
            },
            Some(v @ Value::Object(_)) => match Duration::from_value(v).and_then(|d| d.add_to(now))
            {
                Some(t) => t,
                None => return DelayOutcome::Invalid(format!("`{p}` is not a time or duration")),
            },
            Some(other) => return DelayOutcome::Invalid(format!("`{p}` is not a time: `{other}`")),
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
    use crate::definition::DurationUnit;
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
            delay_until(&step(Some(two_s), None), &scope, now),
            DelayOutcome::Until(t("2026-05-01T12:00:02Z"))
        );
        assert_eq!(
            delay_until(&step(None, Some("data.due")), &scope, now),
            DelayOutcome::Until(t("2026-05-03T07:00:00Z"))
        );
        assert_eq!(
            delay_until(&step(None, Some("data.rel")), &scope, now),
            DelayOutcome::Until(t("2026-05-01T12:05:00Z"))
        );
        assert_eq!(
            delay_until(
                &step(Some(minus_hour), Some("recipient.trial_ends")),
                &scope,
                now
            ),
            DelayOutcome::Until(t("2026-05-01T23:00:00Z"))
        );
        assert!(matches!(
            delay_until(&step(None, Some("data.bad")), &scope, now),
            DelayOutcome::Invalid(_)
        ));
        assert!(matches!(
            delay_until(&step(None, Some("data.none")), &scope, now),
            DelayOutcome::Invalid(_)
        ));
        assert_eq!(
            delay_until(
                &step(None, Some("data.due")),
                &scope,
                t("2026-06-01T00:00:00Z")
            ),
            DelayOutcome::Elapsed(t("2026-05-03T07:00:00Z"))
        );
    }
}
