-- v7: pipelines. A task that reads other tasks' outputs before they
-- finished waits in state 'waiting' (no claim takes it) until they
-- succeed (store/mod.rs). SQLite cannot alter a CHECK constraint, so the
-- table is rebuilt with the new state (nothing references it yet).
CREATE TABLE tasks_v7 (
    id               INTEGER PRIMARY KEY,
    key              TEXT    NOT NULL UNIQUE,
    account          TEXT    NOT NULL,
    task_name        TEXT    NOT NULL,
    params           TEXT    NOT NULL,
    task_metas       TEXT,
    options          TEXT,
    dedup_hash       TEXT,
    state            TEXT    NOT NULL
                     CHECK (state IN ('waiting', 'queued', 'running', 'succeeded', 'failed')),
    progress         INTEGER CHECK (progress BETWEEN 0 AND 100),
    result           TEXT,
    files            TEXT    NOT NULL DEFAULT '{}',
    failure          TEXT,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finalized_at     INTEGER,
    expires_at       INTEGER NOT NULL,
    usage            TEXT,
    callback_due     INTEGER,
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER,
    CHECK ((state IN ('succeeded', 'failed')) = (finalized_at IS NOT NULL)),
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (state <> 'succeeded' OR result IS NOT NULL),
    CHECK ((state = 'failed') = (failure IS NOT NULL))
);
INSERT INTO tasks_v7 (id, key, account, task_name, params, task_metas, options, dedup_hash,
    state, progress, result, files, failure, attempt, max_attempts, lease_owner,
    lease_expires_at, created_at, started_at, finalized_at, expires_at, usage, callback_due,
    callback_attempts, cancel_requested)
SELECT id, key, account, task_name, params, task_metas, options, dedup_hash,
    state, progress, result, files, failure, attempt, max_attempts, lease_owner,
    lease_expires_at, created_at, started_at, finalized_at, expires_at, usage, callback_due,
    callback_attempts, cancel_requested FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_v7 RENAME TO tasks;
CREATE INDEX tasks_queued ON tasks (id) WHERE state = 'queued';
CREATE INDEX tasks_running_lease ON tasks (lease_expires_at) WHERE state = 'running';
CREATE INDEX tasks_expires ON tasks (expires_at);
CREATE INDEX tasks_dedup ON tasks (account, dedup_hash) WHERE dedup_hash IS NOT NULL AND state <> 'failed';
CREATE INDEX tasks_account_created ON tasks (account, created_at);
CREATE INDEX tasks_callback_due ON tasks (callback_due) WHERE callback_due IS NOT NULL;
CREATE INDEX tasks_queued_account ON tasks (account, id) WHERE state = 'queued';
CREATE INDEX tasks_running_account ON tasks (account) WHERE state = 'running';
CREATE INDEX tasks_uploads ON tasks (account, expires_at) WHERE task_name = 'upload';
-- max_queued counts waiting tasks too; the rescuer's sweep walks them.
CREATE INDEX tasks_waiting ON tasks (account) WHERE state = 'waiting';
-- Which task reads which: a dependent's row goes with it; an upstream is
-- looked up by key (it may be reaped first, once its dependents finished).
CREATE TABLE task_inputs (
    task_key     TEXT NOT NULL REFERENCES tasks (key) ON DELETE CASCADE,
    upstream_key TEXT NOT NULL,
    PRIMARY KEY (task_key, upstream_key)
) WITHOUT ROWID;
-- settle (an upstream finished: its dependents) and the reaper's check.
CREATE INDEX task_inputs_upstream ON task_inputs (upstream_key);
