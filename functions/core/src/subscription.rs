//! Subscriptions: a recipient (user or object) subscribed to an object, with properties that
//! templates see as `recipient.subscription.*`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::recipient::RecipientRef;

/// Knock's limit of recipients per subscribe or unsubscribe call.
pub const MAX_SUBSCRIPTIONS_PER_CALL: usize = 100;

/// One subscription of `recipient` to `object`.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The object subscribed to (always has a collection).
    pub object: RecipientRef,
    /// The subscriber.
    pub recipient: RecipientRef,
    /// The subscription's own properties.
    pub properties: Map<String, Value>,
    /// When it was first created.
    pub inserted_at: DateTime<Utc>,
    /// When it was last upserted.
    pub updated_at: DateTime<Utc>,
}
