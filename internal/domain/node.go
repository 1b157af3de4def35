package domain

import "time"

// Node is one roomsd server among those sharing a database. It says it is
// alive by renewing HeartbeatAt; the sessions it holds are its own for as
// long as the heartbeat is younger than the cluster's lease.
type Node struct {
	ID string
	// URL is the node's base URL as clients reach it (http(s)://host:port):
	// a join that reaches another node is sent there.
	URL string
	// MediaAddr is the address its media (WebRTC over UDP) is served on.
	MediaAddr   string
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// Alive reports whether the node's heartbeat is younger than lease at now.
func (n Node) Alive(now time.Time, lease time.Duration) bool {
	return n.HeartbeatAt.After(now.Add(-lease))
}

// Live is a participant connected to this node's media server right now.
type Live struct {
	ParticipantID string
	SessionID     string
	// Muted: the media server does not forward its audio.
	Muted bool
}
