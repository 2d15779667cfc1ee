-- Accounts change and leave. A disabled account cannot log in and has no session; enabling
-- it again is a new start (it waits for approval as a new account would).
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- A change of role, seniority or unit that widens what an account reaches among
-- identities waits here for a senior controller of the unit it names. One change waits
-- per account (a newer request replaces it); approving applies and deletes it in one
-- transaction, so two approvals at once apply it once.
CREATE TABLE account_changes (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       BIGINT NOT NULL UNIQUE REFERENCES users(id),
    role          TEXT NOT NULL,
    seniority     TEXT NOT NULL CHECK (seniority IN ('standard', 'senior')),
    unit_id       BIGINT NOT NULL REFERENCES units(id),
    requested_by  BIGINT REFERENCES users(id),
    requested_at  BIGINT NOT NULL
);
