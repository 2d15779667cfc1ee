-- Foundation schema: units, accounts, sessions, the source registry with sealed identities,
-- vault key checks, and the first form of the audit trail.
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

CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor_id  INTEGER,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    reason    TEXT,
    outcome   TEXT NOT NULL
);

-- The trail is append-only: the database itself refuses edits and deletions.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
