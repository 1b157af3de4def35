package sqlite

import (
	"context"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
)

const nodeColumns = `id, url, media_addr, started_at, heartbeat_at`

func scanNode(sc scanner, _ ...any) (domain.Node, error) {
	var (
		n                  domain.Node
		started, heartbeat int64
	)
	err := sc.Scan(&n.ID, &n.URL, &n.MediaAddr, &started, &heartbeat)
	n.StartedAt, n.HeartbeatAt = fromMicros(started), fromMicros(heartbeat)
	return n, err
}

// GetNode implements store.Queries.
func (q queries) GetNode(ctx context.Context, id string) (domain.Node, error) {
	n, err := scanNode(q.r.QueryRowContext(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE id = ?`, id))
	return n, wrap("get node", err)
}

// NotifyRoom implements store.Queries: one SQLite file serves one process
// (a node learns of its own changes without being told), so there is no
// one to tell.
func (q queries) NotifyRoom(context.Context, string) error { return nil }

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, n domain.Node) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO nodes (`+nodeColumns+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET url = excluded.url, media_addr = excluded.media_addr,
		started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
		n.ID, n.URL, n.MediaAddr, micros(n.StartedAt), micros(n.HeartbeatAt))
	return wrap("heartbeat", err)
}

// Nodes implements store.Store.
func (s *Store) Nodes(ctx context.Context) ([]domain.Node, error) {
	return collect(ctx, s.reader, "nodes", scanNode, `SELECT `+nodeColumns+` FROM nodes ORDER BY id`)
}

// ForgetNode implements store.Store.
func (s *Store) ForgetNode(ctx context.Context, id string, heartbeatAt time.Time) (bool, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM nodes WHERE id = ? AND heartbeat_at = ?`, id, micros(heartbeatAt))
	if err != nil {
		return false, wrap("forget node", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("forget node", err)
}

// StaleSessions implements store.Store.
func (s *Store) StaleSessions(ctx context.Context, except string, aliveSince time.Time, limit int) ([]domain.Session, error) {
	return collect(ctx, s.reader, "stale sessions", scanSession, `SELECT `+sessionColumns+` FROM room_sessions
		WHERE active = 1 AND node_id <> '' AND node_id <> ? AND node_id NOT IN (SELECT id FROM nodes WHERE heartbeat_at >= ?)
		ORDER BY created_at, id LIMIT ?`, except, micros(aliveSince), limit)
}

// Listen implements store.Store: nothing arrives from other processes.
func (s *Store) Listen(ctx context.Context, ready func(), _ func(string)) error {
	ready()
	<-ctx.Done()
	return nil
}
