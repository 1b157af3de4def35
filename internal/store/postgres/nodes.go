package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/roomsd/roomsd/internal/domain"
)

// roomsChannel is the LISTEN/NOTIFY channel of room changes in a schema
// (notifications are database-wide, and two clusters may share a database
// in two schemas); the payload is the room's id.
func roomsChannel(schema string) string { return "roomsd_rooms:" + schema }

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
	n, err := scanNode(q.db.QueryRow(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE id = $1`, id))
	return n, wrap("get node", err)
}

// NotifyRoom implements store.Queries with pg_notify, which PostgreSQL
// delivers when the transaction commits (and drops if it rolls back).
func (q queries) NotifyRoom(ctx context.Context, roomID string) error {
	_, err := q.db.Exec(ctx, `SELECT pg_notify('roomsd_rooms:' || current_schema(), $1)`, roomID)
	return wrap("notify room", err)
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, n domain.Node) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO nodes (`+nodeColumns+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET url = excluded.url, media_addr = excluded.media_addr,
		started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
		n.ID, n.URL, n.MediaAddr, micros(n.StartedAt), micros(n.HeartbeatAt))
	return wrap("heartbeat", err)
}

// Nodes implements store.Store.
func (s *Store) Nodes(ctx context.Context) ([]domain.Node, error) {
	return collect(ctx, s.pool, "nodes", scanNode, `SELECT `+nodeColumns+` FROM nodes ORDER BY id`)
}

// ForgetNode implements store.Store.
func (s *Store) ForgetNode(ctx context.Context, id string, heartbeatAt time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM nodes WHERE id = $1 AND heartbeat_at = $2`, id, micros(heartbeatAt))
	if err != nil {
		return false, wrap("forget node", err)
	}
	return tag.RowsAffected() == 1, nil
}

// StaleSessions implements store.Store.
func (s *Store) StaleSessions(ctx context.Context, except string, aliveSince time.Time, limit int) ([]domain.Session, error) {
	return collect(ctx, s.pool, "stale sessions", scanSession, `SELECT `+sessionColumns+` FROM room_sessions
		WHERE active AND node_id <> '' AND node_id <> $1 AND node_id NOT IN (SELECT id FROM nodes WHERE heartbeat_at >= $2)
		ORDER BY created_at, id LIMIT $3`, except, micros(aliveSince), limit)
}

// Listen implements store.Store on a connection of its own (outside the
// pool: it waits for notifications for as long as the node runs).
func (s *Store) Listen(ctx context.Context, ready func(), fn func(string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{roomsChannel(schema)}.Sanitize()); err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("postgres: listen: %w", err)
		}
		fn(n.Payload)
	}
}
