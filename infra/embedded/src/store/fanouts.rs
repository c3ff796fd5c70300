//! The fan-outs role on SQLite: progress rows, one per workflow run that triggered objects with subscribers.

use async_trait::async_trait;
use herald_core::error::StoreError;
use herald_core::fanout::FanOut;
use herald_core::ports::{CancelFilter, FanOuts, Write};
use herald_core::run::RecipientRun;
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::codec::*;
use super::runs::insert_runs;
use super::SqliteStore;

pub fn insert(tx: &Connection, f: &FanOut) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO fanouts (workflow_run_id, workflow_key, cancellation_key, body, version, finished)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        params![
            f.workflow_run_id.to_string(),
            f.workflow_key,
            f.cancellation_key,
            json(f),
            f.version as i64,
            f.is_finished()
        ],
    )?;
    Ok(())
}

pub fn get(tx: &rusqlite::Connection, workflow_run_id: &str) -> rusqlite::Result<Option<FanOut>> {
    tx.query_row(
        "SELECT body FROM fanouts WHERE workflow_run_id = ?",
        [workflow_run_id],
        |row| parse_json::<FanOut>(&row.get::<_, String>(0)?),
    )
    .optional()
}

/// Replaces the fan-out with `next` if it is still at the previous version and not cancelled.
pub fn advance(tx: &Connection, next: &FanOut) -> rusqlite::Result<bool> {
    let changed = tx.execute(
        "UPDATE fanouts SET body = ?, version = ?, finished = ?
         WHERE workflow_run_id = ? AND version = ? AND finished = 0",
        params![
            json(next),
            next.version as i64,
            next.is_finished(),
            next.workflow_run_id.to_string(),
            next.version as i64 - 1
        ],
    )?;
    Ok(changed > 0)
}

/// Applies a cancel to the unfinished fan-outs of its (workflow, cancellation key): a cancel of
/// everyone stops them; a cancel of some recipients keeps those from being created later.
pub fn cancel(tx: &Connection, filter: &CancelFilter) -> rusqlite::Result<()> {
    let bodies: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT body FROM fanouts WHERE workflow_key = ? AND cancellation_key = ? AND finished = 0",
        )?;
        let rows = stmt.query_map(
            params![filter.workflow_key, filter.cancellation_key],
            |row| row.get(0),
        )?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for body in bodies {
        let f = parse_json::<FanOut>(&body)?.cancelled_by(filter.recipients.as_deref());
        tx.execute(
            "UPDATE fanouts SET body = ?, version = ?, finished = ? WHERE workflow_run_id = ?",
            params![
                json(&f),
                f.version as i64,
                f.is_finished(),
                f.workflow_run_id.to_string()
            ],
        )?;
    }
    Ok(())
}

/// Workflow runs whose fan-out is unfinished.
pub fn unfinished(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT workflow_run_id FROM fanouts WHERE finished = 0")?;
    let rows = stmt.query_map([], |row| row.get(0))?;
    rows.collect()
}

#[async_trait]
impl FanOuts for SqliteStore {
    async fn get_fanout(&self, workflow_run_id: Uuid) -> Result<Option<FanOut>, StoreError> {
        self.read(move |conn| get(conn, &workflow_run_id.to_string()))
            .await
    }

    async fn advance_fanout(
        &self,
        next: &FanOut,
        runs: &[RecipientRun],
    ) -> Result<Write, StoreError> {
        let (next, runs) = (next.clone(), runs.to_vec());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            if !advance(&tx, &next)? {
                return Ok(Write::LostRace);
            }
            insert_runs(&tx, &runs)?;
            tx.commit()?;
            Ok(Write::Applied)
        })
        .await
    }
}
