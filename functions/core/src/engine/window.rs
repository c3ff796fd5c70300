//! Knock's "dynamic window", shared by delay, batch and throttle steps: a value found at a
//! field path that is an ISO-8601 time, a duration from now, or a window rule read in the
//! recipient's time zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::definition::Duration;
use crate::path;
use crate::window_rule::{parse_timezone, WindowRule};

/// The time zone a step reads window rules in: the recipient's `timezone`, else the
/// environment's default, else UTC.
pub fn timezone(scope: &Value, default: Option<Tz>) -> Tz {
    scope["recipient"]["timezone"]
        .as_str()
        .and_then(parse_timezone)
        .or(default)
        .unwrap_or(Tz::UTC)
}

/// Resolves the value at `field_path` to an instant; the error says why it cannot be one.
pub fn resolve_path(
    scope: &Value,
    field_path: &str,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<DateTime<Utc>, String> {
    match path::resolve(scope, field_path) {
        None | Some(Value::Null) => Err(format!("`{field_path}` is missing")),
        Some(v) => resolve_value(v, now, tz).map_err(|why| format!("`{field_path}` {why}")),
    }
}

/// Resolves a dynamic window value to an instant.
pub fn resolve_value(value: &Value, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, String> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("is not an ISO-8601 time: `{s}`")),
        v if WindowRule::is_rule(v) => WindowRule::from_value(v)
            .map_err(|e| format!("is not a valid window rule: {e}"))?
            .next_after(now, tz)
            .ok_or_else(|| "is a window rule that never matches".to_string()),
        v @ Value::Object(_) => Duration::from_value(v)
            .and_then(|d| d.add_to(now))
            .ok_or_else(|| "is not a time, duration or window rule".to_string()),
        other => Err(format!("is not a time: `{other}`")),
    }
}

/// `end` if it is after `now`: a window that has already ended cannot be waited for.
pub fn ahead(
    end: Result<DateTime<Utc>, String>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    end.and_then(|t| {
        if t > now {
            Ok(t)
        } else {
            Err("the window is not in the future".into())
        }
    })
}
