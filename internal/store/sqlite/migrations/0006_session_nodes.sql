-- The server (node) whose media server holds a session: at start a node
-- ends only its own sessions (and those of before nodes were named),
-- never those another node on the same database is serving.
ALTER TABLE room_sessions ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
CREATE INDEX room_sessions_node ON room_sessions (node_id) WHERE active = 1;
