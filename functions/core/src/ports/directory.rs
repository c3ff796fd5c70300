//! The directory role: objects, subscriptions and preference sets — who can be notified and
//! what they agreed to receive.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::outcome::{Removal, Write};
use super::page::{Page, PageRequest};
use crate::error::StoreError;
use crate::object::Object;
use crate::recipient::RecipientRef;
use crate::subscription::Subscription;

/// A preference set as a store keeps it: Knock's JSON with a version for conditional merges.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPreferenceSet {
    /// The user or object the set belongs to.
    pub owner: RecipientRef,
    /// `default`, or a tenant id.
    pub set_id: String,
    /// The set in Knock's wire shape.
    pub set: Value,
    /// Incremented by every write; a merge writes only if the version is unchanged.
    pub version: u64,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// When a preference-set write applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteIf {
    /// Always (a replace).
    Always,
    /// Only if no set exists yet.
    Absent,
    /// Only if the stored set still has this version (a merge computed from it).
    Version(u64),
}

/// Objects (tenants among them), their subscribers, and the preference sets of users and
/// objects. Every write is atomic; merges of preference sets are conditional on a version.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Creates or merges an object (set object): given properties replace stored ones.
    async fn upsert_object(
        &self,
        collection: &str,
        id: &str,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Object, StoreError>;

    /// An object by collection and id.
    async fn get_object(&self, collection: &str, id: &str) -> Result<Option<Object>, StoreError>;

    /// The objects among `refs` (their collection and id) that exist, in no particular order:
    /// what a listing page shows is read in one call, not one per item.
    async fn get_objects(&self, refs: &[RecipientRef]) -> Result<Vec<Object>, StoreError>;

    /// Deletes an object with its subscriptions and preference sets.
    async fn delete_object(&self, collection: &str, id: &str) -> Result<Removal, StoreError>;

    /// Lists the objects of a collection by id.
    async fn list_objects(
        &self,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Object>, StoreError>;

    /// Creates or replaces the subscriptions of `recipients` to `object`, all with `properties`.
    async fn put_subscriptions(
        &self,
        object: &RecipientRef,
        recipients: &[RecipientRef],
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError>;

    /// Deletes the subscriptions of `recipients` to `object`; returns those that existed.
    async fn delete_subscriptions(
        &self,
        object: &RecipientRef,
        recipients: &[RecipientRef],
    ) -> Result<Vec<Subscription>, StoreError>;

    /// The subscribers of `object`, ordered by recipient (a stable order to page through).
    async fn list_subscribers(
        &self,
        object: &RecipientRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError>;

    /// The subscriptions of `recipient`, ordered by object.
    async fn list_subscriptions_of(
        &self,
        recipient: &RecipientRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError>;

    /// Writes a preference set if `condition` holds ([`Write::LostRace`] when it did not).
    async fn put_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
        set: &Value,
        condition: WriteIf,
        at: DateTime<Utc>,
    ) -> Result<Write, StoreError>;

    /// A preference set of `owner`.
    async fn get_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<Option<StoredPreferenceSet>, StoreError>;

    /// Every preference set of `owner`, by set id.
    async fn list_preference_sets(
        &self,
        owner: &RecipientRef,
    ) -> Result<Vec<StoredPreferenceSet>, StoreError>;

    /// Deletes a preference set.
    async fn delete_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<Removal, StoreError>;
}
