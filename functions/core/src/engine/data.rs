//! Keeping and reading run data (see [`crate::data`]): a large layer is stored once through the
//! payloads role and read back through a cache weighed in bytes, so the runs of one trigger
//! share one parsed copy instead of each reading and parsing their own.

use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;
use serde_json::{Map, Value};

use super::Engine;
use crate::data::{merge_at, Part, PayloadRef, RunData, INLINE_MAX_BYTES};
use crate::error::{EngineError, StoreError};
use crate::message::Message;
use crate::ports::Page;

/// The most message data (with a batch's rendered activities) one listing page carries: a page
/// whose messages hold more ends early
/// (after at least one message), its cursor at the last message kept. It keeps a page inside
/// a Lambda answer (6 MB), where a feed item shows its data twice.
pub const PAGE_MAX_DATA_BYTES: usize = 2 * 1024 * 1024;

/// How many payload bytes the cache holds (parsed, they take a few times that).
pub const PAYLOAD_CACHE_BYTES: u64 = 32 * 1024 * 1024;

type Fields = Arc<Map<String, Value>>;

#[derive(Clone)]
struct ByBytes;

impl Weighter<String, (usize, Fields)> for ByBytes {
    fn weight(&self, _digest: &String, value: &(usize, Fields)) -> u64 {
        value.0 as u64
    }
}

/// Parsed payloads by digest.
pub(super) struct PayloadCache(Cache<String, (usize, Fields), ByBytes>);

impl Default for PayloadCache {
    fn default() -> Self {
        Self(Cache::with_weighter(64, PAYLOAD_CACHE_BYTES, ByBytes))
    }
}

impl Engine {
    /// `fields` as a part: in place when small, else stored once by its hash.
    pub(crate) async fn keep_data(&self, fields: Map<String, Value>) -> Result<Part, EngineError> {
        let bytes = encode(&fields)?;
        self.keep_encoded(fields, &bytes).await
    }

    /// [`Engine::keep_data`] for fields already serialised as `bytes`.
    pub(super) async fn keep_encoded(
        &self,
        fields: Map<String, Value>,
        bytes: &[u8],
    ) -> Result<Part, EngineError> {
        if bytes.len() <= INLINE_MAX_BYTES {
            return Ok(Part::Inline(fields));
        }
        let reference = PayloadRef::of(bytes);
        // In the cache means stored (it holds only what was put or read back): a
        // trigger_workflow step passing on its 10 MB does not upload it once per recipient.
        if self.payloads.0.get(&reference.digest).is_some() {
            return Ok(Part::Stored(reference));
        }
        self.store.put_payload(&reference, bytes).await?;
        // The trigger's runs read it next.
        self.payloads
            .0
            .insert(reference.digest.clone(), (bytes.len(), Arc::new(fields)));
        Ok(Part::Stored(reference))
    }

    /// The merged fields of `data`, reading its stored layers.
    pub async fn data_of(&self, data: &RunData) -> Result<Map<String, Value>, EngineError> {
        let mut fields = Map::new();
        for layer in data.layers() {
            let part = match &layer.part {
                Part::Inline(part) => part.clone(),
                Part::Stored(reference) => Map::clone(&*self.payload(reference).await?),
            };
            merge_at(&mut fields, layer.at.as_deref(), part);
        }
        Ok(fields)
    }

    /// The messages of `page` with their data read, the page ended early once their data
    /// passes [`PAGE_MAX_DATA_BYTES`].
    pub async fn with_message_data(
        &self,
        page: Page<Message>,
    ) -> Result<Page<(Message, Map<String, Value>)>, EngineError> {
        let mut total = 0;
        let fits = page
            .nearest_first()
            .take_while(|m| {
                let before = total;
                total += m.data.approx_bytes()
                    + m.batch
                        .as_ref()
                        .map_or(0, |b| serde_json::to_vec(b).map_or(0, |v| v.len()));
                before == 0 || total <= PAGE_MAX_DATA_BYTES
            })
            .count();
        let Page {
            items,
            after,
            before,
            cursors,
            backwards,
        } = page.take(fits.max(1));
        let mut read = Vec::with_capacity(items.len());
        for m in items {
            let fields = self.data_of(&m.data).await?;
            read.push((m, fields));
        }
        Ok(Page {
            items: read,
            after,
            before,
            cursors,
            backwards,
        })
    }

    async fn payload(&self, reference: &PayloadRef) -> Result<Fields, EngineError> {
        if let Some((_, fields)) = self.payloads.0.get(&reference.digest) {
            return Ok(fields);
        }
        let missing = || StoreError::Corrupt(format!("payload {} is missing", reference.digest));
        let bytes = self
            .store
            .get_payload(reference)
            .await?
            .ok_or_else(missing)?;
        let fields: Fields = Arc::new(serde_json::from_slice(&bytes).map_err(|e| {
            StoreError::Corrupt(format!("payload {} is unreadable: {e}", reference.digest))
        })?);
        self.payloads
            .0
            .insert(reference.digest.clone(), (bytes.len(), fields.clone()));
        Ok(fields)
    }
}

/// `fields` as JSON bytes.
pub(super) fn encode(fields: &Map<String, Value>) -> Result<Vec<u8>, EngineError> {
    serde_json::to_vec(fields)
        .map_err(|e| StoreError::Corrupt(format!("data cannot be serialised: {e}")).into())
}
