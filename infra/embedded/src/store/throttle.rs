//! Throttle windows: which runs a window admitted, checked and counted in one transaction.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};
use uuid::Uuid;

use super::codec::*;

pub fn throttle(
    tx: &Transaction<'_>,
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
