package sfu

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomsd/roomsd/internal/domain"
)

// Event types, reported to each participant's Events callback. They are
// the server messages of the signaling protocol.
const (
	EventOffer             = "offer"
	EventAnswer            = "answer"
	EventCandidate         = "candidate"
	EventParticipantJoined = "participant_joined"
	EventParticipantLeft   = "participant_left"
	EventTrackPublished    = "track_published"
	EventTrackUnpublished  = "track_unpublished"
	EventMuted             = "muted"
	EventUnmuted           = "unmuted"
	// EventReconnecting: a participant's signaling connection dropped and
	// it may come back (its media still runs); EventReconnected: it did.
	EventReconnecting = "participant_reconnecting"
	EventReconnected  = "participant_reconnected"
	// EventSelfMuted: a participant turned its own microphone or camera
	// off or on. EventScreenShare: which of its video tracks is a screen
	// ("" for none). EventChat: a chat message to the room.
	EventSelfMuted          = "self_muted"
	EventScreenShare        = "screen_share"
	EventChat               = "chat"
	EventClosed             = "closed"
	EventConnectionFailed   = "connection_failed"
	EventRenegotiationError = "renegotiation_error"
	EventSpeakers           = "speakers"
)

// Event is something a participant's signaling connection must hear of.
type Event struct {
	Type          string
	ParticipantID string
	Context       string
	TrackID       string
	Kind          string
	// Stream, in track events, names the publisher's connection that
	// carries the track (ConnOptions.Stream; "" for the main connection).
	Stream    string
	Reason    string
	SDP       *webrtc.SessionDescription
	Candidate *webrtc.ICECandidateInit
	// Speakers, in a speakers event, are who speak now, loudest first.
	Speakers []string
	// Muted, in a self-muted event: whether the participant turned its
	// microphone or camera (Kind) off.
	Muted bool
	// Text and At, in a chat event: the message and when it was sent.
	Text string
	At   time.Time
}

// Manager holds the live rooms. It is safe for concurrent use.
type Manager struct {
	cfg Config
	api *webrtc.API
	log *slog.Logger
	// batch sends what one forwarded packet becomes for all its
	// subscribers in one system call (batch.go); nil if the socket is not
	// a UDP socket.
	batch *batchConn

	// estimators holds each new PeerConnection's bandwidth estimator
	// until its participant takes it.
	emu        sync.Mutex
	estimators map[string]*bwe

	counts counters

	mu           sync.Mutex
	rooms        map[string]*Room
	participants map[string]*Participant
	closed       bool
}

// NewManager builds the WebRTC API on cfg.UDP.
func NewManager(cfg Config, log *slog.Logger) (*Manager, error) {
	if cfg.UDP == nil {
		return nil, errors.New("sfu: no UDP socket")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.KeyframeInterval == 0 {
		cfg.KeyframeInterval = 500 * time.Millisecond
	}
	m := &Manager{cfg: cfg, log: log, rooms: map[string]*Room{}, participants: map[string]*Participant{},
		estimators: map[string]*bwe{}}
	conn := cfg.UDP
	if udp, ok := cfg.UDP.(*net.UDPConn); ok {
		m.batch = newBatchConn(udp)
		conn = m.batch
	}
	api, err := newAPI(cfg, conn, log, m.putEstimator)
	if err != nil {
		return nil, err
	}
	m.api = api
	return m, nil
}

func (m *Manager) putEstimator(pcID string, e *bwe) {
	m.emu.Lock()
	defer m.emu.Unlock()
	m.estimators[pcID] = e
}

// takeEstimator hands a new PeerConnection's estimator to its participant.
func (m *Manager) takeEstimator(pcID string) *bwe {
	m.emu.Lock()
	defer m.emu.Unlock()
	e := m.estimators[pcID]
	delete(m.estimators, pcID)
	return e
}

// ErrClosed is returned by Join once the Manager is closing.
var ErrClosed = errors.New("sfu: closed")

// Subscriptions says what a participant receives: what its signaling
// protocol decides, not a rule of the media server.
type Subscriptions int

const (
	// SubscribeAll: every track of everyone else in the room, from the
	// moment it is published (the roomsd protocol's policy).
	SubscribeAll Subscriptions = iota
	// SubscribeExplicit: only the tracks asked for with Subscribe.
	SubscribeExplicit
)

// Join adds a participant (already admitted by the rooms service) to the
// live room and returns it. events receives, in order and from a goroutine
// of the participant's own (never under a lock of the media server),
// everything that participant's signaling connection must send; it must
// not block for long. Every participant hears of every track published
// in the room (EventTrackPublished); sub says which it receives.
func (m *Manager) Join(roomID, sessionID, participantID, context string, events func(Event), sub Subscriptions) (*Participant, error) {
	return m.join(roomID, sessionID, participantID, context, events, sub, true)
}

// JoinWithoutConn is Join for a front end that opens the participant's
// connections itself (NewConn), one per published stream or
// subscription: the participant has no main connection and receives only
// what those connections subscribe to.
func (m *Manager) JoinWithoutConn(roomID, sessionID, participantID, context string, events func(Event)) (*Participant, error) {
	return m.join(roomID, sessionID, participantID, context, events, SubscribeExplicit, false)
}

func (m *Manager) join(roomID, sessionID, participantID, context string, events func(Event), sub Subscriptions, withConn bool) (*Participant, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		room := m.rooms[roomID]
		if room == nil {
			room = &Room{id: roomID, m: m, members: map[string]*Participant{}, stop: make(chan struct{})}
			m.rooms[roomID] = room
			go room.detectSpeakers(room.stop)
		}
		room.joining++ // the room is not empty while we join it
		m.mu.Unlock()

		// Building the PeerConnection is slow: no lock is held meanwhile.
		p, err := newParticipant(m, room, sessionID, participantID, context, events, sub, withConn)
		if err != nil {
			room.joinFailed()
			return nil, err
		}
		// Registration and membership happen in one critical section, so
		// Disconnect, CloseRoom and the empty-room timer see the
		// participant either fully in or not at all.
		m.mu.Lock()
		switch {
		case m.closed:
			m.mu.Unlock()
			p.closeConns()
			room.joinFailed()
			return nil, ErrClosed
		case m.rooms[roomID] != room:
			// The room was dropped while we built the connection (a join
			// under way keeps a room, so only Close does this): start
			// over with the current one.
			m.mu.Unlock()
			p.closeConns()
			room.joinFailed()
			continue
		}
		others, ok := room.admit(p)
		room.joining--
		if ok {
			m.participants[participantID] = p
		}
		m.mu.Unlock()
		if !ok {
			p.closeConns()
			room.settle()
			return nil, ErrClosed // it failed or was closed while connecting
		}
		go p.deliver()
		room.welcome(p, others)
		if p.conn != nil {
			go p.conn.allocateLoop()
		}
		return p, nil
	}
}

func (m *Manager) forget(p *Participant) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.participants[p.id] == p {
		delete(m.participants, p.id)
	}
}

// dropRoomIfEmpty removes an empty room from the registry and reports
// whether it did.
func (m *Manager) dropRoomIfEmpty(r *Room) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rooms[r.id] == r && r.joining == 0 && r.empty() {
		delete(m.rooms, r.id)
		close(r.stop)
		return true
	}
	return false
}

func (m *Manager) lookup(ids []string) []*Participant {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Participant, 0, len(ids))
	for _, id := range ids {
		if p := m.participants[id]; p != nil {
			out = append(out, p)
		}
	}
	return out
}

// Participant returns a connected participant by id, or nil.
func (m *Manager) Participant(id string) *Participant {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.participants[id]
}

// Disconnect closes the given participants' media and signaling with a
// reason (kicked, ...). Unknown ids are ignored: they are not connected
// here.
func (m *Manager) Disconnect(participantIDs []string, reason string) {
	for _, p := range m.lookup(participantIDs) {
		p.Close(reason)
	}
}

// SetMuted stops (or resumes) forwarding the participants' audio and tells
// everyone in their rooms.
func (m *Manager) SetMuted(participantIDs []string, muted bool) {
	for _, p := range m.lookup(participantIDs) {
		p.setMuted(muted)
	}
}

// members returns who is in a live room right now (nil for no room).
func (m *Manager) members(roomID string) []*Participant {
	m.mu.Lock()
	room := m.rooms[roomID]
	m.mu.Unlock()
	if room == nil {
		return nil
	}
	return room.snapshot()
}

// CloseSession disconnects everyone in a room who joined the given
// session; someone who already joined the room's next session stays.
func (m *Manager) CloseSession(roomID, sessionID, reason string) {
	for _, p := range m.members(roomID) {
		if p.sessionID == sessionID {
			p.Close(reason)
		}
	}
}

// CloseRoom disconnects everyone in a room.
func (m *Manager) CloseRoom(roomID, reason string) {
	for _, p := range m.members(roomID) {
		p.Close(reason)
	}
}

// Participants reports who is connected to a room right now.
func (m *Manager) Participants(roomID string) []string {
	var ids []string
	for _, p := range m.members(roomID) {
		ids = append(ids, p.id)
	}
	return ids
}

// Live reports who is connected to a room right now, with the session
// each joined and whether its audio is muted.
func (m *Manager) Live(roomID string) []domain.Live {
	var out []domain.Live
	for _, p := range m.members(roomID) {
		out = append(out, domain.Live{ParticipantID: p.id, SessionID: p.sessionID, Muted: p.muted.Load()})
	}
	return out
}

// Rooms lists the rooms that have someone connected (or joining) now.
func (m *Manager) Rooms() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.rooms))
	for id := range m.rooms {
		out = append(out, id)
	}
	return out
}

// Close disconnects everyone and refuses new joins.
func (m *Manager) Close(reason string) {
	m.mu.Lock()
	m.closed = true
	var all []*Participant
	for _, p := range m.participants {
		all = append(all, p)
	}
	for _, r := range m.rooms {
		r.stopTimer()
	}
	m.mu.Unlock()
	for _, p := range all {
		p.Close(reason)
	}
}
