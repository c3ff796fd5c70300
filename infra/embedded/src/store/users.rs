//! The users role on SQLite: one row per user, properties as JSON merged in a transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::ports::Users;
use herald_core::user::{merge_properties, User};
use rusqlite::{params, OptionalExtension};
use serde_json::{Map, Value};

use super::codec::*;
use super::SqliteStore;

#[async_trait]
impl Users for SqliteStore {
    async fn upsert_user(
        &self,
        id: &str,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let (id, properties) = (id.to_string(), properties.clone());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let existing = tx
                .query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"), [&id], user_row)
                .optional()?;
            let user = match existing {
                Some(mut user) => {
                    merge_properties(&mut user.properties, &properties);
                    user.updated_at = at;
                    user
                }
                None => {
                    let mut props = Map::new();
                    merge_properties(&mut props, &properties);
                    User { id: id.clone(), properties: props, created_at: at, updated_at: at }
                }
            };
            tx.execute(
                "INSERT INTO users (id, properties, created_at, updated_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET properties = excluded.properties, updated_at = excluded.updated_at",
                params![user.id, json(&user.properties), micros(user.created_at), micros(user.updated_at)],
            )?;
            tx.commit()?;
            Ok(user)
        })
        .await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"),
                [&id],
                user_row,
            )
            .optional()
        })
        .await
    }

    async fn get_users(&self, ids: &[String]) -> Result<Vec<User>, StoreError> {
        let ids = ids.to_vec();
        self.read(move |conn| {
            let mut users = Vec::with_capacity(ids.len());
            // SQLite binds at most 32,766 parameters; a page is far below that.
            for chunk in ids.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let mut stmt = conn.prepare(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id IN ({marks})"
                ))?;
                let rows = stmt.query_map(rusqlite::params_from_iter(chunk), user_row)?;
                for user in rows {
                    users.push(user?);
                }
            }
            Ok(users)
        })
        .await
    }
}
