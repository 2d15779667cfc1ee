-- The operation kernel: audit entries that commit with their change, and constraints that
-- hold the lifecycle's rules under concurrency.

-- An audit entry written in the same transaction as the change it records. The process
-- that committed it appends it to the verifiable log at once, deleting this row in the
-- same batch; after a crash in between, any process's sweep does. An entry is here or in
-- audit_entries, never both, and never without its change.
CREATE TABLE audit_pending (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    data       BYTEA NOT NULL,
    queued_at  BIGINT NOT NULL
);
CREATE FUNCTION audit_pending_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending
FOR EACH ROW EXECUTE FUNCTION audit_pending_is_append_only();

-- At most one live authorisation per source: granted periods never overlap (ranges have
-- GiST operator classes of their own, so no extension is needed).
ALTER TABLE authorisations ADD CONSTRAINT authorisations_one_live_grant EXCLUDE USING gist (
    int8range(source_id, source_id, '[]') WITH &&,
    int8range(starts_at, expires_at) WITH &&
) WHERE (state = 'granted');
