-- v8: templates (templates.rs). One row per account and name; the
-- template is its JSON (definition, fields, description). A task made
-- from one stores the rendered definition, so editing or deleting a
-- template never changes a task.
CREATE TABLE templates (
    account    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account, name)
) WITHOUT ROWID;
