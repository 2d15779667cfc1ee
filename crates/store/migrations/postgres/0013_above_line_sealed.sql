-- Everything said about a source above the line is sealed in the vault, each record under a
-- data key of its own (`tearline_service::above_line`): the free text of contacts, contact
-- reports, welfare records, risk assessments and authorisation applications. The store
-- keeps ciphertext only: the key-encryption key's id, the wrapped data key and the sealed
-- text, as for identities.
--
-- SQL cannot seal (the key never reaches the database), so the plaintext of rows written
-- before this migration moves to `above_line_unsealed`; the server seals each one into its
-- record at its next start, deleting it here in the same transaction, before it serves.
CREATE TABLE above_line_unsealed (
    kind       TEXT NOT NULL,
    record_id  BIGINT NOT NULL,
    fields     TEXT NOT NULL,
    PRIMARY KEY (kind, record_id)
);

INSERT INTO above_line_unsealed (kind, record_id, fields)
SELECT 'contact', id, json_build_object('place', place, 'summary', summary)::text FROM contacts;
INSERT INTO above_line_unsealed (kind, record_id, fields)
SELECT 'welfare', id, json_build_object('notes', notes)::text FROM welfare_records;
INSERT INTO above_line_unsealed (kind, record_id, fields)
SELECT 'risk', id, json_build_object('summary', summary, 'mitigations', mitigations)::text FROM risk_assessments;
INSERT INTO above_line_unsealed (kind, record_id, fields)
SELECT 'application', id, json_build_object('necessity', necessity, 'proportionality', proportionality,
    'purpose', purpose, 'tasking', tasking, 'collateral_intrusion', collateral_intrusion,
    'confidential_information', confidential_information)::text FROM authorisations;
INSERT INTO above_line_unsealed (kind, record_id, fields)
SELECT 'contact-report', id, json_build_object('place', place, 'present', present, 'account', account,
    'tasks_given', tasks_given, 'welfare', welfare)::text FROM contact_reports;

ALTER TABLE contacts DROP COLUMN place;
ALTER TABLE contacts DROP COLUMN summary;
ALTER TABLE welfare_records DROP COLUMN notes;
ALTER TABLE risk_assessments DROP COLUMN summary;
ALTER TABLE risk_assessments DROP COLUMN mitigations;
ALTER TABLE authorisations DROP COLUMN necessity;
ALTER TABLE authorisations DROP COLUMN proportionality;
ALTER TABLE authorisations DROP COLUMN purpose;
ALTER TABLE authorisations DROP COLUMN tasking;
ALTER TABLE authorisations DROP COLUMN collateral_intrusion;
ALTER TABLE authorisations DROP COLUMN confidential_information;
ALTER TABLE contact_reports DROP COLUMN place;
ALTER TABLE contact_reports DROP COLUMN present;
ALTER TABLE contact_reports DROP COLUMN account;
ALTER TABLE contact_reports DROP COLUMN tasks_given;
ALTER TABLE contact_reports DROP COLUMN welfare;

-- NULL only for a row waiting in above_line_unsealed.
ALTER TABLE contacts ADD COLUMN sealed_key_id BIGINT;
ALTER TABLE contacts ADD COLUMN sealed_wrapped_key BYTEA;
ALTER TABLE contacts ADD COLUMN sealed_text BYTEA;
ALTER TABLE welfare_records ADD COLUMN sealed_key_id BIGINT;
ALTER TABLE welfare_records ADD COLUMN sealed_wrapped_key BYTEA;
ALTER TABLE welfare_records ADD COLUMN sealed_text BYTEA;
ALTER TABLE risk_assessments ADD COLUMN sealed_key_id BIGINT;
ALTER TABLE risk_assessments ADD COLUMN sealed_wrapped_key BYTEA;
ALTER TABLE risk_assessments ADD COLUMN sealed_text BYTEA;
ALTER TABLE authorisations ADD COLUMN sealed_key_id BIGINT;
ALTER TABLE authorisations ADD COLUMN sealed_wrapped_key BYTEA;
ALTER TABLE authorisations ADD COLUMN sealed_text BYTEA;
ALTER TABLE contact_reports ADD COLUMN sealed_key_id BIGINT;
ALTER TABLE contact_reports ADD COLUMN sealed_wrapped_key BYTEA;
ALTER TABLE contact_reports ADD COLUMN sealed_text BYTEA;
