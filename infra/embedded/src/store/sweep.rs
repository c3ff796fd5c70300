//! The sweep role on SQLite: due work through two partial indexes, the active runs by when they
//! are due (`wake_at`, else `updated_at`) and the messages by their next attempt.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::ports::{Overdue, Sweep};
use rusqlite::params;

use super::codec::*;
use super::{active, SqliteStore};

#[async_trait]
impl Sweep for SqliteStore {
    async fn overdue(&self, before: DateTime<Utc>, limit: usize) -> Result<Overdue, StoreError> {
        let (before, limit, active) = (micros(before), limit as i64, active());
        self.read(move |conn| {
            let mut runs = conn.prepare_cached(&format!(
                "SELECT workflow_run_id, MIN(COALESCE(wake_at, updated_at)) AS due
                 FROM recipient_runs
                 WHERE status IN {active} AND COALESCE(wake_at, updated_at) < ?
                 GROUP BY workflow_run_id ORDER BY due LIMIT ?"
            ))?;
            let workflow_runs = runs
                .query_map(params![before, limit], |r| uuid(&r.get::<_, String>(0)?))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut messages = conn.prepare_cached(
                "SELECT id FROM messages
                 WHERE next_attempt_at IS NOT NULL AND next_attempt_at < ?
                 ORDER BY next_attempt_at LIMIT ?",
            )?;
            let messages = messages
                .query_map(params![before, limit], |r| uuid(&r.get::<_, String>(0)?))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Overdue {
                workflow_runs,
                messages,
            })
        })
        .await
    }
}
