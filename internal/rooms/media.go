package rooms

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// ErrUnfilteredDelete refuses a bulk delete that names no filter, which
// would remove every recording.
var ErrUnfilteredDelete = errors.New("a bulk delete needs at least one filter")

// StartRecording opens a recording of one present participant's track,
// started now.
func (s *Service) StartRecording(ctx context.Context, participantID, mediaType, codec string) (domain.Recording, error) {
	return s.StartRecordingAt(ctx, participantID, mediaType, codec, time.Time{})
}

// StartRecordingAt opens a recording of one present participant's track
// whose media starts at (its first frame's arrival; zero: now). The
// recorder calls it when it writes a track's first frame.
func (s *Service) StartRecordingAt(ctx context.Context, participantID, mediaType, codec string, at time.Time) (domain.Recording, error) {
	if mediaType != domain.MediaAudio && mediaType != domain.MediaVideo {
		return domain.Recording{}, domain.Invalid("type", "must be audio or video, got %q", mediaType)
	}
	var r domain.Recording
	err := s.commit(ctx, func(q store.Queries) error {
		p, err := q.GetParticipant(ctx, participantID)
		if err != nil {
			return err
		}
		if p.LeftAt != nil {
			return domain.Invalid("participant_id", "participant %s has left", participantID)
		}
		sess, err := activeSession(ctx, q, p.SessionID)
		if err != nil {
			return err
		}
		now := s.clock()
		started := now
		if !at.IsZero() && at.Before(now) {
			started = domain.Timestamp(at)
		}
		r = domain.Recording{ID: s.newID(), RoomID: sess.RoomID, SessionID: sess.ID, ParticipantID: p.ID,
			Status: domain.RecordingProcessing, Type: mediaType, Codec: codec, StartedAt: started, CreatedAt: now, UpdatedAt: now}
		if err := q.InsertRecording(ctx, r); err != nil {
			return err
		}
		to, err := roomOf(ctx, q, sess.RoomID)
		if err != nil {
			return err
		}
		return s.emit(ctx, q, to, domain.Event{Type: domain.EventRecordingStarted, RoomID: r.RoomID, SessionID: r.SessionID,
			ParticipantID: r.ParticipantID, RecordingID: r.ID, MediaType: r.Type}, now)
	})
	return r, err
}

// CompleteRecording marks a recording's file as written and downloadable.
func (s *Service) CompleteRecording(ctx context.Context, id string, sizeMB float64, durationSecs int, downloadURL string) (domain.Recording, error) {
	return s.FinishRecording(ctx, id, RecordingResult{SizeMB: sizeMB, DurationSecs: durationSecs, DownloadURL: downloadURL})
}

// RecordingResult is what a finished recording's file holds.
type RecordingResult struct {
	// EndedAt is when its media ended (zero: now).
	EndedAt      time.Time
	SizeMB       float64
	DurationSecs int
	DownloadURL  string
}

// FinishRecording marks a recording's file as written and downloadable,
// and sends video.room.recording.completed; a second call changes
// nothing.
func (s *Service) FinishRecording(ctx context.Context, id string, res RecordingResult) (domain.Recording, error) {
	var r domain.Recording
	sizeMB, durationSecs, downloadURL := res.SizeMB, res.DurationSecs, res.DownloadURL
	err := s.commit(ctx, func(q store.Queries) error {
		var err error
		if r, err = q.GetRecording(ctx, id); err != nil {
			return err
		}
		if r.Status != domain.RecordingProcessing {
			return errAlreadyDone // once only: no second event
		}
		now := domain.Advance(r.UpdatedAt, s.now())
		if r.EndedAt == nil {
			r.EndedAt = &now
			if !res.EndedAt.IsZero() {
				end := notBefore(domain.Timestamp(res.EndedAt), r.StartedAt)
				r.EndedAt = &end
			}
		}
		r.Status, r.CompletedAt, r.UpdatedAt = domain.RecordingCompleted, &now, now
		r.SizeMB, r.DurationSecs, r.DownloadURL = &sizeMB, &durationSecs, &downloadURL
		if err := q.UpdateRecording(ctx, r); err != nil {
			return err
		}
		to, err := roomOf(ctx, q, r.RoomID)
		if err != nil {
			return err
		}
		return s.emit(ctx, q, to, domain.Event{Type: domain.EventRecordingCompleted, RoomID: r.RoomID, SessionID: r.SessionID,
			ParticipantID: r.ParticipantID, RecordingID: r.ID, MediaType: r.Type, Codec: r.Codec, SizeMB: r.SizeMB,
			DurationSecs: r.DurationSecs, DownloadURL: downloadURL}, now)
	})
	if errors.Is(err, errAlreadyDone) {
		return r, nil
	}
	return r, err
}

// FailRecording marks a recording that could not be written (the disk
// refused it, or its file is missing) as failed; what was written, if
// anything, stays downloadable at downloadURL (empty: nothing). No
// webhook is sent: the Telnyx events have none for a failure.
func (s *Service) FailRecording(ctx context.Context, id string, endedAt time.Time, downloadURL string) (domain.Recording, error) {
	var r domain.Recording
	err := s.commit(ctx, func(q store.Queries) error {
		var err error
		if r, err = q.GetRecording(ctx, id); err != nil {
			return err
		}
		if r.Status != domain.RecordingProcessing {
			return errAlreadyDone
		}
		now := domain.Advance(r.UpdatedAt, s.now())
		end := now
		if !endedAt.IsZero() {
			end = notBefore(domain.Timestamp(endedAt), r.StartedAt)
		}
		r.Status, r.EndedAt, r.UpdatedAt = domain.RecordingFailed, &end, now
		if downloadURL != "" {
			r.DownloadURL = &downloadURL
		}
		return q.UpdateRecording(ctx, r)
	})
	if errors.Is(err, errAlreadyDone) {
		return r, nil
	}
	return r, err
}

// notBefore returns t, or min when t is earlier.
func notBefore(t, min time.Time) time.Time {
	if t.Before(min) {
		return min
	}
	return t
}

// errAlreadyDone stops a transaction that would repeat a completion.
var errAlreadyDone = errors.New("already completed")

// GetRecording returns one recording.
func (s *Service) GetRecording(ctx context.Context, id string) (domain.Recording, error) {
	return s.store.GetRecording(ctx, id)
}

// ListRecordings returns a page of recordings, latest started first.
func (s *Service) ListRecordings(ctx context.Context, f store.RecordingFilter, p store.Page) ([]domain.Recording, int, error) {
	return s.store.ListRecordings(ctx, f, p)
}

// DeleteRecording removes one recording and its file.
func (s *Service) DeleteRecording(ctx context.Context, id string) error {
	if err := s.store.DeleteRecording(ctx, id); err != nil {
		return err
	}
	s.deleteFiles(ctx, domain.RecordingKey, []string{id})
	return nil
}

// deleteFiles removes the files of deleted rows. The rows are gone
// already: a file that cannot be removed now is only wasted space, so
// the failure is not the caller's.
func (s *Service) deleteFiles(ctx context.Context, key func(string) string, ids []string) {
	if s.files == nil {
		return
	}
	for _, id := range ids {
		_ = s.files.Delete(context.WithoutCancel(ctx), key(id))
	}
}

// DeleteRecordings removes the recordings matching f (only page p of them
// when p is not nil) and says how many. An empty filter is refused.
func (s *Service) DeleteRecordings(ctx context.Context, f store.RecordingFilter, p *store.Page) (int, error) {
	if f.IsZero() {
		return 0, ErrUnfilteredDelete
	}
	ids, err := s.store.DeleteRecordings(ctx, f, p)
	if err != nil {
		return 0, err
	}
	s.deleteFiles(ctx, domain.RecordingKey, ids)
	return len(ids), nil
}

// Composition limits.
const (
	minSide         = 16
	maxSide         = 1280
	maxPixels       = 1280 * 720
	maxRegions      = 2
	defaultFormat   = "mp4"
	defaultResol    = "1280x720"
	maxZPos         = 99
	maxGridCells    = 1000
	allVideoSources = "*"
)

// CompositionRequest is what a caller asks to be composed.
type CompositionRequest struct {
	SessionID   *string
	Format      *string
	Resolution  *string
	VideoLayout map[string]domain.VideoRegion
	Webhooks    WebhookSettings
}

var resolutionRE = regexp.MustCompile(`^([0-9]{1,4})x([0-9]{1,4})$`)

func parseResolution(v string) (w, h int, err error) {
	m := resolutionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, domain.Invalid("resolution", "must be WIDTHxHEIGHT such as 1280x720, got %q", v)
	}
	w, _ = strconv.Atoi(m[1])
	h, _ = strconv.Atoi(m[2])
	if w < minSide || w > maxSide || h < minSide || h > maxSide {
		return 0, 0, domain.Invalid("resolution", "width and height must each be from %d to %d, got %s", minSide, maxSide, v)
	}
	if w*h > maxPixels {
		return 0, 0, domain.Invalid("resolution", "must have at most 1280x720 pixels (%d), got %s (%d)", maxPixels, v, w*h)
	}
	return w, h, nil
}

// CreateComposition validates the request against the session's recordings
// and enqueues a composition.
func (s *Service) CreateComposition(ctx context.Context, req CompositionRequest) (domain.Composition, error) {
	if err := req.Webhooks.validate(); err != nil {
		return domain.Composition{}, err
	}
	if req.SessionID == nil {
		return domain.Composition{}, &domain.ValidationError{Field: "session_id", Kind: domain.KindRequired,
			Detail: "session_id is required: the id of an ended session whose recordings to compose"}
	}
	format := defaultFormat
	if req.Format != nil {
		format = *req.Format
	}
	if format != defaultFormat {
		return domain.Composition{}, domain.Invalid("format", "must be mp4, got %q", format)
	}
	resolution := defaultResol
	if req.Resolution != nil {
		resolution = *req.Resolution
	}
	width, height, err := parseResolution(resolution)
	if err != nil {
		return domain.Composition{}, err
	}
	if err := checkLayoutShape(req.VideoLayout, width, height); err != nil {
		return domain.Composition{}, err
	}
	empty := ""
	c := domain.Composition{Status: domain.CompositionEnqueued, Format: format, Resolution: resolution,
		VideoLayout: req.VideoLayout, WebhookEventFailoverURL: &empty}
	if c.VideoLayout == nil {
		c.VideoLayout = map[string]domain.VideoRegion{}
	}
	req.Webhooks.apply(&c.WebhookEventURL, &c.WebhookEventFailoverURL, &c.WebhookTimeoutSecs)
	err = s.store.InTx(ctx, func(q store.Queries) error {
		sess, err := q.GetSession(ctx, *req.SessionID)
		if errors.Is(err, domain.ErrNotFound) {
			return domain.Invalid("session_id", "no session with id %s", *req.SessionID)
		}
		if err != nil {
			return err
		}
		if sess.Active {
			return domain.Invalid("session_id", "session %s is still active; compose it once it has ended", sess.ID)
		}
		if err := checkLayoutSources(ctx, q, c.VideoLayout, sess.ID); err != nil {
			return err
		}
		now := s.clock()
		c.ID, c.RoomID, c.SessionID, c.CreatedAt, c.UpdatedAt = s.newID(), sess.RoomID, sess.ID, now, now
		return q.InsertComposition(ctx, c)
	})
	if err != nil {
		return domain.Composition{}, err
	}
	if s.composed != nil {
		s.composed()
	}
	return c, nil
}

func sortedKeys(l map[string]domain.VideoRegion) []string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkLayoutShape checks the regions against the canvas.
func checkLayoutShape(l map[string]domain.VideoRegion, width, height int) error {
	if len(l) > maxRegions {
		return domain.Invalid("video_layout", "may have at most %d regions, got %d", maxRegions, len(l))
	}
	for _, name := range sortedKeys(l) {
		r := l[name]
		at := func(f string) string { return "video_layout/" + domain.PathStep(name) + "/" + f }
		if name == "" {
			return domain.Invalid("video_layout", "region names must not be empty")
		}
		x, y := deref(r.XPos), deref(r.YPos)
		if x < 0 || x >= width {
			return domain.Invalid(at("x_pos"), "must be from 0 to %d (inside the %dx%d canvas), got %d", width-1, width, height, x)
		}
		if y < 0 || y >= height {
			return domain.Invalid(at("y_pos"), "must be from 0 to %d (inside the %dx%d canvas), got %d", height-1, width, height, y)
		}
		if z := deref(r.ZPos); z < -maxZPos || z > maxZPos {
			return domain.Invalid(at("z_pos"), "must be from -%d to %d, got %d", maxZPos, maxZPos, z)
		}
		if r.Width != nil && (*r.Width < minSide || x+*r.Width > width) {
			return domain.Invalid(at("width"), "must be at least %d and fit the canvas (x_pos + width <= %d), got %d", minSide, width, *r.Width)
		}
		if r.Height != nil && (*r.Height < minSide || y+*r.Height > height) {
			return domain.Invalid(at("height"), "must be at least %d and fit the canvas (y_pos + height <= %d), got %d", minSide, height, *r.Height)
		}
		if r.MaxColumns != nil && (*r.MaxColumns < 1 || *r.MaxColumns > maxGridCells) {
			return domain.Invalid(at("max_columns"), "must be from 1 to %d, got %d", maxGridCells, *r.MaxColumns)
		}
		if r.MaxRows != nil && (*r.MaxRows < 1 || *r.MaxRows > maxGridCells) {
			return domain.Invalid(at("max_rows"), "must be from 1 to %d, got %d", maxGridCells, *r.MaxRows)
		}
		for i, src := range r.VideoSources {
			if src == allVideoSources {
				continue
			}
			if _, err := uuid.Parse(src); err != nil || len(src) != 36 {
				return domain.Invalid(fmt.Sprintf("%s/%d", at("video_sources"), i), "must be a video recording id or \"*\", got %q", src)
			}
		}
	}
	return nil
}

// checkLayoutSources checks that every named source is a video recording
// of the session.
func checkLayoutSources(ctx context.Context, q store.Queries, l map[string]domain.VideoRegion, sessionID string) error {
	for _, name := range sortedKeys(l) {
		for i, src := range l[name].VideoSources {
			if src == allVideoSources {
				continue
			}
			field := fmt.Sprintf("video_layout/%s/video_sources/%d", domain.PathStep(name), i)
			r, err := q.GetRecording(ctx, src)
			if errors.Is(err, domain.ErrNotFound) || (err == nil && r.SessionID != sessionID) {
				return domain.Invalid(field, "recording %s is not a recording of session %s", src, sessionID)
			}
			if err != nil {
				return err
			}
			if r.Type != domain.MediaVideo {
				return domain.Invalid(field, "recording %s is %s, not video", src, r.Type)
			}
		}
	}
	return nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// GetComposition returns one composition.
func (s *Service) GetComposition(ctx context.Context, id string) (domain.Composition, error) {
	return s.store.GetComposition(ctx, id)
}

// CompleteComposition marks a composition rendered and downloadable, and
// sends video.room.composition.completed to the composition's webhook.
func (s *Service) CompleteComposition(ctx context.Context, id string, sizeMB float64, durationSecs int, downloadURL string) (domain.Composition, error) {
	var c domain.Composition
	err := s.commit(ctx, func(q store.Queries) error {
		var err error
		if c, err = q.GetComposition(ctx, id); err != nil {
			return err
		}
		if c.Status == domain.CompositionCompleted {
			return errAlreadyDone // once only: no second event
		}
		now := domain.Advance(c.UpdatedAt, s.now())
		if c.StartedAt == nil {
			c.StartedAt = &now
		}
		c.Status, c.EndedAt, c.CompletedAt, c.UpdatedAt = domain.CompositionCompleted, &now, &now, now
		c.SizeMB, c.DurationSecs, c.DownloadURL, c.FailureReason = &sizeMB, &durationSecs, &downloadURL, nil
		if err := q.UpdateComposition(ctx, c); err != nil {
			return err
		}
		return s.emit(ctx, q, compositionDestination(c), domain.Event{Type: domain.EventCompositionCompleted, RoomID: c.RoomID, SessionID: c.SessionID,
			CompositionID: c.ID, SizeMB: c.SizeMB, DurationSecs: c.DurationSecs, DownloadURL: downloadURL,
			Format: c.Format, Resolution: c.Resolution}, now)
	})
	if errors.Is(err, errAlreadyDone) {
		return c, nil
	}
	return c, err
}

// maxFailureReason bounds the failure_reason kept (ffmpeg can say a lot).
const maxFailureReason = 2000

// FailComposition marks a composition that could not be rendered as
// failed, saying why. A composition already completed or failed stays
// as it is. No webhook is sent: the Telnyx events have none for a
// failure.
func (s *Service) FailComposition(ctx context.Context, id, reason string) (domain.Composition, error) {
	if len(reason) > maxFailureReason {
		reason = strings.ToValidUTF8(reason[:maxFailureReason], "") + "…"
	}
	var c domain.Composition
	err := s.commit(ctx, func(q store.Queries) error {
		var err error
		if c, err = q.GetComposition(ctx, id); err != nil {
			return err
		}
		if c.Status == domain.CompositionCompleted || c.Status == domain.CompositionFailed {
			return errAlreadyDone
		}
		now := domain.Advance(c.UpdatedAt, s.now())
		if c.StartedAt == nil {
			c.StartedAt = &now
		}
		c.Status, c.EndedAt, c.UpdatedAt, c.FailureReason = domain.CompositionFailed, &now, now, &reason
		return q.UpdateComposition(ctx, c)
	})
	if errors.Is(err, errAlreadyDone) {
		return c, nil
	}
	return c, err
}

// ClaimComposition hands a worker the oldest composition waiting to be
// rendered (or one whose last worker's lease has passed), leased to it
// for lease; ok is false when none waits.
func (s *Service) ClaimComposition(ctx context.Context, lease time.Duration) (c domain.Composition, ok bool, err error) {
	now := s.clock()
	return s.store.ClaimComposition(ctx, now, now.Add(lease))
}

// RenewComposition extends a worker's lease on the composition it
// claimed (attempt is the claim's Attempts) by lease from now; false
// means the job is no longer the worker's.
func (s *Service) RenewComposition(ctx context.Context, id string, attempt int, lease time.Duration) (bool, error) {
	return s.store.RenewComposition(ctx, id, attempt, s.clock().Add(lease))
}

// ReleaseComposition gives a claimed composition back (its lease ends
// now), for a worker that stops before it is rendered: the next claim
// takes it.
func (s *Service) ReleaseComposition(ctx context.Context, id string, attempt int) error {
	_, err := s.store.RenewComposition(ctx, id, attempt, s.clock())
	return err
}

// ListCompositions returns a page of compositions, newest first.
func (s *Service) ListCompositions(ctx context.Context, f store.CompositionFilter, p store.Page) ([]domain.Composition, int, error) {
	return s.store.ListCompositions(ctx, f, p)
}

// DeleteComposition removes one composition and its file.
func (s *Service) DeleteComposition(ctx context.Context, id string) error {
	if err := s.store.DeleteComposition(ctx, id); err != nil {
		return err
	}
	s.deleteFiles(ctx, domain.CompositionKey, []string{id})
	return nil
}
