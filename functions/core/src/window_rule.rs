//! Placeholder replaced by the window-rule branch.
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A window rule.
pub struct WindowRule;
impl WindowRule {
    /// Parses.
    pub fn from_value(_value: &Value) -> Result<Self, String> {
        Err("window rules are not supported yet".into())
    }
    /// Whether it is a rule.
    pub fn is_rule(value: &Value) -> bool {
        value.get("frequency").is_some()
    }
    /// Next.
    pub fn next_after(&self, _now: DateTime<Utc>, _tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
        None
    }
}
/// Parses a tz.
pub fn parse_timezone(name: &str) -> Option<chrono_tz::Tz> {
    name.parse().ok()
}
