-- Source lifecycle: authorisations with their events (the inspection register), risk
-- assessments, contacts, tasks, welfare, payments and the double-entry ledger.

-- Juveniles, vulnerable sources and payments above the thresholds need a senior officer.
ALTER TABLE users ADD COLUMN seniority TEXT NOT NULL DEFAULT 'standard';

CREATE TABLE authorisations (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id                 INTEGER NOT NULL REFERENCES sources(id),
    kind                      TEXT NOT NULL,
    vulnerable                INTEGER NOT NULL,
    necessity                 TEXT NOT NULL,
    proportionality           TEXT NOT NULL,
    purpose                   TEXT NOT NULL,
    tasking                   TEXT NOT NULL,
    collateral_intrusion      TEXT NOT NULL,
    confidential_information  TEXT NOT NULL,
    applicant_id              INTEGER NOT NULL REFERENCES users(id),
    applied_at                INTEGER NOT NULL,
    -- applied | granted | refused | cancelled; "expired" is a granted one past expires_at.
    state                     TEXT NOT NULL,
    authoriser_id             INTEGER REFERENCES users(id),
    starts_at                 INTEGER,
    expires_at                INTEGER,
    review_every_millis       INTEGER,
    written_up_at             INTEGER,
    ended_at                  INTEGER
);
CREATE INDEX authorisations_by_source ON authorisations(source_id);

CREATE TABLE risk_assessments (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id                 INTEGER NOT NULL REFERENCES sources(id),
    version                   INTEGER NOT NULL,
    assessed_by               INTEGER NOT NULL REFERENCES users(id),
    assessed_at               INTEGER NOT NULL,
    risk_level                TEXT NOT NULL,
    summary                   TEXT NOT NULL,
    mitigations               TEXT NOT NULL,
    -- The source was told of the risks and understood them; an assessment without it is refused.
    explained_and_understood  INTEGER NOT NULL CHECK (explained_and_understood = 1),
    UNIQUE (source_id, version)
);

-- What happened to an authorisation, in order: the register inspectors read. Refused
-- attempts (self-authorisation, too junior an officer) are kept as events too.
CREATE TABLE authorisation_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    authorisation_id    INTEGER NOT NULL REFERENCES authorisations(id),
    at                  INTEGER NOT NULL,
    actor_id            INTEGER NOT NULL REFERENCES users(id),
    event               TEXT NOT NULL,
    note                TEXT NOT NULL,
    expires_at          INTEGER,
    risk_assessment_id  INTEGER REFERENCES risk_assessments(id)
);
CREATE INDEX authorisation_events_by_authorisation ON authorisation_events(authorisation_id);

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id   INTEGER NOT NULL REFERENCES sources(id),
    logged_by   INTEGER NOT NULL REFERENCES users(id),
    at          INTEGER NOT NULL,
    method      TEXT NOT NULL,
    place       TEXT NOT NULL,
    summary     TEXT NOT NULL,
    -- Whether an authorisation was live at the time: repeated contacts without one are
    -- "status drift" and are flagged.
    authorised  INTEGER NOT NULL,
    logged_at   INTEGER NOT NULL
);
CREATE INDEX contacts_by_source ON contacts(source_id, at);

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id        INTEGER NOT NULL REFERENCES sources(id),
    given_by         INTEGER NOT NULL REFERENCES users(id),
    given_at         INTEGER NOT NULL,
    description      TEXT NOT NULL,
    acknowledged_at  INTEGER
);
CREATE INDEX tasks_by_source ON tasks(source_id);

CREATE TABLE welfare_records (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id    INTEGER NOT NULL REFERENCES sources(id),
    recorded_by  INTEGER NOT NULL REFERENCES users(id),
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    notes        TEXT NOT NULL
);
CREATE INDEX welfare_by_source ON welfare_records(source_id);

CREATE TABLE payments (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id          INTEGER NOT NULL REFERENCES sources(id),
    requested_by       INTEGER NOT NULL REFERENCES users(id),
    requested_at       INTEGER NOT NULL,
    amount_minor       INTEGER NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL,
    purpose            TEXT NOT NULL,
    -- The requester attested that the payment is not contingent on an outcome.
    not_contingent     INTEGER NOT NULL CHECK (not_contingent = 1),
    -- requested | approved | refused | paid | receipted
    state              TEXT NOT NULL,
    -- The thresholds the request crossed, comma-separated; any means a senior approver.
    thresholds_crossed TEXT NOT NULL,
    decided_by         INTEGER REFERENCES users(id),
    decided_at         INTEGER,
    decision_note      TEXT,
    paid_by            INTEGER REFERENCES users(id),
    witness_id         INTEGER REFERENCES users(id),
    paid_at            INTEGER,
    receipt_code_name  TEXT,
    receipt_at         INTEGER
);
CREATE INDEX payments_by_source ON payments(source_id);

-- The ledger: entry ids are positions (1, 2, 3, ...), so a gap or an edit is visible, and
-- the database refuses updates and deletions. A correction is a reversing entry.
CREATE TABLE ledger_entries (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    memo        TEXT NOT NULL,
    reverses    INTEGER UNIQUE REFERENCES ledger_entries(id),
    payment_id  INTEGER REFERENCES payments(id),
    posted_by   INTEGER NOT NULL REFERENCES users(id)
);
CREATE TABLE ledger_lines (
    entry_id      INTEGER NOT NULL REFERENCES ledger_entries(id),
    line_no       INTEGER NOT NULL,
    account       TEXT NOT NULL,
    source_id     INTEGER REFERENCES sources(id),
    currency      TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL,
    PRIMARY KEY (entry_id, line_no)
);
CREATE INDEX ledger_lines_by_source ON ledger_lines(source_id);

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only; post a reversing entry'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only; post a reversing entry'); END;
CREATE TRIGGER ledger_lines_no_update BEFORE UPDATE ON ledger_lines
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only; post a reversing entry'); END;
CREATE TRIGGER ledger_lines_no_delete BEFORE DELETE ON ledger_lines
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only; post a reversing entry'); END;
