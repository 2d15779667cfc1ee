-- A dispatcher that cannot start a claimed delivery's request before the delivery's lease
-- would run out hands it back uncounted: it stays `sending` (1), its attempt is taken back
-- and its lease ends at once, so any dispatcher takes it up again. A first attempt handed
-- back has no attempt left on its count, so every row being sent is indexed, whatever its
-- count (`Writer::record_attempts`).
DROP INDEX deliveries_retry;
CREATE INDEX deliveries_retry ON deliveries(next_attempt_at) WHERE state = 1 OR (state = 0 AND attempts > 0);
