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
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/limit"
	"github.com/roomsd/roomsd/internal/participants"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/sfu"
	"github.com/roomsd/roomsd/internal/wsq"
)

// joinTimeout bounds the wait for the first message, which must be join.
const joinTimeout = 10 * time.Second

// Handler serves GET /v2/rooms/{room_id}/connect: the roomsd signaling
// protocol in front of the participants service (join, leave) and the
// media server.
type Handler struct {
	rooms        *rooms.Service
	participants *participants.Service
	media        *sfu.Manager
	log          *slog.Logger
	grace        time.Duration
	iceServers   []webrtc.ICEServer

	mu      sync.Mutex
	dropped map[string]*time.Timer // participant id → its grace timer
	conns   map[string]*conn       // participant id → its current socket
	// chatLimits is each participant's chat rate.
	chatLimits map[string]*rate.Limiter
	secrets    map[string]string        // participant id → its resume token
	joining    map[string]chan struct{} // participant id → closed when its media join is done
	counts     counts

	iceFor func(participantID string) []webrtc.ICEServer
	gate   *wsq.Gate
}

// New returns the signaling handler. grace is how long a participant whose
// socket dropped may come back (join with resume) before it leaves.
func New(r *rooms.Service, ps *participants.Service, media *sfu.Manager, log *slog.Logger, grace time.Duration, iceServers []webrtc.ICEServer,
	opts ...Option) *Handler {
	h := &Handler{rooms: r, participants: ps, media: media, log: log, grace: grace, iceServers: iceServers, gate: wsq.NewGate(nil, httpx.ClientAddr{}, 0), dropped: map[string]*time.Timer{},
		conns: map[string]*conn{}, secrets: map[string]string{}, joining: map[string]chan struct{}{}, chatLimits: map[string]*rate.Limiter{}}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Option tunes the handler.
type Option func(*Handler)

// WithICEServers adds, to each joined message, ICE servers made for the
// participant (TURN with credentials of its own).
func WithICEServers(forParticipant func(participantID string) []webrtc.ICEServer) Option {
	return func(h *Handler) { h.iceFor = forParticipant }
}

// refused logs and counts a join refused for reason.
func (h *Handler) refused(roomID, reason string, attrs ...any) {
	h.log.Info("join refused", append([]any{"room_id", roomID, "reason", reason}, attrs...)...)
	h.counts.refuse(reason)
}

// iceServersFor are the ICE servers a participant is given.
func (h *Handler) iceServersFor(participantID string) []webrtc.ICEServer {
	if h.iceFor == nil {
		return h.iceServers
	}
	return append(append([]webrtc.ICEServer(nil), h.iceServers...), h.iceFor(participantID)...)
}

// WithLimits limits each client address to connects (nil: no limit), and
// the sockets open at once to maxSockets (0: no limit).
func WithLimits(connects *limit.Keyed, client httpx.ClientAddr, maxSockets int) Option {
	return func(h *Handler) { h.gate = wsq.NewGate(connects, client, maxSockets) }
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	roomID, err := uuid.Parse(r.PathValue("room_id"))
	if err != nil || len(r.PathValue("room_id")) != 36 {
		httpx.WriteError(w, &httpx.Error{Status: http.StatusBadRequest, Code: "10006", Title: "Invalid ID",
			Detail: "room_id must be a UUID.", Source: &httpx.Source{Parameter: "room_id"}})
		return
	}
	ws, release, refused := h.gate.Accept(w, r,
		"This is the signaling WebSocket: open it with a WebSocket client (Connection: Upgrade, Upgrade: websocket, over HTTP/1.1), then send a join message. docs/signaling.md describes the protocol.")
	if refused != "" {
		h.counts.refuse(refused)
	}
	if ws == nil {
		return
	}
	defer release()
	c := newConn(ws, h.log)
	h.serve(r.Context(), c, roomID.String())
	c.finish(websocket.StatusNormalClosure, "")
	<-c.done()
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
	claims, err := h.rooms.VerifyJoinToken(ctx, roomID, m.Token)
	if err != nil {
		if errors.Is(err, domain.ErrForbidden) {
			h.refused(roomID, CodeUnauthorized, "why", err.Error())
			c.fail(websocket.StatusPolicyViolation, CodeUnauthorized, "the token does not allow joining this room: "+err.Error())
		} else {
			h.log.Error("verify join token", "room_id", roomID, "err", err)
			c.fail(websocket.StatusInternalError, CodeUnavailable, "the server could not check the token; try again")
		}
		return
	}
	var p *sfu.Participant
	if m.Resume != "" {
		p = h.resume(ctx, c, roomID, m.Resume, m.ResumeToken)
	} else {
		p = h.join(ctx, c, roomID, m.Context, domain.Origin{Family: claims.Family, Link: claims.Link})
	}
	if p == nil {
		return
	}
	h.loop(ctx, c, p)
}

// join admits a new participant and connects it to the media server,
// which sends it every track of the room (the policy of this protocol).
func (h *Handler) join(ctx context.Context, c *conn, roomID, who string, origin domain.Origin) *sfu.Participant {
	var id string
	joined := make(chan struct{})
	p, err := h.participants.Join(ctx, participants.Request{RoomID: roomID, Context: who, Origin: origin, Subscriptions: sfu.SubscribeAll,
		Admitted: func(part domain.Participant) {
			id = part.ID
			secret := resumeToken()
			c.send(Message{Type: TypeJoined, RoomID: roomID, SessionID: part.SessionID, ParticipantID: part.ID, ICEServers: h.iceServersFor(part.ID),
				ResumeToken: secret})
			h.mu.Lock()
			h.conns[part.ID] = c
			h.secrets[part.ID] = secret
			h.joining[part.ID] = joined
			h.mu.Unlock()
		},
		Events: h.events(c),
		Left:   h.afterLeave,
	})
	if id != "" {
		// A resume that arrived meanwhile (the client had joined and lost
		// its socket already) may go on.
		h.mu.Lock()
		delete(h.joining, id)
		if err != nil {
			delete(h.conns, id)
			delete(h.secrets, id)
		}
		h.mu.Unlock()
		close(joined)
	}
	var (
		elsewhere *domain.ElsewhereError
		keptOut   *domain.KeptOutError
	)
	switch {
	case err == nil:
		return p
	case errors.As(err, &elsewhere):
		h.redirect(c, elsewhere, roomID)
	case errors.As(err, &keptOut):
		h.refused(roomID, CodeKicked, "until", keptOut.Until)
		c.fail(websocket.StatusPolicyViolation, CodeKicked, "you were removed from this room; this token or meeting link can join again from "+
			keptOut.Until.UTC().Format(time.RFC3339))
	case errors.Is(err, domain.ErrRoomFull):
		h.refused(roomID, CodeRoomFull)
		c.fail(websocket.StatusPolicyViolation, CodeRoomFull, "the room has reached its max_participants")
	case errors.Is(err, domain.ErrNotFound):
		h.refused(roomID, CodeNotFound)
		c.fail(websocket.StatusPolicyViolation, CodeNotFound, "the room no longer exists")
	case errors.Is(err, participants.ErrServerFull):
		h.refused(roomID, RefusedServerFull)
		c.fail(websocket.StatusTryAgainLater, CodeUnavailable, "this server holds as many participants as it may (ROOMSD_MAX_PARTICIPANTS); try again later")
	case errors.Is(err, participants.ErrUnavailable):
		h.refused(roomID, CodeUnavailable)
		c.fail(websocket.StatusTryAgainLater, CodeUnavailable, "the media server is not accepting participants")
	default:
		h.log.Error("join", "room_id", roomID, "err", err)
		c.fail(websocket.StatusInternalError, CodeUnavailable, "the server could not add you to the room; try again")
	}
	return nil
}

// redirect sends the client to the node that serves the room's live
// session; nothing was changed here.
func (h *Handler) redirect(c *conn, to *domain.ElsewhereError, roomID string) {
	c.send(Message{Type: TypeRedirect, URL: ConnectURL(to.URL, roomID)})
	c.finish(websocket.StatusNormalClosure, "redirect")
}

// ConnectURL is the signaling URL of a room on the server at base
// (http(s)://host:port, with or without /v2): ws(s)://host:port/v2/rooms/{id}/connect.
func ConnectURL(base, roomID string) string {
	u := strings.TrimSuffix(strings.TrimSuffix(base, "/"), "/v2")
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	return u + "/v2/rooms/" + roomID + "/connect"
}

// afterLeave runs once the participant is gone from the media server and
// its leave is recorded, whatever the cause: only then is its socket told
// and closed, so a client that sees its socket close finds the REST view
// updated.
func (h *Handler) afterLeave(p *sfu.Participant, reason string) {
	h.mu.Lock()
	if t := h.dropped[p.ID()]; t != nil {
		t.Stop()
		delete(h.dropped, p.ID())
	}
	c := h.conns[p.ID()]
	delete(h.conns, p.ID())
	delete(h.secrets, p.ID())
	delete(h.chatLimits, p.ID())
	h.mu.Unlock()
	if c == nil {
		return
	}
	switch reason {
	case domain.ReasonKicked:
		c.send(Message{Type: TypeKicked})
	case domain.ReasonEnded:
		c.send(Message{Type: TypeSessionEnded})
	case domain.ReasonShutdown:
		c.send(Message{Type: TypeClosed, Reason: domain.ReasonShutdown})
	default:
		c.send(Message{Type: TypeClosed, Reason: rooms.LeftReason(reason)})
	}
	c.finish(websocket.StatusNormalClosure, reason)
}

// resume reattaches a participant to a new socket: one whose socket
// dropped less than the grace period ago, or one whose old socket the
// server still holds (the client noticed the drop first); the old socket
// is closed.
func (h *Handler) resume(ctx context.Context, c *conn, roomID, participantID, secret string) *sfu.Participant {
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
		var elsewhere *domain.ElsewhereError
		if p == nil && errors.As(h.rooms.Locate(ctx, participantID), &elsewhere) {
			// Held by another node (the client's reconnect reached this
			// one): resume there.
			h.redirect(c, elsewhere, roomID)
			return nil
		}
		c.fail(websocket.StatusPolicyViolation, CodeNotFound, "no participant to resume with that resume_token; join again")
		return nil
	}
	if old != nil {
		old.finish(websocket.StatusNormalClosure, "resumed on another connection")
	}
	// joined, then the room as it is now (events that happen meanwhile
	// reach the new socket before the state that includes them), then
	// the offer still waiting for its answer, if any.
	c.send(Message{Type: TypeJoined, RoomID: roomID, SessionID: p.SessionID(), ParticipantID: p.ID(), ICEServers: h.iceServersFor(p.ID()),
		ResumeToken: secret})
	p.SetEvents(h.events(c))
	c.send(stateMessage(p.Roster()))
	p.Resync()
	p.SetAway(false)
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
		members[i] = Member{ParticipantID: m.ID, Context: m.Context, Muted: m.Muted, Reconnecting: m.Away, SelfMutedAudio: m.SelfMutedAudio,
			SelfMutedVideo: m.SelfMutedVideo, ScreenTrackID: m.Screen, Tracks: tracks}
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
	p.SetAway(true)
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
	case TypeSelfMute:
		if (m.Kind != "audio" && m.Kind != "video") || m.Muted == nil {
			c.send(Message{Type: TypeError, Code: CodeBadMessage, Message: `self_mute needs kind "audio" or "video" and muted true or false`})
			return nil
		}
		p.SetSelfMuted(m.Kind, *m.Muted)
	case TypeScreenShare:
		if len(m.TrackID) > maxTrackIDLen {
			c.send(Message{Type: TypeError, Code: CodeBadMessage, Message: fmt.Sprintf("screen_share: track_id is over %d bytes", maxTrackIDLen)})
			return nil
		}
		screen := ""
		if m.TrackID != "" {
			screen = p.ID() + "-video-" + m.TrackID
		}
		p.SetScreen(screen)
	case TypeChat:
		h.chat(c, p, m.Text)
	case TypeJoin:
		c.send(Message{Type: TypeError, Code: CodeBadMessage, Message: "already joined"})
	default:
		c.send(Message{Type: TypeError, Code: CodeUnknownType, Message: fmt.Sprintf("unknown message type %q", m.Type)})
	}
	return nil
}

// Chat limits: the length of a message, and how fast one participant may
// send them (a burst, then one a second).
const (
	maxChatRunes  = 1000
	chatBurst     = 5
	chatPerSecond = 1
	maxTrackIDLen = 256
)

// chat relays a chat message to the room, within its length and the
// participant's rate; nothing is stored.
func (h *Handler) chat(c *conn, p *sfu.Participant, text string) {
	n := utf8.RuneCountInString(strings.TrimSpace(text))
	if n == 0 || n > maxChatRunes {
		c.send(Message{Type: TypeError, Code: CodeBadMessage, Message: fmt.Sprintf("chat needs a text of 1 to %d characters", maxChatRunes)})
		return
	}
	h.mu.Lock()
	lim := h.chatLimits[p.ID()]
	if lim == nil {
		lim = rate.NewLimiter(chatPerSecond, chatBurst)
		h.chatLimits[p.ID()] = lim
	}
	h.mu.Unlock()
	if !lim.Allow() {
		c.send(Message{Type: TypeError, Code: CodeRateLimited, Message: "chat messages are sent too fast; this one was not sent"})
		return
	}
	p.Chat(text, time.Now())
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
		case sfu.EventMuted, sfu.EventUnmuted, sfu.EventReconnecting, sfu.EventReconnected:
			c.send(Message{Type: ev.Type, ParticipantID: ev.ParticipantID})
		case sfu.EventRenegotiationError:
			c.send(Message{Type: TypeError, Code: CodeNegotiation, Message: ev.Reason})
		case sfu.EventSelfMuted:
			muted := ev.Muted
			c.send(Message{Type: ev.Type, ParticipantID: ev.ParticipantID, Kind: ev.Kind, Muted: &muted})
		case sfu.EventScreenShare:
			c.send(Message{Type: ev.Type, ParticipantID: ev.ParticipantID, TrackID: ev.TrackID})
		case sfu.EventChat:
			c.send(Message{Type: ev.Type, ParticipantID: ev.ParticipantID, Text: ev.Text, SentAt: ev.At.UTC().Format(time.RFC3339Nano)})
		case sfu.EventSpeakers:
			speakers := ev.Speakers
			c.send(Message{Type: ev.Type, Speakers: &speakers})
		}
		// EventClosed is answered by afterLeave, once the leave is recorded.
	}
}
