// Package rooms holds the use cases of roomsd: creating, changing and
// listing rooms, and the session lifecycle (join, leave, end). It is the one
// place where domain rules are applied; the REST API and, later, the SFU
// both call it. It knows nothing of HTTP or JSON.
package rooms

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/token"
)

// Service runs the room use cases against a store.
type Service struct {
	store  store.Store
	signer *token.Signer
	media  Media
	rec    Recorder
	files  Files
	node   string
	lease  time.Duration
	// kickBan is how long a kicked participant's token family and meeting
	// link stay out of the room.
	kickBan time.Duration
	log     *slog.Logger
	notify  func()
	// composed is called once a composition has been enqueued.
	composed func()
	now      func() time.Time
	newID    func() string
	tokens   tokenCounts
}

// Option configures a Service.
type Option func(*Service)

// DefaultKickBan is how long, by default, the token and meeting link of a
// kicked participant cannot join the room again.
const DefaultKickBan = 10 * time.Minute

// WithKickBan sets how long a kicked participant's token (its whole
// family: the refresh token and the tokens issued from it) and meeting
// link cannot join the room again.
func WithKickBan(d time.Duration) Option { return func(s *Service) { s.kickBan = d } }

// WithLogger makes the service log, at info, one line per session start
// and end, join and leave, and mute or unmute.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithClock replaces time.Now, for tests that need chosen timestamps.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// New returns a Service over st.
func New(st store.Store, opts ...Option) *Service {
	s := &Service{store: st, now: time.Now, newID: newID, log: slog.New(slog.DiscardHandler), kickBan: DefaultKickBan}
	for _, o := range opts {
		o(s)
	}
	return s
}

// newID returns a time-ordered UUID (version 7), which keeps inserts at the
// right-hand edge of every id index.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

func (s *Service) clock() time.Time { return domain.Timestamp(s.now()) }

// Media is the live side of rooms: the media server. The service tells it
// what the REST API decided, after the decision is committed.
type Media interface {
	// Disconnect drops the participants' connections for a reason.
	Disconnect(participantIDs []string, reason string)
	// SetMuted stops or resumes forwarding the participants' audio.
	SetMuted(participantIDs []string, muted bool)
	// CloseSession drops everyone connected to a room's given session.
	CloseSession(roomID, sessionID, reason string)
	// CloseRoom drops everyone connected to a room.
	CloseRoom(roomID, reason string)
	// Live reports who is connected to a room's media here.
	Live(roomID string) []domain.Live
	// Rooms lists the rooms with someone connected here.
	Rooms() []string
}

// Recorder is the recording side of the media server: told when a room's
// enable_recording changes, so the change applies to the tracks of its
// running session from then on.
type Recorder interface {
	SetRecording(roomID string, on bool)
	// Ensure applies enable_recording as the database holds it now,
	// unless it is what the recorder applied last: a change made on
	// another node.
	Ensure(roomID string, on bool)
}

// WithRecorder connects the service to the recorder.
func WithRecorder(r Recorder) Option { return func(s *Service) { s.rec = r } }

// Files is where recorded and rendered media is kept (by key).
type Files interface {
	Delete(ctx context.Context, key string) error
}

// WithFiles lets deleting a recording or a composition delete its file.
func WithFiles(f Files) Option { return func(s *Service) { s.files = f } }

// WithCompositionNotifier registers a function called after a
// composition has been enqueued (the renderer's wake-up). It must not
// block.
func WithCompositionNotifier(fn func()) Option { return func(s *Service) { s.composed = fn } }

// WithNode names the server this service runs in, among those sharing
// the database: the sessions it opens are its own.
func WithNode(id string) Option { return func(s *Service) { s.node = id } }

// WithNodeLease makes the service one node of a cluster whose nodes
// renew their heartbeat within lease: a join for a room whose live
// session another live node serves is sent there (domain.ElsewhereError),
// and the session of a node silent for longer is ended and taken over.
// Without it (one server on its database) every session is served here.
func WithNodeLease(lease time.Duration) Option { return func(s *Service) { s.lease = lease } }

// WithMedia connects the service to the media server.
func WithMedia(m Media) Option { return func(s *Service) { s.media = m } }

// Opt is a field that may be absent from a request. Set distinguishes
// "not sent" from "sent as the zero value" (or as null, for pointer types).
type Opt[T any] struct {
	Set   bool
	Value T
}

// Some returns a set Opt.
func Some[T any](v T) Opt[T] { return Opt[T]{Set: true, Value: v} }

// RoomChanges are the writable fields of a room. On create, unset fields
// take their defaults; on update, unset fields keep their values.
type RoomChanges struct {
	UniqueName              Opt[*string]
	MaxParticipants         Opt[int]
	EnableRecording         Opt[bool]
	WebhookEventURL         Opt[*string]
	WebhookEventFailoverURL Opt[*string]
	WebhookTimeoutSecs      Opt[*int]
}

func (c RoomChanges) empty() bool {
	return !c.UniqueName.Set && !c.MaxParticipants.Set && !c.EnableRecording.Set &&
		!c.WebhookEventURL.Set && !c.WebhookEventFailoverURL.Set && !c.WebhookTimeoutSecs.Set
}

// WebhookSettings are the webhook fields that rooms and compositions share.
type WebhookSettings struct {
	WebhookEventURL         Opt[*string]
	WebhookEventFailoverURL Opt[*string]
	WebhookTimeoutSecs      Opt[*int]
}

func (c RoomChanges) webhooks() WebhookSettings {
	return WebhookSettings{c.WebhookEventURL, c.WebhookEventFailoverURL, c.WebhookTimeoutSecs}
}

// apply copies the fields that were sent onto a destination.
func (w WebhookSettings) apply(url, failover **string, timeout **int) {
	if w.WebhookEventURL.Set {
		*url = w.WebhookEventURL.Value
	}
	if w.WebhookEventFailoverURL.Set {
		*failover = w.WebhookEventFailoverURL.Value
	}
	if w.WebhookTimeoutSecs.Set {
		*timeout = w.WebhookTimeoutSecs.Value
	}
}

func (w WebhookSettings) validate() error {
	if w.WebhookEventURL.Set {
		if err := checkURL("webhook_event_url", w.WebhookEventURL.Value); err != nil {
			return err
		}
	}
	if w.WebhookEventFailoverURL.Set {
		if err := checkURL("webhook_event_failover_url", w.WebhookEventFailoverURL.Value); err != nil {
			return err
		}
	}
	if w.WebhookTimeoutSecs.Set && w.WebhookTimeoutSecs.Value != nil {
		if v := *w.WebhookTimeoutSecs.Value; v < 0 || v > domain.MaxWebhookTimeoutSecs {
			return domain.Invalid("webhook_timeout_secs", "must be between 0 and %d seconds, got %d", domain.MaxWebhookTimeoutSecs, v)
		}
	}
	return nil
}

func (c RoomChanges) apply(r *domain.Room) {
	if c.UniqueName.Set {
		r.UniqueName = c.UniqueName.Value
	}
	if c.MaxParticipants.Set {
		r.MaxParticipants = c.MaxParticipants.Value
	}
	if c.EnableRecording.Set {
		r.EnableRecording = c.EnableRecording.Value
	}
	c.webhooks().apply(&r.WebhookEventURL, &r.WebhookEventFailoverURL, &r.WebhookTimeoutSecs)
}

// validate checks the fields a request sent, in a fixed order so the first
// error reported is deterministic.
func (c RoomChanges) validate() error {
	if c.UniqueName.Set && c.UniqueName.Value != nil {
		n := utf8.RuneCountInString(*c.UniqueName.Value)
		if n == 0 {
			return domain.Invalid("unique_name", "must not be empty; send null to remove the name")
		}
		if n > domain.MaxUniqueNameLen {
			return domain.Invalid("unique_name", "must be at most %d characters", domain.MaxUniqueNameLen)
		}
	}
	if c.MaxParticipants.Set {
		if v := c.MaxParticipants.Value; v < domain.MinParticipants || v > domain.MaxParticipants {
			return domain.Invalid("max_participants", "must be between %d and %d, got %d", domain.MinParticipants, domain.MaxParticipants, v)
		}
	}
	if err := c.webhooks().validate(); err != nil {
		return err
	}
	return nil
}

// checkURL accepts null, "" (no URL) or an absolute http(s) URL with a host.
func checkURL(field string, v *string) error {
	if v == nil || *v == "" {
		return nil
	}
	bad := &domain.ValidationError{Field: field, Kind: domain.KindInvalidURL}
	if len(*v) > domain.MaxURLLen {
		bad.Detail = "must be at most 2000 characters"
		return bad
	}
	u, err := url.Parse(*v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		bad.Detail = "must be an absolute http:// or https:// URL with a host, such as https://example.com/webhooks"
		return bad
	}
	return nil
}

// CreateRoom validates c, fills defaults and stores a new room.
func (s *Service) CreateRoom(ctx context.Context, c RoomChanges) (domain.Room, error) {
	if err := c.validate(); err != nil {
		return domain.Room{}, err
	}
	now := s.clock()
	empty := ""
	r := domain.Room{
		ID:                      s.newID(),
		MaxParticipants:         domain.DefaultMaxParticipant,
		WebhookEventFailoverURL: &empty,
		CreatedAt:               now,
		UpdatedAt:               now,
	}
	c.apply(&r)
	if err := s.store.InsertRoom(ctx, r); err != nil {
		return domain.Room{}, err
	}
	return r, nil
}

// GetRoom returns one room.
func (s *Service) GetRoom(ctx context.Context, id string) (domain.Room, error) {
	return s.store.GetRoom(ctx, id)
}

// UpdateRoom applies c to the room atomically. A request that sends no
// field changes nothing, not even updated_at.
func (s *Service) UpdateRoom(ctx context.Context, id string, c RoomChanges) (domain.Room, error) {
	if err := c.validate(); err != nil {
		return domain.Room{}, err
	}
	var out domain.Room
	toggled := false
	err := s.store.InTx(ctx, func(q store.Queries) error {
		r, err := q.LockRoom(ctx, id)
		if err != nil {
			return err
		}
		if c.empty() {
			out = r
			return nil
		}
		was := r.EnableRecording
		c.apply(&r)
		r.UpdatedAt = domain.Advance(r.UpdatedAt, s.now())
		if err := q.UpdateRoom(ctx, r); err != nil {
			return err
		}
		out, toggled = r, r.EnableRecording != was
		if toggled {
			// The node recording the room's live session may be another one.
			return q.NotifyRoom(ctx, r.ID)
		}
		return nil
	})
	if err == nil && toggled && s.rec != nil {
		s.rec.SetRecording(out.ID, out.EnableRecording)
	}
	return out, err
}

// DeleteRoom removes the room with its sessions and participants, and
// disconnects whoever is in it.
func (s *Service) DeleteRoom(ctx context.Context, id string) error {
	err := s.commit(ctx, func(q store.Queries) error {
		if _, err := q.LockRoom(ctx, id); err != nil {
			return err
		}
		// An active session ends first, so its webhooks go out.
		sess, err := q.ActiveSession(ctx, id)
		if err == nil {
			if _, _, err := s.endSessionTx(ctx, q, sess, domain.ReasonDeleted, domain.ReasonDeleted); err != nil {
				return err
			}
		} else if !errors.Is(err, domain.ErrNotFound) {
			return err
		}
		if err := q.NotifyRoom(ctx, id); err != nil {
			return err
		}
		return q.DeleteRoom(ctx, id)
	})
	if err == nil && s.media != nil {
		s.media.CloseRoom(id, domain.ReasonDeleted)
	}
	return err
}

// SessionView is a session with its participants in join order.
type SessionView struct {
	domain.Session
	Participants []domain.Participant
}

// RoomView is a room, with its sessions (newest first) when asked for.
type RoomView struct {
	domain.Room
	Sessions []SessionView
}

// ListRoomsParams selects a page of rooms.
type ListRoomsParams struct {
	Filter          store.RoomFilter
	Page            store.Page
	IncludeSessions bool
}

// ListRooms returns a page of rooms (newest first) and the total count.
func (s *Service) ListRooms(ctx context.Context, p ListRoomsParams) ([]RoomView, int, error) {
	rooms, total, err := s.store.ListRooms(ctx, p.Filter, p.Page)
	if err != nil {
		return nil, 0, err
	}
	views := make([]RoomView, len(rooms))
	for i, r := range rooms {
		views[i].Room = r
	}
	if p.IncludeSessions {
		if err := s.attachSessions(ctx, views); err != nil {
			return nil, 0, err
		}
	}
	return views, total, nil
}

// ViewRoom returns one room, with its sessions when asked for.
func (s *Service) ViewRoom(ctx context.Context, id string, includeSessions bool) (RoomView, error) {
	r, err := s.store.GetRoom(ctx, id)
	if err != nil {
		return RoomView{}, err
	}
	views := []RoomView{{Room: r}}
	if includeSessions {
		if err := s.attachSessions(ctx, views); err != nil {
			return RoomView{}, err
		}
	}
	return views[0], nil
}

// attachSessions loads the sessions and participants of all rooms in two
// queries, whatever the number of rooms.
func (s *Service) attachSessions(ctx context.Context, views []RoomView) error {
	ids := make([]string, len(views))
	byRoom := make(map[string]*RoomView, len(views))
	for i := range views {
		ids[i] = views[i].ID
		views[i].Sessions = []SessionView{}
		byRoom[views[i].ID] = &views[i]
	}
	sessions, err := s.store.SessionsByRooms(ctx, ids)
	if err != nil {
		return err
	}
	sviews := make([]SessionView, len(sessions))
	for i, ss := range sessions {
		sviews[i].Session = ss
	}
	if err := s.attachParticipants(ctx, sviews); err != nil {
		return err
	}
	for _, sv := range sviews {
		v := byRoom[sv.RoomID]
		v.Sessions = append(v.Sessions, sv)
	}
	return nil
}
