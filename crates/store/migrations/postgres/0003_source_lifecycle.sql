-- Source lifecycle: authorisations with their events (the inspection register), risk
-- assessments, contacts, tasks, welfare, payments and the double-entry ledger.

-- Juveniles, vulnerable sources and payments above the thresholds need a senior officer.
ALTER TABLE users ADD COLUMN seniority TEXT NOT NULL DEFAULT 'standard';

CREATE TABLE authorisations (
    id                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id                 BIGINT NOT NULL REFERENCES sources(id),
    kind                      TEXT NOT NULL,
    vulnerable                BIGINT NOT NULL,
    necessity                 TEXT NOT NULL,
    proportionality           TEXT NOT NULL,
    purpose                   TEXT NOT NULL,
    tasking                   TEXT NOT NULL,
    collateral_intrusion      TEXT NOT NULL,
    confidential_information  TEXT NOT NULL,
    applicant_id              BIGINT NOT NULL REFERENCES users(id),
    applied_at                BIGINT NOT NULL,
    -- applied | granted | refused | cancelled; "expired" is a granted one past expires_at.
    state                     TEXT NOT NULL,
    authoriser_id             BIGINT REFERENCES users(id),
    starts_at                 BIGINT,
    expires_at                BIGINT,
    review_every_millis       BIGINT,
    written_up_at             BIGINT,
    ended_at                  BIGINT
);
CREATE INDEX authorisations_by_source ON authorisations(source_id);

CREATE TABLE risk_assessments (
    id                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id                 BIGINT NOT NULL REFERENCES sources(id),
    version                   BIGINT NOT NULL,
    assessed_by               BIGINT NOT NULL REFERENCES users(id),
    assessed_at               BIGINT NOT NULL,
    risk_level                TEXT NOT NULL,
    summary                   TEXT NOT NULL,
    mitigations               TEXT NOT NULL,
    -- The source was told of the risks and understood them; an assessment without it is refused.
    explained_and_understood  BIGINT NOT NULL CHECK (explained_and_understood = 1),
    UNIQUE (source_id, version)
);

-- What happened to an authorisation, in order: the register inspectors read. Refused
-- attempts (self-authorisation, too junior an officer) are kept as events too.
CREATE TABLE authorisation_events (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    authorisation_id    BIGINT NOT NULL REFERENCES authorisations(id),
    at                  BIGINT NOT NULL,
    actor_id            BIGINT NOT NULL REFERENCES users(id),
    event               TEXT NOT NULL,
    note                TEXT NOT NULL,
    expires_at          BIGINT,
    risk_assessment_id  BIGINT REFERENCES risk_assessments(id)
);
CREATE INDEX authorisation_events_by_authorisation ON authorisation_events(authorisation_id);

CREATE TABLE contacts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id   BIGINT NOT NULL REFERENCES sources(id),
    logged_by   BIGINT NOT NULL REFERENCES users(id),
    at          BIGINT NOT NULL,
    method      TEXT NOT NULL,
    place       TEXT NOT NULL,
    summary     TEXT NOT NULL,
    -- Whether an authorisation was live at the time: repeated contacts without one are
    -- "status drift" and are flagged.
    authorised  BIGINT NOT NULL,
    logged_at   BIGINT NOT NULL
);
CREATE INDEX contacts_by_source ON contacts(source_id, at);

CREATE TABLE tasks (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id        BIGINT NOT NULL REFERENCES sources(id),
    given_by         BIGINT NOT NULL REFERENCES users(id),
    given_at         BIGINT NOT NULL,
    description      TEXT NOT NULL,
    acknowledged_at  BIGINT
);
CREATE INDEX tasks_by_source ON tasks(source_id);

CREATE TABLE welfare_records (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id    BIGINT NOT NULL REFERENCES sources(id),
    recorded_by  BIGINT NOT NULL REFERENCES users(id),
    at           BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    notes        TEXT NOT NULL
);
CREATE INDEX welfare_by_source ON welfare_records(source_id);

CREATE TABLE payments (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id          BIGINT NOT NULL REFERENCES sources(id),
    requested_by       BIGINT NOT NULL REFERENCES users(id),
    requested_at       BIGINT NOT NULL,
    amount_minor       BIGINT NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL,
    purpose            TEXT NOT NULL,
    -- The requester attested that the payment is not contingent on an outcome.
    not_contingent     BIGINT NOT NULL CHECK (not_contingent = 1),
    -- requested | approved | refused | paid | receipted
    state              TEXT NOT NULL,
    -- The thresholds the request crossed, comma-separated; any means a senior approver.
    thresholds_crossed TEXT NOT NULL,
    decided_by         BIGINT REFERENCES users(id),
    decided_at         BIGINT,
    decision_note      TEXT,
    paid_by            BIGINT REFERENCES users(id),
    witness_id         BIGINT REFERENCES users(id),
    paid_at            BIGINT,
    receipt_code_name  TEXT,
    receipt_at         BIGINT
);
CREATE INDEX payments_by_source ON payments(source_id);

-- The ledger: entry ids are positions (1, 2, 3, ...), so a gap or an edit is visible, and
-- the database refuses updates and deletions. A correction is a reversing entry.
CREATE TABLE ledger_entries (
    id          BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    memo        TEXT NOT NULL,
    reverses    BIGINT UNIQUE REFERENCES ledger_entries(id),
    payment_id  BIGINT REFERENCES payments(id),
    posted_by   BIGINT NOT NULL REFERENCES users(id)
);
CREATE TABLE ledger_lines (
    entry_id      BIGINT NOT NULL REFERENCES ledger_entries(id),
    line_no       BIGINT NOT NULL,
    account       TEXT NOT NULL,
    source_id     BIGINT REFERENCES sources(id),
    currency      TEXT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    PRIMARY KEY (entry_id, line_no)
);
CREATE INDEX ledger_lines_by_source ON ledger_lines(source_id);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only; post a reversing entry';
END;
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_lines_append_only BEFORE UPDATE OR DELETE ON ledger_lines
FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
