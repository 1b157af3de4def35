package sfu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Participant is one connected person: a PeerConnection, what they publish
// and what they receive.
type Participant struct {
	m         *Manager
	room      *Room
	id        string
	sessionID string
	context   string
	pc        *webrtc.PeerConnection
	muted     atomic.Bool
	// away: its signaling connection dropped and it may come back.
	away atomic.Bool
	// selfMuted is what it turned off itself: audio, video.
	selfMutedAudio, selfMutedVideo atomic.Bool
	// screen is the id of its video track that is a screen, or "".
	screen    atomic.Value
	connected atomic.Bool
	// path is the kind of its media path once connected (Stats).
	path atomic.Value
	done chan struct{}
	// iceStarted is closed once ICE has left its "new" state (see
	// HandleOffer).
	iceStarted chan struct{}
	iceOnce    sync.Once
	// policy says whether the participant receives every track or only
	// those it subscribes to.
	policy Subscriptions
	// bwe estimates the participant's downlink (nil only in tests).
	bwe *bwe
	// rtt is the round-trip time to the participant, ns (0 until its
	// receiver reports tell; retransmit.go).
	rtt atomic.Int64

	// The outgoing event queue (see emit).
	qmu   sync.Mutex
	queue []Event
	wake  chan struct{}

	mu          sync.Mutex
	events      func(Event)
	closed      bool
	reason      string
	tracks      []*track
	subs        map[*track]*subscription
	settings    map[string]Settings      // by track id: what the subscriber asked of a video
	vacant      []*webrtc.RTPTransceiver // see reuseLocked
	ready       bool                     // the client's first offer has been answered
	offering    bool                     // a server offer awaits the client's answer
	renegotiate bool                     // tracks changed while an offer was out
	candidates  []webrtc.ICECandidateInit
}

// ErrNegotiating refuses a client offer while a server offer awaits its
// answer; the client answers first, then offers again.
var ErrNegotiating = errors.New("a server offer is waiting for your answer; answer it, then offer again")

func newParticipant(m *Manager, room *Room, sessionID, id, context string, events func(Event), sub Subscriptions) (*Participant, error) {
	pc, err := m.api.NewPeerConnection(webrtc.Configuration{ICEServers: m.cfg.ICEServers})
	if err != nil {
		return nil, fmt.Errorf("sfu: peer connection: %w", err)
	}
	p := &Participant{m: m, room: room, id: id, sessionID: sessionID, context: context, pc: pc, events: events, policy: sub,
		subs: map[*track]*subscription{}, settings: map[string]Settings{}, done: make(chan struct{}), wake: make(chan struct{}, 1), iceStarted: make(chan struct{}),
		bwe: m.takeEstimator(pc.ID())}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			init := c.ToJSON()
			p.emit(Event{Type: EventCandidate, Candidate: &init})
		}
	})
	pc.OnTrack(p.onTrack)
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s != webrtc.ICEConnectionStateNew {
			p.iceOnce.Do(func() { close(p.iceStarted) })
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.connected.Store(true)
			p.notePath()
		case webrtc.PeerConnectionStateFailed:
			p.Close(EventConnectionFailed)
		}
	})
	// ICE that never succeeds stays "checking" rather than failing: give
	// up after ConnectTimeout.
	time.AfterFunc(m.cfg.ConnectTimeout, func() {
		if !p.connected.Load() {
			p.Close(EventConnectionFailed)
		}
	})
	return p, nil
}

// ID is the participant id (the REST API's room_participant id).
func (p *Participant) ID() string { return p.id }

// RoomID is the room the participant is in.
func (p *Participant) RoomID() string { return p.room.id }

// SessionID is the room session the participant joined.
func (p *Participant) SessionID() string { return p.sessionID }

// Resync repeats a server offer that is still waiting for its answer, for
// a signaling connection that resumed and may have missed it.
func (p *Participant) Resync() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.offering {
		p.emitLocked(Event{Type: EventOffer, SDP: p.pc.LocalDescription()})
	}
}

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

// iceStartWait bounds how long a client offer waits for ICE to start
// from the previous description (see HandleOffer).
const iceStartWait = 5 * time.Second

// HandleOffer applies a client offer and answers it.
func (p *Participant) HandleOffer(sdp string) error {
	// pion starts ICE from the first remote description in the
	// background; an offer applied before it has looks like an ICE
	// restart (the remote credentials not yet recorded), and the server
	// would answer with new credentials of its own.
	if p.pc.RemoteDescription() != nil {
		t := time.NewTimer(iceStartWait)
		select {
		case <-p.iceStarted:
		case <-p.done:
		case <-t.C:
		}
		t.Stop()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.offering {
		p.mu.Unlock()
		return ErrNegotiating
	}
	answer, err := p.applyRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}, true)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	p.ready = true
	again := p.renegotiate
	p.renegotiate = false
	p.emitLocked(Event{Type: EventAnswer, SDP: &answer})
	p.mu.Unlock()
	if again {
		p.negotiate()
	}
	return nil
}

// HandleAnswer applies the client's answer to the server's last offer.
func (p *Participant) HandleAnswer(sdp string) error {
	p.mu.Lock()
	if !p.offering {
		p.mu.Unlock()
		return errors.New("no server offer is waiting for an answer")
	}
	if _, err := p.applyRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}, false); err != nil {
		// The offer still stands: the client may answer it again.
		p.mu.Unlock()
		return err
	}
	p.offering = false
	again := p.renegotiate
	p.renegotiate = false
	p.mu.Unlock()
	if again {
		p.negotiate()
	}
	return nil
}

// applyRemote sets a remote description, adds the candidates that came
// early, and for an offer creates and sets the answer. p.mu is held.
func (p *Participant) applyRemote(desc webrtc.SessionDescription, isOffer bool) (webrtc.SessionDescription, error) {
	if err := p.pc.SetRemoteDescription(desc); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("remote %s: %w", desc.Type, err)
	}
	for _, c := range p.candidates {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.m.log.Debug("early ICE candidate refused", "participant_id", p.id, "err", err)
		}
	}
	p.candidates = nil
	if !isOffer {
		return webrtc.SessionDescription{}, nil
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return answer, fmt.Errorf("create answer: %w", err)
	}
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return answer, fmt.Errorf("set answer: %w", err)
	}
	return *p.pc.LocalDescription(), nil
}

// AddCandidate adds a remote ICE candidate (held until the first remote
// description arrives).
func (p *Participant) AddCandidate(c webrtc.ICECandidateInit) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pc.RemoteDescription() == nil {
		p.candidates = append(p.candidates, c)
		return nil
	}
	return p.pc.AddICECandidate(c)
}

// negotiate sends a server offer when the tracks to send have changed,
// unless one is already out or the client has not made its first offer.
func (p *Participant) negotiate() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if !p.ready || p.offering || p.pc.SignalingState() != webrtc.SignalingStateStable {
		p.renegotiate = true
		p.mu.Unlock()
		return
	}
	offer, err := p.pc.CreateOffer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.mu.Unlock()
		p.m.log.Warn("server offer failed", "participant_id", p.id, "err", err)
		p.emit(Event{Type: EventRenegotiationError, Reason: err.Error()})
		return
	}
	p.offering = true
	desc := *p.pc.LocalDescription()
	p.emitLocked(Event{Type: EventOffer, SDP: &desc})
	p.mu.Unlock()
}

// onTrack starts forwarding a track the participant publishes, or one
// more simulcast layer of a track it already publishes.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	for _, t := range p.tracks {
		if t.receiver == receiver {
			p.mu.Unlock()
			t.addLayer(remote)
			return
		}
	}
	t := newTrack(p, remote, receiver)
	p.tracks = append(p.tracks, t)
	p.mu.Unlock()
	t.addLayer(remote)
	go t.watch()
	p.room.publish(p, t)
	if p.m.cfg.OnPublish != nil {
		p.m.cfg.OnPublish(t.describe())
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
		was := o.unsubscribe(t)
		o.emit(Event{Type: EventTrackUnpublished, ParticipantID: p.id, TrackID: t.id, Kind: t.kind.String()})
		if was {
			o.negotiate()
		}
	}
}

// subscription is a track p receives: its down-track and the transceiver
// that carries it.
type subscription struct {
	tr   *webrtc.RTPTransceiver
	down *downTrack
}

// ErrNoTrack refuses a subscription to a track that is not published in
// the participant's room by someone else.
var ErrNoTrack = errors.New("sfu: no such track in the room")

// Subscribe starts sending p a track another participant of its room
// publishes, and renegotiates. Subscribing twice is not an error.
func (p *Participant) Subscribe(trackID string) error {
	t := p.room.track(trackID)
	if t == nil || t.owner == p {
		return ErrNoTrack
	}
	if p.subscribe(t) {
		if t.owner.isClosed() || t.isEnded() {
			p.unsubscribe(t) // gone meanwhile
		}
		p.negotiate()
	}
	return nil
}

// Unsubscribe stops sending p a track, and renegotiates. Unsubscribing
// from a track p does not receive is not an error.
func (p *Participant) Unsubscribe(trackID string) error {
	p.mu.Lock()
	d := p.downLocked(trackID)
	p.mu.Unlock()
	if d != nil && p.unsubscribe(d.t) {
		p.negotiate()
	}
	return nil
}

// subscribe adds t to what p receives (the caller renegotiates), on a
// vacant transceiver of its kind if there is one, and reports whether it
// did.
func (p *Participant) subscribe(t *track) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || t.owner == p || p.subs[t] != nil {
		return false
	}
	d := newDownTrack(t, p, p.settings[t.id])
	tr := p.reuseLocked(d)
	if tr == nil {
		var err error
		tr, err = p.pc.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			p.m.log.Warn("cannot subscribe", "participant_id", p.id, "track", t.id, "err", err)
			return false
		}
	}
	p.subs[t] = &subscription{tr: tr, down: d}
	t.addDown(d)
	go p.readRTCP(tr.Sender(), d)
	return true
}

// reuseLocked puts d on a vacant transceiver of its kind, with a new
// sender (so a new SSRC: the client sees a new track on the m-line), and
// returns it; nil if there is none. p.mu is held. A transceiver becomes
// vacant when its track goes away (unsubscribe): it stays sendonly with
// no track, so its m-line carries no stream, and people coming and going
// do not leave a dead m-line each in every later offer.
func (p *Participant) reuseLocked(d *downTrack) *webrtc.RTPTransceiver {
	for i, tr := range p.vacant {
		if tr.Kind() != d.Kind() {
			continue
		}
		p.vacant = append(p.vacant[:i], p.vacant[i+1:]...)
		old := tr.Sender()
		sender, err := p.m.api.NewRTPSender(d, p.pc.SCTP().Transport())
		if err == nil {
			err = tr.SetSender(sender, d)
		}
		if err != nil {
			p.m.log.Debug("cannot reuse a transceiver", "participant_id", p.id, "err", err)
			return nil
		}
		if old != nil {
			_ = old.Stop() // ends its RTCP reader
		}
		return tr
	}
	return nil
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
	for t, sub := range p.subs {
		if t.id == trackID {
			return sub.down
		}
	}
	return nil
}

// maxNacked bounds the packets one retransmission request may ask for.
const maxNacked = 512

// nackedSeqs appends to dst the sequence numbers a NACK asks for, at most
// maxNacked of them.
func nackedSeqs(dst []uint16, nacks []rtcp.NackPair) []uint16 {
	for _, pair := range nacks {
		pair.Range(func(seq uint16) bool {
			if len(dst) >= maxNacked {
				return false
			}
			dst = append(dst, seq)
			return true
		})
	}
	return dst
}

// maxSettings bounds the track settings one participant may keep.
const maxSettings = 1024

// readRTCP drains a sender's RTCP, which drives pion's interceptors
// (reports, the estimator's feedback), answers retransmission requests
// and relays picture-loss requests to the publisher.
func (p *Participant) readRTCP(sender *webrtc.RTPSender, d *downTrack) {
	var seqs []uint16
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt := pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.keyframeWanted()
			case *rtcp.ReceiverReport:
				p.noteRTT(pkt.Reports, time.Now())
			case *rtcp.TransportLayerNack:
				seqs = nackedSeqs(seqs[:0], pkt.Nacks)
				c := d.retransmit(seqs, time.Now())
				p.m.counts.nacked.Add(uint64(len(seqs)))
				p.m.counts.resent.Add(uint64(c.sent))
				if c.missing+c.overBudget > 0 {
					p.m.log.Debug("retransmission", "participant_id", p.id, "track", d.t.id, "asked", len(seqs),
						"sent", c.sent, "gone", c.missing, "early", c.early, "over_budget", c.overBudget)
				}
			}
		}
	}
}

func (p *Participant) unsubscribe(t *track) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sub := p.subs[t]
	if sub == nil {
		return false
	}
	delete(p.subs, t)
	delete(p.settings, t.id)
	t.removeDown(sub.down)
	if !p.closed {
		// The m-line stays, without a stream, until the next track of its
		// kind takes it.
		if err := sub.tr.Sender().ReplaceTrack(nil); err == nil {
			p.vacant = append(p.vacant, sub.tr)
		}
	}
	return true
}

// unsubscribeFrom drops every track of a participant who left.
func (p *Participant) unsubscribeFrom(owner *Participant) {
	p.mu.Lock()
	var gone []*track
	for t := range p.subs {
		if t.owner == owner {
			gone = append(gone, t)
		}
	}
	p.mu.Unlock()
	changed := false
	for _, t := range gone {
		changed = p.unsubscribe(t) || changed
	}
	if changed {
		p.negotiate()
	}
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
	for t, sub := range p.subs {
		t.removeDown(sub.down) // nothing more is forwarded to us
	}
	p.mu.Unlock()
	p.emit(Event{Type: EventClosed, Reason: reason})
	if err := p.pc.Close(); err != nil {
		p.m.log.Debug("close peer connection", "participant_id", p.id, "err", err)
	}
	p.room.remove(p, reason)
	p.m.forget(p)
	close(p.done)
}
