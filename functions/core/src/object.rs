//! Objects (a project, a Slack channel…) and tenants, which Knock stores as objects of the
//! `$tenants` collection.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The collection Knock keeps tenants in.
pub const TENANTS: &str = "$tenants";

/// A stored object: a property bag keyed by (collection, id) that set-object merges into.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The collection (`projects`, or [`TENANTS`]).
    pub collection: String,
    /// The caller's id, unique within the collection.
    pub id: String,
    /// Every set property.
    pub properties: Map<String, Value>,
    /// When it was first set.
    pub created_at: DateTime<Utc>,
    /// When it was last set.
    pub updated_at: DateTime<Utc>,
}

impl Object {
    /// The object as templates and conditions see it: its properties plus `id` and `collection`.
    pub fn to_value(&self) -> Value {
        let mut map = self.properties.clone();
        map.insert("id".into(), Value::String(self.id.clone()));
        map.insert("collection".into(), Value::String(self.collection.clone()));
        Value::Object(map)
    }
}

/// Checks a collection name: not empty, and free of `#` and `:`, which storage keys use as
/// separators (so `a#b`/`c` and `a`/`b#c` can never name the same object), and of control
/// characters (one orders the embedded store's subscription listings).
pub fn check_collection(collection: &str) -> Result<(), &'static str> {
    if collection.is_empty() {
        Err("must not be empty")
    } else if collection.len() > crate::limits::MAX_ID_BYTES {
        Err("must be at most 255 bytes")
    } else if collection.contains(['#', ':']) {
        Err("must not contain `#` or `:`")
    } else if collection.chars().any(char::is_control) {
        Err("must not contain control characters")
    } else {
        Ok(())
    }
}
