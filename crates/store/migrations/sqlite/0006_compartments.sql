-- Entities belong to a unit: a name, its key and its coordinates are what one unit's
-- intelligence says, and another unit's analysts neither learn of it nor move it. An
-- entity that reports of several units linked becomes one entity per unit; one that no
-- report links belonged to no unit and is dropped.
CREATE TABLE unit_entities (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id    INTEGER NOT NULL REFERENCES units(id),
    kind       TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    name       TEXT NOT NULL,
    latitude   REAL,
    longitude  REAL,
    UNIQUE (unit_id, kind, entity_key)
);
INSERT INTO unit_entities (unit_id, kind, entity_key, name, latitude, longitude)
SELECT DISTINCT r.unit_id, e.kind, e.entity_key, e.name, e.latitude, e.longitude
FROM entities e JOIN report_entities l ON l.entity_id = e.id JOIN intel_reports r ON r.id = l.report_id;

CREATE TABLE unit_report_entities (
    report_id  INTEGER NOT NULL REFERENCES intel_reports(id),
    entity_id  INTEGER NOT NULL REFERENCES unit_entities(id),
    -- NULL when the rules found it; the analyst who tagged it otherwise.
    tagged_by  INTEGER REFERENCES users(id),
    PRIMARY KEY (report_id, entity_id)
);
INSERT INTO unit_report_entities (report_id, entity_id, tagged_by)
SELECT l.report_id, u.id, l.tagged_by
FROM report_entities l JOIN entities e ON e.id = l.entity_id JOIN intel_reports r ON r.id = l.report_id
JOIN unit_entities u ON u.unit_id = r.unit_id AND u.kind = e.kind AND u.entity_key = e.entity_key;

DROP TABLE report_entities;
DROP TABLE entities;
ALTER TABLE unit_entities RENAME TO entities;
ALTER TABLE unit_report_entities RENAME TO report_entities;
CREATE INDEX report_entities_by_entity ON report_entities(entity_id);

-- A draft's revision counts its edits, so that a submission records the leak guard's
-- verdict only for the text the guard read (compare-and-swap on the revision).
ALTER TABLE intel_reports ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- Separation of duties two people deep: an account whose role reaches identities, made by
-- an administrator, takes effect only when a senior controller of its unit approves it.
ALTER TABLE users ADD COLUMN awaiting_approval INTEGER NOT NULL DEFAULT 0 CHECK (awaiting_approval IN (0, 1));
ALTER TABLE users ADD COLUMN approved_by INTEGER REFERENCES users(id);

-- Login attempts per client address in a sliding window, counted before any password is
-- hashed: an anonymous client can neither keep the CPU busy nor grow the audit log beyond
-- the window's budget. A successful login gives its attempt back.
CREATE TABLE login_throttle (
    address      TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    attempts     INTEGER NOT NULL
);
