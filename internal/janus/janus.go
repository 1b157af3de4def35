// Package janus serves the Janus 0.x WebSocket API that the official
// `@telnyx/video` browser SDK speaks (GET /{room_id}/janus, subprotocol
// janus-protocol), in front of the same participants service and media
// server as roomsd's own signaling: a client of either protocol meets
// clients of the other in one session. The SDK's audiobridge presence
// handle is its participant in the room; each videoroom publisher and
// subscriber handle, the audiobridge media handle and the textroom handle
// are connections (sfu.Conn) of that participant.
package janus

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/limit"
	"github.com/roomsd/roomsd/internal/mix"
	"github.com/roomsd/roomsd/internal/participants"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/sfu"
	"github.com/roomsd/roomsd/internal/wsq"
)

// Subprotocol is the WebSocket subprotocol Janus clients ask for; the
// server names it in its answer, or browsers fail the handshake.
const Subprotocol = "janus-protocol"

// Limits of one socket.
const (
	maxMessageBytes = 256 << 10
	outboxSize      = 512
	writeTimeout    = 10 * time.Second
	pingInterval    = 15 * time.Second
	// createTimeout bounds the wait for the first message, which must be
	// create.
	createTimeout = 30 * time.Second
	// negotiateTimeout bounds the making of one answer or offer.
	negotiateTimeout = 15 * time.Second
	// maxHandles bounds the handles of one session.
	maxHandles = 64
)

// Close codes the SDK reads as reasons.
const (
	closeSessionTerminated websocket.StatusCode = 4000
	closeTimedOut          websocket.StatusCode = 3999
)

// Handler serves the Janus front.
type Handler struct {
	rooms        *rooms.Service
	participants *participants.Service
	media        *sfu.Manager
	mixer        *mix.Mixer
	log          *slog.Logger
	reg          *registry

	gate     *wsq.Gate
	mu       sync.Mutex
	refusals map[string]uint64
}

// New returns the Janus front.
func New(r *rooms.Service, ps *participants.Service, media *sfu.Manager, mixer *mix.Mixer, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{rooms: r, participants: ps, media: media, mixer: mixer, log: log.With("front", "janus"), reg: newRegistry(),
		gate: wsq.NewGate(nil, httpx.ClientAddr{}, 0)}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Option tunes the handler.
type Option func(*Handler)

// WithLimits limits each client address to connects (nil: no limit), and
// the sockets open at once to maxSockets (0: no limit).
func WithLimits(connects *limit.Keyed, client httpx.ClientAddr, maxSockets int) Option {
	return func(h *Handler) { h.gate = wsq.NewGate(connects, client, maxSockets) }
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	roomID, err := uuid.Parse(r.PathValue("room_id"))
	if err != nil || len(r.PathValue("room_id")) != 36 {
		httpx.WriteError(w, &httpx.Error{Status: http.StatusNotFound, Code: httpx.CodeNotFound, Title: "Resource not found",
			Detail: "The Janus front is at /{room_id}/janus, with the room's UUID.", Source: &httpx.Source{Parameter: "room_id"}})
		return
	}
	ws, release, refused := h.gate.Accept(w, r,
		"This is the Janus WebSocket API of the @telnyx/video SDK: open it with a WebSocket client and subprotocol janus-protocol. docs/telnyx-video.md describes it.",
		Subprotocol)
	if refused != "" {
		h.refused(refused)
	}
	if ws == nil {
		return
	}
	defer release()
	ws.SetReadLimit(maxMessageBytes)
	s := newSession(h, ws, roomID.String())
	s.run(r.Context())
}
