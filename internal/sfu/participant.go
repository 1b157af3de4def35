package sfu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// Participant is one connected person: the connections that carry their
// media (see Conn), what they publish and what they receive.
type Participant struct {
	m         *Manager
	room      *Room
	id        string
	sessionID string
	context   string
	muted     atomic.Bool
	// away: its signaling connection dropped and it may come back.
	away atomic.Bool
	// selfMuted is what it turned off itself: audio, video.
	selfMutedAudio, selfMutedVideo atomic.Bool
	// screen is the id of its video track that is a screen, or "".
	screen atomic.Value
	done   chan struct{}
	// policy says whether the participant receives every track or only
	// those it subscribes to.
	policy Subscriptions
	// conn is the main connection, which the participant's signaling
	// negotiates through events and whose failure ends the participant;
	// nil for a participant whose front end makes connections of its own
	// (NewConn).
	conn *Conn

	// The outgoing event queue (see emit).
	qmu   sync.Mutex
	queue []Event
	wake  chan struct{}

	// mu guards the participant and the negotiation and subscription
	// state of its connections.
	mu       sync.Mutex
	events   func(Event)
	closed   bool
	reason   string
	tracks   []*track
	conns    []*Conn
	settings map[string]Settings // by track id: what the subscriber asked of a video
}

// ErrNegotiating refuses a client offer while a server offer awaits its
// answer; the client answers first, then offers again.
var ErrNegotiating = errors.New("a server offer is waiting for your answer; answer it, then offer again")

func newParticipant(m *Manager, room *Room, sessionID, id, context string, events func(Event), sub Subscriptions, withConn bool) (*Participant, error) {
	p := &Participant{m: m, room: room, id: id, sessionID: sessionID, context: context, events: events, policy: sub,
		settings: map[string]Settings{}, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	if withConn {
		c, err := p.newConn(ConnOptions{Publish: true}, true)
		if err != nil {
			return nil, err
		}
		p.conn = c
		p.conns = []*Conn{c}
	}
	return p, nil
}

// ID is the participant id (the REST API's room_participant id).
func (p *Participant) ID() string { return p.id }

// RoomID is the room the participant is in.
func (p *Participant) RoomID() string { return p.room.id }

// SessionID is the room session the participant joined.
func (p *Participant) SessionID() string { return p.sessionID }

// Member is someone else in the room as a resumed connection must learn
// it: who they are, whether they are muted, what they publish.
type Member struct {
	ID, Context string
	Muted       bool
	// Away: its signaling connection dropped and it may come back.
	Away bool
	// SelfMutedAudio and SelfMutedVideo: it turned them off itself.
	SelfMutedAudio, SelfMutedVideo bool
	// Screen is the id of its video track that is a screen, or "".
	Screen string
	Tracks []TrackInfo
}

// TrackInfo is a published track: its id (the one in track_published) and
// kind.
type TrackInfo struct{ ID, Kind string }

// Roster is everyone else in the participant's room right now, for a
// signaling connection that resumed and missed what happened while it was
// away. Events emitted after SetEvents and before Roster reach the new
// connection first; Roster reflects them, and what happens after it
// arrives as events again, which a client applies on top.
func (p *Participant) Roster() []Member {
	var out []Member
	for _, o := range p.room.snapshot() {
		if o == p || o.isClosed() {
			continue
		}
		m := Member{ID: o.id, Context: o.context, Muted: o.muted.Load(), Away: o.away.Load(), SelfMutedAudio: o.selfMutedAudio.Load(),
			SelfMutedVideo: o.selfMutedVideo.Load(), Screen: o.screenTrack(), Tracks: []TrackInfo{}}
		for _, t := range o.published() {
			m.Tracks = append(m.Tracks, TrackInfo{ID: t.id, Kind: t.kind.String()})
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Done is closed once the participant has left the media server.
func (p *Participant) Done() <-chan struct{} { return p.done }

// Reason says why the participant left, once Done is closed.
func (p *Participant) Reason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reason
}

// SetEvents replaces the sink of the participant's events, for a
// signaling connection that resumes a participant.
func (p *Participant) SetEvents(events func(Event)) {
	p.mu.Lock()
	p.events = events
	p.mu.Unlock()
}

func (p *Participant) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// emitLocked is emit for a caller that holds p.mu: negotiation messages are
// queued while the state that produced them is still held, so an answer
// and the next offer leave in the order they were made.
func (p *Participant) emitLocked(ev Event) {
	if !p.closed {
		p.enqueue(ev)
	}
}

// emit queues an event for the participant's signaling connection. Events
// are delivered in order by the participant's own goroutine (deliver),
// never under a lock of the media server.
func (p *Participant) emit(ev Event) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if !closed || ev.Type == EventClosed {
		p.enqueue(ev)
	}
}

func (p *Participant) enqueue(ev Event) {
	p.qmu.Lock()
	p.queue = append(p.queue, ev)
	p.qmu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// deliver hands queued events to the current sink (SetEvents), in order,
// until the participant is gone and its last events are out.
func (p *Participant) deliver() {
	for {
		last := false
		select {
		case <-p.wake:
		case <-p.done:
			last = true
		}
		p.qmu.Lock()
		batch := p.queue
		p.queue = nil
		p.qmu.Unlock()
		for _, ev := range batch {
			p.mu.Lock()
			fn := p.events
			p.mu.Unlock()
			if fn != nil {
				fn(ev)
			}
		}
		if last {
			return
		}
	}
}

func (p *Participant) published() []*track {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*track(nil), p.tracks...)
}

// unpublish stops forwarding a track the publisher no longer sends.
func (p *Participant) unpublish(t *track) {
	p.mu.Lock()
	for i, x := range p.tracks {
		if x == t {
			p.tracks = append(p.tracks[:i], p.tracks[i+1:]...)
			break
		}
	}
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return
	}
	for _, o := range p.room.snapshot() {
		if o == p {
			continue
		}
		for _, c := range o.connections() {
			if c.unsubscribe(t) {
				c.negotiate()
			}
		}
		o.emit(Event{Type: EventTrackUnpublished, ParticipantID: p.id, TrackID: t.id, Kind: t.kind.String(), Stream: t.stream})
	}
}

// closeConns closes the connections of a participant that never joined
// its room.
func (p *Participant) closeConns() {
	for _, c := range p.connections() {
		c.Close()
	}
}

// connections lists the participant's open connections.
func (p *Participant) connections() []*Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.conns)
}

// unsubscribeFrom drops every track of a participant who left, on each
// connection.
func (p *Participant) unsubscribeFrom(owner *Participant) {
	for _, c := range p.connections() {
		c.unsubscribeFrom(owner)
	}
}

// Subscribe starts sending the participant, on its main connection, a
// track another participant of its room publishes, and renegotiates.
// Subscribing twice is not an error.
func (p *Participant) Subscribe(trackID string) error {
	if p.conn == nil {
		return ErrNoTrack
	}
	return p.conn.Subscribe(trackID)
}

// Unsubscribe stops sending the participant a track on its main
// connection, and renegotiates. Unsubscribing from a track it does not
// receive is not an error.
func (p *Participant) Unsubscribe(trackID string) error {
	if p.conn == nil {
		return nil
	}
	return p.conn.Unsubscribe(trackID)
}

// HandleOffer applies a client offer on the main connection and answers
// it (an EventAnswer).
func (p *Participant) HandleOffer(sdp string) error { return p.conn.HandleOffer(sdp) }

// HandleAnswer applies the client's answer to the server's last offer on
// the main connection.
func (p *Participant) HandleAnswer(sdp string) error { return p.conn.HandleAnswer(sdp) }

// AddCandidate adds a remote ICE candidate to the main connection.
func (p *Participant) AddCandidate(c webrtc.ICECandidateInit) error { return p.conn.AddCandidate(c) }

// Resync repeats a server offer that is still waiting for its answer, for
// a signaling connection that resumed and may have missed it.
func (p *Participant) Resync() {
	if c := p.conn; c != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		if c.offering {
			p.emitLocked(Event{Type: EventOffer, SDP: c.pc.LocalDescription()})
		}
	}
}

// SetTrackSettings records what the participant asks of a remote video
// (visible or not, the height it renders it at, a pinned quality) and
// applies it at once if the participant receives that track, or when it
// does.
func (p *Participant) SetTrackSettings(trackID string, s Settings) error {
	if _, ok := parseQuality(s.Quality); !ok {
		return fmt.Errorf("quality %q is not one of auto, low, medium, high", s.Quality)
	}
	p.mu.Lock()
	if _, known := p.settings[trackID]; !known && len(p.settings) >= maxSettings {
		p.mu.Unlock()
		return fmt.Errorf("settings for more than %d tracks", maxSettings)
	}
	p.settings[trackID] = s
	d := p.downLocked(trackID)
	p.mu.Unlock()
	if d != nil {
		d.apply(s)
		d.reselect()
	}
	return nil
}

// downLocked is the down-track of the remote track with that id, or nil
// if the participant does not receive it. p.mu is held.
func (p *Participant) downLocked(trackID string) *downTrack {
	for _, c := range p.conns {
		for t, sub := range c.subs {
			if t.id == trackID {
				return sub.down
			}
		}
	}
	return nil
}

// SetSelfMuted records that the participant turned its microphone
// (kind audio) or camera (video) off or on, and tells the others.
func (p *Participant) SetSelfMuted(kind string, muted bool) {
	flag := &p.selfMutedAudio
	if kind == "video" {
		flag = &p.selfMutedVideo
	}
	if flag.Swap(muted) == muted {
		return
	}
	p.toOthers(Event{Type: EventSelfMuted, ParticipantID: p.id, Kind: kind, Muted: muted})
}

// SetScreen records which of the participant's video tracks is a screen
// (its full track id, "" for none), and tells the others.
func (p *Participant) SetScreen(trackID string) {
	if old, _ := p.screen.Swap(trackID).(string); old == trackID {
		return
	}
	p.toOthers(Event{Type: EventScreenShare, ParticipantID: p.id, TrackID: trackID})
}

// Chat sends a chat message to everyone in the room, the sender too, so
// that all see the same order. Nothing is kept.
func (p *Participant) Chat(text string, at time.Time) {
	p.room.broadcast(Event{Type: EventChat, ParticipantID: p.id, Text: text, At: at})
}

// screenTrack is the participant's screen track id, or "".
func (p *Participant) screenTrack() string {
	s, _ := p.screen.Load().(string)
	return s
}

// toOthers sends ev to everyone in the room but p.
func (p *Participant) toOthers(ev Event) {
	for _, o := range p.room.snapshot() {
		if o != p {
			o.emit(ev)
		}
	}
}

// SetAway tells the others that the participant's signaling connection
// dropped (away) and it may come back, or that it is back.
func (p *Participant) SetAway(away bool) {
	if p.away.Swap(away) == away {
		return
	}
	ev := EventReconnected
	if away {
		ev = EventReconnecting
	}
	p.toOthers(Event{Type: ev, ParticipantID: p.id})
}

func (p *Participant) setMuted(muted bool) {
	if p.muted.Swap(muted) == muted {
		return
	}
	ev := EventUnmuted
	if muted {
		ev = EventMuted
	}
	p.room.broadcast(Event{Type: ev, ParticipantID: p.id})
}

// Close disconnects the participant for a reason (the first one wins) and
// tells its signaling connection. It is safe to call more than once.
func (p *Participant) Close(reason string) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed, p.reason = true, reason
	conns := p.conns
	for _, c := range conns {
		c.stopForwardingLocked() // nothing more is forwarded to us
	}
	p.mu.Unlock()
	p.emit(Event{Type: EventClosed, Reason: reason})
	for _, c := range conns {
		c.Close()
	}
	p.room.remove(p, reason)
	p.m.forget(p)
	close(p.done)
}
