//! Group commit: one thread owns the connection that writes. It takes every write waiting at
//! that moment, runs each in its own savepoint inside one transaction, and commits them with
//! one fsync (`synchronous = FULL`, WAL); each caller is answered only once the commit that
//! holds its write is durable. A write that fails is rolled back alone; the others in its group
//! commit. If the group's transaction itself is lost (SQLite rolls it back on a full disk, or
//! a write could not be undone), every write in it is answered with the error and the rest of
//! the group goes on in a new transaction: nothing is acknowledged that is not committed.
//! (A panicking write is undone the same way where panics unwind; the release profile aborts.)

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use herald_core::error::StoreError;
use rusqlite::Connection;

use super::backend;

/// At most this many writes share one commit: a bound on how long the first of them waits.
const MAX_GROUP: usize = 512;

/// What a write does once its group is committed (`None`) or has failed (`Some(why)`): answers
/// its caller.
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// A write: run on the writer's connection, or refused with why when no transaction could be
/// started for it. Returns how to answer its caller, and whether the group's transaction is
/// still sound after it.
type Job = Box<dyn FnOnce(Result<&mut Connection, &str>) -> (Answer, bool) + Send>;

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
            let (result, sound) = match conn {
                Ok(conn) => in_savepoint(conn, f),
                Err(why) => (
                    Err(StoreError::backend(format!(
                        "SQLite could not start a transaction: {why}"
                    ))),
                    true,
                ),
            };
            let answer: Answer = Box::new(move |failure: Option<&str>| {
                let out = match (result, failure) {
                    (Ok(value), None) => Ok(value),
                    (Ok(_), Some(why)) => Err(StoreError::backend(format!(
                        "SQLite could not commit: {why}"
                    ))),
                    (Err(e), _) => Err(e),
                };
                // A caller that went away needs no answer; its write stands.
                let _ = answer.send(out);
            });
            (answer, sound)
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
        // The answers of the writes in the open transaction, given once it commits.
        let mut pending: Vec<Answer> = Vec::with_capacity(group.len());
        let mut open = begin(&mut conn);
        for job in group {
            match &open {
                Err(why) => {
                    let (answer, _) = job(Err(why));
                    answer(Some(why));
                }
                Ok(()) => {
                    let (answer, sound) = job(Ok(&mut conn));
                    pending.push(answer);
                    if !sound || conn.is_autocommit() {
                        // The transaction is gone, or holds what a failed write left: none of
                        // it is kept, and the rest of the group starts afresh.
                        abandon(&mut conn);
                        let why = "the transaction was rolled back";
                        for answer in pending.drain(..) {
                            answer(Some(why));
                        }
                        open = begin(&mut conn);
                    }
                }
            }
        }
        if open.is_ok() {
            let failure = conn.execute_batch("COMMIT").err().map(|e| {
                abandon(&mut conn);
                e.to_string()
            });
            for answer in pending {
                answer(failure.as_deref());
            }
        }
    }
}

/// Starts a group's transaction, first ending one a failure left open (its writes were
/// answered with that failure).
fn begin(conn: &mut Connection) -> Result<(), String> {
    abandon(conn);
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())
}

/// Rolls back whatever transaction is open.
fn abandon(conn: &mut Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Runs `f` in a savepoint of its own: kept if it succeeds, undone if it fails or panics. The
/// flag says whether the transaction is still sound (false when the undo itself failed).
fn in_savepoint<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> (Result<T, StoreError>, bool) {
    if let Err(e) = conn.execute_batch("SAVEPOINT herald_write") {
        return (Err(backend(e)), true);
    }
    let undo = |conn: &mut Connection| {
        conn.execute_batch("ROLLBACK TO herald_write; RELEASE herald_write")
            .is_ok()
    };
    match std::panic::catch_unwind(AssertUnwindSafe(|| f(conn))) {
        Ok(Ok(value)) => match conn.execute_batch("RELEASE herald_write") {
            Ok(()) => (Ok(value), true),
            Err(e) => {
                let sound = undo(conn);
                (Err(backend(e)), sound)
            }
        },
        Ok(Err(e)) => {
            let sound = undo(conn);
            (Err(backend(e)), sound)
        }
        Err(_) => {
            let sound = undo(conn);
            (Err(StoreError::backend("a SQLite write panicked")), sound)
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

    #[tokio::test]
    async fn writes_of_a_lost_transaction_are_answered_as_failed() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .expect("schema");
        // Three writes queued before the thread starts make one group.
        let (jobs, queue) = mpsc::channel::<Job>();
        let w = Writer { jobs };
        let write = |w: &Writer, k: &'static str, kill: bool| {
            let w = w.clone();
            tokio::spawn(async move {
                w.write(move |c| {
                    c.execute("INSERT INTO t VALUES (?)", [k])?;
                    if kill {
                        // As SQLite does on a full disk: the whole transaction is gone.
                        c.execute_batch("ROLLBACK")?;
                    }
                    Ok(())
                })
                .await
            })
        };
        let a = write(&w, "a", false);
        tokio::task::yield_now().await;
        let b = write(&w, "b", true);
        tokio::task::yield_now().await;
        let c = write(&w, "c", false);
        tokio::task::yield_now().await;
        std::thread::spawn(move || run(conn, queue));
        assert!(
            a.await.expect("a").is_err(),
            "a was rolled back with its group"
        );
        assert!(b.await.expect("b").is_err());
        c.await.expect("c").expect("c commits in a new transaction");
        let kept: Vec<String> = w
            .write(|c| {
                let mut stmt = c.prepare("SELECT k FROM t ORDER BY k")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect()
            })
            .await
            .expect("rows");
        assert_eq!(kept, ["c"]);
    }
}
