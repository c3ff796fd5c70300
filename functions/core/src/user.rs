//! Users: identified recipients and actors, stored as a property bag that identify merges into.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The caller's id for the user.
    pub id: String,
    /// Every identified property (name, email, phone_number, locale, timezone, custom ones…).
    pub properties: Map<String, Value>,
    /// When the user was first identified (Herald's record; not the caller's `created_at`).
    pub created_at: DateTime<Utc>,
    /// When the user was last identified.
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// The user as templates and the API see it: its properties plus `id` and `updated_at`.
    /// (`created_at` is a property the caller may set, as in Knock.)
    pub fn to_value(&self) -> Value {
        let mut map = self.properties.clone();
        map.insert("id".into(), Value::String(self.id.clone()));
        map.insert(
            "updated_at".into(),
            Value::String(
                self.updated_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ),
        );
        Value::Object(map)
    }
}

/// Merges identified properties over stored ones: given keys are replaced, others kept, as Knock's
/// identify does. `id` and server-owned timestamps are never taken from the caller.
pub fn merge_properties(stored: &mut Map<String, Value>, given: &Map<String, Value>) {
    for (k, v) in given {
        if matches!(k.as_str(), "id" | "updated_at" | "__typename") {
            continue;
        }
        stored.insert(k.clone(), v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_unmentioned_and_replaces_given() {
        let mut stored = json!({"name": "A", "email": "a@x"})
            .as_object()
            .unwrap()
            .clone();
        let given = json!({"email": "b@x", "plan": "pro", "id": "ignored"});
        merge_properties(&mut stored, given.as_object().unwrap());
        assert_eq!(
            Value::Object(stored),
            json!({"name": "A", "email": "b@x", "plan": "pro"})
        );
    }
}
