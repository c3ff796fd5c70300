//! The payloads role on SQLite: one row per content hash, written once.

use async_trait::async_trait;
use herald_core::data::PayloadRef;
use herald_core::error::StoreError;
use herald_core::ports::Payloads;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;

#[async_trait]
impl Payloads for SqliteStore {
    async fn put_payload(&self, reference: &PayloadRef, bytes: &[u8]) -> Result<(), StoreError> {
        let (digest, body) = (reference.digest.clone(), bytes.to_vec());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO payloads (digest, body) VALUES (?, ?) ON CONFLICT DO NOTHING",
                params![digest, body],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_payload(&self, reference: &PayloadRef) -> Result<Option<Vec<u8>>, StoreError> {
        let digest = reference.digest.clone();
        self.read(move |conn| {
            conn.query_row(
                "SELECT body FROM payloads WHERE digest = ?",
                params![digest],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }
}
