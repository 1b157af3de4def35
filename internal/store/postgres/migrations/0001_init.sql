-- Times are BIGINT microseconds since the Unix epoch, UTC, as in the
-- SQLite store: API output is the same byte for byte, and a filter on a
-- whole day never depends on the server's TimeZone setting.
-- Ids are canonical lower-case UUID strings. Text that is compared or
-- sorted by the store uses the "C" collation, which orders by byte as
-- SQLite does, whatever the database's locale.

CREATE TABLE rooms (
    id                          TEXT COLLATE "C" PRIMARY KEY,
    unique_name                 TEXT COLLATE "C" UNIQUE,
    max_participants            INTEGER NOT NULL,
    enable_recording            BOOLEAN NOT NULL DEFAULT false,
    webhook_event_url           TEXT,
    webhook_event_failover_url  TEXT,
    webhook_timeout_secs        INTEGER,
    created_at                  BIGINT  NOT NULL,
    updated_at                  BIGINT  NOT NULL
);
-- The list order, and the created_at filters, as a range over one index.
CREATE INDEX rooms_created ON rooms (created_at DESC, id DESC);
CREATE INDEX rooms_updated ON rooms (updated_at, created_at DESC, id DESC);

-- An O(1) total for unfiltered listings, kept by triggers. The count is
-- split over 16 rows, each connection adding to the one its backend pid
-- picks, so that rooms created at once on several connections do not all
-- wait for one row lock; the total is their sum.
CREATE TABLE room_count (
    shard INTEGER PRIMARY KEY CHECK (shard >= 0 AND shard < 16),
    n     BIGINT  NOT NULL
);
INSERT INTO room_count (shard, n) SELECT g, 0 FROM generate_series(0, 15) AS g;

-- One update per statement, however many rows it inserts or deletes.
-- The function keeps the search_path it was created under, so that it
-- finds room_count in the schema it belongs to.
CREATE FUNCTION rooms_count_inserted() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE room_count SET n = n + (SELECT count(*) FROM inserted_rooms) WHERE shard = pg_backend_pid() % 16;
    RETURN NULL;
END
$$;
CREATE FUNCTION rooms_count_deleted() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE room_count SET n = n - (SELECT count(*) FROM deleted_rooms) WHERE shard = pg_backend_pid() % 16;
    RETURN NULL;
END
$$;
CREATE TRIGGER rooms_count_ins AFTER INSERT ON rooms
    REFERENCING NEW TABLE AS inserted_rooms FOR EACH STATEMENT EXECUTE FUNCTION rooms_count_inserted();
CREATE TRIGGER rooms_count_del AFTER DELETE ON rooms
    REFERENCING OLD TABLE AS deleted_rooms FOR EACH STATEMENT EXECUTE FUNCTION rooms_count_deleted();

CREATE TABLE room_sessions (
    id          TEXT COLLATE "C" PRIMARY KEY,
    room_id     TEXT COLLATE "C" NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    active      BOOLEAN NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    ended_at    BIGINT
);
-- At most one active session per room; also the active_session_id lookup.
CREATE UNIQUE INDEX room_sessions_one_active ON room_sessions (room_id) WHERE active;
CREATE INDEX room_sessions_room ON room_sessions (room_id, created_at DESC, id DESC);
CREATE INDEX room_sessions_created ON room_sessions (created_at DESC, id DESC);
CREATE INDEX room_sessions_updated ON room_sessions (updated_at);
CREATE INDEX room_sessions_ended ON room_sessions (ended_at);

CREATE TABLE room_participants (
    id          TEXT COLLATE "C" PRIMARY KEY,
    session_id  TEXT COLLATE "C" NOT NULL REFERENCES room_sessions (id) ON DELETE CASCADE,
    context     TEXT    NOT NULL DEFAULT '',
    joined_at   BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    left_at     BIGINT
);
CREATE INDEX room_participants_session ON room_participants (session_id, joined_at, id);
CREATE INDEX room_participants_present ON room_participants (session_id) WHERE left_at IS NULL;
CREATE INDEX room_participants_joined ON room_participants (joined_at DESC, id DESC);
CREATE INDEX room_participants_updated ON room_participants (updated_at);
CREATE INDEX room_participants_left ON room_participants (left_at);

CREATE TABLE api_keys (
    hash        BYTEA   PRIMARY KEY,
    created_at  BIGINT  NOT NULL
);
