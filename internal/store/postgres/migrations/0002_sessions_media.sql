-- Participant media state and the reasons sessions end and people leave.
ALTER TABLE room_participants ADD COLUMN audio_muted BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE room_participants ADD COLUMN left_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE room_sessions ADD COLUMN ended_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX room_participants_context ON room_participants (context, joined_at DESC, id DESC);
CREATE INDEX room_sessions_active ON room_sessions (active, created_at DESC, id DESC);

-- Recordings and compositions outlive the room and session they came from
-- (deleting a room must not destroy media someone may still download), so
-- their ids are plain references, not foreign keys.
CREATE TABLE room_recordings (
    id              TEXT COLLATE "C" PRIMARY KEY,
    room_id         TEXT COLLATE "C" NOT NULL,
    session_id      TEXT COLLATE "C" NOT NULL,
    participant_id  TEXT COLLATE "C" NOT NULL,
    status          TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    codec           TEXT    NOT NULL,
    size_mb         DOUBLE PRECISION,
    duration_secs   INTEGER,
    download_url    TEXT,
    started_at      BIGINT  NOT NULL,
    ended_at        BIGINT,
    completed_at    BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX room_recordings_started ON room_recordings (started_at DESC, id DESC);
CREATE INDEX room_recordings_ended ON room_recordings (ended_at);
CREATE INDEX room_recordings_room ON room_recordings (room_id, started_at DESC);
CREATE INDEX room_recordings_session ON room_recordings (session_id, started_at DESC);
CREATE INDEX room_recordings_participant ON room_recordings (participant_id, started_at DESC);

CREATE TABLE room_compositions (
    id                          TEXT COLLATE "C" PRIMARY KEY,
    room_id                     TEXT COLLATE "C" NOT NULL,
    session_id                  TEXT COLLATE "C" NOT NULL,
    status                      TEXT    NOT NULL,
    format                      TEXT    NOT NULL,
    resolution                  TEXT    NOT NULL,
    video_layout                TEXT    NOT NULL, -- JSON object of regions, kept as written
    webhook_event_url           TEXT,
    webhook_event_failover_url  TEXT,
    webhook_timeout_secs        INTEGER,
    size_mb                     DOUBLE PRECISION,
    duration_secs               INTEGER,
    download_url                TEXT,
    started_at                  BIGINT,
    ended_at                    BIGINT,
    completed_at                BIGINT,
    created_at                  BIGINT  NOT NULL,
    updated_at                  BIGINT  NOT NULL
);
CREATE INDEX room_compositions_created ON room_compositions (created_at DESC, id DESC);
CREATE INDEX room_compositions_session ON room_compositions (session_id, created_at DESC);
CREATE INDEX room_compositions_status ON room_compositions (status, created_at DESC);

-- The Ed25519 key that signs client tokens, created on first start.
CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY,
    seed        BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL
);
