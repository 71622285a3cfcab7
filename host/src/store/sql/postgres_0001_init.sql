-- drake task store, Postgres schema v1 (the SQLite schema's twin; see
-- store/mod.rs for the state machine). Integers are BIGINT throughout so
-- rows decode exactly as SQLite's; JSON columns are JSONB.
CREATE TABLE tasks (
    id               BIGSERIAL PRIMARY KEY,    -- claim order (oldest first)
    key              TEXT    NOT NULL UNIQUE,  -- public capability key
    account          TEXT    NOT NULL,
    task_name        TEXT    NOT NULL,
    params           JSONB   NOT NULL,         -- object given to the component
    task_metas       JSONB,                    -- echoed in statuses
    options          JSONB,                    -- host options (callbacks)
    dedup_hash       TEXT,
    state            TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    progress         BIGINT  CHECK (progress BETWEEN 0 AND 100),
    result           JSONB,                    -- values (partial while running)
    files            JSONB   NOT NULL DEFAULT '{}',  -- name -> {path, content_type}
    failure          JSONB,                    -- TaskFailure
    attempt          BIGINT  NOT NULL DEFAULT 0,
    max_attempts     BIGINT  NOT NULL CHECK (max_attempts >= 1),
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    created_at       BIGINT  NOT NULL,         -- microseconds since the epoch, UTC
    started_at       BIGINT,
    finalized_at     BIGINT,
    expires_at       BIGINT  NOT NULL,
    usage            JSONB,                    -- store::Usage, set when a run ends
    CHECK ((state IN ('succeeded', 'failed')) = (finalized_at IS NOT NULL)),
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (state <> 'succeeded' OR result IS NOT NULL),
    CHECK ((state = 'failed') = (failure IS NOT NULL))
);

CREATE INDEX tasks_queued ON tasks (id) WHERE state = 'queued';
CREATE INDEX tasks_running_lease ON tasks (lease_expires_at) WHERE state = 'running';
CREATE INDEX tasks_expires ON tasks (expires_at);
CREATE INDEX tasks_dedup ON tasks (account, dedup_hash) WHERE dedup_hash IS NOT NULL AND state <> 'failed';
CREATE INDEX tasks_account_created ON tasks (account, created_at);

-- Every node LISTENs on drake_tasks: a row that is created or changes in a
-- way a status shows (not a heartbeat) announces its key at commit.
CREATE FUNCTION drake_tasks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('drake_tasks', NEW.key);
    RETURN NULL;
END
$$;
CREATE TRIGGER tasks_notify_insert AFTER INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION drake_tasks_notify();
CREATE TRIGGER tasks_notify_update AFTER UPDATE ON tasks
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
          OR OLD.progress IS DISTINCT FROM NEW.progress
          OR OLD.result IS DISTINCT FROM NEW.result
          OR OLD.files IS DISTINCT FROM NEW.files
          OR OLD.attempt IS DISTINCT FROM NEW.attempt)
    EXECUTE FUNCTION drake_tasks_notify();
