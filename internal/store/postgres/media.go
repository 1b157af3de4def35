package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

const recordingColumns = `id, room_id, session_id, participant_id, status, type, codec, size_mb, duration_secs,
	download_url, started_at, ended_at, completed_at, created_at, updated_at`

func scanRecording(sc scanner, extra ...any) (domain.Recording, error) {
	var (
		r                         domain.Recording
		started, created, updated int64
		ended, completed          *int64
	)
	if err := sc.Scan(append([]any{&r.ID, &r.RoomID, &r.SessionID, &r.ParticipantID, &r.Status, &r.Type, &r.Codec, &r.SizeMB,
		&r.DurationSecs, &r.DownloadURL, &started, &ended, &completed, &created, &updated}, extra...)...); err != nil {
		return r, err
	}
	r.StartedAt, r.EndedAt, r.CompletedAt = fromMicros(started), fromNullMicros(ended), fromNullMicros(completed)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return r, nil
}

func (q queries) InsertRecording(ctx context.Context, r domain.Recording) error {
	_, err := q.db.Exec(ctx, `INSERT INTO room_recordings (`+recordingColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		r.ID, r.RoomID, r.SessionID, r.ParticipantID, r.Status, r.Type, r.Codec, r.SizeMB, r.DurationSecs,
		r.DownloadURL, micros(r.StartedAt), nullMicros(r.EndedAt), nullMicros(r.CompletedAt), micros(r.CreatedAt), micros(r.UpdatedAt))
	return wrap("insert recording", err)
}

func (q queries) UpdateRecording(ctx context.Context, r domain.Recording) error {
	tag, err := q.db.Exec(ctx, `UPDATE room_recordings SET status = $1, size_mb = $2, duration_secs = $3,
		download_url = $4, ended_at = $5, completed_at = $6, updated_at = $7 WHERE id = $8`,
		r.Status, r.SizeMB, r.DurationSecs, r.DownloadURL, nullMicros(r.EndedAt), nullMicros(r.CompletedAt), micros(r.UpdatedAt), r.ID)
	return affected("update recording", tag, err)
}

func (q queries) GetRecording(ctx context.Context, id string) (domain.Recording, error) {
	return getLocked(ctx, q, "get recording", "room_recordings", recordingColumns, recordingRoom, id, scanRecording)
}

func recordingWhere(f store.RecordingFilter) where {
	var w where
	w.timeRange("started_at", f.StartedAt)
	w.timeRange("ended_at", f.EndedAt)
	w.eq("room_id", f.RoomID)
	w.eq("session_id", f.SessionID)
	w.eq("participant_id", f.ParticipantID)
	w.eq("status", f.Status)
	w.eq("type", f.Type)
	if f.DurationSecs.Min != nil {
		w.add("duration_secs >= ", *f.DurationSecs.Min)
	}
	if f.DurationSecs.Max != nil {
		w.add("duration_secs <= ", *f.DurationSecs.Max)
	}
	return w
}

var recordingOrder = order{"started_at", "id"}

func (q queries) ListRecordings(ctx context.Context, f store.RecordingFilter, p store.Page) ([]domain.Recording, int, error) {
	return tableListing("list recordings", "room_recordings", recordingColumns, "id", recordingWhere(f), recordingOrder, scanRecording,
		func(r domain.Recording) []any { return []any{micros(r.StartedAt), r.ID} }).read(ctx, q, p)
}

func (q queries) DeleteRecording(ctx context.Context, id string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM room_recordings WHERE id = $1`, id)
	return affected("delete recording", tag, err)
}

func (q queries) DeleteRecordings(ctx context.Context, f store.RecordingFilter, p *store.Page) ([]string, error) {
	w := recordingWhere(f)
	query := `DELETE FROM room_recordings` + w.sql()
	args := w.args
	if p != nil {
		n := len(w.args)
		query = `DELETE FROM room_recordings WHERE id IN (SELECT id FROM room_recordings` + w.sql() +
			` ORDER BY ` + recordingOrder.sql("") + ` LIMIT $` + strconv.Itoa(n+1) + ` OFFSET $` + strconv.Itoa(n+2) + `)`
		args = append(append([]any{}, w.args...), p.Size, p.Offset())
	}
	rows, err := q.db.Query(ctx, query+` RETURNING id`, args...)
	if err != nil {
		return nil, wrap("delete recordings", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap("delete recordings", err)
		}
		ids = append(ids, id)
	}
	return ids, wrap("delete recordings", rows.Err())
}

const compositionColumns = `id, room_id, session_id, status, format, resolution, video_layout, webhook_event_url,
	webhook_event_failover_url, webhook_timeout_secs, size_mb, duration_secs, download_url, started_at, ended_at,
	completed_at, created_at, updated_at, failure_reason, attempts`

// regionJSON is how a video region is stored in the video_layout column,
// the same text as the SQLite store writes.
type regionJSON struct {
	XPos         *int     `json:"x_pos,omitempty"`
	YPos         *int     `json:"y_pos,omitempty"`
	ZPos         *int     `json:"z_pos,omitempty"`
	Height       *int     `json:"height,omitempty"`
	Width        *int     `json:"width,omitempty"`
	MaxColumns   *int     `json:"max_columns,omitempty"`
	MaxRows      *int     `json:"max_rows,omitempty"`
	VideoSources []string `json:"video_sources,omitempty"`
}

func encodeLayout(l map[string]domain.VideoRegion) (string, error) {
	m := make(map[string]regionJSON, len(l))
	for k, r := range l {
		m[k] = regionJSON(r)
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func decodeLayout(s string) (map[string]domain.VideoRegion, error) {
	var m map[string]regionJSON
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	out := make(map[string]domain.VideoRegion, len(m))
	for k, r := range m {
		out[k] = domain.VideoRegion(r)
	}
	return out, nil
}

func scanComposition(sc scanner, extra ...any) (domain.Composition, error) {
	var (
		c                         domain.Composition
		layout                    string
		started, ended, completed *int64
		created, updated          int64
	)
	if err := sc.Scan(append([]any{&c.ID, &c.RoomID, &c.SessionID, &c.Status, &c.Format, &c.Resolution, &layout,
		&c.WebhookEventURL, &c.WebhookEventFailoverURL, &c.WebhookTimeoutSecs, &c.SizeMB, &c.DurationSecs, &c.DownloadURL,
		&started, &ended, &completed, &created, &updated, &c.FailureReason, &c.Attempts}, extra...)...); err != nil {
		return c, err
	}
	var err error
	if c.VideoLayout, err = decodeLayout(layout); err != nil {
		return c, err
	}
	c.StartedAt, c.EndedAt, c.CompletedAt = fromNullMicros(started), fromNullMicros(ended), fromNullMicros(completed)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

func (q queries) InsertComposition(ctx context.Context, c domain.Composition) error {
	layout, err := encodeLayout(c.VideoLayout)
	if err != nil {
		return wrap("insert composition", err)
	}
	_, err = q.db.Exec(ctx, `INSERT INTO room_compositions (`+compositionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		c.ID, c.RoomID, c.SessionID, c.Status, c.Format, c.Resolution, layout, c.WebhookEventURL, c.WebhookEventFailoverURL,
		c.WebhookTimeoutSecs, c.SizeMB, c.DurationSecs, c.DownloadURL, nullMicros(c.StartedAt), nullMicros(c.EndedAt),
		nullMicros(c.CompletedAt), micros(c.CreatedAt), micros(c.UpdatedAt), c.FailureReason, c.Attempts)
	return wrap("insert composition", err)
}

func (q queries) UpdateComposition(ctx context.Context, c domain.Composition) error {
	tag, err := q.db.Exec(ctx, `UPDATE room_compositions SET status = $1, size_mb = $2, duration_secs = $3, download_url = $4,
		started_at = $5, ended_at = $6, completed_at = $7, updated_at = $8, failure_reason = $9 WHERE id = $10`,
		c.Status, c.SizeMB, c.DurationSecs, c.DownloadURL, nullMicros(c.StartedAt), nullMicros(c.EndedAt),
		nullMicros(c.CompletedAt), micros(c.UpdatedAt), c.FailureReason, c.ID)
	return affected("update composition", tag, err)
}

func (q queries) GetComposition(ctx context.Context, id string) (domain.Composition, error) {
	return getLocked(ctx, q, "get composition", "room_compositions", compositionColumns, compositionRoom, id, scanComposition)
}

func (q queries) ListCompositions(ctx context.Context, f store.CompositionFilter, p store.Page) ([]domain.Composition, int, error) {
	var w where
	w.timeRange("created_at", f.CreatedAt)
	w.eq("session_id", f.SessionID)
	w.eq("status", f.Status)
	return tableListing("list compositions", "room_compositions", compositionColumns, "id", w, order{"created_at", "id"}, scanComposition,
		func(c domain.Composition) []any { return []any{micros(c.CreatedAt), c.ID} }).read(ctx, q, p)
}

func (q queries) DeleteComposition(ctx context.Context, id string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM room_compositions WHERE id = $1`, id)
	return affected("delete composition", tag, err)
}

// claimCompositionSQL takes the oldest composition that waits at $2
// (enqueued, or processing under a lease that has passed) in one
// statement. The inner select repeats the queue index's condition so that
// the index answers it, and locks the row it picks; SKIP LOCKED passes
// over rows that concurrent claims are taking, so that each takes another
// one instead of waiting for the same. A row that a claim committed after
// this statement's snapshot is checked again once locked and dropped if
// it no longer waits.
const claimCompositionSQL = `UPDATE room_compositions
	SET status = 'processing', lease_until = $1, attempts = attempts + 1,
		started_at = coalesce(started_at, $2), updated_at = greatest(updated_at + 1, $2)
	WHERE id = (SELECT id FROM room_compositions
		WHERE status IN ('enqueued', 'processing')
			AND (status = 'enqueued' OR lease_until IS NULL OR lease_until <= $2)
		ORDER BY created_at, id LIMIT 1
		FOR UPDATE SKIP LOCKED)
	RETURNING ` + compositionColumns

// ClaimComposition implements store.Store.
func (s *Store) ClaimComposition(ctx context.Context, now, leaseUntil time.Time) (domain.Composition, bool, error) {
	c, err := scanComposition(s.pool.QueryRow(ctx, claimCompositionSQL, micros(leaseUntil), micros(now)))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, wrap("claim composition", err)
	}
	return c, true, nil
}

// RenewComposition implements store.Store.
func (s *Store) RenewComposition(ctx context.Context, id string, attempt int, leaseUntil time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE room_compositions SET lease_until = $1
		WHERE id = $2 AND status = 'processing' AND attempts = $3`, micros(leaseUntil), id, attempt)
	if err != nil {
		return false, wrap("renew composition", err)
	}
	return tag.RowsAffected() == 1, nil
}
