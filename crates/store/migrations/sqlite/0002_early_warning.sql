-- Early warning: threat assessments, CAP warnings and their versions, recipients, the
-- delivery outbox, and alerts imported from partner agencies.

-- Whether a warning with CAP status Actual needs a second warning officer's approval.
ALTER TABLE units ADD COLUMN actual_warnings_need_approval INTEGER NOT NULL DEFAULT 1;

CREATE TABLE threats (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id     INTEGER NOT NULL REFERENCES units(id),
    title       TEXT NOT NULL,
    status      TEXT NOT NULL,
    -- The whole assessment (area, window, likelihood, impact) as JSON.
    assessment  TEXT NOT NULL,
    created_by  INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- A warning is the line of CAP alerts (Alert, Updates, a Cancel) about one danger.
CREATE TABLE warnings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id     INTEGER NOT NULL REFERENCES units(id),
    threat_id   INTEGER REFERENCES threats(id),
    created_by  INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL
);

CREATE TABLE warning_versions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    warning_id   INTEGER NOT NULL REFERENCES warnings(id),
    version      INTEGER NOT NULL,
    identifier   TEXT NOT NULL UNIQUE,
    msg_type     TEXT NOT NULL,
    cap_status   TEXT NOT NULL,
    -- draft | awaiting-approval | issued | superseded | discarded
    state        TEXT NOT NULL,
    headline     TEXT NOT NULL,
    alert        TEXT NOT NULL,
    -- The exact bytes served and delivered, fixed when issued.
    cap_xml      TEXT,
    expires_at   INTEGER,
    drafted_by   INTEGER NOT NULL REFERENCES users(id),
    drafted_at   INTEGER NOT NULL,
    approved_by  INTEGER REFERENCES users(id),
    issued_at    INTEGER,
    target_count INTEGER,
    -- The highest recipient id whose first delivery attempt a dispatcher has taken; NULL
    -- once every first attempt is taken (or for versions that were never issued).
    dispatch_cursor INTEGER,
    UNIQUE (warning_id, version)
);
CREATE INDEX warning_versions_issued ON warning_versions(state, issued_at);

CREATE TABLE recipients (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL,
    lat         REAL NOT NULL,
    lon         REAL NOT NULL,
    active      INTEGER NOT NULL,
    -- Bumped on every change, so that each server's spatial index catches up with others'.
    revision    INTEGER NOT NULL,
    -- The importer's own id for the row, so that re-importing a file updates, not duplicates.
    external_id TEXT UNIQUE,
    created_at  INTEGER NOT NULL
);
CREATE INDEX recipients_by_revision ON recipients(revision, id);

CREATE TABLE warn_counters (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
INSERT INTO warn_counters (name, value) VALUES ('recipient_revision', 0);

CREATE TABLE warn_secrets (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);

-- The outbox: one row per recipient per issued alert. While queued for a retry or being
-- sent, next_attempt_at is when a dispatcher may (again) take it: for a row being sent, the
-- end of its lease, after which a crashed dispatcher's work is taken up by another.
CREATE TABLE deliveries (
    version_id       INTEGER NOT NULL,
    recipient_id     INTEGER NOT NULL,
    state            INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    sent_at          INTEGER,
    last_error       TEXT,
    ack              TEXT,
    ack_at           INTEGER,
    PRIMARY KEY (version_id, recipient_id)
) WITHOUT ROWID;
-- Only retries and leased rows are indexed; first attempts are found through the primary
-- key behind each version's dispatch cursor, so queuing writes nothing but the key.
CREATE INDEX deliveries_retry ON deliveries(next_attempt_at) WHERE state IN (0, 1) AND attempts > 0;

CREATE TABLE partner_alerts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sender       TEXT NOT NULL,
    identifier   TEXT NOT NULL,
    sent         TEXT NOT NULL,
    sent_at      INTEGER NOT NULL,
    msg_type     TEXT NOT NULL,
    cap_status   TEXT NOT NULL,
    headline     TEXT NOT NULL,
    expires_at   INTEGER,
    alert        TEXT NOT NULL,
    cap_xml      TEXT NOT NULL,
    origin       TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    UNIQUE (sender, identifier, sent)
);

CREATE TABLE partner_feeds (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    url           TEXT NOT NULL UNIQUE,
    added_by      INTEGER NOT NULL REFERENCES users(id),
    added_at      INTEGER NOT NULL,
    last_polled_at INTEGER,
    last_error    TEXT
);
