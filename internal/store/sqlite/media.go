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

const recordingColumns = `id, room_id, session_id, participant_id, status, type, codec, size_mb, duration_secs,
	download_url, started_at, ended_at, completed_at, created_at, updated_at`

func scanRecording(sc scanner, extra ...any) (domain.Recording, error) {
	var (
		r                         domain.Recording
		size                      sql.NullFloat64
		dur                       sql.NullInt64
		url                       sql.NullString
		started, created, updated int64
		ended, completed          sql.NullInt64
	)
	if err := sc.Scan(append([]any{&r.ID, &r.RoomID, &r.SessionID, &r.ParticipantID, &r.Status, &r.Type, &r.Codec, &size, &dur,
		&url, &started, &ended, &completed, &created, &updated}, extra...)...); err != nil {
		return r, err
	}
	r.SizeMB, r.DurationSecs, r.DownloadURL = nullFloat(size), nullInt(dur), strPtr(url)
	r.StartedAt, r.EndedAt, r.CompletedAt = fromMicros(started), fromNullMicros(ended), fromNullMicros(completed)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return r, nil
}

func (q queries) InsertRecording(ctx context.Context, r domain.Recording) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO room_recordings (`+recordingColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.RoomID, r.SessionID, r.ParticipantID, r.Status, r.Type, r.Codec, r.SizeMB, r.DurationSecs,
		r.DownloadURL, micros(r.StartedAt), nullMicros(r.EndedAt), nullMicros(r.CompletedAt), micros(r.CreatedAt), micros(r.UpdatedAt))
	return wrap("insert recording", err)
}

func (q queries) UpdateRecording(ctx context.Context, r domain.Recording) error {
	res, err := q.w.ExecContext(ctx, `UPDATE room_recordings SET status = ?, size_mb = ?, duration_secs = ?,
		download_url = ?, ended_at = ?, completed_at = ?, updated_at = ? WHERE id = ?`,
		r.Status, r.SizeMB, r.DurationSecs, r.DownloadURL, nullMicros(r.EndedAt), nullMicros(r.CompletedAt), micros(r.UpdatedAt), r.ID)
	return affected("update recording", res, err)
}

func (q queries) GetRecording(ctx context.Context, id string) (domain.Recording, error) {
	r, err := scanRecording(q.r.QueryRowContext(ctx, `SELECT `+recordingColumns+` FROM room_recordings WHERE id = ?`, id))
	return r, wrap("get recording", err)
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
		w.add("duration_secs >= ?", *f.DurationSecs.Min)
	}
	if f.DurationSecs.Max != nil {
		w.add("duration_secs <= ?", *f.DurationSecs.Max)
	}
	return w
}

var recordingOrder = order{"started_at", "id"}

func (q queries) ListRecordings(ctx context.Context, f store.RecordingFilter, p store.Page) ([]domain.Recording, int, error) {
	return listPage(ctx, q, "list recordings", "room_recordings", recordingColumns, recordingWhere(f), recordingOrder, p, scanRecording,
		func(r domain.Recording) []any { return []any{micros(r.StartedAt), r.ID} })
}

func (q queries) DeleteRecording(ctx context.Context, id string) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM room_recordings WHERE id = ?`, id)
	return affected("delete recording", res, err)
}

func (q queries) DeleteRecordings(ctx context.Context, f store.RecordingFilter, p *store.Page) ([]string, error) {
	w := recordingWhere(f)
	query := `DELETE FROM room_recordings` + w.sql()
	args := w.args
	if p != nil {
		query = `DELETE FROM room_recordings WHERE id IN (SELECT id FROM room_recordings` + w.sql() +
			` ORDER BY ` + recordingOrder.sql("") + ` LIMIT ? OFFSET ?)`
		args = append(append([]any{}, w.args...), p.Size, p.Offset())
	}
	rows, err := q.w.QueryContext(ctx, query+` RETURNING id`, args...)
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

// regionJSON is how a video region is stored in the video_layout column.
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
		url, failover, download   sql.NullString
		failure                   sql.NullString
		timeout, dur              sql.NullInt64
		size                      sql.NullFloat64
		started, ended, completed sql.NullInt64
		created, updated          int64
	)
	if err := sc.Scan(append([]any{&c.ID, &c.RoomID, &c.SessionID, &c.Status, &c.Format, &c.Resolution, &layout, &url, &failover,
		&timeout, &size, &dur, &download, &started, &ended, &completed, &created, &updated, &failure, &c.Attempts}, extra...)...); err != nil {
		return c, err
	}
	var err error
	if c.VideoLayout, err = decodeLayout(layout); err != nil {
		return c, err
	}
	c.WebhookEventURL, c.WebhookEventFailoverURL, c.WebhookTimeoutSecs = strPtr(url), strPtr(failover), nullInt(timeout)
	c.SizeMB, c.DurationSecs, c.DownloadURL = nullFloat(size), nullInt(dur), strPtr(download)
	c.StartedAt, c.EndedAt, c.CompletedAt = fromNullMicros(started), fromNullMicros(ended), fromNullMicros(completed)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	c.FailureReason = strPtr(failure)
	return c, nil
}

func (q queries) InsertComposition(ctx context.Context, c domain.Composition) error {
	layout, err := encodeLayout(c.VideoLayout)
	if err != nil {
		return wrap("insert composition", err)
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO room_compositions (`+compositionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.RoomID, c.SessionID, c.Status, c.Format, c.Resolution, layout, c.WebhookEventURL, c.WebhookEventFailoverURL,
		c.WebhookTimeoutSecs, c.SizeMB, c.DurationSecs, c.DownloadURL, nullMicros(c.StartedAt), nullMicros(c.EndedAt),
		nullMicros(c.CompletedAt), micros(c.CreatedAt), micros(c.UpdatedAt), c.FailureReason, c.Attempts)
	return wrap("insert composition", err)
}

func (q queries) UpdateComposition(ctx context.Context, c domain.Composition) error {
	res, err := q.w.ExecContext(ctx, `UPDATE room_compositions SET status = ?, size_mb = ?, duration_secs = ?, download_url = ?,
		started_at = ?, ended_at = ?, completed_at = ?, updated_at = ?, failure_reason = ? WHERE id = ?`,
		c.Status, c.SizeMB, c.DurationSecs, c.DownloadURL, nullMicros(c.StartedAt), nullMicros(c.EndedAt),
		nullMicros(c.CompletedAt), micros(c.UpdatedAt), c.FailureReason, c.ID)
	return affected("update composition", res, err)
}

func (q queries) GetComposition(ctx context.Context, id string) (domain.Composition, error) {
	c, err := scanComposition(q.r.QueryRowContext(ctx, `SELECT `+compositionColumns+` FROM room_compositions WHERE id = ?`, id))
	return c, wrap("get composition", err)
}

func (q queries) ListCompositions(ctx context.Context, f store.CompositionFilter, p store.Page) ([]domain.Composition, int, error) {
	var w where
	w.timeRange("created_at", f.CreatedAt)
	w.eq("session_id", f.SessionID)
	w.eq("status", f.Status)
	return listPage(ctx, q, "list compositions", "room_compositions", compositionColumns, w, order{"created_at", "id"}, p, scanComposition,
		func(c domain.Composition) []any { return []any{micros(c.CreatedAt), c.ID} })
}

func (q queries) DeleteComposition(ctx context.Context, id string) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM room_compositions WHERE id = ?`, id)
	return affected("delete composition", res, err)
}

// compositionQueue selects the compositions a claim may take at ?2: those
// enqueued, and those processing whose lease has passed. It repeats the
// partial index's WHERE so that the index answers it.
const compositionQueue = `FROM room_compositions INDEXED BY room_compositions_queue
	WHERE status IN ('enqueued', 'processing')
		AND (status = 'enqueued' OR lease_until IS NULL OR lease_until <= ?2)`

// claimCompositionSQL takes the oldest composition of the queue in one
// statement (atomic on the one writer connection).
const claimCompositionSQL = `UPDATE room_compositions
	SET status = 'processing', lease_until = ?1, attempts = attempts + 1,
		started_at = coalesce(started_at, ?2), updated_at = max(updated_at + 1, ?2)
	WHERE id = (SELECT id ` + compositionQueue + ` ORDER BY created_at, id LIMIT 1)
	RETURNING ` + compositionColumns

// ClaimComposition implements store.Store. Idle workers ask often: a
// read on the reader pool first spares the writer when nothing waits.
func (s *Store) ClaimComposition(ctx context.Context, now, leaseUntil time.Time) (domain.Composition, bool, error) {
	var waiting bool
	if err := s.reader.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 `+compositionQueue+`)`, nil, micros(now)).Scan(&waiting); err != nil {
		return domain.Composition{}, false, wrap("claim composition", err)
	}
	if !waiting {
		return domain.Composition{}, false, nil
	}
	c, err := scanComposition(s.writer.QueryRowContext(ctx, claimCompositionSQL, micros(leaseUntil), micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, wrap("claim composition", err)
	}
	return c, true, nil
}

// RenewComposition implements store.Store.
func (s *Store) RenewComposition(ctx context.Context, id string, attempt int, leaseUntil time.Time) (bool, error) {
	res, err := s.writer.ExecContext(ctx, `UPDATE room_compositions SET lease_until = ?
		WHERE id = ? AND status = 'processing' AND attempts = ?`, micros(leaseUntil), id, attempt)
	if err != nil {
		return false, wrap("renew composition", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("renew composition", err)
}
