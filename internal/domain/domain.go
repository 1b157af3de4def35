// Package domain holds the video-rooms entities, their invariants and the
// errors the rest of roomsd speaks in. It imports nothing but the standard
// library; storage, HTTP and media code all depend on it, never the reverse.
package domain

import (
	"math"
	"time"
)

// Limits on room fields. They mirror the public Telnyx contract.
const (
	MinParticipants       = 2
	MaxParticipants       = 50
	DefaultMaxParticipant = 10
	MaxWebhookTimeoutSecs = 30
	MaxUniqueNameLen      = 255
	MaxURLLen             = 2000
)

// Room is a named place people join. Its active session, when there is one,
// is derived from the sessions table rather than stored twice.
type Room struct {
	ID                      string
	UniqueName              *string
	MaxParticipants         int
	EnableRecording         bool
	WebhookEventURL         *string
	WebhookEventFailoverURL *string
	WebhookTimeoutSecs      *int
	ActiveSessionID         *string
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// Session is one continuous period during which a room had participants.
type Session struct {
	ID        string
	RoomID    string
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
	EndedAt   *time.Time
	// EndedReason says why the session ended, once it has.
	EndedReason string
	// NodeID names the server whose media server holds the session (""
	// for sessions of before servers were named).
	NodeID string
}

// Participant is one person's presence in one session.
type Participant struct {
	ID        string
	SessionID string
	Context   string
	JoinedAt  time.Time
	UpdatedAt time.Time
	LeftAt    *time.Time
	// AudioMuted is set by the mute action; the media server stops
	// forwarding the participant's audio while it holds.
	AudioMuted bool
	// LeftReason says why the participant left, once they have.
	LeftReason string
}

// Timestamp normalises a time to what roomsd stores and prints: UTC,
// microsecond precision.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Advance returns now, or one microsecond after prev when the clock has not
// moved past it, so that an update always moves updated_at forward.
func Advance(prev, now time.Time) time.Time {
	now = Timestamp(now)
	if !now.After(prev) {
		return prev.Add(time.Microsecond)
	}
	return now
}

// Reasons recorded when a session ends or a participant leaves. They feed
// the left_reason and ended_reason fields of webhook events.
const (
	ReasonLeft    = "leave"
	ReasonKicked  = "kicked"
	ReasonEnded   = "session_ended"
	ReasonDeleted = "room_deleted"
	ReasonEmpty   = "empty"
	ReasonAPI     = "api"
	// ReasonDisconnected: the connection dropped and did not come back.
	ReasonDisconnected = "disconnected"
	// ReasonRestart: the server stopped while the session was active.
	ReasonRestart = "server_restart"
	// ReasonShutdown: the server was stopped (SIGTERM): it ended its
	// sessions as it stopped, and told its participants so.
	ReasonShutdown = "server_shutdown"
	// ReasonNodeLost: the node serving the session stopped renewing its
	// heartbeat (it died, or lost the database) and another node ended
	// the session.
	ReasonNodeLost = "node_lost"
)

// Recording statuses and media types. A recording is processing while
// its track is written, completed once its file is whole, and failed when
// the file could not be written (disk full, write error) or was lost.
const (
	RecordingProcessing = "processing"
	RecordingCompleted  = "completed"
	RecordingFailed     = "failed"
	MediaAudio          = "audio"
	MediaVideo          = "video"
)

// Recording is the media of one participant's track in one session. It
// keeps its room, session and participant ids after those are deleted.
type Recording struct {
	ID            string
	RoomID        string
	SessionID     string
	ParticipantID string
	Status        string
	Type          string
	Codec         string
	SizeMB        *float64
	DurationSecs  *int
	DownloadURL   *string
	StartedAt     time.Time
	EndedAt       *time.Time
	CompletedAt   *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// HasFile reports whether the recording has a file to download: a
// completed one, or what a failed one managed to write.
func (r Recording) HasFile() bool { return r.Status != RecordingProcessing && r.DownloadURL != nil }

// HasFile reports whether the composition has been rendered to a file.
func (c Composition) HasFile() bool { return c.Status == CompositionCompleted }

// SizeMB is a file's size as size_mb gives it: megabytes (10^6 bytes)
// to the kilobyte.
func SizeMB(bytes int64) float64 { return math.Round(float64(bytes)/1e3) / 1e3 }

// DurationSecs is a length as duration_secs gives it: whole seconds,
// rounded, never negative.
func DurationSecs(d time.Duration) int { return int(max(d, 0).Round(time.Second) / time.Second) }

// RecordingKey is where a recording's file is kept in the file store.
func RecordingKey(id string) string { return "recordings/" + id }

// CompositionKey is where a composition's file is kept in the file store.
func CompositionKey(id string) string { return "compositions/" + id }

// Composition statuses. A composition waits enqueued until a worker
// claims it, is processing while ffmpeg renders it, and ends completed
// (its file downloadable) or failed (with a reason).
const (
	CompositionEnqueued   = "enqueued"
	CompositionProcessing = "processing"
	CompositionCompleted  = "completed"
	CompositionFailed     = "failed"
)

// VideoRegion places recorded videos on a composition's canvas.
type VideoRegion struct {
	XPos         *int
	YPos         *int
	ZPos         *int
	Height       *int
	Width        *int
	MaxColumns   *int
	MaxRows      *int
	VideoSources []string
}

// Composition is a request to render a session's recordings into one file.
type Composition struct {
	ID                      string
	RoomID                  string
	SessionID               string
	Status                  string
	Format                  string
	Resolution              string
	VideoLayout             map[string]VideoRegion
	WebhookEventURL         *string
	WebhookEventFailoverURL *string
	WebhookTimeoutSecs      *int
	SizeMB                  *float64
	DurationSecs            *int
	DownloadURL             *string
	StartedAt               *time.Time
	EndedAt                 *time.Time
	CompletedAt             *time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
	// FailureReason says why a failed composition could not be rendered.
	FailureReason *string
	// Attempts counts the claims of the composition by a worker; a
	// worker's lease is good only while it is the latest.
	Attempts int
}
