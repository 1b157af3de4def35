-- The servers (nodes) sharing the database: each renews its heartbeat
-- while it runs. A session belongs to its node (room_sessions.node_id) for
-- as long as the node's heartbeat is younger than the cluster's lease;
-- after that another node ends it.
CREATE TABLE nodes (
	id           TEXT COLLATE "C" PRIMARY KEY,
	url          TEXT NOT NULL,
	media_addr   TEXT NOT NULL,
	started_at   BIGINT NOT NULL,
	heartbeat_at BIGINT NOT NULL
);
