-- v4: cancellation. cancel_requested: when the account asked to cancel a
-- running task (NULL: never); the node running it ends the run and records
-- the task failed. A queued task is failed at once instead.
ALTER TABLE tasks ADD COLUMN cancel_requested INTEGER;
