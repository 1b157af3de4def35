// Package webhooks_test runs the real roomsd binary and checks webhook
// delivery from the outside: a receiver on 127.0.0.1, the REST API, and
// the server's SQLite file opened next to it (as e2e/fixture does) to make
// room events happen through the real rooms operations.
package webhooks_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/testutil"
)

const apiKey = "k"

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBinary()
	os.Exit(code)
}

// server is one running roomsd process.
type server struct{ *testutil.Process }

func startServer(t *testing.T, env map[string]string) *server {
	return &server{testutil.StartRoomsd(t, env)}
}

func (s *server) kill(t *testing.T)          { s.Kill(t) }
func (s *server) terminate(t *testing.T) int { return s.Terminate(t) }
func (s *server) call(t *testing.T, method, path string, body, out any) {
	t.Helper()
	s.Call(t, method, path, body, out)
}

// publicKey fetches GET /.well-known/webhook-public-key.
func (s *server) publicKey(t *testing.T) ed25519.PublicKey {
	t.Helper()
	var body struct {
		PublicKey string `json:"public_key"`
		Algorithm string `json:"algorithm"`
	}
	s.call(t, http.MethodGet, "/.well-known/webhook-public-key", nil, &body)
	key, err := base64.StdEncoding.DecodeString(body.PublicKey)
	if err != nil || len(key) != ed25519.PublicKeySize || body.Algorithm != "ed25519" {
		t.Fatalf("webhook public key %+v: %v", body, err)
	}
	return key
}

// delivery is one row of GET /v2/webhook_deliveries.
type delivery struct {
	ID          string `json:"id"`
	EventType   string `json:"event_type"`
	RoomID      string `json:"room_id"`
	URL         string `json:"url"`
	Status      string `json:"status"`
	Attempts    int    `json:"attempts"`
	LastError   string `json:"last_error"`
	LastStatus  int    `json:"last_status"`
	DeliveredTo string `json:"delivered_to"`
	CreatedAt   string `json:"created_at"`
}

// deliveries lists every delivery, oldest first (the API lists newest
// first, by created_at and then outbox order).
func (s *server) deliveries(t *testing.T) []delivery {
	t.Helper()
	var all []delivery
	for page := 1; ; page++ {
		var body struct {
			Data []delivery `json:"data"`
			Meta struct {
				TotalPages int `json:"total_pages"`
			} `json:"meta"`
		}
		s.call(t, http.MethodGet, "/v2/webhook_deliveries?page[size]=250&page[number]="+strconv.Itoa(page), nil, &body)
		all = append(all, body.Data...)
		if page >= body.Meta.TotalPages {
			break
		}
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

// hit is one request a receiver got.
type hit struct {
	eventID     string
	eventType   string
	roomID      string
	attempt     int
	deliveredTo string
	data        json.RawMessage // the event, as sent
	header      http.Header
	answered    bool // false: held without an answer until the sender went away
}

// receiver records webhook requests and checks both signatures on each.
type receiver struct {
	key    ed25519.PublicKey
	secret []byte
	srv    *http.Server
	// hold, while set, keeps every request unanswered until its sender
	// goes away.
	hold atomic.Bool
	mu   sync.Mutex
	hits []hit
	errs []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var env struct {
		Data json.RawMessage `json:"data"`
		Meta struct {
			Attempt     int    `json:"attempt"`
			DeliveredTo string `json:"delivered_to"`
		} `json:"meta"`
	}
	var ev struct {
		ID        string `json:"id"`
		EventType string `json:"event_type"`
		Payload   struct {
			RoomID string `json:"room_id"`
		} `json:"payload"`
	}
	if json.Unmarshal(body, &env) != nil || json.Unmarshal(env.Data, &ev) != nil {
		r.fail("not an event envelope: %s", body)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if problem := r.verify(req.Header, ev.ID, body); problem != "" {
		r.fail("event %s: %s", ev.ID, problem)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h := hit{eventID: ev.ID, eventType: ev.EventType, roomID: ev.Payload.RoomID, attempt: env.Meta.Attempt,
		deliveredTo: env.Meta.DeliveredTo, data: env.Data, header: req.Header.Clone(), answered: !r.hold.Load()}
	r.mu.Lock()
	r.hits = append(r.hits, h)
	r.mu.Unlock()
	if !h.answered {
		<-req.Context().Done()
		return
	}
	w.WriteHeader(http.StatusOK)
}

// verify checks the request as a receiver would: Telnyx's Ed25519 over
// "timestamp|body", and Standard Webhooks' HMAC over "id.timestamp.body".
func (r *receiver) verify(h http.Header, eventID string, body []byte) string {
	ts := h.Get("telnyx-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Sprintf("telnyx-timestamp %q is not a current Unix time", ts)
	}
	sig, err := base64.StdEncoding.DecodeString(h.Get("telnyx-signature-ed25519"))
	if err != nil || !ed25519.Verify(r.key, append([]byte(ts+"|"), body...), sig) {
		return "telnyx-signature-ed25519 does not verify"
	}
	if h.Get("webhook-id") != eventID || h.Get("webhook-timestamp") != ts {
		return fmt.Sprintf("webhook-id %q / webhook-timestamp %q", h.Get("webhook-id"), h.Get("webhook-timestamp"))
	}
	mac := hmac.New(sha256.New, r.secret)
	mac.Write([]byte(eventID + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	ok := false
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		ok = ok || hmac.Equal([]byte(s), []byte(want))
	}
	if !ok {
		return fmt.Sprintf("webhook-signature %q does not verify", h.Get("webhook-signature"))
	}
	if h.Get("Content-Type") != "application/json" {
		return fmt.Sprintf("Content-Type %q", h.Get("Content-Type"))
	}
	return ""
}

func (r *receiver) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *receiver) got() ([]hit, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...), append([]string(nil), r.errs...)
}

// startReceiver serves on addr (retrying briefly if the port is not free
// yet) until the test ends.
func startReceiver(t *testing.T, addr string, key ed25519.PublicKey, secret []byte, hold bool) *receiver {
	t.Helper()
	r := &receiver{key: key, secret: secret}
	r.hold.Store(hold)
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver cannot listen on the reserved %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	t.Cleanup(func() { r.srv.Close() })
	return r
}

func hookURL(addr string) string {
	return (&url.URL{Scheme: "http", Host: addr, Path: "/hook"}).String()
}
