package sfu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Conn is one PeerConnection of a participant. roomsd's own signaling
// gives each participant one, its main connection, negotiated through
// events (offers, answers and candidates both ways, renegotiated as
// tracks come and go). A front end whose protocol opens a connection per
// published stream or per subscription (the Janus videoroom) makes more
// with NewConn and negotiates each one directly: Answer to a client offer,
// or Offer then Accept, each description complete with its candidates.
// A participant's tracks are the room's whichever connection carries them.
type Conn struct {
	p    *Participant
	pc   *webrtc.PeerConnection
	opts ConnOptions
	main bool
	// bwe estimates the connection's downlink (nil only in tests).
	bwe *bwe
	// rtt is the round-trip time to the client, ns (0 until its receiver
	// reports tell; retransmit.go).
	rtt       atomic.Int64
	connected atomic.Bool
	// path is the kind of its media path once connected (Stats).
	path atomic.Value
	// iceStarted is closed once ICE has left its "new" state (see
	// HandleOffer).
	iceStarted chan struct{}
	iceOnce    sync.Once
	done       chan struct{}

	// Guarded by p.mu.
	closed      bool
	sent        bool // opts.Send is on the connection
	subs        map[*track]*subscription
	vacant      []*webrtc.RTPTransceiver // see reuseLocked
	ready       bool                     // the client's first offer has been answered
	offering    bool                     // a server offer awaits the client's answer
	renegotiate bool                     // tracks changed while an offer was out
	candidates  []webrtc.ICECandidateInit
}

// ConnOptions say what a connection is for.
type ConnOptions struct {
	// Stream names what the connection publishes (PublishedTrack.Stream
	// and the Stream of track events), so that a front end can tell one
	// published stream of a participant from another.
	Stream string
	// Publish: the tracks the client sends on the connection are the
	// participant's published tracks. Otherwise they are read and
	// dropped.
	Publish bool
	// Send is a track of the caller's that the connection sends: Answer
	// puts it on the client's offered m-line of its kind.
	Send webrtc.TrackLocal
	// OnTrack hears of each track the connection publishes, once it
	// arrives.
	OnTrack func(PublishedTrack)
}

// ErrConnClosed is returned for a connection that has closed.
var ErrConnClosed = errors.New("sfu: connection closed")

func (p *Participant) newConn(opts ConnOptions, main bool) (*Conn, error) {
	m := p.m
	pc, err := m.api.NewPeerConnection(webrtc.Configuration{ICEServers: m.cfg.ICEServers})
	if err != nil {
		return nil, fmt.Errorf("sfu: peer connection: %w", err)
	}
	c := &Conn{p: p, pc: pc, opts: opts, main: main, subs: map[*track]*subscription{}, iceStarted: make(chan struct{}),
		done: make(chan struct{}), bwe: m.takeEstimator(pc.ID())}
	if main {
		pc.OnICECandidate(func(ic *webrtc.ICECandidate) {
			if ic != nil {
				init := ic.ToJSON()
				p.emit(Event{Type: EventCandidate, Candidate: &init})
			}
		})
	}
	pc.OnTrack(c.onTrack)
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s != webrtc.ICEConnectionStateNew {
			c.iceOnce.Do(func() { close(c.iceStarted) })
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			c.connected.Store(true)
			c.notePath()
		case webrtc.PeerConnectionStateFailed:
			c.fail()
		}
	})
	// ICE that never succeeds stays "checking" rather than failing: give
	// up after ConnectTimeout.
	time.AfterFunc(m.cfg.ConnectTimeout, func() {
		if !c.connected.Load() {
			c.fail()
		}
	})
	return c, nil
}

// fail ends a connection whose media could not be set up or was lost: the
// participant, for its main connection.
func (c *Conn) fail() {
	if c.main {
		c.p.Close(EventConnectionFailed)
		return
	}
	c.Close()
}

// NewConn opens another connection for the participant; the caller
// negotiates it (Answer, or Offer and Accept) and closes it when its
// protocol says so. It is closed with the participant.
func (p *Participant) NewConn(opts ConnOptions) (*Conn, error) {
	c, err := p.newConn(opts, false)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = c.pc.Close()
		return nil, ErrClosed
	}
	p.conns = append(p.conns, c)
	p.mu.Unlock()
	go c.allocateLoop()
	return c, nil
}

// Done is closed once the connection has closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close closes the connection: the tracks it published end (and are
// unpublished), what it received stops. Safe to call more than once.
func (c *Conn) Close() {
	p := c.p
	p.mu.Lock()
	if c.closed {
		p.mu.Unlock()
		return
	}
	c.stopForwardingLocked()
	for i, x := range p.conns {
		if x == c {
			p.conns = append(p.conns[:i], p.conns[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	if err := c.pc.Close(); err != nil {
		p.m.log.Debug("close peer connection", "participant_id", p.id, "err", err)
	}
	close(c.done)
}

// stopForwardingLocked marks the connection closed and takes its
// down-tracks off the tracks they receive; p.mu is held.
func (c *Conn) stopForwardingLocked() {
	c.closed = true
	for t, sub := range c.subs {
		t.removeDown(sub.down)
	}
}

// iceStartWait bounds how long a client offer waits for ICE to start
// from the previous description (see HandleOffer).
const iceStartWait = 5 * time.Second

// HandleOffer applies a client offer and answers it with an EventAnswer
// (the main connection).
func (c *Conn) HandleOffer(sdp string) error {
	p := c.p
	c.waitICEStart()
	p.mu.Lock()
	if p.closed || c.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if c.offering {
		p.mu.Unlock()
		return ErrNegotiating
	}
	answer, err := c.applyRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}, true)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	c.ready = true
	again := c.renegotiate
	c.renegotiate = false
	p.emitLocked(Event{Type: EventAnswer, SDP: &answer})
	p.mu.Unlock()
	if again {
		c.negotiate()
	}
	return nil
}

// waitICEStart waits, for a connection that has a remote description
// already, until ICE has started from it: pion starts ICE from the first
// remote description in the background, and an offer applied before it
// has looks like an ICE restart (the remote credentials not yet
// recorded), so the server would answer with new credentials of its own.
func (c *Conn) waitICEStart() {
	if c.pc.RemoteDescription() == nil {
		return
	}
	t := time.NewTimer(iceStartWait)
	defer t.Stop()
	select {
	case <-c.iceStarted:
	case <-c.done:
	case <-c.p.done:
	case <-t.C:
	}
}

// HandleAnswer applies the client's answer to the server's last offer.
func (c *Conn) HandleAnswer(sdp string) error {
	p := c.p
	p.mu.Lock()
	if !c.offering {
		p.mu.Unlock()
		return errors.New("no server offer is waiting for an answer")
	}
	if _, err := c.applyRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}, false); err != nil {
		// The offer still stands: the client may answer it again.
		p.mu.Unlock()
		return err
	}
	c.offering = false
	again := c.renegotiate
	c.renegotiate = false
	p.mu.Unlock()
	if again {
		c.negotiate()
	}
	return nil
}

// applyRemote sets a remote description, adds the candidates that came
// early, and for an offer creates and sets the answer. p.mu is held.
func (c *Conn) applyRemote(desc webrtc.SessionDescription, isOffer bool) (webrtc.SessionDescription, error) {
	if err := c.pc.SetRemoteDescription(desc); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("remote %s: %w", desc.Type, err)
	}
	for _, ic := range c.candidates {
		if err := c.pc.AddICECandidate(ic); err != nil {
			c.p.m.log.Debug("early ICE candidate refused", "participant_id", c.p.id, "err", err)
		}
	}
	c.candidates = nil
	if !isOffer {
		return webrtc.SessionDescription{}, nil
	}
	if c.opts.Send != nil && !c.sent {
		// On the client's m-line of its kind, which becomes sendrecv.
		if _, err := c.pc.AddTrack(c.opts.Send); err != nil {
			return webrtc.SessionDescription{}, fmt.Errorf("send track: %w", err)
		}
		c.sent = true
	}
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return answer, fmt.Errorf("create answer: %w", err)
	}
	if err := c.pc.SetLocalDescription(answer); err != nil {
		return answer, fmt.Errorf("set answer: %w", err)
	}
	return *c.pc.LocalDescription(), nil
}

// Answer applies a client offer and returns the answer once it holds
// every server candidate (for a client that takes no trickled ones).
func (c *Conn) Answer(ctx context.Context, offer string) (string, error) {
	c.waitICEStart()
	p := c.p
	p.mu.Lock()
	if p.closed || c.closed {
		p.mu.Unlock()
		return "", ErrConnClosed
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if _, err := c.applyRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}, true); err != nil {
		p.mu.Unlock()
		return "", err
	}
	c.ready = true
	p.mu.Unlock()
	return complete(ctx, c.pc, gathered, c.done)
}

// Offer makes a server offer of what the connection sends (the tracks
// subscribed on it) and returns it once it holds every server candidate;
// Accept applies the answer.
func (c *Conn) Offer(ctx context.Context) (string, error) {
	p := c.p
	p.mu.Lock()
	if p.closed || c.closed {
		p.mu.Unlock()
		return "", ErrConnClosed
	}
	gathered, err := setOffer(c.pc)
	if err != nil {
		p.mu.Unlock()
		return "", err
	}
	c.offering = true
	p.mu.Unlock()
	return complete(ctx, c.pc, gathered, c.done)
}

// Accept applies the client's answer to Offer.
func (c *Conn) Accept(answer string) error { return c.HandleAnswer(answer) }

// setOffer makes a server offer and sets it; the channel it returns closes
// once the offer holds every server candidate.
func setOffer(pc *webrtc.PeerConnection) (<-chan struct{}, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		return nil, fmt.Errorf("server offer: %w", err)
	}
	return gathered, nil
}

// complete waits until the local description holds every candidate.
func complete(ctx context.Context, pc *webrtc.PeerConnection, gathered, closed <-chan struct{}) (string, error) {
	select {
	case <-gathered:
	case <-closed:
		return "", ErrConnClosed
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// AddCandidate adds a remote ICE candidate (held until the first remote
// description arrives).
func (c *Conn) AddCandidate(ic webrtc.ICECandidateInit) error {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if c.pc.RemoteDescription() == nil {
		c.candidates = append(c.candidates, ic)
		return nil
	}
	return c.pc.AddICECandidate(ic)
}

// negotiate sends a server offer on the main connection when the tracks
// to send have changed, unless one is already out or the client has not
// made its first offer. Other connections are negotiated by their front
// end, once.
func (c *Conn) negotiate() {
	if !c.main {
		return
	}
	p := c.p
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if !c.ready || c.offering || c.pc.SignalingState() != webrtc.SignalingStateStable {
		c.renegotiate = true
		p.mu.Unlock()
		return
	}
	offer, err := c.pc.CreateOffer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.mu.Unlock()
		p.m.log.Warn("server offer failed", "participant_id", p.id, "err", err)
		p.emit(Event{Type: EventRenegotiationError, Reason: err.Error()})
		return
	}
	c.offering = true
	desc := *c.pc.LocalDescription()
	p.emitLocked(Event{Type: EventOffer, SDP: &desc})
	p.mu.Unlock()
}

// onTrack starts forwarding a track the client publishes on the
// connection, or one more simulcast layer of a track it already
// publishes.
func (c *Conn) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	p := c.p
	if !c.opts.Publish {
		go func() { _, _ = io.Copy(io.Discard, trackReader{remote}) }()
		return
	}
	p.mu.Lock()
	if p.closed || c.closed {
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
	t := newTrack(p, c, remote, receiver)
	p.tracks = append(p.tracks, t)
	p.mu.Unlock()
	t.addLayer(remote)
	go t.watch()
	p.room.publish(p, t)
	if p.m.cfg.OnPublish != nil {
		p.m.cfg.OnPublish(t.describe())
	}
	if c.opts.OnTrack != nil {
		c.opts.OnTrack(t.describe())
	}
}

// trackReader reads a remote track's payloads, for a track nobody
// forwards.
type trackReader struct{ t *webrtc.TrackRemote }

func (r trackReader) Read(b []byte) (int, error) {
	n, _, err := r.t.Read(b)
	return n, err
}

// subscription is a track a connection receives: its down-track and the
// transceiver that carries it.
type subscription struct {
	tr   *webrtc.RTPTransceiver
	down *downTrack
}

// ErrNoTrack refuses a subscription to a track that is not published in
// the participant's room by someone else.
var ErrNoTrack = errors.New("sfu: no such track in the room")

// Subscribe starts sending the connection a track another participant of
// the room publishes, and (the main connection) renegotiates. Subscribing
// twice is not an error.
func (c *Conn) Subscribe(trackID string) error {
	t := c.p.room.track(trackID)
	if t == nil || t.owner == c.p {
		return ErrNoTrack
	}
	if c.subscribe(t) {
		if t.owner.isClosed() || t.isEnded() {
			c.unsubscribe(t) // gone meanwhile
		}
		c.negotiate()
	}
	return nil
}

// Unsubscribe stops sending the connection a track, and (the main
// connection) renegotiates. Unsubscribing from a track it does not
// receive is not an error.
func (c *Conn) Unsubscribe(trackID string) error {
	c.p.mu.Lock()
	var d *downTrack
	for t, sub := range c.subs {
		if t.id == trackID {
			d = sub.down
		}
	}
	c.p.mu.Unlock()
	if d != nil && c.unsubscribe(d.t) {
		c.negotiate()
	}
	return nil
}

// Gate stops (off) or resumes forwarding the tracks of a kind ("audio",
// "video") the connection receives, without renegotiating: a paused video
// resumes at a keyframe, audio without a sequence gap.
func (c *Conn) Gate(kind string, off bool) {
	c.p.mu.Lock()
	var downs []*downTrack
	for t, sub := range c.subs {
		if t.kind.String() == kind {
			downs = append(downs, sub.down)
		}
	}
	c.p.mu.Unlock()
	for _, d := range downs {
		d.gated.Store(off)
		if d.t.kind == webrtc.RTPCodecTypeVideo {
			d.reselect()
		}
	}
}

// subscribe adds t to what the connection receives (the caller
// renegotiates), on a vacant transceiver of its kind if there is one, and
// reports whether it did.
func (c *Conn) subscribe(t *track) bool {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || c.closed || t.owner == p || c.subs[t] != nil {
		return false
	}
	d := newDownTrack(t, c, p.settings[t.id])
	tr := c.reuseLocked(d)
	if tr == nil {
		var err error
		tr, err = c.pc.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			p.m.log.Warn("cannot subscribe", "participant_id", p.id, "track", t.id, "err", err)
			return false
		}
	}
	c.subs[t] = &subscription{tr: tr, down: d}
	t.addDown(d)
	go c.readRTCP(tr.Sender(), d)
	return true
}

// reuseLocked puts d on a vacant transceiver of its kind, with a new
// sender (so a new SSRC: the client sees a new track on the m-line), and
// returns it; nil if there is none. p.mu is held. A transceiver becomes
// vacant when its track goes away (unsubscribe): it stays sendonly with
// no track, so its m-line carries no stream, and people coming and going
// do not leave a dead m-line each in every later offer.
func (c *Conn) reuseLocked(d *downTrack) *webrtc.RTPTransceiver {
	for i, tr := range c.vacant {
		if tr.Kind() != d.Kind() {
			continue
		}
		c.vacant = append(c.vacant[:i], c.vacant[i+1:]...)
		old := tr.Sender()
		sender, err := c.p.m.api.NewRTPSender(d, c.pc.SCTP().Transport())
		if err == nil {
			err = tr.SetSender(sender, d)
		}
		if err != nil {
			c.p.m.log.Debug("cannot reuse a transceiver", "participant_id", c.p.id, "err", err)
			return nil
		}
		if old != nil {
			_ = old.Stop() // ends its RTCP reader
		}
		return tr
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
func (c *Conn) readRTCP(sender *webrtc.RTPSender, d *downTrack) {
	var seqs []uint16
	m := c.p.m
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
				c.noteRTT(pkt.Reports, time.Now())
			case *rtcp.TransportLayerNack:
				seqs = nackedSeqs(seqs[:0], pkt.Nacks)
				n := d.retransmit(seqs, time.Now())
				m.counts.nacked.Add(uint64(len(seqs)))
				m.counts.resent.Add(uint64(n.sent))
				if n.missing+n.overBudget > 0 {
					m.log.Debug("retransmission", "participant_id", c.p.id, "track", d.t.id, "asked", len(seqs),
						"sent", n.sent, "gone", n.missing, "early", n.early, "over_budget", n.overBudget)
				}
			}
		}
	}
}

func (c *Conn) unsubscribe(t *track) bool {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	sub := c.subs[t]
	if sub == nil {
		return false
	}
	delete(c.subs, t)
	if c.main {
		delete(c.p.settings, t.id)
	}
	t.removeDown(sub.down)
	if !c.p.closed && !c.closed {
		// The m-line stays, without a stream, until the next track of its
		// kind takes it.
		if err := sub.tr.Sender().ReplaceTrack(nil); err == nil {
			c.vacant = append(c.vacant, sub.tr)
		}
	}
	return true
}

// unsubscribeFrom drops every track of a participant who left.
func (c *Conn) unsubscribeFrom(owner *Participant) {
	c.p.mu.Lock()
	var gone []*track
	for t := range c.subs {
		if t.owner == owner {
			gone = append(gone, t)
		}
	}
	c.p.mu.Unlock()
	changed := false
	for _, t := range gone {
		changed = c.unsubscribe(t) || changed
	}
	if changed {
		c.negotiate()
	}
}
