-- Partner feeds can be paused, and a failing feed backs off: how many polls in a row have
-- failed, and when it is next due (NULL: at the next round).
ALTER TABLE partner_feeds ADD COLUMN paused BIGINT NOT NULL DEFAULT 0 CHECK (paused IN (0, 1));
ALTER TABLE partner_feeds ADD COLUMN failures BIGINT NOT NULL DEFAULT 0 CHECK (failures >= 0);
ALTER TABLE partner_feeds ADD COLUMN next_poll_at BIGINT;
