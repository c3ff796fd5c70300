//! What each operator means, with Knock's loose typing: numeric strings compare as numbers and
//! timestamps are RFC 3339 strings or unix seconds.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Operator, MISSING};

/// Applies `op` to the variable's value (`found`, `None` when the path is missing) and the
/// resolved argument.
pub(super) fn apply(op: Operator, found: Option<&Value>, arg: &Value, now: DateTime<Utc>) -> bool {
    // Knock: a missing variable reads as the empty string.
    let value = found.unwrap_or(&MISSING);
    match op {
        Operator::EqualTo => equal(value, arg),
        Operator::NotEqualTo => !equal(value, arg),
        Operator::GreaterThan => order(value, arg) == Some(Ordering::Greater),
        Operator::LessThan => order(value, arg) == Some(Ordering::Less),
        Operator::GreaterThanOrEqualTo => {
            matches!(order(value, arg), Some(Ordering::Greater | Ordering::Equal))
        }
        Operator::LessThanOrEqualTo => {
            matches!(order(value, arg), Some(Ordering::Less | Ordering::Equal))
        }
        Operator::Contains => contains(value, arg),
        Operator::NotContains => !contains(value, arg),
        Operator::ContainsAll => contains_all(value, arg),
        Operator::NotContainsAll => !contains_all(value, arg),
        Operator::IsTimestampBefore => both_timestamps(value, arg).is_some_and(|(v, a)| v < a),
        Operator::IsTimestampOnOrAfter => both_timestamps(value, arg).is_some_and(|(v, a)| v >= a),
        Operator::IsTimestampBetween => timestamp_between(value, arg),
        Operator::IsBetween => number_between(value, arg),
        Operator::Empty => is_empty(value),
        Operator::NotEmpty => !is_empty(value),
        Operator::Exists => found.is_some_and(|v| !v.is_null()),
        Operator::NotExists => found.is_none_or(Value::is_null),
        Operator::IsTimestamp => timestamp(value).is_some(),
        Operator::IsTimestampBeforeNow => timestamp(value).is_some_and(|v| v < now),
        Operator::IsTimestampOnOrAfterNow => timestamp(value).is_some_and(|v| v >= now),
    }
}

/// A number, or a string holding a finite number (`"10"`, `"2.5"`).
pub(super) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        // `f64::from_str` also accepts "inf" and "NaN", which are not numbers to a user.
        Value::String(s) => s.parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

/// Equality: two strings compare as strings, otherwise numbers (or numeric strings) compare
/// numerically, otherwise JSON equality.
pub(super) fn equal(a: &Value, b: &Value) -> bool {
    if let (Value::String(x), Value::String(y)) = (a, b) {
        return x == y;
    }
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Numeric ordering; `None` when either side is not a number.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    number(a)?.partial_cmp(&number(b)?)
}

/// A string containing the argument's text, or an array holding an element equal to it.
fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::String(s) => match needle {
            Value::String(n) => s.contains(n.as_str()),
            // Static "123" decodes to a number; still look for its text in a string.
            Value::Number(_) | Value::Bool(_) => s.contains(&needle.to_string()),
            _ => false,
        },
        Value::Array(items) => items.iter().any(|item| equal(item, needle)),
        _ => false,
    }
}

/// Every element of an array argument is contained; a non-array argument acts as `[argument]`.
fn contains_all(haystack: &Value, needles: &Value) -> bool {
    match needles {
        Value::Array(items) => items.iter().all(|n| contains(haystack, n)),
        single => contains(haystack, single),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A `[from, to]` argument.
fn range(arg: &Value) -> Option<(&Value, &Value)> {
    match arg.as_array()?.as_slice() {
        [from, to] => Some((from, to)),
        _ => None,
    }
}

fn number_between(value: &Value, arg: &Value) -> bool {
    let (Some(v), Some((low, high))) = (number(value), range(arg)) else {
        return false;
    };
    matches!((number(low), number(high)), (Some(l), Some(h)) if l <= v && v <= h)
}

/// An RFC 3339 string or unix seconds (fractions allowed).
pub(super) fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => match n.as_i64() {
            Some(secs) => DateTime::from_timestamp(secs, 0),
            None => {
                let secs = n.as_f64().filter(|f| f.is_finite())?;
                // Milliseconds are enough precision for a condition.
                DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
            }
        },
        _ => None,
    }
}

fn both_timestamps(a: &Value, b: &Value) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    Some((timestamp(a)?, timestamp(b)?))
}

fn timestamp_between(value: &Value, arg: &Value) -> bool {
    let (Some(v), Some((start, end))) = (timestamp(value), range(arg)) else {
        return false;
    };
    matches!((timestamp(start), timestamp(end)), (Some(s), Some(e)) if s <= v && v <= e)
}
