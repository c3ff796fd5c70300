//! [`SqliteStore`]: the store port on one SQLite file, in WAL mode with full sync, so a write
//! that returned survives a crash of the process.
//!
//! Every state change is one SQLite transaction or one conditional `UPDATE`; SQLite serialises
//! writers, so a cancel and a step of the same run can never interleave.

mod batch;
mod codec;
mod directory;
mod fanout;
mod filter;
mod schema;
mod throttle;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::batch::{Batch, BatchActivity};
use herald_core::error::StoreError;
use herald_core::fanout::FanOut;
use herald_core::message::{Engagement, Message};
use herald_core::ports::{
    BatchQuery, CancelFilter, MessageQuery, Page, PageRequest, PendingRun, RunQuery, Store,
};
use herald_core::run::{CancelledRun, RecipientRun, RunEvent, Transition, WorkflowRun};
use herald_core::user::{merge_properties, User};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{Map, Value};
use uuid::Uuid;

use codec::*;

const ACTIVE: &str = "('queued', 'processing', 'paused')";

/// The embedded store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) `herald.db` in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", dir.display())))?;
        let conn = Connection::open(dir.join("herald.db")).map_err(backend)?;
        Self::init(conn)
    }

    /// An in-memory store, gone when dropped; for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        conn.execute_batch(schema::SCHEMA).map_err(backend)?;
        for (table, column, declaration) in schema::ADDED_COLUMNS {
            let present: bool = conn
                .query_row(
                    &format!(
                        "SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?"
                    ),
                    [column],
                    |row| row.get(0),
                )
                .map_err(backend)?;
            if !present {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {declaration}"))
                    .map_err(backend)?;
            }
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` like [`Self::with`], with every commit synced to disk before returning.
    async fn durably<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.with(move |conn| {
            conn.pragma_update(None, "synchronous", "FULL")?;
            let result = f(conn);
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            result
        })
        .await
    }

    /// Runs `f` on the connection off the async threads.
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Backend("store lock poisoned".into()))?;
            f(&mut guard).map_err(backend)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, msg) => {
            StoreError::Corrupt(msg.to_string())
        }
        other => StoreError::Backend(other.to_string()),
    }
}

fn insert_events(tx: &Transaction<'_>, run_id: Uuid, events: &[RunEvent]) -> rusqlite::Result<()> {
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

fn insert_message(tx: &Transaction<'_>, m: &Message) -> rusqlite::Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO messages ({}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?, ?)
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
        ],
    )?;
    Ok(())
}

/// Inserts recipient runs; one that already exists (same id) is left as it is.
fn insert_runs(tx: &Transaction<'_>, runs: &[RecipientRun]) -> rusqlite::Result<usize> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO recipient_runs ({RUN_COLUMNS}, batch_open)
         VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
            r.batch.as_ref().is_some_and(|b| b.open),
        ])?;
    }
    Ok(inserted)
}

/// Applies a run transition inside `tx`; whether the run was still where it expected.
fn apply_transition(tx: &Transaction<'_>, t: &Transition) -> rusqlite::Result<bool> {
    let errors = t
        .events
        .iter()
        .filter(|e| e.status == herald_core::run::EventStatus::Error)
        .count() as i64;
    let batch_open = t.batch.as_ref().map(|b| b.open);
    let changed = tx.execute(
        &format!(
            "UPDATE recipient_runs SET cursor = ?, status = ?, wake_at = ?,
                 error_count = error_count + ?, updated_at = ?, attempt = ?,
                 data = COALESCE(?, data), batch = COALESCE(?, batch),
                 batch_open = COALESCE(?, batch_open)
             WHERE id = ? AND cursor = ? AND batch_open = ? AND status IN {ACTIVE}"
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

fn get_message(conn: &Connection, id: &str) -> rusqlite::Result<Option<Message>> {
    conn.query_row(
        &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"),
        [id],
        message_row,
    )
    .optional()
    .map(|o| o.map(|(_, m)| m))
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_user(
        &self,
        id: &str,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let (id, properties) = (id.to_string(), properties.clone());
        self.durably(move |conn| {
            let tx = conn.transaction()?;
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
        self.with(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"),
                [&id],
                user_row,
            )
            .optional()
        })
        .await
    }

    async fn insert_run(
        &self,
        run: &WorkflowRun,
        recipients: &[RecipientRun],
        fanout: Option<&FanOut>,
    ) -> Result<(), StoreError> {
        let (run, recipients, fanout) = (run.clone(), recipients.to_vec(), fanout.cloned());
        self.durably(move |conn| {
            let tx = conn.transaction()?;
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
                fanout::insert(&tx, f)?;
            }
            tx.commit()
        })
        .await
    }

    async fn get_fanout(&self, workflow_run_id: Uuid) -> Result<Option<FanOut>, StoreError> {
        self.with(move |conn| fanout::get(conn, &workflow_run_id.to_string()))
            .await
    }

    async fn advance_fanout(
        &self,
        next: &FanOut,
        runs: &[RecipientRun],
    ) -> Result<bool, StoreError> {
        let (next, runs) = (next.clone(), runs.to_vec());
        self.with(move |conn| {
            let tx = conn.transaction()?;
            if !fanout::advance(&tx, &next)? {
                return Ok(false);
            }
            insert_runs(&tx, &runs)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn get_recipient_run(&self, id: Uuid) -> Result<Option<RecipientRun>, StoreError> {
        self.with(move |conn| {
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
        self.with(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT event, status, step_ref, step_type, data, inserted_at FROM run_events WHERE run_id = ? ORDER BY seq",
            )?;
            let events = stmt.query_map([id.to_string()], event_row)?.collect();
            events
        })
        .await
    }

    async fn active_recipient_runs(
        &self,
        workflow_run_id: Uuid,
    ) -> Result<Vec<RecipientRun>, StoreError> {
        self.with(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM recipient_runs WHERE workflow_run_id = ? AND status IN {ACTIVE} ORDER BY seq"
            ))?;
            let runs = stmt
                .query_map([workflow_run_id.to_string()], run_row)?
                .map(|r| r.map(|(_, run)| run))
                .collect();
            runs
        })
        .await
    }

    async fn list_recipient_runs(
        &self,
        query: &RunQuery,
        page: &PageRequest,
    ) -> Result<Page<RecipientRun>, StoreError> {
        let (filter, page) = (filter::runs(query), page.clone());
        self.with(move |conn| {
            filter::page(conn, "recipient_runs", RUN_COLUMNS, filter, &page, run_row)
        })
        .await
    }

    async fn transition(&self, t: &Transition) -> Result<bool, StoreError> {
        let t = t.clone();
        self.with(move |conn| {
            let tx = conn.transaction()?;
            if !apply_transition(&tx, &t)? {
                return Ok(false);
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn current_batch(&self, group: &str) -> Result<Option<Batch>, StoreError> {
        let group = group.to_string();
        self.with(move |conn| batch::current(conn, &group)).await
    }

    async fn get_batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError> {
        self.with(move |conn| batch::get(conn, &id.to_string()))
            .await
    }

    async fn open_batch(
        &self,
        b: &Batch,
        replaces: Option<Uuid>,
        activity: Option<&BatchActivity>,
        t: &Transition,
    ) -> Result<bool, StoreError> {
        let (b, activity, t) = (b.clone(), activity.cloned(), t.clone());
        self.with(move |conn| {
            let tx = conn.transaction()?;
            if !batch::claim_group(&tx, &b, replaces)? || !apply_transition(&tx, &t)? {
                return Ok(false);
            }
            batch::insert(&tx, &b)?;
            if let Some(a) = &activity {
                batch::insert_activity(&tx, a)?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn join_batch(
        &self,
        activity: &BatchActivity,
        closes_at: Option<DateTime<Utc>>,
        t: &Transition,
    ) -> Result<bool, StoreError> {
        let (activity, t) = (activity.clone(), t.clone());
        self.with(move |conn| {
            let tx = conn.transaction()?;
            if !batch::count_in(&tx, &activity.batch_id.to_string(), closes_at)?
                || !apply_transition(&tx, &t)?
            {
                return Ok(false);
            }
            batch::insert_activity(&tx, &activity)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn close_batch(&self, batch_id: Uuid, t: &Transition) -> Result<bool, StoreError> {
        let t = t.clone();
        self.with(move |conn| {
            let tx = conn.transaction()?;
            if !batch::close(&tx, &batch_id.to_string())? || !apply_transition(&tx, &t)? {
                return Ok(false);
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn batch_activities(&self, batch_id: Uuid) -> Result<Vec<BatchActivity>, StoreError> {
        self.with(move |conn| batch::activities(conn, &batch_id.to_string()))
            .await
    }

    async fn flush_batch(&self, batch_id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with(move |conn| batch::flush(conn, &batch_id.to_string(), at))
            .await
    }

    async fn list_batches(
        &self,
        query: &BatchQuery,
        page: &PageRequest,
    ) -> Result<Page<Batch>, StoreError> {
        let (filter, page) = (filter::batches(query), page.clone());
        self.with(move |conn| {
            filter::page(conn, "batches", batch::COLUMNS, filter, &page, batch::row)
        })
        .await
    }

    async fn throttle(
        &self,
        key: &str,
        run_id: Uuid,
        limit: u32,
        window_ends: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let key = key.to_string();
        self.with(move |conn| {
            let tx = conn.transaction()?;
            let admitted = throttle::throttle(&tx, &key, run_id, limit, window_ends, now)?;
            tx.commit()?;
            Ok(admitted)
        })
        .await
    }

    async fn cancel(
        &self,
        filter: &CancelFilter,
        at: DateTime<Utc>,
    ) -> Result<Vec<CancelledRun>, StoreError> {
        let filter = filter.clone();
        self.durably(move |conn| {
            let tx = conn.transaction()?;
            let mut params: Vec<rusqlite::types::Value> = vec![
                micros(at).into(),
                filter.workflow_key.clone().into(),
                filter.cancellation_key.clone().into(),
            ];
            let mut sql = format!(
                "UPDATE recipient_runs SET status = 'cancelled', updated_at = ?
                 WHERE workflow_key = ? AND cancellation_key = ? AND status IN {ACTIVE}
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
            fanout::cancel(&tx, &filter)?;
            batch::cancel_activities(&tx, &filter)?;
            tx.commit()?;
            Ok(cancelled)
        })
        .await
    }

    async fn pending_runs(&self) -> Result<Vec<PendingRun>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT workflow_run_id, MIN(status != 'paused'), MIN(wake_at) FROM recipient_runs
                 WHERE status IN {ACTIVE} GROUP BY workflow_run_id"
            ))?;
            let rows = stmt.query_map([], |row| {
                let runnable: bool = row.get(1)?;
                let wake: Option<i64> = row.get(2)?;
                Ok(PendingRun {
                    workflow_run_id: uuid(&row.get::<_, String>(0)?)?,
                    wake_at: if runnable {
                        None
                    } else {
                        wake.map(from_micros).transpose()?
                    },
                })
            })?;
            let mut pending: Vec<PendingRun> = rows.collect::<rusqlite::Result<_>>()?;
            // An unfinished fan-out must run now, whatever its recipient runs wait for.
            for id in fanout::unfinished(conn)? {
                let id = uuid(&id)?;
                match pending.iter_mut().find(|p| p.workflow_run_id == id) {
                    Some(p) => p.wake_at = None,
                    None => pending.push(PendingRun {
                        workflow_run_id: id,
                        wake_at: None,
                    }),
                }
            }
            Ok(pending)
        })
        .await
    }

    async fn get_message(&self, id: Uuid) -> Result<Option<Message>, StoreError> {
        self.with(move |conn| get_message(conn, &id.to_string()))
            .await
    }

    async fn list_messages(
        &self,
        query: &MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        let (filter, page) = (filter::messages(query), page.clone());
        self.with(move |conn| {
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
        self.with(move |conn| {
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
        self.durably(move |conn| {
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
