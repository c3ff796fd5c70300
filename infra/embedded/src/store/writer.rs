//! Group commit: one thread owns the connection that writes. It takes every write waiting at
//! that moment, runs each in its own savepoint inside one transaction, and commits them with
//! one fsync (`synchronous = FULL`, WAL); each caller is answered only once the commit that
//! holds its write is durable. A write that fails (or whose closure panics) is rolled back
//! alone; the others in its group commit.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use herald_core::error::StoreError;
use rusqlite::Connection;

use super::backend;

/// At most this many writes share one commit: a bound on how long the first of them waits.
const MAX_GROUP: usize = 512;

/// What a write does once its group is committed (or has failed to commit): answers its caller.
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// A write: runs on the writer's connection, and returns how to answer its caller.
type Job = Box<dyn FnOnce(&mut Connection) -> Answer + Send>;

/// The handle writes are sent through; the thread stops when every handle is dropped.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn start(conn: Connection) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("herald-sqlite-writer".into())
            .spawn(move || run(conn, queue))
            .map_err(|e| StoreError::backend_source("cannot start the SQLite writer", e))?;
        Ok(Self { jobs })
    }

    /// Runs `f` as one atomic write and answers once it is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, f);
            Box::new(move |commit_failure: Option<&str>| {
                let out = match (result, commit_failure) {
                    (Ok(value), None) => Ok(value),
                    (Ok(_), Some(why)) => Err(StoreError::backend(format!(
                        "SQLite could not commit: {why}"
                    ))),
                    (Err(e), _) => Err(e),
                };
                // A caller that went away needs no answer; its write stands.
                let _ = answer.send(out);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::backend("the SQLite writer has stopped"))?;
        answered
            .await
            .map_err(|_| StoreError::backend("the SQLite writer has stopped"))?
    }
}

/// The writer thread: a group per wake-up, until every handle is dropped.
fn run(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // Without the group transaction each write's savepoint commits on its own.
        let grouped = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
        let answers: Vec<Answer> = group.into_iter().map(|job| job(&mut conn)).collect();
        let failure = if grouped {
            conn.execute_batch("COMMIT").err().map(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                e.to_string()
            })
        } else {
            None
        };
        for answer in answers {
            answer(failure.as_deref());
        }
    }
}

/// Runs `f` in a savepoint of its own: kept if it succeeds, undone if it fails or panics.
fn in_savepoint<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    conn.execute_batch("SAVEPOINT herald_write")
        .map_err(backend)?;
    let undo = |conn: &mut Connection| {
        let _ = conn.execute_batch("ROLLBACK TO herald_write; RELEASE herald_write");
    };
    match std::panic::catch_unwind(AssertUnwindSafe(|| f(conn))) {
        Ok(Ok(value)) => match conn.execute_batch("RELEASE herald_write") {
            Ok(()) => Ok(value),
            Err(e) => {
                undo(conn);
                Err(backend(e))
            }
        },
        Ok(Err(e)) => {
            undo(conn);
            Err(backend(e))
        }
        Err(_) => {
            undo(conn);
            Err(StoreError::backend("a SQLite write panicked"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .expect("schema");
        Writer::start(conn).expect("writer")
    }

    async fn count(w: &Writer) -> i64 {
        w.write(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)))
            .await
            .expect("count")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failing_write_is_undone_alone_and_the_group_commits() {
        let w = writer();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                w.write(move |c| {
                    c.execute("INSERT INTO t VALUES (?)", [format!("k{i}")])?;
                    if i % 10 == 0 {
                        // Half a write, then a failure: none of it may stay.
                        c.execute("INSERT INTO t VALUES (?)", [format!("extra{i}")])?;
                        c.execute("INSERT INTO t VALUES (?)", [format!("k{i}")])?;
                    }
                    Ok(i)
                })
                .await
            }));
        }
        let mut failed = 0;
        for t in tasks {
            if t.await.expect("task").is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 20);
        assert_eq!(count(&w).await, 180);
    }

    #[tokio::test]
    async fn a_panicking_write_fails_and_the_writer_goes_on() {
        let w = writer();
        let panicked = w
            .write(|c| -> rusqlite::Result<()> {
                c.execute("INSERT INTO t VALUES ('p')", [])?;
                panic!("a bug in a write");
            })
            .await;
        assert!(panicked.is_err());
        w.write(|c| c.execute("INSERT INTO t VALUES ('after')", []))
            .await
            .expect("the writer still writes");
        assert_eq!(count(&w).await, 1);
    }
}
