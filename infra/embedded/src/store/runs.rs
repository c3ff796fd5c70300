//! The runs role on SQLite: workflow runs, recipient runs with their events, transitions as
//! conditional `UPDATE`s, and the cancel, each one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::fanout::FanOut;
use herald_core::ports::{ActiveRuns, CancelFilter, Page, PageRequest, RunQuery, Runs, Write};
use herald_core::run::{CancelledRun, RecipientRun, RunEvent, Transition, WorkflowRun};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use uuid::Uuid;

use super::codec::*;
use super::messages::insert_message;
use super::{active, batches, fanouts, filter, SqliteStore};

fn insert_events(tx: &Connection, run_id: Uuid, events: &[RunEvent]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO run_events (run_id, event, status, step_ref, step_type, data, inserted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?;
    for e in events {
        stmt.execute(params![
            run_id.to_string(),
            e.event,
            enum_str(&e.status),
            e.step_ref,
            e.step_type,
            json(&e.data),
            micros(e.inserted_at)
        ])?;
    }
    Ok(())
}

/// Inserts recipient runs; one that already exists (same id) is left as it is.
pub(super) fn insert_runs(tx: &Connection, runs: &[RecipientRun]) -> rusqlite::Result<usize> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO recipient_runs ({RUN_COLUMNS}, batch_open)
         VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING"
    ))?;
    let mut inserted = 0;
    for r in runs {
        inserted += stmt.execute(params![
            r.id.to_string(),
            r.workflow_run_id.to_string(),
            r.workflow_key,
            r.recipient.id,
            collection(&r.recipient),
            r.actor.as_ref().map(json),
            r.tenant,
            r.cancellation_key,
            json(&r.data),
            json(&r.settings),
            r.status.as_str(),
            r.cursor,
            r.wake_at.map(micros),
            r.error_count,
            micros(r.inserted_at),
            micros(r.updated_at),
            r.subscription.as_ref().map(json),
            r.attempt,
            r.batch.as_ref().map(json),
            r.workflow_version,
            r.batch.as_ref().is_some_and(|b| b.open),
        ])?;
    }
    Ok(inserted)
}

/// Applies a run transition inside `tx`; whether the run was still where it expected.
pub(super) fn apply_transition(tx: &Connection, t: &Transition) -> rusqlite::Result<bool> {
    let errors = t.error_count();
    let active = active();
    let batch_open = t.batch.as_ref().map(|b| b.open);
    let changed = tx.execute(
        &format!(
            "UPDATE recipient_runs SET cursor = ?, status = ?, wake_at = ?,
                 error_count = error_count + ?, updated_at = ?, attempt = ?,
                 data = COALESCE(?, data), batch = COALESCE(?, batch),
                 batch_open = COALESCE(?, batch_open)
             WHERE id = ? AND cursor = ? AND batch_open = ? AND status IN {active}"
        ),
        params![
            t.to_cursor,
            t.status.as_str(),
            t.wake_at.map(micros),
            errors,
            micros(t.at),
            t.attempt,
            t.data.as_ref().map(json),
            t.batch.as_ref().map(json),
            batch_open,
            t.run_id.to_string(),
            t.from_cursor,
            t.from_holding
        ],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    if let Some(m) = &t.message {
        insert_message(tx, m)?;
    }
    insert_events(tx, t.run_id, &t.events)?;
    Ok(true)
}

#[async_trait]
impl Runs for SqliteStore {
    async fn insert_run(
        &self,
        run: &WorkflowRun,
        recipients: &[RecipientRun],
        fanout: Option<&FanOut>,
    ) -> Result<(), StoreError> {
        let (run, recipients, fanout) = (run.clone(), recipients.to_vec(), fanout.cloned());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let fresh = tx.execute(
                "INSERT INTO workflow_runs (id, workflow_key, cancellation_key, actor, tenant, data, recipient_count, inserted_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                params![
                    run.id.to_string(),
                    run.workflow_key,
                    run.cancellation_key,
                    run.actor.as_ref().map(json),
                    run.tenant,
                    json(&run.data),
                    run.recipient_count as i64,
                    micros(run.inserted_at)
                ],
            )?;
            if fresh == 0 {
                return Ok(()); // a retry of a stored trigger
            }
            insert_runs(&tx, &recipients)?;
            if let Some(f) = &fanout {
                fanouts::insert(&tx, f)?;
            }
            tx.commit()
        })
        .await
    }

    async fn get_recipient_run(&self, id: Uuid) -> Result<Option<RecipientRun>, StoreError> {
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {RUN_COLUMNS} FROM recipient_runs WHERE id = ?"),
                [id.to_string()],
                run_row,
            )
            .optional()
            .map(|o| o.map(|(_, r)| r))
        })
        .await
    }

    async fn recipient_run_events(&self, id: Uuid) -> Result<Vec<RunEvent>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT event, status, step_ref, step_type, data, inserted_at FROM run_events WHERE run_id = ? ORDER BY seq",
            )?;
            let events = stmt.query_map([id.to_string()], event_row)?.collect();
            events
        })
        .await
    }

    async fn active_recipient_runs(&self, workflow_run_id: Uuid) -> Result<ActiveRuns, StoreError> {
        let active = active();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM recipient_runs WHERE workflow_run_id = ? AND status IN {active} ORDER BY seq"
            ))?;
            let rows = stmt.query_map([workflow_run_id.to_string()], |row| {
                Ok((row.get::<_, String>(1)?, run_row(row)))
            })?;
            let mut read = ActiveRuns::default();
            for row in rows {
                let (id, run) = row?;
                match run {
                    Ok((_, run)) => read.runs.push(run),
                    Err(e) if is_undecodable(&e) => read.unreadable.push(uuid(&id)?),
                    Err(e) => return Err(e),
                }
            }
            Ok(read)
        })
        .await
    }

    async fn end_unreadable_run(
        &self,
        workflow_run_id: Uuid,
        id: Uuid,
        event: &RunEvent,
    ) -> Result<Write, StoreError> {
        let (event, active) = (event.clone(), active());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let changed = tx.execute(
                &format!(
                    "UPDATE recipient_runs SET status = 'completed', wake_at = NULL,
                         error_count = error_count + 1, updated_at = ?
                     WHERE id = ? AND workflow_run_id = ? AND status IN {active}"
                ),
                params![
                    micros(event.inserted_at),
                    id.to_string(),
                    workflow_run_id.to_string()
                ],
            )?;
            if changed == 0 {
                return Ok(Write::LostRace);
            }
            insert_events(&tx, id, std::slice::from_ref(&event))?;
            tx.commit()?;
            Ok(Write::Applied)
        })
        .await
    }

    async fn list_recipient_runs(
        &self,
        query: &RunQuery,
        page: &PageRequest,
    ) -> Result<Page<RecipientRun>, StoreError> {
        let (filter, page) = (filter::runs(query), page.clone());
        self.read(move |conn| {
            filter::page(conn, "recipient_runs", RUN_COLUMNS, filter, &page, run_row)
        })
        .await
    }

    async fn transition(&self, t: &Transition) -> Result<Write, StoreError> {
        let t = t.clone();
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            if !apply_transition(&tx, &t)? {
                return Ok(Write::LostRace);
            }
            tx.commit()?;
            Ok(Write::Applied)
        })
        .await
    }

    async fn cancel(
        &self,
        filter: &CancelFilter,
        at: DateTime<Utc>,
    ) -> Result<Vec<CancelledRun>, StoreError> {
        let (filter, active) = (filter.clone(), active());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let mut params: Vec<rusqlite::types::Value> = vec![
                micros(at).into(),
                filter.workflow_key.clone().into(),
                filter.cancellation_key.clone().into(),
            ];
            let mut sql = format!(
                "UPDATE recipient_runs SET status = 'cancelled', updated_at = ?
                 WHERE workflow_key = ? AND cancellation_key = ? AND status IN {active}
                 AND batch_open = 0"
            );
            if let Some(recipients) = &filter.recipients {
                if recipients.is_empty() {
                    return Ok(Vec::new());
                }
                recipients_in(&mut sql, &mut params, recipients);
            }
            sql.push_str(" RETURNING id, workflow_run_id, wake_at");
            let cancelled: Vec<CancelledRun> = {
                let mut stmt = tx.prepare(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(params), |row| {
                    Ok(CancelledRun {
                        id: uuid(&row.get::<_, String>(0)?)?,
                        workflow_run_id: uuid(&row.get::<_, String>(1)?)?,
                        wake_at: row.get::<_, Option<i64>>(2)?.map(from_micros).transpose()?,
                    })
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for c in &cancelled {
                let event = RunEvent::ok("workflow_recipient_run_cancelled", None, Value::Null, at);
                insert_events(&tx, c.id, std::slice::from_ref(&event))?;
            }
            // In the same transaction: no fan-out step or batch close can slip in between.
            fanouts::cancel(&tx, &filter)?;
            batches::cancel_activities(&tx, &filter)?;
            tx.commit()?;
            Ok(cancelled)
        })
        .await
    }
}
