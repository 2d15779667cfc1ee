-- Partners' public keys, against which the XML Signatures on their CAP alerts are verified.
-- A key belongs to one sender (the alert's <sender>); the PEM is kept as registered, and its
-- fingerprint (SHA-256 of the SubjectPublicKeyInfo) is what people compare.
CREATE TABLE partner_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender       TEXT NOT NULL CHECK (length(sender) BETWEEN 1 AND 256),
    label        TEXT NOT NULL CHECK (length(label) <= 200),
    public_key   TEXT NOT NULL,
    fingerprint  TEXT NOT NULL CHECK (length(fingerprint) = 64),
    added_by     BIGINT NOT NULL REFERENCES users(id),
    added_at     BIGINT NOT NULL,
    UNIQUE (sender, fingerprint)
);
