-- Intelligence: contact reports (above the line), intelligence reports (below it) with
-- their versions, leak-guard results and dissemination records, and the entities that link
-- released reports.

CREATE TABLE contact_reports (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id    BIGINT NOT NULL REFERENCES sources(id),
    handler_id   BIGINT NOT NULL REFERENCES users(id),
    met_at       BIGINT NOT NULL,
    place        TEXT NOT NULL,
    present      TEXT NOT NULL,
    method       TEXT NOT NULL,
    account      TEXT NOT NULL,
    tasks_given  TEXT NOT NULL,
    welfare      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX contact_reports_by_source ON contact_reports(source_id);

CREATE TABLE intel_reports (
    id                       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id                  BIGINT NOT NULL REFERENCES units(id),
    -- Tearline's own reports come from a contact report; partners' from a STIX bundle.
    contact_report_id        BIGINT REFERENCES contact_reports(id),
    partner_stix_id          TEXT UNIQUE,
    -- The only handle on the source below the line; never a code name.
    source_reference         TEXT,
    version                  BIGINT NOT NULL,
    supersedes               BIGINT UNIQUE REFERENCES intel_reports(id),
    title                    TEXT NOT NULL,
    body                     TEXT NOT NULL,
    reliability              TEXT NOT NULL,
    credibility              BIGINT NOT NULL,
    source_evaluation        BIGINT NOT NULL,
    intelligence_assessment  TEXT NOT NULL,
    handling_code            TEXT NOT NULL,
    handling_conditions      TEXT NOT NULL,
    tlp                      TEXT NOT NULL,
    place_name               TEXT NOT NULL,
    latitude                 DOUBLE PRECISION,
    longitude                DOUBLE PRECISION,
    -- draft | submitted | released
    state                    TEXT NOT NULL,
    drafted_by               BIGINT REFERENCES users(id),
    drafted_at               BIGINT NOT NULL,
    -- The leak guard's verdict on the text as submitted: the fields that named the source
    -- (JSON list of {field, detail}); empty when clear.
    leak_findings            TEXT NOT NULL DEFAULT '[]',
    phrasing_warnings        TEXT NOT NULL DEFAULT '[]',
    released_by              BIGINT REFERENCES users(id),
    released_at              BIGINT
);
CREATE INDEX intel_reports_released ON intel_reports(unit_id, state, released_at);

-- A released report is immutable: a correction is a new version that supersedes it.
CREATE FUNCTION intel_reports_released_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a released report is immutable; issue a correction as a new version';
END;
$$;
CREATE TRIGGER intel_reports_released_immutable BEFORE UPDATE OR DELETE ON intel_reports
FOR EACH ROW WHEN (OLD.state = 'released') EXECUTE FUNCTION intel_reports_released_immutable();

-- Where a released report was passed, and when (Source Records Regulations).
CREATE TABLE disseminations (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id    BIGINT NOT NULL REFERENCES intel_reports(id),
    recipient    TEXT NOT NULL,
    passed_at    BIGINT NOT NULL,
    recorded_by  BIGINT NOT NULL REFERENCES users(id)
);
CREATE INDEX disseminations_by_report ON disseminations(report_id);

CREATE TABLE entities (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    name       TEXT NOT NULL,
    latitude   DOUBLE PRECISION,
    longitude  DOUBLE PRECISION,
    UNIQUE (kind, entity_key)
);

CREATE TABLE report_entities (
    report_id  BIGINT NOT NULL REFERENCES intel_reports(id),
    entity_id  BIGINT NOT NULL REFERENCES entities(id),
    -- NULL when the rules found it; the analyst who tagged it otherwise.
    tagged_by  BIGINT REFERENCES users(id),
    PRIMARY KEY (report_id, entity_id)
);
CREATE INDEX report_entities_by_entity ON report_entities(entity_id);
