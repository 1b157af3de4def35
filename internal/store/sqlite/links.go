package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
)

const linkColumns = `id, room_id, name, secret_hash, created_at, expires_at, revoked_at, token_ttl`

func scanLink(sc scanner, _ ...any) (domain.Link, error) {
	var (
		l                domain.Link
		created, expires int64
		revoked          sql.NullInt64
	)
	var ttl int64
	err := sc.Scan(&l.ID, &l.RoomID, &l.Name, &l.SecretHash, &created, &expires, &revoked, &ttl)
	l.TokenTTL = time.Duration(ttl) * time.Second
	l.CreatedAt, l.ExpiresAt, l.RevokedAt = fromMicros(created), fromMicros(expires), fromNullMicros(revoked)
	return l, err
}

// InsertLink implements store.Queries.
func (q queries) InsertLink(ctx context.Context, l domain.Link) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO room_links (`+linkColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.RoomID, l.Name, l.SecretHash, micros(l.CreatedAt), micros(l.ExpiresAt), nullMicros(l.RevokedAt), int64(l.TokenTTL/time.Second))
	return wrap("insert link", err)
}

// GetLink implements store.Queries.
func (q queries) GetLink(ctx context.Context, id string) (domain.Link, error) {
	l, err := scanLink(q.r.QueryRowContext(ctx, `SELECT `+linkColumns+` FROM room_links WHERE id = ?`, id))
	return l, wrap("get link", err)
}

// ListLinks implements store.Queries.
func (q queries) ListLinks(ctx context.Context, roomID string) ([]domain.Link, error) {
	return collect(ctx, q.r, "list links", scanLink,
		`SELECT `+linkColumns+` FROM room_links WHERE room_id = ? ORDER BY created_at DESC, id DESC`, roomID)
}

// RevokeLink implements store.Queries.
func (q queries) RevokeLink(ctx context.Context, id string, at time.Time) error {
	res, err := q.w.ExecContext(ctx, `UPDATE room_links SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, micros(at), id)
	return affected("revoke link", res, err)
}

// SetOrigin implements store.Queries.
func (q queries) SetOrigin(ctx context.Context, participantID string, o domain.Origin) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO participant_origins (participant_id, family, link_id) VALUES (?, ?, ?)
		ON CONFLICT (participant_id) DO UPDATE SET family = excluded.family, link_id = excluded.link_id`, participantID, o.Family, o.Link)
	return wrap("set origin", err)
}

// GetOrigin implements store.Queries.
func (q queries) GetOrigin(ctx context.Context, participantID string) (domain.Origin, error) {
	var o domain.Origin
	err := q.r.QueryRowContext(ctx, `SELECT family, link_id FROM participant_origins WHERE participant_id = ?`, participantID).Scan(&o.Family, &o.Link)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Origin{}, nil
	}
	return o, wrap("get origin", err)
}

// Ban implements store.Queries.
func (q queries) Ban(ctx context.Context, roomID string, subjects []string, until time.Time) error {
	for _, s := range subjects {
		if _, err := q.w.ExecContext(ctx, `INSERT INTO room_bans (room_id, subject, until) VALUES (?, ?, ?)
			ON CONFLICT (room_id, subject) DO UPDATE SET until = max(until, excluded.until)`, roomID, s, micros(until)); err != nil {
			return wrap("ban", err)
		}
	}
	return nil
}

// BannedUntil implements store.Queries.
func (q queries) BannedUntil(ctx context.Context, roomID string, subjects []string, now time.Time) (time.Time, bool, error) {
	if len(subjects) == 0 {
		return time.Time{}, false, nil
	}
	args := []any{roomID, micros(now)}
	for _, s := range subjects {
		args = append(args, s)
	}
	var until sql.NullInt64
	err := q.r.QueryRowContext(ctx, `SELECT max(until) FROM room_bans WHERE room_id = ? AND until > ? AND subject IN (?`+
		strings.Repeat(", ?", len(subjects)-1)+`)`, args...).Scan(&until)
	if err != nil || !until.Valid {
		return time.Time{}, false, wrap("banned until", err)
	}
	return fromMicros(until.Int64), true, nil
}
