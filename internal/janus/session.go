package janus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/sfu"
	"github.com/roomsd/roomsd/internal/wsq"
)

// handle kinds, known once the handle's first request says what it is.
type handleKind int

const (
	kindNew        handleKind = iota
	kindPresence              // audiobridge, muted: the participant
	kindMedia                 // audiobridge with media: hears the room's mix
	kindListener              // videoroom publisher that never publishes: hears of feeds
	kindPublisher             // videoroom publisher of one stream
	kindSubscriber            // videoroom subscriber to one feed
	kindText                  // textroom: chat on a data channel
)

// handle is one attached plugin handle.
type handle struct {
	id     uint64
	plugin string
	kind   handleKind
	conn   *sfu.Conn
	feed   uint64 // publisher: its feed; subscriber: the feed it receives
	// early holds candidates that came before the handle's connection.
	early []webrtc.ICECandidateInit
	// data is the textroom's connection, dc its data channel once the
	// client opened it.
	data *sfu.DataConn
	dc   *webrtc.DataChannel
}

// peer is what takes the handle's trickled candidates: its connection,
// or nil before it has one.
func (hd *handle) peer() candidateSink {
	switch {
	case hd.conn != nil:
		return hd.conn
	case hd.data != nil:
		return hd.data
	}
	return nil
}

// session is one socket: one Janus session, one participant.
type session struct {
	h      *Handler
	ws     *websocket.Conn
	w      *wsq.Writer
	roomID string
	log    *slog.Logger
	reg    *registry

	// ctx is the socket's request's; done when it closes.
	ctx context.Context

	mu      sync.Mutex
	id      uint64 // the Janus session id, once created
	token   string
	expires time.Time
	expiry  *time.Timer
	handles map[uint64]*handle
	p       *sfu.Participant
	pid     string // roomsd participant id
	// The presence handle, its audiobridge id, and whether its join was
	// answered: until then, who comes and goes is held in early.
	presence uint64
	joined   bool
	early    []sfu.Event
	listener uint64 // the videoroom listener handle, once joined
	// known: participants this client has been told of (roomsd id →
	// audiobridge id); announced: the feeds it has been told of (feed id →
	// owner); waiting: feeds whose owner it does not know yet.
	known     map[string]uint64
	announced map[uint64]string
	waiting   map[string][]feedView
	ended     bool
	chat      *rate.Limiter
}

func newSession(h *Handler, ws *websocket.Conn, roomID string) *session {
	log := h.log.With("room_id", roomID)
	return &session{h: h, ws: ws, w: wsq.New(ws, log, wsq.Options{Queue: outboxSize, WriteTimeout: writeTimeout, Ping: pingInterval}), roomID: roomID, log: log, reg: h.reg, handles: map[uint64]*handle{},
		known: map[string]uint64{}, announced: map[uint64]string{}, waiting: map[string][]feedView{}}
}

// run reads the socket until it closes, then ends the session.
func (s *session) run(ctx context.Context) {
	s.ctx = ctx
	defer func() {
		// What is queued goes out, then the socket closes (with the code
		// chosen before, if any).
		s.w.Finish(websocket.StatusNormalClosure, "")
		<-s.w.Done()
	}()
	s.reg.join(s)
	defer s.teardown(domain.ReasonDisconnected)
	first := true
	for {
		rctx, cancel := s.ctx, context.CancelFunc(func() {})
		if first {
			rctx, cancel = context.WithTimeout(s.ctx, createTimeout)
		}
		typ, raw, err := s.ws.Read(rctx)
		cancel()
		if err != nil {
			if first && rctx.Err() != nil && s.ctx.Err() == nil {
				s.w.Finish(closeTimedOut, "send create first")
			}
			return
		}
		first = false
		if typ != websocket.MessageText {
			s.w.Send(out{Janus: "error", Error: &coreError{Code: errInvalidJSON, Reason: "messages are JSON text frames"}})
			continue
		}
		var m in
		if err := json.Unmarshal(raw, &m); err != nil {
			s.w.Send(out{Janus: "error", Error: &coreError{Code: errInvalidJSON, Reason: "not a JSON object: " + err.Error()}})
			continue
		}
		if !s.authorize(m) {
			return
		}
		s.handle(m)
		s.mu.Lock()
		ended := s.ended
		s.mu.Unlock()
		if ended {
			return
		}
	}
}

// authorize checks the client token every message carries: the first,
// and any new one (a refreshed token). A refused token is answered with
// status_code, which makes the SDK close the socket.
func (s *session) authorize(m in) bool {
	s.mu.Lock()
	current := s.token
	s.mu.Unlock()
	if m.ClientToken == current && current != "" {
		return true
	}
	if m.ClientToken == "" {
		s.refuse(RefusedUnauthorized, 401, "Unauthorized: every message needs client_token, a client token of this room")
		return false
	}
	claims, err := s.h.rooms.VerifyJoinToken(s.ctx, s.roomID, m.ClientToken)
	if err != nil {
		if errors.Is(err, domain.ErrForbidden) {
			s.log.Info("Janus token refused", "why", err.Error())
			s.refuse(RefusedUnauthorized, 401, "Unauthorized: "+err.Error())
		} else {
			s.log.Error("verify client token", "err", err)
			s.refuse(RefusedUnavailable, 503, "Service unavailable: the server could not check the token; try again")
		}
		return false
	}
	s.mu.Lock()
	s.token = m.ClientToken
	s.expires = claims.ExpiresAt.Time
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.expiry = time.AfterFunc(time.Until(s.expires), s.expired)
	s.mu.Unlock()
	return true
}

// expired ends a session whose token ran out without a refresh.
func (s *session) expired() {
	s.mu.Lock()
	late := !s.expires.IsZero() && !time.Now().Before(s.expires)
	s.mu.Unlock()
	if late {
		s.refuse(RefusedUnauthorized, 401, "Unauthorized: the client token expired; refresh it (updateClientToken) before it does")
	}
}

// refuse answers with the error shape the SDK acts on, then closes; the
// refusal is counted under reason.
func (s *session) refuse(reason string, code int, message string) {
	s.h.refused(reason)
	s.w.Send(out{StatusCode: code, ErrorMessage: message})
	s.w.Finish(websocket.StatusPolicyViolation, "refused")
}

func (s *session) handle(m in) {
	switch m.Janus {
	case "create":
		s.create(m)
		return
	case "ping":
		s.w.Send(out{Janus: "pong", Transaction: m.Transaction})
		return
	}
	s.mu.Lock()
	sid := s.id
	s.mu.Unlock()
	if sid == 0 || m.SessionID != sid {
		s.w.Send(out{Janus: "error", Transaction: m.Transaction, SessionID: m.SessionID,
			Error: &coreError{Code: errSessionNotFound, Reason: fmt.Sprintf("no session %d", m.SessionID)}})
		return
	}
	switch m.Janus {
	case "keepalive":
		s.w.Send(out{Janus: "ack", SessionID: sid, Transaction: m.Transaction})
	case "destroy":
		s.w.Send(out{Janus: "success", SessionID: sid, Transaction: m.Transaction})
		s.teardown(domain.ReasonLeft)
		s.w.Finish(websocket.StatusNormalClosure, "")
	case "attach":
		s.attach(m)
	case "detach", "hangup":
		s.detach(m)
	case "trickle":
		s.trickle(m)
	case "message":
		s.message(m)
	default:
		s.w.Send(out{Janus: "error", SessionID: sid, Transaction: m.Transaction,
			Error: &coreError{Code: errUnknownRequest, Reason: fmt.Sprintf("unknown request %q", m.Janus)}})
	}
}

func (s *session) create(m in) {
	s.mu.Lock()
	if s.id != 0 {
		s.mu.Unlock()
		s.w.Send(out{Janus: "error", Transaction: m.Transaction, Error: &coreError{Code: errUnknownRequest, Reason: "this socket has a session already"}})
		return
	}
	s.id = s.reg.newID()
	id := s.id
	s.mu.Unlock()
	s.w.Send(out{Janus: "success", Transaction: m.Transaction, Data: &idData{ID: id}})
}

func (s *session) attach(m in) {
	switch m.Plugin {
	case pluginVideoRoom, pluginAudioBridge, pluginTextRoom:
	default:
		s.w.Send(out{Janus: "error", SessionID: m.SessionID, Transaction: m.Transaction,
			Error: &coreError{Code: errPluginNotFound, Reason: fmt.Sprintf("no plugin %q here; roomsd serves %s, %s and %s", m.Plugin, pluginVideoRoom, pluginAudioBridge, pluginTextRoom)}})
		return
	}
	s.mu.Lock()
	if len(s.handles) >= maxHandles {
		s.mu.Unlock()
		s.w.Send(out{Janus: "error", SessionID: m.SessionID, Transaction: m.Transaction,
			Error: &coreError{Code: errUnknownRequest, Reason: fmt.Sprintf("a session may have %d handles", maxHandles)}})
		return
	}
	hd := &handle{id: s.reg.newID(), plugin: m.Plugin}
	s.handles[hd.id] = hd
	s.mu.Unlock()
	s.w.Send(out{Janus: "success", SessionID: m.SessionID, Transaction: m.Transaction, Data: &idData{ID: hd.id}})
}

func (s *session) handleOf(m in) *handle {
	s.mu.Lock()
	hd := s.handles[m.HandleID]
	s.mu.Unlock()
	if hd == nil {
		s.w.Send(out{Janus: "error", SessionID: m.SessionID, Transaction: m.Transaction,
			Error: &coreError{Code: errHandleNotFound, Reason: fmt.Sprintf("no handle %d", m.HandleID)}})
	}
	return hd
}

// detach ends a handle (hangup ends its media only); it succeeds for a
// handle whose feed or connection is gone already.
func (s *session) detach(m in) {
	hd := s.handleOf(m)
	if hd == nil {
		return
	}
	s.closeHandle(hd, m.Janus == "detach")
	s.w.Send(out{Janus: "success", SessionID: m.SessionID, Transaction: m.Transaction})
}

// closeHandle closes a handle's connection and, detaching, the handle;
// a publisher's feed goes with it, the presence handle takes the
// participant.
func (s *session) closeHandle(hd *handle, remove bool) {
	s.mu.Lock()
	conn, data := hd.conn, hd.data
	hd.conn, hd.data = nil, nil
	kind := hd.kind
	if remove {
		delete(s.handles, hd.id)
	}
	if kind == kindListener && remove {
		s.listener = 0
	}
	s.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	if data != nil {
		data.Close()
	}
	if kind == kindPublisher {
		s.reg.removeFeed(s.roomID, hd.feed)
	}
	if kind == kindPresence && remove {
		s.teardown(domain.ReasonLeft)
	}
	if remove {
		s.reg.free(hd.id, hd.feed)
	}
}

func (s *session) trickle(m in) {
	hd := s.handleOf(m)
	if hd == nil {
		return
	}
	var list []json.RawMessage
	if len(m.Candidate) > 0 {
		list = append(list, m.Candidate)
	}
	if len(m.Candidates) > 0 {
		var more []json.RawMessage
		if err := json.Unmarshal(m.Candidates, &more); err == nil {
			list = append(list, more...)
		}
	}
	for _, raw := range list {
		var c struct {
			webrtc.ICECandidateInit
			Completed bool `json:"completed"`
		}
		if err := json.Unmarshal(raw, &c); err != nil || c.Completed || c.Candidate == "" {
			continue
		}
		s.mu.Lock()
		peer := hd.peer()
		if peer == nil && len(hd.early) < 64 {
			hd.early = append(hd.early, c.ICECandidateInit)
		}
		s.mu.Unlock()
		if peer != nil {
			if err := peer.AddCandidate(c.ICECandidateInit); err != nil {
				s.log.Debug("candidate refused", "err", err)
			}
		}
	}
	s.w.Send(out{Janus: "ack", SessionID: m.SessionID, Transaction: m.Transaction})
}

// candidateSink takes a handle's trickled candidates: its connection.
type candidateSink interface {
	AddCandidate(webrtc.ICECandidateInit) error
}

// setConn gives a handle its connection, with the candidates that came
// before it.
func (s *session) setConn(hd *handle, c *sfu.Conn) {
	s.setPeer(hd, func() { hd.conn = c })
}

// setPeer gives the handle its connection (set records it, under s.mu)
// and hands it the candidates that came before it.
func (s *session) setPeer(hd *handle, set func()) {
	s.mu.Lock()
	set()
	p := hd.peer()
	early := hd.early
	hd.early = nil
	s.mu.Unlock()
	for _, ic := range early {
		_ = p.AddCandidate(ic)
	}
}

// event answers a plugin request: ack, then the event with the
// transaction (what the SDK waits for).
func (s *session) event(m in, hd *handle, data map[string]any, sdp *jsep) {
	s.w.Send(out{Janus: "ack", SessionID: m.SessionID, Transaction: m.Transaction})
	s.w.Send(out{Janus: "event", SessionID: m.SessionID, Transaction: m.Transaction, Sender: hd.id,
		PluginData: &pluginData{Plugin: hd.plugin, Data: data}, JSEP: sdp})
}

// pluginError answers a plugin request the plugin refused.
func (s *session) pluginError(m in, hd *handle, code int, reason string) {
	field := "videoroom"
	switch hd.plugin {
	case pluginAudioBridge:
		field = "audiobridge"
	case pluginTextRoom:
		field = "textroom"
	}
	s.event(m, hd, map[string]any{field: "event", "error_code": code, "error": reason}, nil)
}

// notify sends an event of the handle's own, with no transaction.
func (s *session) notifyLocked(handleID uint64, plugin string, data map[string]any) {
	if handleID == 0 {
		return
	}
	s.w.Send(out{Janus: "event", SessionID: s.id, Sender: handleID, PluginData: &pluginData{Plugin: plugin, Data: data}})
}

// teardown ends the session's participant and connections, once.
func (s *session) teardown(reason string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	p, pid := s.p, s.pid
	var conns []*sfu.Conn
	var datas []*sfu.DataConn
	var feeds []uint64
	ids := []uint64{s.id}
	for _, hd := range s.handles {
		ids = append(ids, hd.id)
		if hd.conn != nil {
			conns = append(conns, hd.conn)
		}
		if hd.data != nil {
			datas = append(datas, hd.data)
		}
		if hd.kind == kindPublisher {
			feeds = append(feeds, hd.feed)
			ids = append(ids, hd.feed)
		}
	}
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	for _, d := range datas {
		d.Close()
	}
	for _, f := range feeds {
		s.reg.removeFeed(s.roomID, f)
	}
	if p != nil {
		p.Close(reason)
	}
	s.reg.leave(s, pid, ids)
}
