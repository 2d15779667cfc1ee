-- The operation kernel: audit entries that commit with their change, and constraints that
-- hold the lifecycle's rules under concurrency.

-- An audit entry written in the same transaction as the change it records. The process
-- that committed it appends it to the verifiable log at once, deleting this row in the
-- same batch; after a crash in between, any process's sweep does. An entry is here or in
-- audit_entries, never both, and never without its change.
CREATE TABLE audit_pending (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    data       BLOB NOT NULL,
    queued_at  INTEGER NOT NULL
);
CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- At most one live authorisation per source: granted periods never overlap.
CREATE TRIGGER authorisations_one_live_grant BEFORE UPDATE ON authorisations
WHEN NEW.state = 'granted' AND EXISTS (
    SELECT 1 FROM authorisations other
    WHERE other.source_id = NEW.source_id AND other.id <> NEW.id AND other.state = 'granted'
      AND other.starts_at < NEW.expires_at AND NEW.starts_at < other.expires_at)
BEGIN SELECT RAISE(ABORT, 'overlapping live authorisation'); END;
