//! The batches role on SQLite: batches and their activities. Every helper runs inside the
//! caller's transaction, so each check and the writes it guards are one atomic step.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::batch::{Batch, BatchActivity, BatchStatus};
use herald_core::error::StoreError;
use herald_core::ports::{BatchQuery, Batches, CancelFilter, Page, PageRequest, Write};
use herald_core::run::Transition;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::codec::*;
use super::runs::apply_transition;
use super::{filter, SqliteStore};

pub const COLUMNS: &str =
    "seq, id, grp, workflow_key, step_ref, recipient_id, recipient_collection, \
     batch_key, opener_run_id, opener_workflow_run_id, status, count, max_items, opened_at, \
     MIN(closes_at, COALESCE(flushed_at, closes_at))";

pub fn row(row: &Row<'_>) -> rusqlite::Result<(i64, Batch)> {
    let status: String = row.get(10)?;
    Ok((
        row.get(0)?,
        Batch {
            id: uuid(&row.get::<_, String>(1)?)?,
            group: row.get(2)?,
            workflow_key: row.get(3)?,
            step_ref: row.get(4)?,
            recipient: recipient(row.get(5)?, row.get(6)?),
            batch_key: row.get(7)?,
            opener_run_id: uuid(&row.get::<_, String>(8)?)?,
            opener_workflow_run_id: uuid(&row.get::<_, String>(9)?)?,
            status: BatchStatus::parse(&status).ok_or_else(|| {
                rusqlite::Error::InvalidColumnType(10, status.clone(), rusqlite::types::Type::Text)
            })?,
            count: row.get(11)?,
            max_items: row.get(12)?,
            opened_at: from_micros(row.get(13)?)?,
            closes_at: from_micros(row.get(14)?)?,
        },
    ))
}

pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Batch>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM batches WHERE id = ?"),
        [id],
        |r| row(r).map(|(_, b)| b),
    )
    .optional()
}

pub fn current(conn: &Connection, group: &str) -> rusqlite::Result<Option<Batch>> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS} FROM batches WHERE id = (SELECT batch_id FROM batch_groups WHERE grp = ?)"
        ),
        [group],
        |r| row(r).map(|(_, b)| b),
    )
    .optional()
}

/// Points `b.group` at `b` if it still points at `replaces` (or at nothing, for `None`).
pub fn claim_group(tx: &Connection, b: &Batch, replaces: Option<Uuid>) -> rusqlite::Result<bool> {
    let changed = match replaces {
        None => tx.execute(
            "INSERT INTO batch_groups (grp, batch_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            params![b.group, b.id.to_string()],
        )?,
        Some(old) => tx.execute(
            "UPDATE batch_groups SET batch_id = ? WHERE grp = ? AND batch_id = ?",
            params![b.id.to_string(), b.group, old.to_string()],
        )?,
    };
    Ok(changed == 1)
}

pub fn insert(tx: &Connection, b: &Batch) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO batches (id, grp, workflow_key, step_ref, recipient_id, recipient_collection,
             batch_key, opener_run_id, opener_workflow_run_id, status, count, max_items, opened_at, closes_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            b.id.to_string(),
            b.group,
            b.workflow_key,
            b.step_ref,
            b.recipient.id,
            collection(&b.recipient),
            b.batch_key,
            b.opener_run_id.to_string(),
            b.opener_workflow_run_id.to_string(),
            b.status.as_str(),
            b.count,
            b.max_items,
            micros(b.opened_at),
            micros(b.closes_at),
        ],
    )?;
    Ok(())
}

pub fn insert_activity(tx: &Connection, a: &BatchActivity) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO batch_activities (batch_id, run_id, workflow_run_id, workflow_key, cancellation_key,
             recipient_id, recipient_collection, actor, data, inserted_at, cancelled)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            a.batch_id.to_string(),
            a.run_id.to_string(),
            a.workflow_run_id.to_string(),
            a.workflow_key,
            a.cancellation_key,
            a.recipient.id,
            collection(&a.recipient),
            a.actor.as_ref().map(json),
            json(&a.data),
            micros(a.inserted_at),
            a.cancelled,
        ],
    )?;
    Ok(())
}

/// Counts one more activity into an open batch that has room; moves its end when `closes_at`
/// is given. Returns whether it did (not if the batch is closed or full).
pub fn count_in(
    tx: &Connection,
    batch_id: &str,
    closes_at: Option<DateTime<Utc>>,
) -> rusqlite::Result<bool> {
    let changed = tx.execute(
        "UPDATE batches SET count = count + 1, closes_at = COALESCE(?, closes_at)
         WHERE id = ? AND status = 'open' AND (max_items IS NULL OR count < max_items)",
        params![closes_at.map(micros), batch_id],
    )?;
    Ok(changed == 1)
}

pub fn close(tx: &Connection, batch_id: &str) -> rusqlite::Result<bool> {
    let changed = tx.execute(
        "UPDATE batches SET status = 'closed' WHERE id = ? AND status = 'open'",
        [batch_id],
    )?;
    Ok(changed == 1)
}

pub fn flush(conn: &Connection, batch_id: &str, at: DateTime<Utc>) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE batches SET flushed_at = MIN(COALESCE(flushed_at, ?1), ?1) WHERE id = ?2 AND status = 'open'",
        params![micros(at), batch_id],
    )?;
    Ok(changed == 1)
}

pub fn activities(conn: &Connection, batch_id: &str) -> rusqlite::Result<Vec<BatchActivity>> {
    let mut stmt = conn.prepare_cached(
        "SELECT batch_id, run_id, workflow_run_id, workflow_key, cancellation_key, recipient_id,
             recipient_collection, actor, data, inserted_at, cancelled
         FROM batch_activities WHERE batch_id = ? ORDER BY seq",
    )?;
    let rows = stmt.query_map([batch_id], |r| {
        let actor: Option<String> = r.get(7)?;
        Ok(BatchActivity {
            batch_id: uuid(&r.get::<_, String>(0)?)?,
            run_id: uuid(&r.get::<_, String>(1)?)?,
            workflow_run_id: uuid(&r.get::<_, String>(2)?)?,
            workflow_key: r.get(3)?,
            cancellation_key: r.get(4)?,
            recipient: recipient(r.get(5)?, r.get(6)?),
            actor: actor.as_deref().map(parse_json).transpose()?,
            data: parse_json(&r.get::<_, String>(8)?)?,
            inserted_at: from_micros(r.get(9)?)?,
            cancelled: r.get(10)?,
        })
    })?;
    rows.collect()
}

/// Marks the matching activities of open batches cancelled (Knock: the window stays open).
pub fn cancel_activities(tx: &Connection, filter: &CancelFilter) -> rusqlite::Result<()> {
    let mut sql = String::from(
        "UPDATE batch_activities SET cancelled = 1
         WHERE workflow_key = ? AND cancellation_key = ? AND cancelled = 0
           AND batch_id IN (SELECT id FROM batches WHERE status = 'open')",
    );
    let mut params: Vec<rusqlite::types::Value> = vec![
        filter.workflow_key.clone().into(),
        filter.cancellation_key.clone().into(),
    ];
    if let Some(recipients) = &filter.recipients {
        recipients_in(&mut sql, &mut params, recipients);
    }
    tx.execute(&sql, rusqlite::params_from_iter(params))?;
    Ok(())
}

#[async_trait]
impl Batches for SqliteStore {
    async fn current_batch(&self, group: &str) -> Result<Option<Batch>, StoreError> {
        let group = group.to_string();
        self.read(move |conn| current(conn, &group)).await
    }

    async fn get_batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError> {
        self.read(move |conn| get(conn, &id.to_string())).await
    }

    async fn open_batch(
        &self,
        b: &Batch,
        replaces: Option<Uuid>,
        activity: Option<&BatchActivity>,
        t: &Transition,
    ) -> Result<Write, StoreError> {
        let (b, activity, t) = (b.clone(), activity.cloned(), t.clone());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            if !claim_group(&tx, &b, replaces)? || !apply_transition(&tx, &t)? {
                return Ok(Write::LostRace);
            }
            insert(&tx, &b)?;
            if let Some(a) = &activity {
                insert_activity(&tx, a)?;
            }
            tx.commit()?;
            Ok(Write::Applied)
        })
        .await
    }

    async fn join_batch(
        &self,
        activity: &BatchActivity,
        closes_at: Option<DateTime<Utc>>,
        t: &Transition,
    ) -> Result<Write, StoreError> {
        let (activity, t) = (activity.clone(), t.clone());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            if !count_in(&tx, &activity.batch_id.to_string(), closes_at)?
                || !apply_transition(&tx, &t)?
            {
                return Ok(Write::LostRace);
            }
            insert_activity(&tx, &activity)?;
            tx.commit()?;
            Ok(Write::Applied)
        })
        .await
    }

    async fn close_batch(&self, batch_id: Uuid, t: &Transition) -> Result<Write, StoreError> {
        let t = t.clone();
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            if !close(&tx, &batch_id.to_string())? || !apply_transition(&tx, &t)? {
                return Ok(Write::LostRace);
            }
            tx.commit()?;
            Ok(Write::Applied)
        })
        .await
    }

    async fn batch_activities(&self, batch_id: Uuid) -> Result<Vec<BatchActivity>, StoreError> {
        self.read(move |conn| activities(conn, &batch_id.to_string()))
            .await
    }

    async fn flush_batch(&self, batch_id: Uuid, at: DateTime<Utc>) -> Result<Write, StoreError> {
        self.write(move |conn| flush(conn, &batch_id.to_string(), at))
            .await
            .map(Write::from_applied)
    }

    async fn list_batches(
        &self,
        query: &BatchQuery,
        page: &PageRequest,
    ) -> Result<Page<Batch>, StoreError> {
        let (filter, page) = (filter::batches(query), page.clone());
        self.read(move |conn| filter::page(conn, "batches", COLUMNS, filter, &page, row))
            .await
    }
}
