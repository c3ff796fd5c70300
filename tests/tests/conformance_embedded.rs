//! The store conformance suite against the embedded SQLite store, on a file as in production.

use std::sync::{Arc, OnceLock};

use herald_core::ports::Store;
use herald_embedded::SqliteStore;

// One store for the whole binary, as one server process has; cases use unique keys.
fn store() -> Arc<dyn Store> {
    static STORE: OnceLock<(tempfile::TempDir, Arc<dyn Store>)> = OnceLock::new();
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("open store"));
        (dir, store)
    });
    store.clone()
}

herald_tests::store_conformance!(store());
