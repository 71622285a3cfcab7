-- v2: durable callbacks (see sqlite_0003_callbacks.sql). Not a visible
-- change: the NOTIFY trigger ignores these columns.
ALTER TABLE tasks ADD COLUMN callback_due BIGINT;
ALTER TABLE tasks ADD COLUMN callback_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_callback_due ON tasks (callback_due) WHERE callback_due IS NOT NULL;
