package wsq

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/http/httpguts"

	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/limit"
)

// Refusals a Gate makes before a socket opens, for its front's counts.
const (
	RefusedRateLimited = "rate_limited" // the client address opened sockets too fast
	RefusedServerFull  = "server_full"  // the front holds as many sockets as it may
)

// Gate is what a front's WebSocket requests pass: a rate of new sockets
// per client address and a cap on those open at once. It counts them.
type Gate struct {
	connects *limit.Keyed // nil: no rate
	client   httpx.ClientAddr
	max      int // 0: no cap
	open     atomic.Int64
}

// NewGate returns a gate letting each client address open connects
// (nil: no limit) and at most max sockets be open at once (0: no limit).
func NewGate(connects *limit.Keyed, client httpx.ClientAddr, max int) *Gate {
	return &Gate{connects: connects, client: client, max: max}
}

// Open is how many of the gate's sockets are open now.
func (g *Gate) Open() int { return int(g.open.Load()) }

// Accept answers a request for a WebSocket. A request that does not ask
// for one gets 426 with upgradeDetail, one over the address's rate 429
// and one over the cap 503 (the Telnyx error envelope; refused says which
// of the last two). Otherwise it returns the socket, with the request's
// deadlines lifted (a socket lasts a meeting and keeps itself alive with
// pings), and release, to call once it has closed. Tokens in messages,
// not cookies, authenticate the fronts' sockets, so a page of any origin
// may open one.
func (g *Gate) Accept(w http.ResponseWriter, r *http.Request, upgradeDetail string, subprotocols ...string) (
	ws *websocket.Conn, release func(), refused string) {
	if !r.ProtoAtLeast(1, 1) || !httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") ||
		!httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "websocket") {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		httpx.WriteError(w, &httpx.Error{Status: http.StatusUpgradeRequired, Code: httpx.CodeBadRequest, Title: "Upgrade required",
			Detail: upgradeDetail})
		return nil, nil, ""
	}
	if ok, wait := g.connects.Allow(g.client.Key(r)); !ok {
		httpx.TooManyRequests(w, wait, fmt.Sprintf("This client address has opened more signaling connections than the server allows: %s (ROOMSD_LIMIT_CONNECTS).",
			g.connects.Rate()))
		return nil, nil, RefusedRateLimited
	}
	release = func() { g.open.Add(-1) }
	if open := g.open.Add(1); g.max > 0 && open > int64(g.max) {
		release()
		httpx.Unavailable(w, 5*time.Second, fmt.Sprintf("This server holds as many signaling connections as it may (%d, ROOMSD_MAX_SOCKETS); try again, or another server.", g.max))
		return nil, nil, RefusedServerFull
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: subprotocols})
	if err != nil {
		release() // Accept has answered the client
		return nil, nil, ""
	}
	return ws, release, ""
}
