-- The chain from a source's report to a warning and back: the released reports a threat
-- rests on, the reviews a correction or withdrawal of one of them raises, the outcome of a
-- threat and how accurate each report proved, a controller's validation of a source's
-- grade, and contacts that record a change in the source's situation.

CREATE TABLE threat_reports (
    threat_id  INTEGER NOT NULL REFERENCES threats(id),
    report_id  INTEGER NOT NULL REFERENCES intel_reports(id),
    linked_by  INTEGER NOT NULL REFERENCES users(id),
    linked_at  INTEGER NOT NULL,
    -- Set with the threat's outcome: did the report prove accurate?
    accuracy   TEXT CHECK (accuracy IS NULL OR accuracy IN ('accurate', 'inaccurate', 'unknown')),
    PRIMARY KEY (threat_id, report_id)
);
CREATE INDEX threat_reports_by_report ON threat_reports(report_id);

-- A released report stays as released (it is immutable); a withdrawal is recorded beside it.
CREATE TABLE report_withdrawals (
    report_id     INTEGER PRIMARY KEY REFERENCES intel_reports(id),
    withdrawn_by  INTEGER NOT NULL REFERENCES users(id),
    withdrawn_at  INTEGER NOT NULL,
    reason        TEXT NOT NULL
);

-- A threat whose supporting report was corrected or withdrawn is under review, and so are
-- its live warnings, until an analyst clears it. The database raises the review in the
-- transaction that releases the correction or records the withdrawal, whichever path does.
CREATE TABLE threat_reviews (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    threat_id   INTEGER NOT NULL REFERENCES threats(id),
    report_id   INTEGER NOT NULL REFERENCES intel_reports(id),
    cause       TEXT NOT NULL CHECK (cause IN ('corrected', 'withdrawn')),
    raised_at   INTEGER NOT NULL,
    cleared_by  INTEGER REFERENCES users(id),
    cleared_at  INTEGER,
    note        TEXT
);
CREATE INDEX threat_reviews_by_threat ON threat_reviews(threat_id);

CREATE TRIGGER threat_reviews_on_correction AFTER UPDATE OF state ON intel_reports
WHEN NEW.state = 'released' AND OLD.state <> 'released' AND NEW.supersedes IS NOT NULL
BEGIN
    INSERT INTO threat_reviews (threat_id, report_id, cause, raised_at)
    SELECT threat_id, NEW.id, 'corrected', NEW.released_at FROM threat_reports
    WHERE report_id = NEW.supersedes;
END;

CREATE TRIGGER threat_reviews_on_withdrawal AFTER INSERT ON report_withdrawals
BEGIN
    INSERT INTO threat_reviews (threat_id, report_id, cause, raised_at)
    SELECT threat_id, NEW.report_id, 'withdrawn', NEW.withdrawn_at FROM threat_reports
    WHERE report_id = NEW.report_id;
END;

ALTER TABLE threats ADD COLUMN outcome TEXT
    CHECK (outcome IS NULL OR outcome IN ('materialised', 'prevented', 'did-not-occur', 'unknown'));
ALTER TABLE threats ADD COLUMN outcome_note TEXT;
ALTER TABLE threats ADD COLUMN outcome_by INTEGER REFERENCES users(id);
ALTER TABLE threats ADD COLUMN outcome_at INTEGER;

-- A controller's periodic judgement of how reliable a source is, against its track record.
CREATE TABLE source_validations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id     INTEGER NOT NULL REFERENCES sources(id),
    validated_by  INTEGER NOT NULL REFERENCES users(id),
    validated_at  INTEGER NOT NULL,
    reliability   TEXT NOT NULL CHECK (reliability IN ('A', 'B', 'C', 'D', 'E', 'F')),
    note          TEXT NOT NULL
);
CREATE INDEX source_validations_by_source ON source_validations(source_id, validated_at);

-- A contact or contact report that records a change in the source's situation (or that of
-- the family member their help turns on) prompts a welfare check and a risk review.
ALTER TABLE contacts ADD COLUMN situation_changed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contact_reports ADD COLUMN situation_changed INTEGER NOT NULL DEFAULT 0;
