//! [`SqliteStore`]: every storage role on one SQLite file, one file per role (`users.rs`,
//! `directory.rs`, `runs.rs`, `fanouts.rs`, `batches.rs`, `throttles.rs`, `messages.rs`,
//! `recovery.rs`, `idempotency.rs`), in WAL mode with full sync, so a write
//! that returned survives a crash of the process.
//!
//! Every state change is one SQLite transaction or one conditional `UPDATE`; SQLite serialises
//! writers, so a cancel and a step of the same run can never interleave.

mod batches;
mod codec;
mod definitions;
mod deliveries;
mod directory;
mod fanouts;
mod filter;
mod idempotency;
mod messages;
mod payloads;
mod recovery;
mod runs;
mod schema;
mod sweep;
mod throttles;
mod users;

use std::path::Path;
use std::sync::{Arc, Mutex};

use herald_core::error::StoreError;
use herald_core::run::RunStatus;
use rusqlite::Connection;

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
    /// Opens (creating if needed) `herald.db` in `dir`, both private to their owner.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        crate::private::create_dir(dir).map_err(|e| {
            StoreError::backend_source(format!("cannot create {}", dir.display()), e)
        })?;
        let db = dir.join("herald.db");
        for file in [
            db.clone(),
            dir.join("herald.db-wal"),
            dir.join("herald.db-shm"),
        ] {
            // The database first: SQLite gives its companions the database's mode.
            if file == db || file.exists() {
                crate::private::restrict(&file).map_err(|e| {
                    StoreError::backend_source(format!("cannot restrict {}", file.display()), e)
                })?;
            }
        }
        let conn = Connection::open(&db).map_err(backend)?;
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
        conn.execute_batch(schema::LATE_INDEXES).map_err(backend)?;
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
                .map_err(|_| StoreError::backend("store lock poisoned"))?;
            f(&mut guard).map_err(backend)
        })
        .await
        .map_err(|e| StoreError::backend_source("store task failed", e))?
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, msg) => {
            StoreError::Corrupt(msg.to_string())
        }
        rusqlite::Error::InvalidColumnType(..) | rusqlite::Error::IntegralValueOutOfRange(..) => {
            StoreError::Corrupt(e.to_string())
        }
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::TooBig => {
            StoreError::Rejected("the value is larger than SQLite stores".into())
        }
        other => StoreError::backend_source("SQLite failed", other),
    }
}

/// The SQL list of the active statuses (`RunStatus::ACTIVE`), for `status IN …`.
fn active() -> &'static str {
    static ACTIVE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let names: Vec<String> = RunStatus::ACTIVE
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        format!("({})", names.join(", "))
    });
    &ACTIVE
}
