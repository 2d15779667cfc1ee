-- Foundation schema: units, accounts, sessions, the source registry with sealed identities,
-- vault key checks, and the verifiable audit log.
CREATE TABLE units (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL,
    unit_id        INTEGER NOT NULL REFERENCES units(id),
    password_hash  TEXT NOT NULL,
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_until   INTEGER,
    created_at     INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE vault_keys (
    key_id       INTEGER PRIMARY KEY,
    check_value  BLOB NOT NULL,
    added_at     INTEGER NOT NULL
);

CREATE TABLE sources (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    code_name            TEXT NOT NULL,
    reference            TEXT NOT NULL UNIQUE,
    unit_id              INTEGER NOT NULL REFERENCES units(id),
    status               TEXT NOT NULL,
    recruited_at         INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    vault_key_id         INTEGER NOT NULL REFERENCES vault_keys(key_id),
    wrapped_key          BLOB NOT NULL,
    identity_ciphertext  BLOB NOT NULL,
    UNIQUE (unit_id, code_name)
);

CREATE TABLE source_assignments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id   INTEGER NOT NULL REFERENCES sources(id),
    case_role   TEXT NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    from_at     INTEGER NOT NULL,
    until_at    INTEGER
);
CREATE INDEX assignments_by_source ON source_assignments(source_id, case_role);
CREATE INDEX assignments_current ON source_assignments(user_id) WHERE until_at IS NULL;

-- The verifiable audit log (see docs/audit-log.md). Entries are the canonical bytes that
-- are hashed; hashes are every node of the RFC 6962 tree, keyed by Go tlog's stored-hash
-- index; a signed checkpoint is written with every committed batch. audit_tree holds the
-- size, and its one row is the lock that keeps the log one linear sequence.
CREATE TABLE audit_entries (
    idx   INTEGER PRIMARY KEY,
    data  BLOB NOT NULL
);
CREATE TABLE audit_hashes (
    id    INTEGER PRIMARY KEY,
    hash  BLOB NOT NULL
);
CREATE TABLE audit_checkpoints (
    size       INTEGER PRIMARY KEY,
    note       TEXT NOT NULL,
    signed_at  INTEGER NOT NULL
);
CREATE TABLE audit_tree (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    size  INTEGER NOT NULL
);
INSERT INTO audit_tree (id, size) VALUES (1, 0);

-- The log is append-only: the database itself refuses edits and deletions.
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_hashes_no_update BEFORE UPDATE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_hashes_no_delete BEFORE DELETE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
