//! The definitions role: workflow definitions kept by version, so a run paused under one
//! definition resumes under the same one after the workflows changed.

use async_trait::async_trait;
use serde_json::Value;

use crate::error::StoreError;

/// Workflow definitions by (key, version). Versions are content hashes, so a version is
/// written once and never changes; they are kept for good (one small item per version).
#[async_trait]
pub trait Definitions: Send + Sync {
    /// Stores `definition` as `version` of workflow `key`; storing it again changes nothing.
    async fn put_definition(
        &self,
        key: &str,
        version: &str,
        definition: &Value,
    ) -> Result<(), StoreError>;

    /// Version `version` of workflow `key`, if stored.
    async fn get_definition(&self, key: &str, version: &str) -> Result<Option<Value>, StoreError>;
}
