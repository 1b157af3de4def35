package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/roomsd/roomsd/internal/domain"
)

const linkColumns = `id, room_id, name, secret_hash, created_at, expires_at, revoked_at, token_ttl`

func scanLink(sc scanner, _ ...any) (domain.Link, error) {
	var (
		l                domain.Link
		created, expires int64
		revoked          *int64
	)
	var ttl int64
	err := sc.Scan(&l.ID, &l.RoomID, &l.Name, &l.SecretHash, &created, &expires, &revoked, &ttl)
	l.TokenTTL = time.Duration(ttl) * time.Second
	l.CreatedAt, l.ExpiresAt, l.RevokedAt = fromMicros(created), fromMicros(expires), fromNullMicros(revoked)
	return l, err
}

// InsertLink implements store.Queries.
func (q queries) InsertLink(ctx context.Context, l domain.Link) error {
	_, err := q.db.Exec(ctx, `INSERT INTO room_links (`+linkColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		l.ID, l.RoomID, l.Name, l.SecretHash, micros(l.CreatedAt), micros(l.ExpiresAt), nullMicros(l.RevokedAt), int64(l.TokenTTL/time.Second))
	return wrap("insert link", err)
}

// GetLink implements store.Queries.
func (q queries) GetLink(ctx context.Context, id string) (domain.Link, error) {
	l, err := scanLink(q.db.QueryRow(ctx, `SELECT `+linkColumns+` FROM room_links WHERE id = $1`, id))
	return l, wrap("get link", err)
}

// ListLinks implements store.Queries.
func (q queries) ListLinks(ctx context.Context, roomID string) ([]domain.Link, error) {
	return collect(ctx, q.db, "list links", scanLink,
		`SELECT `+linkColumns+` FROM room_links WHERE room_id = $1 ORDER BY created_at DESC, id DESC`, roomID)
}

// RevokeLink implements store.Queries.
func (q queries) RevokeLink(ctx context.Context, id string, at time.Time) error {
	tag, err := q.db.Exec(ctx, `UPDATE room_links SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, micros(at), id)
	return affected("revoke link", tag, err)
}

// SetOrigin implements store.Queries.
func (q queries) SetOrigin(ctx context.Context, participantID string, o domain.Origin) error {
	_, err := q.db.Exec(ctx, `INSERT INTO participant_origins (participant_id, family, link_id) VALUES ($1, $2, $3)
		ON CONFLICT (participant_id) DO UPDATE SET family = excluded.family, link_id = excluded.link_id`, participantID, o.Family, o.Link)
	return wrap("set origin", err)
}

// GetOrigin implements store.Queries.
func (q queries) GetOrigin(ctx context.Context, participantID string) (domain.Origin, error) {
	var o domain.Origin
	err := q.db.QueryRow(ctx, `SELECT family, link_id FROM participant_origins WHERE participant_id = $1`, participantID).Scan(&o.Family, &o.Link)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Origin{}, nil
	}
	return o, wrap("get origin", err)
}

// Ban implements store.Queries.
func (q queries) Ban(ctx context.Context, roomID string, subjects []string, until time.Time) error {
	for _, s := range subjects {
		if _, err := q.db.Exec(ctx, `INSERT INTO room_bans (room_id, subject, until) VALUES ($1, $2, $3)
			ON CONFLICT (room_id, subject) DO UPDATE SET until = greatest(room_bans.until, excluded.until)`, roomID, s, micros(until)); err != nil {
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
	var until *int64
	err := q.db.QueryRow(ctx, `SELECT max(until) FROM room_bans WHERE room_id = $1 AND until > $2 AND subject = ANY($3)`,
		roomID, micros(now), subjects).Scan(&until)
	if err != nil || until == nil {
		return time.Time{}, false, wrap("banned until", err)
	}
	return fromMicros(*until), true, nil
}
