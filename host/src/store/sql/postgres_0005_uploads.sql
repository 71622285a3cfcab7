-- v5: uploads. An account's uploads still kept are summed at each upload
-- (max_stored_upload_bytes) with a seek, however many tasks it has.
CREATE INDEX tasks_uploads ON tasks (account, expires_at) WHERE task_name = 'upload';
