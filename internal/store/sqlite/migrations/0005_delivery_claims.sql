-- An attempt claims its delivery: the node that makes it, and a lease
-- (the delivery's next_attempt_at moves past the attempt, so no other
-- dispatcher takes it meanwhile). The outcome clears claimed_by; a node
-- that starts again releases what it had claimed before it stopped.
ALTER TABLE webhook_events ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
CREATE INDEX webhook_events_claimed ON webhook_events (claimed_by) WHERE claimed_by <> '';
