//! The SQLite schema. Every commit is synced (`synchronous = FULL` in WAL mode), and the writer
//! commits writes in groups, so the fsync is shared (see `writer.rs`). Timestamps are
//! microseconds since the Unix epoch; a user's `recipient_collection` is the empty string so that
//! (id, collection) compares with `=`.

pub const SCHEMA: &str = r#"
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS users (
    id          TEXT PRIMARY KEY,
    properties  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS objects (
    collection  TEXT NOT NULL,
    id          TEXT NOT NULL,
    properties  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (collection, id)
);

CREATE TABLE IF NOT EXISTS subscriptions (
    object_collection    TEXT NOT NULL,
    object_id            TEXT NOT NULL,
    recipient_key        TEXT NOT NULL,
    recipient_id         TEXT NOT NULL,
    recipient_collection TEXT NOT NULL,
    properties           TEXT NOT NULL,
    inserted_at          INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (object_collection, object_id, recipient_key)
);
CREATE INDEX IF NOT EXISTS subscriptions_by_recipient
    ON subscriptions (recipient_key, object_collection, object_id);

CREATE TABLE IF NOT EXISTS preference_sets (
    owner_key   TEXT NOT NULL,
    set_id      TEXT NOT NULL,
    body        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (owner_key, set_id)
);

CREATE TABLE IF NOT EXISTS workflow_runs (
    id               TEXT PRIMARY KEY,
    workflow_key     TEXT NOT NULL,
    cancellation_key TEXT,
    actor            TEXT,
    tenant           TEXT,
    data             TEXT NOT NULL,
    recipient_count  INTEGER NOT NULL,
    inserted_at      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS recipient_runs (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT NOT NULL UNIQUE,
    workflow_run_id      TEXT NOT NULL REFERENCES workflow_runs(id),
    workflow_key         TEXT NOT NULL,
    recipient_id         TEXT NOT NULL,
    recipient_collection TEXT NOT NULL,
    actor                TEXT,
    tenant               TEXT,
    cancellation_key     TEXT,
    data                 TEXT NOT NULL,
    settings             TEXT NOT NULL,
    status               TEXT NOT NULL,
    cursor               INTEGER NOT NULL,
    wake_at              INTEGER,
    error_count          INTEGER NOT NULL,
    inserted_at          INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    subscription         TEXT
);
CREATE INDEX IF NOT EXISTS recipient_runs_by_key
    ON recipient_runs (workflow_key, cancellation_key, status);
CREATE INDEX IF NOT EXISTS recipient_runs_by_workflow_run
    ON recipient_runs (workflow_run_id, status);
CREATE INDEX IF NOT EXISTS recipient_runs_by_status ON recipient_runs (status);

CREATE TABLE IF NOT EXISTS fanouts (
    workflow_run_id  TEXT PRIMARY KEY,
    workflow_key     TEXT NOT NULL,
    cancellation_key TEXT,
    body             TEXT NOT NULL,
    version          INTEGER NOT NULL,
    finished         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fanouts_by_key ON fanouts (workflow_key, cancellation_key, finished);

CREATE TABLE IF NOT EXISTS run_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    event       TEXT NOT NULL,
    status      TEXT NOT NULL,
    step_ref    TEXT,
    step_type   TEXT,
    data        TEXT NOT NULL,
    inserted_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS run_events_by_run ON run_events (run_id, seq);

CREATE TABLE IF NOT EXISTS messages (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT NOT NULL UNIQUE,
    channel_key          TEXT NOT NULL,
    channel_type         TEXT NOT NULL,
    recipient_id         TEXT NOT NULL,
    recipient_collection TEXT NOT NULL,
    actors               TEXT NOT NULL,
    workflow_key         TEXT NOT NULL,
    categories           TEXT NOT NULL,
    workflow_run_id      TEXT NOT NULL,
    recipient_run_id     TEXT NOT NULL,
    step_ref             TEXT NOT NULL,
    tenant               TEXT,
    data                 TEXT NOT NULL,
    status               TEXT NOT NULL,
    content              TEXT NOT NULL,
    seen_at              INTEGER,
    read_at              INTEGER,
    interacted_at        INTEGER,
    link_clicked_at      INTEGER,
    archived_at          INTEGER,
    inserted_at          INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (recipient_run_id, step_ref)
);
CREATE TABLE IF NOT EXISTS batches (
    seq                    INTEGER PRIMARY KEY AUTOINCREMENT,
    id                     TEXT NOT NULL UNIQUE,
    grp                    TEXT NOT NULL,
    workflow_key           TEXT NOT NULL,
    step_ref               TEXT NOT NULL,
    recipient_id           TEXT NOT NULL,
    recipient_collection   TEXT NOT NULL,
    batch_key              TEXT NOT NULL,
    opener_run_id          TEXT NOT NULL,
    opener_workflow_run_id TEXT NOT NULL,
    status                 TEXT NOT NULL,
    count                  INTEGER NOT NULL,
    max_items              INTEGER,
    opened_at              INTEGER NOT NULL,
    closes_at              INTEGER NOT NULL,
    -- Set by a flush; sliding joins move closes_at but never past this.
    flushed_at             INTEGER
);
CREATE INDEX IF NOT EXISTS batches_by_status ON batches (status, seq);

-- The batch each group collects into now.
CREATE TABLE IF NOT EXISTS batch_groups (
    grp       TEXT PRIMARY KEY,
    batch_id  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS batch_activities (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id             TEXT NOT NULL,
    run_id               TEXT NOT NULL,
    workflow_run_id      TEXT NOT NULL,
    workflow_key         TEXT NOT NULL,
    cancellation_key     TEXT,
    recipient_id         TEXT NOT NULL,
    recipient_collection TEXT NOT NULL,
    actor                TEXT,
    data                 TEXT NOT NULL,
    inserted_at          INTEGER NOT NULL,
    cancelled            INTEGER NOT NULL DEFAULT 0,
    UNIQUE (batch_id, run_id)
);
CREATE INDEX IF NOT EXISTS batch_activities_by_key
    ON batch_activities (workflow_key, cancellation_key);

CREATE TABLE IF NOT EXISTS throttles (
    key          TEXT PRIMARY KEY,
    window_ends  INTEGER NOT NULL,
    runs         TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS messages_by_recipient
    ON messages (recipient_id, recipient_collection, channel_key, seq);

CREATE TABLE IF NOT EXISTS idempotency_keys (
    key              TEXT PRIMARY KEY,
    fingerprint      TEXT NOT NULL,
    workflow_run_id  TEXT NOT NULL,
    request_id       TEXT NOT NULL,
    completed        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_at);

CREATE TABLE IF NOT EXISTS definitions (
    workflow_key  TEXT NOT NULL,
    version       TEXT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (workflow_key, version)
);

-- Large run data, once per content (see herald_core::data): written once, kept for good.
CREATE TABLE IF NOT EXISTS payloads (
    digest  TEXT PRIMARY KEY,
    body    BLOB NOT NULL
) WITHOUT ROWID;
"#;

/// Columns added after a table was first released: `(table, column, declaration)`. Databases
/// created by an older Herald get them at start-up.
pub const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("recipient_runs", "subscription", "subscription TEXT"),
    (
        "recipient_runs",
        "attempt",
        "attempt INTEGER NOT NULL DEFAULT 0",
    ),
    ("recipient_runs", "batch", "batch TEXT"),
    (
        "messages",
        "attempts",
        "attempts INTEGER NOT NULL DEFAULT 0",
    ),
    ("messages", "next_attempt_at", "next_attempt_at INTEGER"),
    ("messages", "batch", "batch TEXT"),
    ("messages", "events", "events TEXT NOT NULL DEFAULT '[]'"),
    (
        "messages",
        "delivery_logs",
        "delivery_logs TEXT NOT NULL DEFAULT '[]'",
    ),
    (
        "recipient_runs",
        "batch_open",
        "batch_open INTEGER NOT NULL DEFAULT 0",
    ),
    (
        "recipient_runs",
        "workflow_version",
        "workflow_version TEXT",
    ),
    ("messages", "workflow_version", "workflow_version TEXT"),
];

/// Indexes over added columns, created once those exist.
pub const LATE_INDEXES: &str = r#"
-- Active runs by when they are due, for the sweeper.
CREATE INDEX IF NOT EXISTS recipient_runs_due
    ON recipient_runs (COALESCE(wake_at, updated_at))
    WHERE status IN ('queued', 'processing', 'paused');
-- Messages whose delivery is not finished, for a restart to re-arm.
CREATE INDEX IF NOT EXISTS messages_pending_delivery
    ON messages (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
"#;
