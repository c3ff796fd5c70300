use chrono::{DateTime, Months, Utc};
use serde::Deserialize;
use serde_json::Value;

/// The unit of a Knock duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurationUnit {
    /// Seconds (the CLI's scaffold uses them; the Management API schema omits them).
    Seconds,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Days of 24 hours.
    Days,
    /// Weeks of 7 days.
    Weeks,
    /// Calendar months.
    Months,
}

/// A Knock duration: `{"unit": "minutes", "value": 5}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Duration {
    /// The unit.
    pub unit: DurationUnit,
    /// How many units; may be negative in a relative delay (before a timestamp).
    pub value: i64,
}

impl Duration {
    /// Parses a duration object, as found in a step's settings or at a dynamic field path.
    pub fn from_value(value: &Value) -> Option<Self> {
        serde_json::from_value(value.clone()).ok()
    }

    /// `at` plus this duration, or `None` on overflow.
    pub fn add_to(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let fixed = |seconds_per_unit: i64| {
            self.value
                .checked_mul(seconds_per_unit)
                .and_then(chrono::Duration::try_seconds)
                .and_then(|d| at.checked_add_signed(d))
        };
        match self.unit {
            DurationUnit::Seconds => fixed(1),
            DurationUnit::Minutes => fixed(60),
            DurationUnit::Hours => fixed(3_600),
            DurationUnit::Days => fixed(86_400),
            DurationUnit::Weeks => fixed(604_800),
            DurationUnit::Months => {
                let months = Months::new(u32::try_from(self.value.unsigned_abs()).ok()?);
                if self.value >= 0 {
                    at.checked_add_months(months)
                } else {
                    at.checked_sub_months(months)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn adds_every_unit() {
        let t: DateTime<Utc> = "2026-01-31T10:00:00Z".parse().unwrap();
        let d = |v: Value| {
            Duration::from_value(&v)
                .unwrap()
                .add_to(t)
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(
            d(json!({"unit": "seconds", "value": 30})),
            "2026-01-31T10:00:30+00:00"
        );
        assert_eq!(
            d(json!({"unit": "minutes", "value": 2})),
            "2026-01-31T10:02:00+00:00"
        );
        assert_eq!(
            d(json!({"unit": "hours", "value": -1})),
            "2026-01-31T09:00:00+00:00"
        );
        assert_eq!(
            d(json!({"unit": "days", "value": 3})),
            "2026-02-03T10:00:00+00:00"
        );
        assert_eq!(
            d(json!({"unit": "weeks", "value": 1})),
            "2026-02-07T10:00:00+00:00"
        );
        assert_eq!(
            d(json!({"unit": "months", "value": 1})),
            "2026-02-28T10:00:00+00:00"
        );
        assert!(Duration::from_value(&json!({"unit": "fortnights", "value": 1})).is_none());
    }
}
