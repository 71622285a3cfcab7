-- v7: templates (see sqlite_0008_templates.sql).
CREATE TABLE templates (
    account    TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    body       JSONB  NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account, name)
);
