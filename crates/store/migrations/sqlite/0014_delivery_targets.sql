-- Issuing a national warning writes its targets as compact runs instead of a million rows:
-- each row holds an ascending run of recipient ids (at most 10 000, `ids` as the store's id
-- list). The runs commit with the issue, so once it is acknowledged every targeted
-- recipient's delivery exists durably; the dispatcher that reaches a run turns it into
-- delivery rows and deletes it, in one transaction (`Writer::claim_due_deliveries`).
CREATE TABLE delivery_targets (
    version_id  INTEGER NOT NULL REFERENCES warning_versions(id),
    first_id    INTEGER NOT NULL,
    id_count    INTEGER NOT NULL,
    ids         TEXT NOT NULL,
    PRIMARY KEY (version_id, first_id)
);
