//! The definitions role on SQLite: one row per (workflow key, version), written once.

use async_trait::async_trait;
use herald_core::error::StoreError;
use herald_core::ports::Definitions;
use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use super::codec::*;
use super::SqliteStore;

#[async_trait]
impl Definitions for SqliteStore {
    async fn put_definition(
        &self,
        key: &str,
        version: &str,
        definition: &Value,
    ) -> Result<(), StoreError> {
        let (key, version, body) = (key.to_string(), version.to_string(), json(definition));
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO definitions (workflow_key, version, body) VALUES (?, ?, ?)
                 ON CONFLICT DO NOTHING",
                params![key, version, body],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_definition(&self, key: &str, version: &str) -> Result<Option<Value>, StoreError> {
        let (key, version) = (key.to_string(), version.to_string());
        self.read(move |conn| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM definitions WHERE workflow_key = ? AND version = ?",
                    params![key, version],
                    |r| r.get(0),
                )
                .optional()?;
            body.as_deref().map(parse_json).transpose()
        })
        .await
    }
}
