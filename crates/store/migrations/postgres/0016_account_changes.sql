-- Accounts change and leave. A disabled account cannot log in and has no session; enabling
-- it again is a new start (it waits for approval as a new account would).
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- A change of role, seniority or unit that widens what an account reaches among
-- identities waits here for a senior controller of the unit it names. One change waits
-- per account (a newer request, or any change made at once, withdraws it); deciding it
-- marks it decided in the transaction that applies it, so two approvals at once apply it
-- once and the second finds it decided.
CREATE TABLE account_changes (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users(id),
    role          TEXT NOT NULL,
    seniority     TEXT NOT NULL CHECK (seniority IN ('standard', 'senior')),
    unit_id       BIGINT NOT NULL REFERENCES units(id),
    requested_by  BIGINT REFERENCES users(id),
    requested_at  BIGINT NOT NULL,
    decided_at    BIGINT,
    decided_by    BIGINT REFERENCES users(id),
    decision      TEXT CHECK (decision IN ('approved', 'refused', 'withdrawn')),
    CHECK ((decided_at IS NULL) = (decision IS NULL))
);
CREATE UNIQUE INDEX account_changes_waiting ON account_changes(user_id) WHERE decided_at IS NULL;
