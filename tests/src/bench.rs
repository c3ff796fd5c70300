//! What the in-process benchmarks share: Herald on the file-backed store (every commit synced)
//! with the local timers and worker, behind the router the servers use; and percentiles.

use std::sync::Arc;

use herald_core::definition::WorkflowSet;
use herald_core::ports::{Store, Waker};
use herald_core::{Engine, SystemClock};
use herald_embedded::{run_worker, SqliteStore, TokioWaker};
use herald_http::App;

/// The API key the benchmarks' requests carry.
pub const KEY: &str = "sk_bench";

/// Herald in-process: its store (to check what happened) and its router.
pub struct Local {
    /// The file-backed store.
    pub store: Arc<dyn Store>,
    /// The router, accepting [`KEY`].
    pub router: axum::Router,
    _dir: tempfile::TempDir,
}

/// Starts Herald with `workflows` in a temporary folder (the worker runs on the current
/// runtime).
pub fn local(workflows: WorkflowSet) -> Local {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("store"));
    let clock = Arc::new(SystemClock);
    let (waker, rx) = TokioWaker::new(clock.clone());
    let waker: Arc<dyn Waker> = Arc::new(waker);
    let engine = Engine::new(store.clone(), waker, clock, Arc::new(workflows));
    tokio::spawn(run_worker(engine.clone(), rx));
    let router = herald_http::router(App::new(engine, [KEY]));
    Local {
        store,
        router,
        _dir: dir,
    }
}

/// The value at `p` (0–1) of `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}
