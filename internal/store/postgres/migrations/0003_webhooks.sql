-- Keys have a purpose: "token" signs client tokens, "webhook" signs events.
ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT 'token';

-- The webhook outbox: one row per event and destination, written in the
-- same transaction as the change that caused it. seq orders a room's
-- events; the destination is copied from the room (or composition) when
-- the event happens, so a later change or deletion cannot lose it.
CREATE TABLE webhook_events (
    seq             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    room_id         TEXT COLLATE "C" NOT NULL,
    event_type      TEXT    NOT NULL,
    occurred_at     BIGINT  NOT NULL,
    payload         TEXT    NOT NULL,
    url             TEXT    NOT NULL,
    failover_url    TEXT    NOT NULL DEFAULT '',
    timeout_secs    INTEGER,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    last_status     INTEGER NOT NULL DEFAULT 0,
    delivered_to    TEXT    NOT NULL DEFAULT '',
    delivered_at    BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX webhook_events_queue ON webhook_events (room_id, seq) WHERE status = 'pending';
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_events_created ON webhook_events (created_at DESC, seq DESC);
CREATE INDEX webhook_events_status ON webhook_events (status, created_at DESC);
