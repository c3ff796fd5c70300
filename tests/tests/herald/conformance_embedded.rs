//! The store conformance suite against the embedded SQLite store, on a file as in production.

use std::sync::{Arc, OnceLock};

use herald_embedded::SqliteStore;

// One store for the whole binary, as one server process has; cases use unique keys.
fn store() -> Arc<SqliteStore> {
    static STORE: OnceLock<(tempfile::TempDir, Arc<SqliteStore>)> = OnceLock::new();
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(SqliteStore::open(dir.path()).expect("open store"));
        (dir, store)
    });
    store.clone()
}

herald_tests::store_conformance!(store());
herald_tests::recovery_conformance!(store());
