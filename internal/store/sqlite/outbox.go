package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// eventJSON is how an event is kept in the payload column.
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
		timeout                  sql.NullInt64
		delivered                sql.NullInt64
	)
	e := &d.Event
	if err := sc.Scan(append([]any{&d.Seq, &e.ID, &e.RoomID, &e.Type, &occurred, &payload, &d.URL, &d.FailoverURL, &timeout,
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
	d.TimeoutSecs, d.DeliveredAt = nullInt(timeout), fromNullMicros(delivered)
	return d, nil
}

func (q queries) AppendDelivery(ctx context.Context, d domain.Delivery) error {
	e := d.Event
	payload, err := json.Marshal(eventJSON{SessionID: e.SessionID, ParticipantID: e.ParticipantID, Context: e.Context,
		RecordingID: e.RecordingID, CompositionID: e.CompositionID, MediaType: e.MediaType, Codec: e.Codec, SizeMB: e.SizeMB,
		DurationSecs: e.DurationSecs, DownloadURL: e.DownloadURL, Format: e.Format, Resolution: e.Resolution, Reason: e.Reason})
	if err != nil {
		return wrap("append delivery", err)
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO webhook_events (id, room_id, event_type, occurred_at, payload, url, failover_url,
		timeout_secs, status, attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
		e.ID, e.RoomID, e.Type, micros(e.OccurredAt), string(payload), d.URL, d.FailoverURL, d.TimeoutSecs, d.Status,
		micros(d.NextAttemptAt), micros(d.CreatedAt), micros(d.UpdatedAt))
	return wrap("append delivery", err)
}

// DueDeliveries implements store.Store. It walks the rooms that have
// pending events with a loose index scan (one seek per room on the queue
// index) and takes each room's oldest pending event, so its cost grows
// with the number of rooms waiting, not with the size of the backlog.
// (Left to itself the planner prefers the status index and reads every
// pending row.)
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]domain.Delivery, error) {
	return collect(ctx, s.reader, "due deliveries", scanDelivery, `WITH RECURSIVE waiting(room) AS (
			SELECT min(room_id) FROM webhook_events INDEXED BY webhook_events_queue WHERE status = 'pending'
			UNION ALL
			SELECT (SELECT min(room_id) FROM webhook_events INDEXED BY webhook_events_queue
				WHERE status = 'pending' AND room_id > waiting.room)
			FROM waiting WHERE waiting.room IS NOT NULL
		)
		SELECT `+deliveryColumns+` FROM waiting JOIN webhook_events e ON e.seq =
			(SELECT min(h.seq) FROM webhook_events h INDEXED BY webhook_events_queue
				WHERE h.room_id = waiting.room AND h.status = 'pending')
		WHERE e.next_attempt_at <= ?
		ORDER BY e.seq LIMIT ?`, micros(now), limit)
}

// NextDelivery implements store.Store.
func (s *Store) NextDelivery(ctx context.Context, roomID string, now time.Time) (domain.Delivery, bool, error) {
	d, err := scanDelivery(s.reader.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_events INDEXED BY webhook_events_queue
		WHERE room_id = ? AND status = 'pending' ORDER BY seq LIMIT 1`, roomID))
	if errors.Is(err, sql.ErrNoRows) {
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
	res, err := s.writer.ExecContext(ctx, `UPDATE webhook_events SET next_attempt_at = ?, claimed_by = ?, updated_at = ?
		WHERE seq = ? AND status = 'pending' AND attempts = ? AND next_attempt_at <= ?`,
		micros(leaseUntil), node, micros(now), seq, attempts, micros(now))
	if err != nil {
		return false, wrap("claim delivery", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("claim delivery", err)
}

// ReleaseDeliveries implements store.Store.
func (s *Store) ReleaseDeliveries(ctx context.Context, node string, now time.Time) (int, error) {
	res, err := s.writer.ExecContext(ctx, `UPDATE webhook_events SET next_attempt_at = ?, claimed_by = '', updated_at = ?
		WHERE claimed_by = ? AND status = 'pending'`, micros(now), micros(now), node)
	if err != nil {
		return 0, wrap("release deliveries", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("release deliveries", err)
}

// UpdateDelivery implements store.Store.
func (s *Store) UpdateDelivery(ctx context.Context, d domain.Delivery) error {
	res, err := s.writer.ExecContext(ctx, `UPDATE webhook_events SET claimed_by = '', status = ?, attempts = ?, next_attempt_at = ?,
		last_error = ?, last_status = ?, delivered_to = ?, delivered_at = ?, updated_at = ? WHERE seq = ?`,
		d.Status, d.Attempts, micros(d.NextAttemptAt), d.LastError, d.LastStatus, d.DeliveredTo, nullMicros(d.DeliveredAt),
		micros(d.UpdatedAt), d.Seq)
	return affected("update delivery", res, err)
}

// PruneDeliveries implements store.Store.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM webhook_events WHERE seq IN (
		SELECT seq FROM webhook_events WHERE status IN ('delivered', 'failed') AND created_at < ?
		ORDER BY created_at LIMIT ?)`, micros(before), limit)
	if err != nil {
		return 0, wrap("prune deliveries", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("prune deliveries", err)
}

// ListDeliveries implements store.Store.
func (s *Store) ListDeliveries(ctx context.Context, f store.DeliveryFilter, p store.Page) ([]domain.Delivery, int, error) {
	var w where
	w.eq("status", f.Status)
	w.eq("room_id", f.RoomID)
	return listPage(ctx, s.queries, "list deliveries", "webhook_events", deliveryColumns, w, order{"created_at", "seq"}, p, scanDelivery,
		func(d domain.Delivery) []any { return []any{micros(d.CreatedAt), d.Seq} })
}

// PendingDeliveries implements store.Store.
func (s *Store) PendingDeliveries(ctx context.Context) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events INDEXED BY webhook_events_queue WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, wrap("pending deliveries", err)
	}
	return n, nil
}
