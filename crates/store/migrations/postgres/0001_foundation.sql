-- Foundation schema: units, accounts, sessions, the source registry with sealed identities,
-- vault key checks, and the first form of the audit trail.
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

CREATE TABLE audit_events (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor_id  BIGINT,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    reason    TEXT,
    outcome   TEXT NOT NULL
);

-- The trail is append-only: the database itself refuses edits and deletions.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
