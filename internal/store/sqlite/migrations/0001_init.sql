-- Times are INTEGER microseconds since the Unix epoch, UTC.
-- Ids are canonical lower-case UUID strings.

CREATE TABLE rooms (
    id                          TEXT    PRIMARY KEY,
    unique_name                 TEXT    UNIQUE,
    max_participants            INTEGER NOT NULL,
    enable_recording            INTEGER NOT NULL DEFAULT 0,
    webhook_event_url           TEXT,
    webhook_event_failover_url  TEXT,
    webhook_timeout_secs        INTEGER,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
);
-- The list order, and the created_at filters, as a range over one index.
CREATE INDEX rooms_created ON rooms (created_at DESC, id DESC);
CREATE INDEX rooms_updated ON rooms (updated_at, created_at DESC, id DESC);

-- An O(1) total for unfiltered listings, kept by triggers.
CREATE TABLE room_count (
    one   INTEGER PRIMARY KEY CHECK (one = 1),
    n     INTEGER NOT NULL
);
INSERT INTO room_count (one, n) VALUES (1, 0);
CREATE TRIGGER rooms_count_ins AFTER INSERT ON rooms BEGIN
    UPDATE room_count SET n = n + 1 WHERE one = 1;
END;
CREATE TRIGGER rooms_count_del AFTER DELETE ON rooms BEGIN
    UPDATE room_count SET n = n - 1 WHERE one = 1;
END;

CREATE TABLE room_sessions (
    id          TEXT    PRIMARY KEY,
    room_id     TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    active      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    ended_at    INTEGER
);
-- At most one active session per room; also the active_session_id lookup.
CREATE UNIQUE INDEX room_sessions_one_active ON room_sessions (room_id) WHERE active = 1;
CREATE INDEX room_sessions_room ON room_sessions (room_id, created_at DESC, id DESC);
CREATE INDEX room_sessions_created ON room_sessions (created_at DESC, id DESC);
CREATE INDEX room_sessions_updated ON room_sessions (updated_at);
CREATE INDEX room_sessions_ended ON room_sessions (ended_at);

CREATE TABLE room_participants (
    id          TEXT    PRIMARY KEY,
    session_id  TEXT    NOT NULL REFERENCES room_sessions (id) ON DELETE CASCADE,
    context     TEXT    NOT NULL DEFAULT '',
    joined_at   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    left_at     INTEGER
);
CREATE INDEX room_participants_session ON room_participants (session_id, joined_at, id);
CREATE INDEX room_participants_present ON room_participants (session_id) WHERE left_at IS NULL;
CREATE INDEX room_participants_joined ON room_participants (joined_at DESC, id DESC);
CREATE INDEX room_participants_updated ON room_participants (updated_at);
CREATE INDEX room_participants_left ON room_participants (left_at);

CREATE TABLE api_keys (
    hash        BLOB    PRIMARY KEY,
    created_at  INTEGER NOT NULL
);
