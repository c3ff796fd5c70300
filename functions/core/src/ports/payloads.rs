//! The payloads role: large run data stored once by content hash (see [`crate::data`]).

use async_trait::async_trait;

use crate::data::PayloadRef;
use crate::error::StoreError;

/// Payloads by reference. A reference is the hash of its content, so a payload is written once
/// and never changes; putting it again changes nothing. Payloads are kept for good: a paused run
/// or a message may name one for as long as it exists.
#[async_trait]
pub trait Payloads: Send + Sync {
    /// Stores `bytes` under `reference` (which [`PayloadRef::of`] made from them).
    async fn put_payload(&self, reference: &PayloadRef, bytes: &[u8]) -> Result<(), StoreError>;

    /// The bytes stored under `reference`, if any.
    async fn get_payload(&self, reference: &PayloadRef) -> Result<Option<Vec<u8>>, StoreError>;
}
