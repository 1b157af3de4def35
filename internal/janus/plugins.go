package janus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/participants"
	"github.com/roomsd/roomsd/internal/sfu"
)

// Plugin error codes (those of Janus's videoroom and audiobridge).
const (
	errNoSuchFeed    = 428
	errNotJoined     = 433
	errAlreadyJoined = 425
	errInvalid       = 499
)

func (s *session) message(m in) {
	hd := s.handleOf(m)
	if hd == nil {
		return
	}
	var b body
	if len(m.Body) == 0 || json.Unmarshal(m.Body, &b) != nil || b.Request == "" {
		s.w.Send(out{Janus: "error", SessionID: m.SessionID, Transaction: m.Transaction,
			Error: &coreError{Code: errMissingRequest, Reason: "a message needs a body with a request"}})
		return
	}
	switch hd.plugin {
	case pluginAudioBridge:
		s.audioBridge(m, hd, b)
	case pluginVideoRoom:
		s.videoRoom(m, hd, b)
	case pluginTextRoom:
		s.textRoom(m, hd, b)
	}
}

// joinedLocked reports whether the participant is in the room (its
// presence handle joined); s.mu is held.
func (s *session) joinedLocked() bool { return s.p != nil && s.joined }

func (s *session) audioBridge(m in, hd *handle, b body) {
	switch b.Request {
	case "join":
		d, err := decodeDisplay(b.Display)
		if err != nil {
			s.pluginError(m, hd, errInvalid, err.Error())
			return
		}
		s.mu.Lock()
		first := s.p == nil && hd.kind == kindNew
		s.mu.Unlock()
		switch {
		case d.Stream == nil && first:
			s.joinPresence(m, hd, b.Display, d)
		case d.Stream != nil:
			s.mu.Lock()
			ok := s.joinedLocked() && hd.kind == kindNew
			if ok {
				hd.kind = kindMedia
			}
			s.mu.Unlock()
			if !ok {
				s.pluginError(m, hd, errNotJoined, "join the room with a presence handle first")
				return
			}
			s.event(m, hd, map[string]any{"audiobridge": "joined", "room": s.roomID, "id": hd.id, "participants": []any{}}, nil)
		default:
			s.pluginError(m, hd, errAlreadyJoined, "this session is in the room already")
		}
	case "configure":
		s.mu.Lock()
		kind := hd.kind
		s.mu.Unlock()
		if kind != kindMedia && kind != kindPresence {
			s.pluginError(m, hd, errNotJoined, "join first")
			return
		}
		if m.JSEP == nil || kind == kindPresence {
			s.event(m, hd, map[string]any{"audiobridge": "event", "room": s.roomID, "result": "ok"}, nil)
			return
		}
		answer, err := s.mediaAnswer(hd, m.JSEP)
		if err != nil {
			s.log.Info("audiobridge offer refused", "err", err)
			s.pluginError(m, hd, errInvalid, err.Error())
			return
		}
		s.event(m, hd, map[string]any{"audiobridge": "event", "room": s.roomID, "result": "ok"}, &jsep{Type: "answer", SDP: answer})
	case "leave":
		s.mu.Lock()
		presence := hd.kind == kindPresence
		s.mu.Unlock()
		s.event(m, hd, map[string]any{"audiobridge": "left", "room": s.roomID}, nil)
		if presence {
			s.teardown(domain.ReasonLeft) // the participant leaves the room
		} else {
			s.closeHandle(hd, false)
		}
	default:
		s.pluginError(m, hd, errInvalid, fmt.Sprintf("audiobridge request %q is not served", b.Request))
	}
}

// mediaAnswer answers the audiobridge media handle's offer: what the
// client sends is dropped (its audio reaches the room through its
// publishers), and it receives the room's audio on the same m-line.
func (s *session) mediaAnswer(hd *handle, offer *jsep) (string, error) {
	if offer.Type != "offer" {
		return "", errors.New("jsep must be an offer")
	}
	s.mu.Lock()
	p, existing := s.p, hd.conn
	s.mu.Unlock()
	if existing != nil {
		return "", errors.New("this handle has its media already; the SDK does not renegotiate")
	}
	mixed, err := s.h.mixer.Listen(s.roomID, p.ID())
	if err != nil {
		return "", err
	}
	conn, err := p.NewConn(sfu.ConnOptions{Send: mixed.Track()})
	if err != nil {
		mixed.Close()
		return "", err
	}
	go func() {
		<-conn.Done()
		mixed.Close()
	}()
	s.setConn(hd, conn)
	ctx, cancel := context.WithTimeout(s.ctx, negotiateTimeout)
	defer cancel()
	return conn.Answer(ctx, offer.SDP)
}

// joinPresence joins the participant: the presence handle is its place in
// the room, as the participants service admits it.
func (s *session) joinPresence(m in, hd *handle, disp string, d display) {
	s.mu.Lock()
	hd.kind = kindPresence
	s.presence = hd.id
	s.mu.Unlock()
	p, err := s.h.participants.Join(s.ctx, participants.Request{RoomID: s.roomID, Context: d.External, OwnConns: true,
		Admitted: func(part domain.Participant) {
			s.mu.Lock()
			s.pid = part.ID
			s.mu.Unlock()
			s.reg.addJanusMember(s.roomID, &member{pid: part.ID, presID: hd.id, display: disp, clientID: d.ParticipantID, context: d.External})
		},
		Events: s.onEvent,
		Left:   s.afterLeave,
	})
	if err != nil {
		s.refuseJoin(err)
		return
	}
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
	s.log.Info("Janus participant joined", "participant_id", p.ID())
	// The answer lists who is here; those the media server named before
	// it (held in early) are in it, and later arrivals come as events.
	s.mu.Lock()
	var list []any
	for _, ev := range s.early {
		switch ev.Type {
		case sfu.EventParticipantJoined:
			if mb := s.reg.memberOf(s.roomID, ev.ParticipantID, ev.Context); mb != nil {
				s.known[ev.ParticipantID] = mb.presID
			}
		case sfu.EventParticipantLeft:
			delete(s.known, ev.ParticipantID)
		}
	}
	s.early = nil
	for pid, presID := range s.known {
		if mb := s.reg.member(s.roomID, pid); mb != nil {
			list = append(list, map[string]any{"id": presID, "display": mb.display, "setup": true, "muted": false})
		}
	}
	if list == nil {
		list = []any{}
	}
	s.joined = true
	// Sent under the lock: no event about anyone goes out before it.
	s.event(m, hd, map[string]any{"audiobridge": "joined", "room": s.roomID, "id": hd.id, "participants": list}, nil)
	s.mu.Unlock()
}

// refuseJoin tells the client why it may not join; the SDK closes on it.
func (s *session) refuseJoin(err error) {
	var (
		elsewhere *domain.ElsewhereError
		keptOut   *domain.KeptOutError
	)
	switch {
	case errors.As(err, &elsewhere):
		s.refuse(RefusedElsewhere, 503, "Service unavailable: this room's meeting is held by another node, "+elsewhere.URL+"; connect there")
	case errors.As(err, &keptOut):
		s.refuse(RefusedKicked, 403, "Forbidden: you were removed from this room; you may join again from "+keptOut.Until.UTC().Format(time.RFC3339))
	case errors.Is(err, domain.ErrRoomFull):
		s.refuse(RefusedRoomFull, 403, "Forbidden: the room has reached its max_participants")
	case errors.Is(err, domain.ErrNotFound):
		s.refuse(RefusedNotFound, 404, "Not found: the room no longer exists")
	case errors.Is(err, participants.ErrUnavailable):
		s.refuse(RefusedUnavailable, 503, "Service unavailable: the media server is not accepting participants; try again later")
	default:
		s.log.Error("Janus join", "err", err)
		s.refuse(RefusedUnavailable, 503, "Service unavailable: the server could not add you to the room; try again")
	}
}

func (s *session) videoRoom(m in, hd *handle, b body) {
	switch b.Request {
	case "join":
		switch b.PType {
		case "publisher":
			s.joinPublisher(m, hd, b)
		case "subscriber", "listener":
			s.joinSubscriber(m, hd, b)
		default:
			s.pluginError(m, hd, errInvalid, `ptype must be "publisher" or "subscriber"`)
		}
	case "configure", "publish":
		s.mu.Lock()
		kind := hd.kind
		s.mu.Unlock()
		switch kind {
		case kindPublisher:
			s.configurePublisher(m, hd, b)
		case kindSubscriber:
			s.gate(hd, b)
			s.event(m, hd, map[string]any{"videoroom": "event", "room": s.roomID, "configured": "ok"}, nil)
		case kindListener:
			s.event(m, hd, map[string]any{"videoroom": "event", "room": s.roomID, "configured": "ok"}, nil)
		default:
			s.pluginError(m, hd, errNotJoined, "join first")
		}
	case "start":
		s.startSubscriber(m, hd)
	case "pause":
		s.gate(hd, body{Audio: ptr(false), Video: ptr(false)})
		s.event(m, hd, map[string]any{"videoroom": "event", "room": s.roomID, "paused": "ok"}, nil)
	case "unpublish", "leave":
		s.closeHandle(hd, false)
		if b.Request == "leave" {
			s.event(m, hd, map[string]any{"videoroom": "event", "room": s.roomID, "leaving": "ok"}, nil)
		} else {
			s.event(m, hd, map[string]any{"videoroom": "event", "room": s.roomID, "unpublished": "ok"}, nil)
		}
	default:
		s.pluginError(m, hd, errInvalid, fmt.Sprintf("videoroom request %q is not served", b.Request))
	}
}

func ptr[T any](v T) *T { return &v }

// joinPublisher joins a videoroom publisher handle: the listener (no
// stream in its display) that hears of everyone's feeds, or the handle of
// one stream the client is about to publish.
func (s *session) joinPublisher(m in, hd *handle, b body) {
	d, err := decodeDisplay(b.Display)
	if err != nil {
		s.pluginError(m, hd, errInvalid, err.Error())
		return
	}
	s.mu.Lock()
	if !s.joinedLocked() || hd.kind != kindNew {
		s.mu.Unlock()
		s.pluginError(m, hd, errNotJoined, "join the room with a presence handle first")
		return
	}
	if d.Stream == nil {
		hd.kind = kindListener
		s.listener = hd.id
		var pubs []any
		for _, f := range s.reg.readyFeeds(s.roomID) {
			if f.owner == s.pid {
				continue
			}
			if _, ok := s.known[f.owner]; !ok {
				s.waiting[f.owner] = append(s.waiting[f.owner], f)
				continue
			}
			s.announced[f.id] = f.owner
			pubs = append(pubs, s.publisherLocked(f))
		}
		if pubs == nil {
			pubs = []any{}
		}
		// Sent under the lock: no publishers event goes out before it.
		s.event(m, hd, map[string]any{"videoroom": "joined", "room": s.roomID, "id": s.presence, "private_id": hd.id, "publishers": pubs}, nil)
		s.mu.Unlock()
		return
	}
	hd.kind = kindPublisher
	hd.feed = s.reg.newID()
	s.mu.Unlock()
	s.event(m, hd, map[string]any{"videoroom": "joined", "room": s.roomID, "id": hd.feed, "private_id": hd.id, "publishers": []any{}}, nil)
}

// publisherLocked is a feed as a publishers list names it.
func (s *session) publisherLocked(f feedView) map[string]any {
	moderated := false
	if mb := s.reg.member(s.roomID, f.owner); mb != nil {
		moderated = mb.moderated
	}
	return map[string]any{"id": f.id, "display": f.display, "audio_moderated": moderated && f.audio != "", "video_moderated": false}
}

// configurePublisher publishes a stream (with an offer) or changes its
// display (without): the SDK's way of saying its microphone or camera
// went off or on.
func (s *session) configurePublisher(m in, hd *handle, b body) {
	var d display
	if b.Display != "" {
		var err error
		if d, err = decodeDisplay(b.Display); err != nil || d.Stream == nil {
			if err == nil {
				err = errors.New("a publisher's display names its stream")
			}
			s.pluginError(m, hd, errInvalid, err.Error())
			return
		}
	}
	if m.JSEP != nil {
		if b.Display == "" {
			s.pluginError(m, hd, errInvalid, "publishing needs the stream's display")
			return
		}
		answer, err := s.publish(hd, d, b.Display, m.JSEP)
		if err != nil {
			s.log.Info("publisher offer refused", "err", err)
			s.pluginError(m, hd, errInvalid, err.Error())
			return
		}
		s.event(m, hd, map[string]any{"videoroom": "event", "room": s.roomID, "configured": "ok"}, &jsep{Type: "answer", SDP: answer})
		return
	}
	if b.Display != "" {
		s.reg.setDisplay(s.roomID, hd.feed, b.Display)
		s.selfMute(d)
	}
	s.event(m, hd, map[string]any{"videoroom": "event", "room": s.roomID, "configured": "ok"}, nil)
}

// selfMute tells roomsd's own clients what the SDK's main stream turned
// off: they show it per participant.
func (s *session) selfMute(d display) {
	s.mu.Lock()
	p := s.p
	s.mu.Unlock()
	if p == nil || d.Stream == nil || isScreenKey(d.Stream.Key) {
		return
	}
	p.SetSelfMuted("audio", !d.Stream.IsAudioEnabled)
	p.SetSelfMuted("video", !d.Stream.IsVideoEnabled)
}

// isScreenKey says whether an SDK stream key names a shared screen.
func isScreenKey(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "screen") || strings.Contains(k, "presentation")
}

// publish answers a publisher's offer; its feed is announced to the
// others once the tracks the offer sends arrive.
func (s *session) publish(hd *handle, d display, disp string, offer *jsep) (string, error) {
	if offer.Type != "offer" {
		return "", errors.New("jsep must be an offer")
	}
	want, err := sendingSections(offer.SDP)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	p, pid, existing := s.p, s.pid, hd.conn
	s.mu.Unlock()
	if existing != nil {
		return "", errors.New("this handle publishes already; the SDK does not renegotiate")
	}
	stream := strconv.FormatUint(hd.feed, 10)
	screen := isScreenKey(d.Stream.Key)
	s.reg.addJanusFeed(s.roomID, &feed{id: hd.feed, owner: pid, stream: stream, key: d.Stream.Key, streamID: d.Stream.ID, display: disp, want: want})
	conn, err := p.NewConn(sfu.ConnOptions{Stream: stream, Publish: true, OnTrack: func(t sfu.PublishedTrack) {
		s.reg.trackPublished(s.roomID, t.ParticipantID, t.TrackID, t.Kind.String(), t.Stream, false)
		if screen && t.Kind == webrtc.RTPCodecTypeVideo {
			p.SetScreen(t.TrackID)
		}
	}})
	if err != nil {
		return "", err
	}
	s.setConn(hd, conn)
	s.selfMute(d)
	ctx, cancel := context.WithTimeout(s.ctx, negotiateTimeout)
	defer cancel()
	return conn.Answer(ctx, offer.SDP)
}

// sendingSections counts the audio and video sections an offer sends.
func sendingSections(offer string) (int, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return 0, fmt.Errorf("the offer is not SDP: %w", err)
	}
	n := 0
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" && md.MediaName.Media != "video" || md.MediaName.Port.Value == 0 {
			continue
		}
		_, recvonly := md.Attribute("recvonly")
		_, inactive := md.Attribute("inactive")
		if !recvonly && !inactive {
			n++
		}
	}
	return n, nil
}

// joinSubscriber subscribes a handle to one feed: a connection of its own
// carrying the feed's tracks, offered by the server.
func (s *session) joinSubscriber(m in, hd *handle, b body) {
	s.mu.Lock()
	ok := s.joinedLocked() && hd.kind == kindNew
	p := s.p
	if ok {
		hd.kind = kindSubscriber
		hd.feed = b.Feed
	}
	s.mu.Unlock()
	if !ok {
		s.pluginError(m, hd, errNotJoined, "join the room with a presence handle first")
		return
	}
	f, found := s.reg.feed(s.roomID, b.Feed)
	if !found || f.owner == p.ID() {
		s.pluginError(m, hd, errNoSuchFeed, fmt.Sprintf("no such feed (%d)", b.Feed))
		return
	}
	conn, err := p.NewConn(sfu.ConnOptions{})
	if err != nil {
		s.pluginError(m, hd, errInvalid, err.Error())
		return
	}
	s.setConn(hd, conn)
	for _, t := range []string{f.audio, f.video} {
		if t != "" {
			_ = conn.Subscribe(t) // a track gone meanwhile: the feed goes too
		}
	}
	s.gate(hd, b)
	ctx, cancel := context.WithTimeout(s.ctx, negotiateTimeout)
	offer, err := conn.Offer(ctx)
	cancel()
	if err != nil {
		s.pluginError(m, hd, errInvalid, err.Error())
		return
	}
	s.event(m, hd, map[string]any{"videoroom": "attached", "room": s.roomID, "id": f.id, "display": f.display},
		&jsep{Type: "offer", SDP: offer})
}

// gate applies a subscriber's audio and video switches.
func (s *session) gate(hd *handle, b body) {
	s.mu.Lock()
	conn := hd.conn
	s.mu.Unlock()
	if conn == nil {
		return
	}
	if b.Audio != nil {
		conn.Gate("audio", !*b.Audio)
	}
	if b.Video != nil {
		conn.Gate("video", !*b.Video)
	}
}

func (s *session) startSubscriber(m in, hd *handle) {
	s.mu.Lock()
	conn, kind := hd.conn, hd.kind
	s.mu.Unlock()
	if kind != kindSubscriber || conn == nil {
		s.pluginError(m, hd, errNotJoined, "join as a subscriber first")
		return
	}
	if m.JSEP == nil || m.JSEP.Type != "answer" {
		s.pluginError(m, hd, errInvalid, "start needs the answer to the offer")
		return
	}
	if err := conn.Accept(m.JSEP.SDP); err != nil {
		s.pluginError(m, hd, errInvalid, err.Error())
		return
	}
	s.event(m, hd, map[string]any{"videoroom": "event", "room": s.roomID, "started": "ok"}, nil)
}

// onEvent turns the media server's events for the participant into the
// Janus events its client expects. It runs on the participant's own
// goroutine, in order.
func (s *session) onEvent(ev sfu.Event) {
	switch ev.Type {
	case sfu.EventParticipantJoined:
		mb := s.reg.memberOf(s.roomID, ev.ParticipantID, ev.Context)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.joined {
			s.early = append(s.early, ev)
			return
		}
		if mb != nil {
			s.announceLocked(mb)
		}
	case sfu.EventParticipantLeft:
		if mb := s.reg.member(s.roomID, ev.ParticipantID); mb != nil && !mb.janus {
			s.reg.dropMember(s.roomID, ev.ParticipantID)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.joined {
			s.early = append(s.early, ev)
			return
		}
		s.goneLocked(ev.ParticipantID, ev.Reason)
	case sfu.EventTrackPublished:
		s.reg.trackPublished(s.roomID, ev.ParticipantID, ev.TrackID, ev.Kind, ev.Stream, s.isScreen(ev))
	case sfu.EventTrackUnpublished:
		s.reg.trackUnpublished(s.roomID, ev.TrackID)
	case sfu.EventMuted, sfu.EventUnmuted:
		muted := ev.Type == sfu.EventMuted
		s.reg.setModerated(s.roomID, ev.ParticipantID, muted)
		s.moderated(ev.ParticipantID, muted)
	case sfu.EventSelfMuted:
		for id, disp := range s.reg.selfMuted(s.roomID, ev.ParticipantID, ev.Kind, ev.Muted) {
			s.feedDisplay(id, ev.ParticipantID, disp)
		}
	case sfu.EventChat:
		s.chatOut(ev)
	case sfu.EventClosed:
		s.closed(ev.Reason)
	}
}

// isScreen says whether a track of roomsd's protocol is its publisher's
// screen.
func (s *session) isScreen(ev sfu.Event) bool {
	if ev.Kind != "video" || ev.Stream != "" {
		return false
	}
	s.mu.Lock()
	p := s.p
	s.mu.Unlock()
	if p == nil {
		return false
	}
	for _, m := range p.Roster() {
		if m.ID == ev.ParticipantID {
			return m.Screen == ev.TrackID
		}
	}
	return false
}

// announceLocked tells the client of a participant (audiobridge joined on
// the presence handle), then of its feeds that waited for it.
func (s *session) announceLocked(mb *member) {
	if mb.pid == s.pid {
		return
	}
	if _, ok := s.known[mb.pid]; ok {
		return // one joined per participant: the SDK throws on a second
	}
	s.known[mb.pid] = mb.presID
	s.notifyLocked(s.presence, pluginAudioBridge, map[string]any{"audiobridge": "joined", "room": s.roomID,
		"participants": []any{map[string]any{"id": mb.presID, "display": mb.display, "setup": true, "muted": false}}})
	held := s.waiting[mb.pid]
	delete(s.waiting, mb.pid)
	for _, f := range held {
		s.feedReadyLocked(f)
	}
}

// goneLocked tells the client a participant left: its feeds went
// (unpublished, which the SDK waits for), then it did.
func (s *session) goneLocked(pid, reason string) {
	for id, owner := range s.announced {
		if owner == pid {
			delete(s.announced, id)
			s.notifyLocked(s.listener, pluginVideoRoom, map[string]any{"videoroom": "event", "room": s.roomID, "unpublished": id})
		}
	}
	delete(s.waiting, pid)
	presID, ok := s.known[pid]
	if !ok {
		return
	}
	delete(s.known, pid)
	key := "leaving"
	if reason == domain.ReasonKicked {
		key = "kicked"
	}
	s.notifyLocked(s.presence, pluginAudioBridge, map[string]any{"audiobridge": "event", "room": s.roomID, key: presID})
}

// feedReady tells the client of a feed (publishers on the listener),
// once it knows the feed's owner.
func (s *session) feedReady(f feedView) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feedReadyLocked(f)
}

func (s *session) feedReadyLocked(f feedView) {
	if f.owner == s.pid || s.ended {
		return
	}
	if _, ok := s.announced[f.id]; ok {
		return
	}
	if s.listener == 0 {
		return // the listener's join lists every feed ready then
	}
	if _, ok := s.known[f.owner]; !ok {
		s.waiting[f.owner] = append(s.waiting[f.owner], f)
		return
	}
	s.announced[f.id] = f.owner
	s.notifyLocked(s.listener, pluginVideoRoom, map[string]any{"videoroom": "event", "room": s.roomID, "publishers": []any{s.publisherLocked(f)}})
}

// feedGone tells the client a feed it knows went.
func (s *session) feedGone(f feedView) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.waiting[f.owner]; len(w) > 0 {
		kept := w[:0]
		for _, x := range w {
			if x.id != f.id {
				kept = append(kept, x)
			}
		}
		s.waiting[f.owner] = kept
	}
	if _, ok := s.announced[f.id]; !ok {
		return
	}
	delete(s.announced, f.id)
	s.notifyLocked(s.listener, pluginVideoRoom, map[string]any{"videoroom": "event", "room": s.roomID, "unpublished": f.id})
}

// feedDisplay tells the client a feed's display changed (a microphone or
// camera went off or on).
func (s *session) feedDisplay(id uint64, owner, disp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if owner == s.pid {
		return
	}
	if _, ok := s.announced[id]; !ok {
		for i, x := range s.waiting[owner] {
			if x.id == id {
				s.waiting[owner][i].display = disp
			}
		}
		return
	}
	s.notifyLocked(s.listener, pluginVideoRoom, map[string]any{"videoroom": "event", "room": s.roomID, "id": id, "display": disp})
}

// moderated tells the client the room's owner muted or unmuted a
// participant: for each of its feeds with audio, on the listener (its own
// too, so the SDK takes the track out of what it sends).
func (s *session) moderated(pid string, muted bool) {
	value := "unmuted"
	if muted {
		value = "muted"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []uint64
	if pid == s.pid {
		for _, hd := range s.handles {
			if hd.kind == kindPublisher {
				ids = append(ids, hd.feed)
			}
		}
	} else {
		for id, owner := range s.announced {
			if owner == pid {
				ids = append(ids, id)
			}
		}
	}
	for _, id := range ids {
		s.notifyLocked(s.listener, pluginVideoRoom, map[string]any{"videoroom": "event", "room": s.roomID, "id": id, "audio-moderation": value})
	}
}

// closed ends the session when the participant was removed: kicked (the
// SDK hears it on its presence handle and closes), the meeting ended or
// the server is going (4000, session_terminated), the room deleted
// (destroyed).
func (s *session) closed(reason string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	switch reason {
	case domain.ReasonKicked:
		s.notifyLocked(s.presence, pluginAudioBridge, map[string]any{"audiobridge": "event", "room": s.roomID, "kicked": s.presence})
		s.mu.Unlock()
		// The SDK closes the socket itself once it has told the app; a
		// client that does not is closed after a while.
		time.AfterFunc(5*time.Second, func() { s.w.Finish(websocket.StatusNormalClosure, reason) })
		return
	case domain.ReasonDeleted:
		s.notifyLocked(s.listener, pluginVideoRoom, map[string]any{"videoroom": "destroyed", "room": s.roomID})
		s.mu.Unlock()
		time.AfterFunc(5*time.Second, func() { s.w.Finish(websocket.StatusNormalClosure, reason) })
		return
	}
	s.mu.Unlock()
	s.w.Finish(closeSessionTerminated, reason)
}

// afterLeave runs once the participant's leave is recorded; the socket
// closes as closed decided, or has closed.
func (s *session) afterLeave(p *sfu.Participant, reason string) {
	s.log.Info("Janus participant left", "participant_id", p.ID(), "reason", reason)
}

// Chat limits, as on roomsd's own signaling: a message's length, and how
// fast one participant may send them.
const (
	maxChatRunes  = 1000
	chatBurst     = 5
	chatPerSecond = 1
)

// textRoom sets up the chat: a connection that carries only the data
// channel the client opens on it.
func (s *session) textRoom(m in, hd *handle, b body) {
	switch b.Request {
	case "setup":
		// The SDK sets up its chat before it joins (its connect waits for
		// the channel to open), so the chat's connection is not one of
		// the participant's.
		s.mu.Lock()
		ok := hd.kind == kindNew
		if ok {
			hd.kind = kindText
		}
		s.mu.Unlock()
		if !ok {
			s.pluginError(m, hd, errAlreadyJoined, "this handle is set up already")
			return
		}
		offer, err := s.textOffer(hd)
		if err != nil {
			s.pluginError(m, hd, errInvalid, err.Error())
			return
		}
		s.event(m, hd, map[string]any{"textroom": "event", "result": "ok", "janus_room_id": s.roomID}, &jsep{Type: "offer", SDP: offer})
	case "ack":
		s.mu.Lock()
		conn := hd.data
		s.mu.Unlock()
		if conn == nil || m.JSEP == nil || m.JSEP.Type != "answer" {
			s.pluginError(m, hd, errInvalid, "ack needs the answer to the setup's offer")
			return
		}
		if err := conn.Accept(m.JSEP.SDP); err != nil {
			s.pluginError(m, hd, errInvalid, err.Error())
			return
		}
		s.event(m, hd, map[string]any{"textroom": "event", "result": "ok"}, nil)
	default:
		s.pluginError(m, hd, errInvalid, fmt.Sprintf("textroom request %q is not served", b.Request))
	}
}

// textOffer opens the chat's connection and offers it.
func (s *session) textOffer(hd *handle) (string, error) {
	data, err := s.h.media.NewDataConn(func(dc *webrtc.DataChannel) { s.onDataChannel(hd, dc) })
	if err != nil {
		return "", err
	}
	s.setPeer(hd, func() { hd.data = data })
	ctx, cancel := context.WithTimeout(s.ctx, negotiateTimeout)
	defer cancel()
	return data.Offer(ctx)
}

// onDataChannel takes the chat channel the client opened.
func (s *session) onDataChannel(hd *handle, dc *webrtc.DataChannel) {
	s.mu.Lock()
	hd.dc = dc
	s.mu.Unlock()
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		if msg.IsString {
			s.textMessage(dc, msg.Data)
		}
	})
}

// textIn is a textroom request on the chat channel.
type textIn struct {
	TextRoom    string          `json:"textroom"`
	Transaction string          `json:"transaction"`
	Text        string          `json:"text"`
	To          string          `json:"to"`
	Tos         json.RawMessage `json:"tos"`
}

// sdkText is the text of an SDK chat message: the message and who it is
// for (none: everyone).
type sdkText struct {
	Message struct {
		Type    string `json:"type"`
		Payload any    `json:"payload"`
	} `json:"message"`
	Recipients []string `json:"recipients"`
}

// textMessage answers a textroom request: join and leave are taken, a
// message to everyone goes to the room's chat (roomsd's own clients see
// its text).
func (s *session) textMessage(dc *webrtc.DataChannel, raw []byte) {
	var m textIn
	if err := json.Unmarshal(raw, &m); err != nil {
		s.textReply(dc, map[string]any{"textroom": "error", "error_code": errInvalid, "error": "not a JSON object"})
		return
	}
	fail := func(reason string) {
		s.textReply(dc, map[string]any{"textroom": "error", "transaction": m.Transaction, "error_code": errInvalid, "error": reason})
	}
	switch m.TextRoom {
	case "join", "leave":
		s.textReply(dc, map[string]any{"textroom": "success", "transaction": m.Transaction, "participants": []any{}})
	case "message":
		var t sdkText
		if m.To != "" || len(m.Tos) > 0 && string(m.Tos) != "null" && string(m.Tos) != "[]" {
			fail("messages to chosen participants are not served; send to everyone")
			return
		}
		payload, ok := "", json.Unmarshal([]byte(m.Text), &t) == nil && t.Message.Type == "text"
		if ok {
			payload, ok = t.Message.Payload.(string)
		}
		if !ok {
			fail(`text must be the SDK's JSON of a message of type "text" with a text payload`)
			return
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(payload)); n == 0 || n > maxChatRunes {
			fail(fmt.Sprintf("a chat message has 1 to %d characters", maxChatRunes))
			return
		}
		s.mu.Lock()
		p := s.p
		if s.chat == nil {
			s.chat = rate.NewLimiter(chatPerSecond, chatBurst)
		}
		allowed := s.chat.Allow()
		s.mu.Unlock()
		switch {
		case p == nil:
			fail("join the room first")
		case !allowed:
			fail("chat messages are sent too fast; this one was not sent")
		default:
			p.Chat(payload, time.Now())
			s.textReply(dc, map[string]any{"textroom": "success", "transaction": m.Transaction})
		}
	default:
		fail(fmt.Sprintf("textroom request %q is not served", m.TextRoom))
	}
}

func (s *session) textReply(dc *webrtc.DataChannel, v map[string]any) {
	b, _ := json.Marshal(v)
	if err := dc.SendText(string(b)); err != nil {
		s.log.Debug("chat reply", "err", err)
	}
}

// chatOut gives a chat message of the room to the client's chat channel.
func (s *session) chatOut(ev sfu.Event) {
	s.mu.Lock()
	var dc *webrtc.DataChannel
	for _, hd := range s.handles {
		if hd.kind == kindText && hd.dc != nil {
			dc = hd.dc
		}
	}
	s.mu.Unlock()
	if dc == nil {
		return
	}
	from := ev.ParticipantID
	if mb := s.reg.member(s.roomID, ev.ParticipantID); mb != nil {
		from = mb.clientID
	}
	var t sdkText
	t.Message.Type, t.Message.Payload, t.Recipients = "text", ev.Text, []string{}
	text, _ := json.Marshal(t)
	s.textReply(dc, map[string]any{"textroom": "message", "room": s.roomID, "from": from, "date": ev.At.UTC().Format(time.RFC3339),
		"text": string(text)})
}
