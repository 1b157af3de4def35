package signal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/http/httpguts"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/sfu"
)

// joinTimeout bounds the wait for the first message, which must be join.
const joinTimeout = 10 * time.Second

// Handler serves GET /v2/rooms/{room_id}/connect.
type Handler struct {
	rooms      *rooms.Service
	media      *sfu.Manager
	log        *slog.Logger
	grace      time.Duration
	iceServers []webrtc.ICEServer

	mu      sync.Mutex
	dropped map[string]*time.Timer   // participant id → its grace timer
	conns   map[string]*conn         // participant id → its current socket
	secrets map[string]string        // participant id → its resume token
	joining map[string]chan struct{} // participant id → closed when its media join is done
	leaves  sync.WaitGroup           // afterLeave goroutines
	closing bool                     // Wait has begun: no new participants
}

// Wait returns once every departed participant's leave is recorded; call it
// after closing the media server and before closing the database. Joins
// that arrive from then on are refused.
func (h *Handler) Wait() {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	h.leaves.Wait()
}

// New returns the signaling handler. grace is how long a participant whose
// socket dropped may come back (join with resume) before it leaves.
func New(r *rooms.Service, media *sfu.Manager, log *slog.Logger, grace time.Duration, iceServers []webrtc.ICEServer) *Handler {
	return &Handler{rooms: r, media: media, log: log, grace: grace, iceServers: iceServers, dropped: map[string]*time.Timer{}, conns: map[string]*conn{}, secrets: map[string]string{}, joining: map[string]chan struct{}{}}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	roomID, err := uuid.Parse(r.PathValue("room_id"))
	if err != nil || len(r.PathValue("room_id")) != 36 {
		httpx.WriteError(w, &httpx.Error{Status: http.StatusBadRequest, Code: "10006", Title: "Invalid ID",
			Detail: "room_id must be a UUID.", Source: &httpx.Source{Parameter: "room_id"}})
		return
	}
	if !isUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		httpx.WriteError(w, &httpx.Error{Status: http.StatusUpgradeRequired, Code: httpx.CodeBadRequest, Title: "Upgrade required",
			Detail: "This is the signaling WebSocket: open it with a WebSocket client (Connection: Upgrade, Upgrade: websocket, over HTTP/1.1), then send a join message. docs/signaling.md describes the protocol."})
		return
	}
	// The server's read and write timeouts are for requests; a socket lives
	// for a whole meeting and keeps itself alive with pings.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	// Tokens, not cookies, authenticate this socket, so a page of any
	// origin may open it.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered the client
	}
	c := newConn(ws, h.log)
	h.serve(r.Context(), c, roomID.String())
	c.finish(websocket.StatusNormalClosure, "")
	<-c.done
}

// isUpgrade reports whether r asks for a WebSocket: HTTP/1.1 or later,
// Connection naming Upgrade and Upgrade naming websocket. The websocket
// library checks the rest of the handshake.
func isUpgrade(r *http.Request) bool {
	return r.ProtoAtLeast(1, 1) && httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") &&
		httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "websocket")
}

// serve runs one connection: join (or resume), then messages until the
// socket closes or the participant leaves.
func (h *Handler) serve(ctx context.Context, c *conn, roomID string) {
	jctx, cancel := context.WithTimeout(ctx, joinTimeout)
	m, bad, err := c.read(jctx)
	cancel()
	switch {
	case err != nil && jctx.Err() != nil && ctx.Err() == nil:
		c.fail(websocket.StatusPolicyViolation, CodeJoinTimeout, "send join first, within 10 seconds")
		return
	case err != nil:
		return
	case bad != "":
		c.fail(websocket.StatusPolicyViolation, CodeNotJoined, bad+`; the first message must be {"type":"join","token":...}`)
		return
	case m.Type != TypeJoin:
		c.fail(websocket.StatusPolicyViolation, CodeNotJoined, `the first message must be {"type":"join","token":...}`)
		return
	}
	if _, err := h.rooms.VerifyJoinToken(ctx, roomID, m.Token); err != nil {
		if errors.Is(err, domain.ErrForbidden) {
			c.fail(websocket.StatusPolicyViolation, CodeUnauthorized, "the token does not allow joining this room: "+err.Error())
		} else {
			h.log.Error("verify join token", "room_id", roomID, "err", err)
			c.fail(websocket.StatusInternalError, CodeUnavailable, "the server could not check the token; try again")
		}
		return
	}
	var p *sfu.Participant
	if m.Resume != "" {
		p = h.resume(c, roomID, m.Resume, m.ResumeToken)
	} else {
		p = h.join(ctx, c, roomID, m.Context)
	}
	if p == nil {
		return
	}
	h.loop(ctx, c, p)
}

// join admits a new participant (the cap is checked in the database) and
// connects it to the media server.
func (h *Handler) join(ctx context.Context, c *conn, roomID, who string) *sfu.Participant {
	part, err := h.rooms.Join(ctx, roomID, who)
	switch {
	case errors.Is(err, domain.ErrRoomFull):
		c.fail(websocket.StatusPolicyViolation, CodeRoomFull, "the room has reached its max_participants")
		return nil
	case errors.Is(err, domain.ErrNotFound):
		c.fail(websocket.StatusPolicyViolation, CodeNotFound, "the room no longer exists")
		return nil
	case err != nil:
		h.log.Error("join", "room_id", roomID, "err", err)
		c.fail(websocket.StatusInternalError, CodeUnavailable, "the server could not add you to the room; try again")
		return nil
	}
	secret := resumeToken()
	c.send(Message{Type: TypeJoined, RoomID: roomID, SessionID: part.SessionID, ParticipantID: part.ID, ICEServers: h.iceServers,
		ResumeToken: secret})
	h.mu.Lock()
	closing := h.closing
	joined := make(chan struct{})
	if !closing {
		h.conns[part.ID] = c
		h.secrets[part.ID] = secret
		h.joining[part.ID] = joined
		h.leaves.Add(1) // before Wait can begin: see Wait
	}
	h.mu.Unlock()
	var p *sfu.Participant
	if closing {
		err = sfu.ErrClosed
	} else {
		p, err = h.media.Join(roomID, part.SessionID, part.ID, who, h.events(c), sfu.SubscribeAll)
		// A resume that arrived meanwhile (the client had joined and
		// lost its socket already) may go on.
		h.mu.Lock()
		delete(h.joining, part.ID)
		h.mu.Unlock()
		close(joined)
	}
	if err != nil {
		if !closing {
			h.mu.Lock()
			delete(h.conns, part.ID)
			delete(h.secrets, part.ID)
			h.mu.Unlock()
			defer h.leaves.Done()
		}
		h.log.Error("media join", "room_id", roomID, "err", err)
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		h.rooms.Leave(lctx, part.ID, domain.ReasonDisconnected)
		cancel()
		c.fail(websocket.StatusTryAgainLater, CodeUnavailable, "the media server is not accepting participants")
		return nil
	}
	go func() {
		defer h.leaves.Done()
		h.afterLeave(p)
	}()
	// A kick, end or delete that landed between the admission and the
	// media join found nobody to disconnect; look again now that the
	// participant is reachable.
	if now, err := h.rooms.GetParticipant(ctx, part.ID); errors.Is(err, domain.ErrNotFound) {
		p.Close(domain.ReasonDeleted)
	} else if err == nil && now.LeftAt != nil {
		p.Close(now.LeftReason)
	}
	return p
}

// afterLeave records the leave once the participant is gone from the media
// server, whatever the cause, and only then tells its socket and closes
// it: a client that sees its socket close finds the REST view updated.
func (h *Handler) afterLeave(p *sfu.Participant) {
	<-p.Done()
	h.mu.Lock()
	if t := h.dropped[p.ID()]; t != nil {
		t.Stop()
		delete(h.dropped, p.ID())
	}
	c := h.conns[p.ID()]
	delete(h.conns, p.ID())
	delete(h.secrets, p.ID())
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reason := p.Reason()
	if _, err := h.rooms.Leave(ctx, p.ID(), rooms.LeftReason(reason)); err != nil && !errors.Is(err, domain.ErrNotFound) {
		h.log.Error("record leave", "participant_id", p.ID(), "err", err)
	}
	if c == nil {
		return
	}
	switch reason {
	case domain.ReasonKicked:
		c.send(Message{Type: TypeKicked})
	case domain.ReasonEnded:
		c.send(Message{Type: TypeSessionEnded})
	default:
		c.send(Message{Type: TypeClosed, Reason: rooms.LeftReason(reason)})
	}
	c.finish(websocket.StatusNormalClosure, reason)
}

// resume reattaches a participant to a new socket: one whose socket
// dropped less than the grace period ago, or one whose old socket the
// server still holds (the client noticed the drop first); the old socket
// is closed.
func (h *Handler) resume(c *conn, roomID, participantID, secret string) *sfu.Participant {
	h.mu.Lock()
	if joined := h.joining[participantID]; joined != nil {
		// Its media join, which takes a moment, is still under way.
		h.mu.Unlock()
		<-joined
		h.mu.Lock()
	}
	p := h.media.Participant(participantID)
	want, known := h.secrets[participantID]
	ok := p != nil && p.RoomID() == roomID && known &&
		subtle.ConstantTimeCompare([]byte(want), []byte(secret)) == 1
	if t := h.dropped[participantID]; ok && t != nil {
		ok = t.Stop() // false: the grace period just ran out
		delete(h.dropped, participantID)
	}
	var old *conn
	if ok {
		old = h.conns[participantID]
		h.conns[participantID] = c
	}
	h.mu.Unlock()
	if !ok {
		c.fail(websocket.StatusPolicyViolation, CodeNotFound, "no participant to resume with that resume_token; join again")
		return nil
	}
	if old != nil {
		old.finish(websocket.StatusNormalClosure, "resumed on another connection")
	}
	// joined, then the room as it is now (events that happen meanwhile
	// reach the new socket before the state that includes them), then
	// the offer still waiting for its answer, if any.
	c.send(Message{Type: TypeJoined, RoomID: roomID, SessionID: p.SessionID(), ParticipantID: p.ID(), ICEServers: h.iceServers,
		ResumeToken: secret})
	p.SetEvents(h.events(c))
	c.send(stateMessage(p.Roster()))
	p.Resync()
	return p
}

// stateMessage is the state message for a roster.
func stateMessage(roster []sfu.Member) Message {
	members := make([]Member, len(roster))
	for i, m := range roster {
		tracks := make([]Track, len(m.Tracks))
		for j, t := range m.Tracks {
			tracks[j] = Track{TrackID: t.ID, StreamID: m.ID, Kind: t.Kind}
		}
		members[i] = Member{ParticipantID: m.ID, Context: m.Context, Muted: m.Muted, Tracks: tracks}
	}
	return Message{Type: TypeState, Participants: &members}
}

// resumeToken is a random secret that lets a participant's own client, and
// no one else, resume it.
func resumeToken() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// loop handles the participant's messages until its socket closes or it
// leaves.
func (h *Handler) loop(ctx context.Context, c *conn, p *sfu.Participant) {
	for {
		m, bad, err := c.read(ctx)
		if err != nil {
			select {
			case <-p.Done():
			default:
				h.graceStart(p, c)
			}
			return
		}
		if bad != "" {
			c.send(Message{Type: TypeError, Code: CodeBadMessage, Message: bad})
			continue
		}
		if err := h.handle(c, p, m); err != nil {
			c.send(Message{Type: TypeError, Code: CodeNegotiation, Message: err.Error()})
		}
	}
}

// graceStart starts the grace period of a participant whose socket dropped.
func (h *Handler) graceStart(p *sfu.Participant, c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[p.ID()] != c {
		return // this socket was replaced by a resume
	}
	p.SetEvents(nil)
	delete(h.conns, p.ID())
	h.dropped[p.ID()] = time.AfterFunc(h.grace, func() { p.Close(domain.ReasonDisconnected) })
}

func (h *Handler) handle(c *conn, p *sfu.Participant, m Message) error {
	switch m.Type {
	case TypeOffer:
		return p.HandleOffer(m.SDP)
	case TypeAnswer:
		return p.HandleAnswer(m.SDP)
	case TypeCandidate:
		if m.Candidate == nil {
			c.send(Message{Type: TypeError, Code: CodeBadMessage, Message: "candidate needs a candidate object"})
			return nil
		}
		return p.AddCandidate(*m.Candidate)
	case TypeLeave:
		p.Close(domain.ReasonLeft)
	case TypePing:
		c.send(Message{Type: TypePong})
	case TypeTrackSettings:
		if msg := h.trackSettings(p, m); msg != "" {
			c.send(Message{Type: TypeError, Code: CodeBadMessage, Message: msg})
		}
	case TypeJoin:
		c.send(Message{Type: TypeError, Code: CodeBadMessage, Message: "already joined"})
	default:
		c.send(Message{Type: TypeError, Code: CodeUnknownType, Message: fmt.Sprintf("unknown message type %q", m.Type)})
	}
	return nil
}

// trackSettings applies a track_settings message; it returns what is
// wrong with it, if anything.
func (h *Handler) trackSettings(p *sfu.Participant, m Message) string {
	switch {
	case m.TrackID == "":
		return "track_settings needs the track_id of a remote video"
	case m.Width < 0 || m.Width > maxVideoSide || m.Height < 0 || m.Height > maxVideoSide:
		return fmt.Sprintf("width and height must be from 0 to %d pixels", maxVideoSide)
	}
	s := sfu.Settings{Hidden: m.Visible != nil && !*m.Visible, Width: m.Width, Height: m.Height, Quality: m.Quality}
	if err := p.SetTrackSettings(m.TrackID, s); err != nil {
		return "track_settings: " + err.Error()
	}
	return ""
}

// events turns the media server's events into protocol messages on c.
func (h *Handler) events(c *conn) func(sfu.Event) {
	return func(ev sfu.Event) {
		switch ev.Type {
		case sfu.EventOffer, sfu.EventAnswer:
			c.send(Message{Type: ev.Type, SDP: ev.SDP.SDP})
		case sfu.EventCandidate:
			c.send(Message{Type: ev.Type, Candidate: ev.Candidate})
		case sfu.EventParticipantJoined:
			c.send(Message{Type: ev.Type, ParticipantID: ev.ParticipantID, Context: ev.Context})
		case sfu.EventParticipantLeft:
			c.send(Message{Type: ev.Type, ParticipantID: ev.ParticipantID, Reason: rooms.LeftReason(ev.Reason)})
		case sfu.EventTrackPublished, sfu.EventTrackUnpublished:
			c.send(Message{Type: ev.Type, ParticipantID: ev.ParticipantID, TrackID: ev.TrackID, StreamID: ev.ParticipantID, Kind: ev.Kind})
		case sfu.EventMuted, sfu.EventUnmuted:
			c.send(Message{Type: ev.Type, ParticipantID: ev.ParticipantID})
		case sfu.EventRenegotiationError:
			c.send(Message{Type: TypeError, Code: CodeNegotiation, Message: ev.Reason})
		case sfu.EventSpeakers:
			speakers := ev.Speakers
			c.send(Message{Type: ev.Type, Speakers: &speakers})
		}
		// EventClosed is answered by afterLeave, once the leave is recorded.
	}
}
