//! [`SqliteStore`]: every storage role on one SQLite file, one file per role (`users.rs`,
//! `directory.rs`, `runs.rs`, `fanouts.rs`, `batches.rs`, `throttles.rs`, `messages.rs`,
//! `recovery.rs`, `idempotency.rs`), in WAL mode with full sync, so a write
//! that returned survives a crash of the process or of the machine.
//!
//! Every state change is one closure run by the single writer (`writer.rs`) in a savepoint of its
//! own, so a cancel and a step of the same run can never interleave; concurrent writes share one
//! commit. Reads use their own connections (`readers.rs`).

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
mod readers;
mod recovery;
mod runs;
mod schema;
mod sweep;
mod throttles;
mod users;
mod writer;

use std::path::Path;

use herald_core::error::StoreError;
use herald_core::run::RunStatus;
use rusqlite::Connection;

/// Read-only connections beside the writer: enough for the 2-core machines Herald runs on
/// locally, where reads are short.
const READERS: usize = 4;

/// The embedded store.
#[derive(Clone)]
pub struct SqliteStore {
    writer: writer::Writer,
    /// `None` in memory, where there is one connection: reads go to the writer.
    readers: Option<readers::Readers>,
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
        let writer = Self::init(conn)?;
        // Opened after the schema exists, so a reader never sees a database without it.
        let readers = readers::Readers::open(&db, READERS)?;
        Ok(Self {
            writer,
            readers: Some(readers),
        })
    }

    /// An in-memory store, gone when dropped; for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        let writer = Self::init(Connection::open_in_memory().map_err(backend)?)?;
        Ok(Self {
            writer,
            readers: None,
        })
    }

    /// Creates or upgrades the schema on `conn`, which becomes the writer's.
    fn init(conn: Connection) -> Result<writer::Writer, StoreError> {
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
        writer::Writer::start(conn)
    }

    /// Runs `f` as one atomic write, answered once it is on disk.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// Runs `f`, which only reads, on a reader's connection.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => readers.read(f).await,
            None => self.writer.write(f).await,
        }
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
