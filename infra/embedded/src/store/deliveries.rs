//! The deliveries role on SQLite: a message's attempts are counted on its row (`attempts`,
//! `next_attempt_at`), its events and delivery logs are JSON arrays beside them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::message::{DeliveryLog, DeliveryStatus, MessageEvent};
use herald_core::ports::{AttemptRecord, Deliveries, PendingDelivery, Write};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::codec::*;
use super::SqliteStore;

/// The SQL list of the pending statuses (`DeliveryStatus::PENDING`), for `status IN …`.
fn pending() -> String {
    let names: Vec<String> = DeliveryStatus::PENDING
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", names.join(", "))
}

fn applied(changed: usize) -> Write {
    if changed == 1 {
        Write::Applied
    } else {
        Write::LostRace
    }
}

#[async_trait]
impl Deliveries for SqliteStore {
    async fn claim_attempt(
        &self,
        id: Uuid,
        attempt: u32,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Write, StoreError> {
        let pending = pending();
        // Durable before the attempt is made: a claim lost to a power cut could repeat it.
        self.write(move |conn| {
            conn.execute(
                &format!(
                    "UPDATE messages SET attempts = ?1, next_attempt_at = ?2, updated_at = ?3
                     WHERE id = ?4 AND attempts = ?1 - 1 AND status IN {pending}
                       AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?3"
                ),
                params![attempt, micros(lease_until), micros(now), id.to_string()],
            )
            .map(applied)
        })
        .await
    }

    async fn record_attempt(&self, id: Uuid, record: &AttemptRecord) -> Result<Write, StoreError> {
        let (record, pending) = (record.clone(), pending());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let current: Option<(String, String)> = tx
                .query_row(
                    &format!(
                        "SELECT events, delivery_logs FROM messages
                         WHERE id = ? AND attempts = ? AND next_attempt_at = ? AND status IN {pending}"
                    ),
                    params![id.to_string(), record.attempt, micros(record.lease_until)],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let Some((events, logs)) = current else {
                return Ok(Write::LostRace);
            };
            let mut events: Vec<MessageEvent> = parse_json(&events)?;
            events.extend(record.events.iter().cloned());
            let mut logs: Vec<DeliveryLog> = parse_json(&logs)?;
            logs.push(record.log.clone());
            tx.execute(
                "UPDATE messages SET status = ?, next_attempt_at = ?, updated_at = ?, events = ?,
                 delivery_logs = ? WHERE id = ?",
                params![
                    record.status.as_str(),
                    record.next_attempt_at.map(micros),
                    micros(record.at),
                    json(&events),
                    json(&logs),
                    id.to_string()
                ],
            )?;
            tx.commit()?;
            Ok(Write::Applied)
        })
        .await
    }

    async fn delivery_logs(&self, id: Uuid) -> Result<Vec<DeliveryLog>, StoreError> {
        self.read(move |conn| json_list(conn, id, "delivery_logs"))
            .await
    }

    async fn message_events(&self, id: Uuid) -> Result<Vec<MessageEvent>, StoreError> {
        self.read(move |conn| json_list(conn, id, "events")).await
    }
}

/// A message's JSON array column `column` (`events`, `delivery_logs`); none for no message.
fn json_list<T: serde::de::DeserializeOwned>(
    conn: &rusqlite::Connection,
    id: Uuid,
    column: &'static str,
) -> rusqlite::Result<Vec<T>> {
    let text: Option<String> = conn
        .query_row(
            &format!("SELECT {column} FROM messages WHERE id = ?"),
            [id.to_string()],
            |row| row.get(0),
        )
        .optional()?;
    text.map(|t| parse_json(&t))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Messages whose delivery is not finished (for [`super::recovery`]).
pub(super) fn pending_deliveries(
    conn: &rusqlite::Connection,
) -> rusqlite::Result<Vec<PendingDelivery>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id, next_attempt_at FROM messages
         WHERE next_attempt_at IS NOT NULL AND status IN {}",
        pending()
    ))?;
    let rows = stmt.query_map([], |row| {
        Ok(PendingDelivery {
            message_id: uuid(&row.get::<_, String>(0)?)?,
            due_at: from_micros(row.get(1)?)?,
        })
    })?;
    rows.collect()
}
