-- Foundation schema: units, accounts, sessions, the source registry with sealed identities,
-- vault key checks, and the verifiable audit log.
CREATE TABLE units (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL,
    unit_id        BIGINT NOT NULL REFERENCES units(id),
    password_hash  TEXT NOT NULL,
    failed_logins  BIGINT NOT NULL DEFAULT 0,
    locked_until   BIGINT,
    created_at     BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash  BYTEA PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE vault_keys (
    key_id       BIGINT PRIMARY KEY,
    check_value  BYTEA NOT NULL,
    added_at     BIGINT NOT NULL
);

CREATE TABLE sources (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code_name            TEXT NOT NULL,
    reference            TEXT NOT NULL UNIQUE,
    unit_id              BIGINT NOT NULL REFERENCES units(id),
    status               TEXT NOT NULL,
    recruited_at         BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    vault_key_id         BIGINT NOT NULL REFERENCES vault_keys(key_id),
    wrapped_key          BYTEA NOT NULL,
    identity_ciphertext  BYTEA NOT NULL,
    UNIQUE (unit_id, code_name)
);

CREATE TABLE source_assignments (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id   BIGINT NOT NULL REFERENCES sources(id),
    case_role   TEXT NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    from_at     BIGINT NOT NULL,
    until_at    BIGINT
);
CREATE INDEX assignments_by_source ON source_assignments(source_id, case_role);
CREATE INDEX assignments_current ON source_assignments(user_id) WHERE until_at IS NULL;

-- The verifiable audit log (see docs/audit-log.md). Entries are the canonical bytes that
-- are hashed; hashes are every node of the RFC 6962 tree, keyed by Go tlog's stored-hash
-- index; a signed checkpoint is written with every committed batch. audit_tree holds the
-- size, and its one row is the lock that keeps the log one linear sequence.
CREATE TABLE audit_entries (
    idx   BIGINT PRIMARY KEY,
    data  BYTEA NOT NULL
);
CREATE TABLE audit_hashes (
    id    BIGINT PRIMARY KEY,
    hash  BYTEA NOT NULL
);
CREATE TABLE audit_checkpoints (
    size       BIGINT PRIMARY KEY,
    note       TEXT NOT NULL,
    signed_at  BIGINT NOT NULL
);
CREATE TABLE audit_tree (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    size  BIGINT NOT NULL
);
INSERT INTO audit_tree (id, size) VALUES (1, 0);

-- The log is append-only: the database itself refuses edits and deletions.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_hashes_append_only BEFORE UPDATE OR DELETE ON audit_hashes
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
