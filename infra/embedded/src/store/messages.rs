//! The messages role on SQLite: one row per message, created by transitions (see `runs.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::message::{Engagement, Message};
use herald_core::ports::{MessageQuery, Messages, Page, PageRequest};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::codec::*;
use super::{filter, SqliteStore};

pub(super) fn insert_message(tx: &Connection, m: &Message) -> rusqlite::Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO messages ({}, events) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
            MESSAGE_COLUMNS
        ),
        params![
            m.id.to_string(),
            m.channel_key,
            enum_str(&m.channel_type),
            m.recipient.id,
            collection(&m.recipient),
            json(&m.actors),
            m.workflow_key,
            json(&m.categories),
            m.workflow_run_id.to_string(),
            m.recipient_run_id.to_string(),
            m.step_ref,
            m.tenant,
            json(&m.data),
            enum_str(&m.status),
            json(&m.content),
            micros(m.inserted_at),
            micros(m.updated_at),
            m.delivery.attempts,
            m.delivery.next_attempt_at.map(micros),
            m.batch.as_ref().map(json),
            m.workflow_version,
            json(&m.events),
        ],
    )?;
    Ok(())
}

pub(super) fn get_message(conn: &Connection, id: &str) -> rusqlite::Result<Option<Message>> {
    conn.query_row(
        &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"),
        [id],
        message_row,
    )
    .optional()
    .map(|o| o.map(|(_, m)| m))
}

#[async_trait]
impl Messages for SqliteStore {
    async fn get_message(&self, id: Uuid) -> Result<Option<Message>, StoreError> {
        self.read(move |conn| get_message(conn, &id.to_string()))
            .await
    }

    async fn list_messages(
        &self,
        query: &MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        let (filter, page) = (filter::messages(query), page.clone());
        self.read(move |conn| {
            filter::page(
                conn,
                "messages",
                MESSAGE_COLUMNS,
                filter,
                &page,
                message_row,
            )
        })
        .await
    }

    async fn count_messages(&self, query: &MessageQuery) -> Result<u64, StoreError> {
        let filter = filter::messages(query);
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT COUNT(*) FROM messages WHERE {}", filter.sql()),
                rusqlite::params_from_iter(filter.params),
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
        })
        .await
    }

    async fn set_engagement(
        &self,
        id: Uuid,
        engagement: Engagement,
        present: bool,
        at: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError> {
        let column = engagement_column(engagement);
        self.write(move |conn| {
            let id = id.to_string();
            // Setting keeps the first time (COALESCE); clearing always clears.
            let sql = if present { format!("UPDATE messages SET {column} = COALESCE({column}, ?1), updated_at = ?1 WHERE id = ?2")
            } else {
                format!("UPDATE messages SET {column} = NULL, updated_at = ?1 WHERE id = ?2")
            };
            conn.execute(&sql, params![micros(at), id])?;
            get_message(conn, &id)
        })
        .await
    }
}
