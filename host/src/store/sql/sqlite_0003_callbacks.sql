-- v3: durable callbacks. callback_due: when the next delivery attempt of a
-- final task is due (0 = as soon as it is final; NULL = none pending);
-- a claimed delivery moves it ahead by a lease, so a node that dies
-- mid-delivery leaves it to another.
ALTER TABLE tasks ADD COLUMN callback_due INTEGER;
ALTER TABLE tasks ADD COLUMN callback_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_callback_due ON tasks (callback_due) WHERE callback_due IS NOT NULL;
