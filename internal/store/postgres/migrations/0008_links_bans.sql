-- Meeting links: a lasting, revocable address that mints a fresh client
-- token each time it is opened. Only a hash of the link's secret is kept.
CREATE TABLE room_links (
    id          TEXT COLLATE "C" PRIMARY KEY,
    room_id     TEXT COLLATE "C" NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    secret_hash BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    revoked_at  BIGINT,
    -- The lifetime of the client tokens it mints, in seconds.
    token_ttl   INTEGER NOT NULL
);
CREATE INDEX room_links_room ON room_links (room_id, created_at);
-- Where a participant's token came from (its token family and meeting
-- link), so that a kick can keep both out of the room for a while.
CREATE TABLE participant_origins (
    participant_id TEXT COLLATE "C" PRIMARY KEY REFERENCES room_participants (id) ON DELETE CASCADE,
    family         TEXT NOT NULL,
    link_id        TEXT NOT NULL
);
-- Token families and links kept out of a room until a time.
CREATE TABLE room_bans (
    room_id TEXT COLLATE "C" NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    subject TEXT    NOT NULL,
    until   BIGINT  NOT NULL,
    PRIMARY KEY (room_id, subject)
);
