-- Compositions are rendered by workers that claim them. A claim sets the
-- row processing with lease_until (microseconds since the epoch): the
-- worker renews it while it renders, and a row whose lease has passed
-- (its worker crashed or stopped) may be claimed again. attempts counts
-- the claims; a renewal names the attempt it holds, so a worker whose
-- job was taken over cannot extend the new lease. failure_reason says why
-- a failed composition could not be rendered.
ALTER TABLE room_compositions ADD COLUMN lease_until BIGINT;
ALTER TABLE room_compositions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE room_compositions ADD COLUMN failure_reason TEXT;
-- The queue: waiting and processing rows, oldest first.
CREATE INDEX room_compositions_queue ON room_compositions (created_at, id) WHERE status IN ('enqueued', 'processing');
