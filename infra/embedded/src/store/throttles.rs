//! The throttles role on SQLite: throttle windows, which runs a window admitted, checked and counted in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::ports::{Admission, Throttles};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::codec::*;
use super::SqliteStore;

fn admit(
    tx: &Connection,
    key: &str,
    run_id: Uuid,
    limit: u32,
    window_ends: DateTime<Utc>,
    now: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let current: Option<(i64, String)> = tx
        .query_row(
            "SELECT window_ends, runs FROM throttles WHERE key = ?",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let run = run_id.to_string();
    let mut runs: Vec<String> = match &current {
        Some((ends, runs)) if *ends > micros(now) => parse_json(runs)?,
        // No window, or it ended: this run opens a new one.
        _ => {
            tx.execute(
                "INSERT INTO throttles (key, window_ends, runs) VALUES (?, ?, ?)
                 ON CONFLICT (key) DO UPDATE SET window_ends = excluded.window_ends, runs = excluded.runs",
                params![key, micros(window_ends), json(&vec![run])],
            )?;
            return Ok(true);
        }
    };
    if runs.contains(&run) {
        return Ok(true);
    }
    if runs.len() >= limit as usize {
        return Ok(false);
    }
    runs.push(run);
    tx.execute(
        "UPDATE throttles SET runs = ? WHERE key = ?",
        params![json(&runs), key],
    )?;
    Ok(true)
}

#[async_trait]
impl Throttles for SqliteStore {
    async fn throttle(
        &self,
        key: &str,
        run_id: Uuid,
        limit: u32,
        window_ends: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        let key = key.to_string();
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let admitted = admit(&tx, &key, run_id, limit, window_ends, now)?;
            tx.commit()?;
            Ok(if admitted {
                Admission::Admitted
            } else {
                Admission::Throttled
            })
        })
        .await
    }
}
