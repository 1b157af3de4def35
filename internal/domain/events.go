package domain

import "time"

// Webhook event types.
const (
	EventSessionStarted       = "video.room.session.started"
	EventSessionEnded         = "video.room.session.ended"
	EventParticipantJoined    = "video.room.participant.joined"
	EventParticipantLeft      = "video.room.participant.left"
	EventRecordingStarted     = "video.room.recording.started"
	EventRecordingCompleted   = "video.room.recording.completed"
	EventCompositionCompleted = "video.room.composition.completed"
)

// Event is something that happened to a room, as its webhook reports it.
// Fields not used by the event's type are zero.
type Event struct {
	ID            string
	Type          string
	OccurredAt    time.Time
	RoomID        string
	SessionID     string
	ParticipantID string
	Context       string
	RecordingID   string
	CompositionID string
	MediaType     string
	Codec         string
	SizeMB        *float64
	DurationSecs  *int
	DownloadURL   string
	Format        string
	Resolution    string
	Reason        string
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one event on its way to one webhook destination.
type Delivery struct {
	Seq           int64
	Event         Event
	URL           string
	FailoverURL   string
	TimeoutSecs   *int
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	LastStatus    int
	DeliveredTo   string
	DeliveredAt   *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}
