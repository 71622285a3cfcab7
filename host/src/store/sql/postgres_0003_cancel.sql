-- v3: cancellation (see sqlite_0004_cancel.sql). Setting cancel_requested
-- notifies, so the node running the task hears of it at once.
ALTER TABLE tasks ADD COLUMN cancel_requested BIGINT;
DROP TRIGGER tasks_notify_update ON tasks;
CREATE TRIGGER tasks_notify_update AFTER UPDATE ON tasks
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
          OR OLD.progress IS DISTINCT FROM NEW.progress
          OR OLD.result IS DISTINCT FROM NEW.result
          OR OLD.files IS DISTINCT FROM NEW.files
          OR OLD.attempt IS DISTINCT FROM NEW.attempt
          OR OLD.cancel_requested IS DISTINCT FROM NEW.cancel_requested)
    EXECUTE FUNCTION drake_tasks_notify();
