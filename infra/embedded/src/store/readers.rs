//! Reads on connections of their own, never queued behind the writer: WAL lets each see the
//! last commit while the writer works.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use herald_core::error::StoreError;
use rusqlite::{Connection, OpenFlags};

use super::backend;

/// A few read-only connections, taken in turn.
#[derive(Clone)]
pub struct Readers {
    connections: Arc<Vec<Mutex<Connection>>>,
    next: Arc<AtomicUsize>,
}

impl Readers {
    /// `count` read-only connections to the database at `path`.
    pub fn open(path: &std::path::Path, count: usize) -> Result<Self, StoreError> {
        let mut connections = Vec::with_capacity(count);
        for _ in 0..count {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(backend)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(backend)?;
            connections.push(Mutex::new(conn));
        }
        Ok(Self {
            connections: Arc::new(connections),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs `f` on the next connection, off the async threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let connections = Arc::clone(&self.connections);
        let i = self.next.fetch_add(1, Ordering::Relaxed) % connections.len();
        tokio::task::spawn_blocking(move || {
            // A free connection if there is one, else the one whose turn it is.
            let mut guard = match connections.iter().find_map(|c| c.try_lock().ok()) {
                Some(guard) => guard,
                None => connections[i]
                    .lock()
                    .map_err(|_| StoreError::backend("a reader's lock is poisoned"))?,
            };
            f(&mut guard).map_err(backend)
        })
        .await
        .map_err(|e| StoreError::backend_source("store task failed", e))?
    }
}
