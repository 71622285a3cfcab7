-- drake task store, SQLite schema v1. See store/mod.rs for the state machine.
CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,      -- claim order (oldest first)
    key              TEXT    NOT NULL UNIQUE,  -- public capability key
    account          TEXT    NOT NULL,
    task_name        TEXT    NOT NULL,
    params           TEXT    NOT NULL,         -- JSON object given to the component
    task_metas       TEXT,                     -- JSON, echoed in statuses
    options          TEXT,                     -- JSON host options (callbacks)
    dedup_hash       TEXT,
    state            TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    progress         INTEGER CHECK (progress BETWEEN 0 AND 100),
    result           TEXT,                     -- JSON object of values (partial while running)
    files            TEXT    NOT NULL DEFAULT '{}',  -- JSON name -> {path, content_type}
    failure          TEXT,                     -- JSON TaskFailure
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,         -- microseconds since the epoch, UTC
    started_at       INTEGER,
    finalized_at     INTEGER,
    expires_at       INTEGER NOT NULL,
    -- a row is final exactly when it has a finalisation time
    CHECK ((state IN ('succeeded', 'failed')) = (finalized_at IS NOT NULL)),
    -- only running rows hold a lease
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (state <> 'succeeded' OR result IS NOT NULL),
    CHECK ((state = 'failed') = (failure IS NOT NULL))
);

-- task_claim: WHERE state = 'queued' ORDER BY id
CREATE INDEX tasks_queued ON tasks (id) WHERE state = 'queued';
-- task_rescue_stuck: WHERE state = 'running' AND lease_expires_at < now
CREATE INDEX tasks_running_lease ON tasks (lease_expires_at) WHERE state = 'running';
-- task_delete_expired and every read's expiry filter
CREATE INDEX tasks_expires ON tasks (expires_at);
-- task_find_dedup: (account, dedup_hash) among rows that did not fail
CREATE INDEX tasks_dedup ON tasks (account, dedup_hash) WHERE dedup_hash IS NOT NULL AND state <> 'failed';
-- task_count_created_since: (account, created_at)
CREATE INDEX tasks_account_created ON tasks (account, created_at);
