-- v6: pipelines (see sqlite_0007_waiting.sql): the 'waiting' state and
-- which task reads which.
ALTER TABLE tasks DROP CONSTRAINT tasks_state_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_state_check
    CHECK (state IN ('waiting', 'queued', 'running', 'succeeded', 'failed'));
CREATE INDEX tasks_waiting ON tasks (account) WHERE state = 'waiting';
CREATE TABLE task_inputs (
    task_key     TEXT NOT NULL REFERENCES tasks (key) ON DELETE CASCADE,
    upstream_key TEXT NOT NULL,
    PRIMARY KEY (task_key, upstream_key)
);
CREATE INDEX task_inputs_upstream ON task_inputs (upstream_key);
