//! The users role: identified users and their properties.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::StoreError;
use crate::user::User;

/// Users as Knock's identify creates them: an id and a bag of properties, merged on every write.
#[async_trait]
pub trait Users: Send + Sync {
    /// Creates or merges a user (identify): given properties replace stored ones, others stay.
    async fn upsert_user(
        &self,
        id: &str,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError>;

    /// A user by id.
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError>;

    /// The users among `ids` that exist, in no particular order: what a listing page shows
    /// is read in one call, not one per item.
    async fn get_users(&self, ids: &[String]) -> Result<Vec<User>, StoreError>;
}
