package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// eventJSON is how an event is kept in the payload column, the same text
// as the SQLite store writes.
type eventJSON struct {
	SessionID     string   `json:"session_id,omitempty"`
	ParticipantID string   `json:"participant_id,omitempty"`
	Context       string   `json:"context,omitempty"`
	RecordingID   string   `json:"recording_id,omitempty"`
	CompositionID string   `json:"composition_id,omitempty"`
	MediaType     string   `json:"media_type,omitempty"`
	Codec         string   `json:"codec,omitempty"`
	SizeMB        *float64 `json:"size_mb,omitempty"`
	DurationSecs  *int     `json:"duration_secs,omitempty"`
	DownloadURL   string   `json:"download_url,omitempty"`
	Format        string   `json:"format,omitempty"`
	Resolution    string   `json:"resolution,omitempty"`
	Reason        string   `json:"reason,omitempty"`
}

const deliveryColumns = `seq, id, room_id, event_type, occurred_at, payload, url, failover_url, timeout_secs, status,
	attempts, next_attempt_at, last_error, last_status, delivered_to, delivered_at, created_at, updated_at`

func scanDelivery(sc scanner, extra ...any) (domain.Delivery, error) {
	var (
		d                        domain.Delivery
		payload                  string
		occurred, next, cre, upd int64
		delivered                *int64
	)
	e := &d.Event
	if err := sc.Scan(append([]any{&d.Seq, &e.ID, &e.RoomID, &e.Type, &occurred, &payload, &d.URL, &d.FailoverURL, &d.TimeoutSecs,
		&d.Status, &d.Attempts, &next, &d.LastError, &d.LastStatus, &d.DeliveredTo, &delivered, &cre, &upd}, extra...)...); err != nil {
		return d, err
	}
	var p eventJSON
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return d, err
	}
	e.SessionID, e.ParticipantID, e.Context, e.RecordingID, e.CompositionID = p.SessionID, p.ParticipantID, p.Context, p.RecordingID, p.CompositionID
	e.MediaType, e.Codec, e.SizeMB, e.DurationSecs, e.DownloadURL = p.MediaType, p.Codec, p.SizeMB, p.DurationSecs, p.DownloadURL
	e.Format, e.Resolution, e.Reason = p.Format, p.Resolution, p.Reason
	e.OccurredAt, d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromMicros(occurred), fromMicros(next), fromMicros(cre), fromMicros(upd)
	d.DeliveredAt = fromNullMicros(delivered)
	return d, nil
}

// AppendDelivery implements store.Queries. seq comes from an identity
// column, drawn when the row is inserted: a room's events are appended by
// transactions that hold the room's lock (locks.go), so within a room seq
// follows the order of commits, as the outbox's per-room queue needs.
func (q queries) AppendDelivery(ctx context.Context, d domain.Delivery) error {
	e := d.Event
	payload, err := json.Marshal(eventJSON{SessionID: e.SessionID, ParticipantID: e.ParticipantID, Context: e.Context,
		RecordingID: e.RecordingID, CompositionID: e.CompositionID, MediaType: e.MediaType, Codec: e.Codec, SizeMB: e.SizeMB,
		DurationSecs: e.DurationSecs, DownloadURL: e.DownloadURL, Format: e.Format, Resolution: e.Resolution, Reason: e.Reason})
	if err != nil {
		return wrap("append delivery", err)
	}
	_, err = q.db.Exec(ctx, `INSERT INTO webhook_events (id, room_id, event_type, occurred_at, payload, url, failover_url,
		timeout_secs, status, attempts, next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12)`,
		e.ID, e.RoomID, e.Type, micros(e.OccurredAt), string(payload), d.URL, d.FailoverURL, d.TimeoutSecs, d.Status,
		micros(d.NextAttemptAt), micros(d.CreatedAt), micros(d.UpdatedAt))
	return wrap("append delivery", err)
}

// dueDeliveriesSQL walks the rooms that have pending events with a loose
// index scan (each step seeks the queue index for the next room after the
// last) and takes each room's oldest pending event, so that its cost grows
// with the number of rooms waiting, not with the size of the backlog.
const dueDeliveriesSQL = `WITH RECURSIVE waiting(room) AS (
		(SELECT room_id FROM webhook_events WHERE status = 'pending' ORDER BY room_id LIMIT 1)
		UNION ALL
		SELECT (SELECT h.room_id FROM webhook_events h WHERE h.status = 'pending' AND h.room_id > w.room
			ORDER BY h.room_id LIMIT 1)
		FROM waiting w WHERE w.room IS NOT NULL
	)
	SELECT e.* FROM waiting CROSS JOIN LATERAL (
		SELECT ` + deliveryColumns + ` FROM webhook_events h
		WHERE h.room_id = waiting.room AND h.status = 'pending' ORDER BY h.seq LIMIT 1
	) e
	WHERE e.next_attempt_at <= $1
	ORDER BY e.seq LIMIT $2`

// DueDeliveries implements store.Store.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]domain.Delivery, error) {
	return collect(ctx, s.pool, "due deliveries", scanDelivery, dueDeliveriesSQL, micros(now), limit)
}

// NextDelivery implements store.Store.
func (s *Store) NextDelivery(ctx context.Context, roomID string, now time.Time) (domain.Delivery, bool, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_events
		WHERE room_id = $1 AND status = 'pending' ORDER BY seq LIMIT 1`, roomID))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, wrap("next delivery", err)
	}
	return d, !d.NextAttemptAt.After(now), nil
}

// ClaimDelivery implements store.Store.
func (s *Store) ClaimDelivery(ctx context.Context, seq int64, attempts int, node string, now, leaseUntil time.Time) (bool, error) {
	// The lease is the next attempt's time: moved past the attempt, the
	// delivery is due to nobody until then.
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_events SET next_attempt_at = $4, claimed_by = $5, updated_at = $1
		WHERE seq = $2 AND status = 'pending' AND attempts = $3 AND next_attempt_at <= $1`,
		micros(now), seq, attempts, micros(leaseUntil), node)
	if err != nil {
		return false, wrap("claim delivery", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PruneDeliveries implements store.Store.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_events WHERE seq IN (
		SELECT seq FROM webhook_events WHERE status IN ('delivered', 'failed') AND created_at < $1
		ORDER BY created_at LIMIT $2)`, micros(before), limit)
	if err != nil {
		return 0, wrap("prune deliveries", err)
	}
	return int(tag.RowsAffected()), nil
}

// ReleaseDeliveries implements store.Store.
func (s *Store) ReleaseDeliveries(ctx context.Context, node string, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_events SET next_attempt_at = $1, claimed_by = '', updated_at = $1
		WHERE claimed_by = $2 AND status = 'pending'`, micros(now), node)
	if err != nil {
		return 0, wrap("release deliveries", err)
	}
	return int(tag.RowsAffected()), nil
}

// UpdateDelivery implements store.Store.
func (s *Store) UpdateDelivery(ctx context.Context, d domain.Delivery) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_events SET claimed_by = '', status = $1, attempts = $2, next_attempt_at = $3,
		last_error = $4, last_status = $5, delivered_to = $6, delivered_at = $7, updated_at = $8 WHERE seq = $9`,
		d.Status, d.Attempts, micros(d.NextAttemptAt), d.LastError, d.LastStatus, d.DeliveredTo, nullMicros(d.DeliveredAt),
		micros(d.UpdatedAt), d.Seq)
	return affected("update delivery", tag, err)
}

// ListDeliveries implements store.Store.
func (s *Store) ListDeliveries(ctx context.Context, f store.DeliveryFilter, p store.Page) ([]domain.Delivery, int, error) {
	var w where
	w.eq("status", f.Status)
	w.eq("room_id", f.RoomID)
	return tableListing("list deliveries", "webhook_events", deliveryColumns, "seq", w, order{"created_at", "seq"}, scanDelivery,
		func(d domain.Delivery) []any { return []any{micros(d.CreatedAt), d.Seq} }).read(ctx, s.queries, p)
}

// PendingDeliveries implements store.Store.
func (s *Store) PendingDeliveries(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_events WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, wrap("pending deliveries", err)
	}
	return n, nil
}
