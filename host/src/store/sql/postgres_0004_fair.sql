-- v4: fair claims. Each account's oldest queued task and its count of
-- running tasks are index seeks, however long the queue (store/fair.rs).
CREATE INDEX tasks_queued_account ON tasks (account, id) WHERE state = 'queued';
CREATE INDEX tasks_running_account ON tasks (account) WHERE state = 'running';
