package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/limit"
	"github.com/roomsd/roomsd/internal/signal"
	"github.com/roomsd/roomsd/internal/testutil"
)

// The tests' clients come through a trusted proxy (127.0.0.1) that names
// them in X-Forwarded-For, so that each can have an address of its own.
func behindProxy(c *config.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
}

// as is a client at addr, with an API key (or none).
type as struct {
	t         *testing.T
	base      string
	addr, key string
}

func (c as) do(method, path string, body any) (*http.Response, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("X-Forwarded-For", c.addr)
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res, out
}

// tooMany checks a refusal by a rate limit: 429, Retry-After in whole
// seconds, the Telnyx envelope with code 10011 naming the setting.
func tooMany(t *testing.T, res *http.Response, out map[string]any, setting string) {
	t.Helper()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d (%v); want 429", res.StatusCode, out)
	}
	if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After %q", res.Header.Get("Retry-After"))
	}
	errs, _ := out["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("body %v", out)
	}
	e := errs[0].(map[string]any)
	if e["code"] != "10011" || e["title"] != "Too many requests" || !strings.Contains(e["detail"].(string), setting) {
		t.Errorf("error %v", e)
	}
}

func TestTokenMintingLimit(t *testing.T) {
	s := newServer(t, behindProxy, func(c *config.Config) {
		c.APIKeys = []string{"k", "k2"}
		c.LimitTokens = limit.Rate{PerSecond: 0.01, Burst: 3}
	})
	room := s.room(nil)
	mint := "/v2/rooms/" + room + "/actions/generate_join_client_token"
	abuser := as{t, s.URL, "198.51.100.1", "k"}
	var refresh string
	for i := 0; i < 3; i++ {
		res, out := abuser.do("POST", mint, map[string]any{})
		if res.StatusCode != 201 {
			t.Fatalf("token %d within the burst: %d %v", i+1, res.StatusCode, out)
		}
		refresh = data(out)["refresh_token"].(string)
	}
	res, out := abuser.do("POST", mint, map[string]any{})
	tooMany(t, res, out, "ROOMSD_LIMIT_TOKENS")
	// The same key from another address is over its limit too.
	res, out = as{t, s.URL, "198.51.100.9", "k"}.do("POST", mint, map[string]any{})
	tooMany(t, res, out, "ROOMSD_LIMIT_TOKENS")
	// Another customer, with its own key and address, is not held back.
	other := as{t, s.URL, "203.0.113.5", "k2"}
	for i := 0; i < 3; i++ {
		if res, out := other.do("POST", mint, map[string]any{}); res.StatusCode != 201 {
			t.Fatalf("another key and address: %d %v", res.StatusCode, out)
		}
	}
	// Refreshing needs no key: the address alone counts.
	refreshPath := "/v2/rooms/" + room + "/actions/refresh_client_token"
	res, out = as{t, s.URL, "198.51.100.1", ""}.do("POST", refreshPath, map[string]any{"refresh_token": refresh})
	tooMany(t, res, out, "ROOMSD_LIMIT_TOKENS")
	if res, out := (as{t, s.URL, "192.0.2.77", ""}).do("POST", refreshPath, map[string]any{"refresh_token": refresh}); res.StatusCode != 201 {
		t.Errorf("a refresh from a fresh address: %d %v", res.StatusCode, out)
	}
	// Reads are not limited.
	for i := 0; i < 20; i++ {
		if res, _ := abuser.do("GET", "/v2/rooms/"+room, nil); res.StatusCode != 200 {
			t.Fatalf("a read by the limited client: %d", res.StatusCode)
		}
	}
}

func TestWriteLimit(t *testing.T) {
	s := newServer(t, behindProxy, func(c *config.Config) { c.LimitWrites = limit.Rate{PerSecond: 0.01, Burst: 2} })
	abuser := as{t, s.URL, "198.51.100.1", "k"}
	for i := 0; i < 2; i++ {
		if res, out := abuser.do("POST", "/v2/rooms", map[string]any{}); res.StatusCode != 201 {
			t.Fatalf("room %d within the burst: %d %v", i+1, res.StatusCode, out)
		}
	}
	res, out := abuser.do("POST", "/v2/rooms", map[string]any{"unique_name": "one-too-many"})
	tooMany(t, res, out, "ROOMSD_LIMIT_WRITES")
	// Nothing of the refused request was done.
	_, list := abuser.do("GET", "/v2/rooms?filter[unique_name]=one-too-many", nil)
	if rooms := list["data"].([]any); len(rooms) != 0 {
		t.Errorf("the refused create made a room: %v", rooms)
	}
}

// dialAs opens a signaling socket for room from addr; it returns the
// HTTP answer when the server refuses it.
func dialAs(t *testing.T, s *server, room, addr string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return websocket.Dial(ctx, client.ConnectURL(s.URL, room), &websocket.DialOptions{
		HTTPHeader: http.Header{"X-Forwarded-For": {addr}}})
}

// forwardedFor makes an HTTP client whose requests name addr in
// X-Forwarded-For.
func forwardedFor(addr string) *http.Client {
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("X-Forwarded-For", addr)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestConnectLimit(t *testing.T) {
	s := newServer(t, behindProxy, func(c *config.Config) {
		c.Metrics = true
		c.LimitConnects = limit.Rate{PerSecond: 0.5, Burst: 2}
	})
	room := s.room(nil)
	for i := 0; i < 2; i++ {
		ws, _, err := dialAs(t, s, room, "198.51.100.1")
		if err != nil {
			t.Fatalf("connection %d within the burst: %v", i+1, err)
		}
		ws.CloseNow()
	}
	_, res, err := dialAs(t, s, room, "198.51.100.1")
	if err == nil || res == nil {
		t.Fatalf("a third connection at once was accepted (%v)", err)
	}
	body, _ := io.ReadAll(res.Body)
	var out map[string]any
	json.Unmarshal(body, &out)
	tooMany(t, res, out, "ROOMSD_LIMIT_CONNECTS")
	// Someone else joins as usual meanwhile.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bob, err := client.Join(ctx, client.ConnectURL(s.URL, room), s.token(room), client.Options{Loopback: true, HTTPClient: forwardedFor("203.0.113.5")})
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	defer bob.Close()
	// The limited address's client waits as it is told and gets in.
	alice, err := client.Join(ctx, client.ConnectURL(s.URL, room), s.token(room), client.Options{Loopback: true, HTTPClient: forwardedFor("198.51.100.1")})
	if err != nil {
		t.Fatalf("the limited address, waiting as told: %v", err)
	}
	defer alice.Close()
	_, text := get(t, s.URL+"/metrics", "")
	if v := sample(text, `roomsd_joins_refused_total{reason="rate_limited"}`); v < 1 {
		t.Errorf("refused connections in the metrics: %v", v)
	}
}

func TestSocketCap(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.MaxSockets = 2 })
	room := s.room(nil)
	alice := s.join(room, "Alice", false, false)
	s.join(room, "Bob", false, false)
	_, res, err := dialAs(t, s, room, "")
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a third socket: %v %+v", err, res)
	}
	body, _ := io.ReadAll(res.Body)
	if !bytes.Contains(body, []byte("ROOMSD_MAX_SOCKETS")) {
		t.Errorf("refusal %s", body)
	}
	// One leaves: there is room again.
	alice.Close()
	testutil.Eventually(t, 20*time.Second, "a socket is accepted once one has closed", func() bool {
		ws, _, err := dialAs(t, s, room, "")
		if err != nil {
			return false
		}
		ws.CloseNow()
		return true
	})
}

func TestParticipantCap(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.MaxParticipants = 1 })
	room := s.room(nil)
	alice := s.join(room, "Alice", true, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Join(ctx, client.ConnectURL(s.URL, room), s.token(room), client.Options{Loopback: true, Context: "Bob"})
	var je *client.JoinError
	if !errors.As(err, &je) || je.Code != signal.CodeUnavailable || !strings.Contains(je.Message, "ROOMSD_MAX_PARTICIPANTS") {
		t.Fatalf("Bob's join on a full server: %v", err)
	}
	// Nothing was recorded for Bob.
	_, out := s.api("GET", "/room_participants?filter[context]=Bob", nil)
	if got := out["data"].([]any); len(got) != 0 {
		t.Errorf("the refused join left a participant: %v", got)
	}
	alice.Close()
	testutil.Eventually(t, 20*time.Second, "Bob joins once Alice has left", func() bool {
		c, err := client.Join(ctx, client.ConnectURL(s.URL, room), s.token(room), client.Options{Loopback: true, Context: "Bob"})
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// A signaling message over the size limit closes the socket with 1009.
func TestSignalingMessageSize(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	ws, _, err := dialAs(t, s, room, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	big := `{"type":"join","token":"` + strings.Repeat("x", 300<<10) + `"}`
	ws.Write(ctx, websocket.MessageText, []byte(big))
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
				t.Fatalf("closed with %v (%v); want 1009", got, err)
			}
			return
		}
	}
}

// A client that sends its request headers slowly is cut off: it does not
// hold a connection forever. Meanwhile others are served.
func TestSlowHeadersAreCutOff(t *testing.T) {
	s := newServer(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /v2/rooms HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, s.URL+"/healthz", ""); code != 200 {
		t.Errorf("another client, meanwhile: %d", code)
	}
	// Keep trickling a byte now and then; the server closes all the same.
	giveUp := time.Now().Add(2 * time.Minute)
	buf := make([]byte, 1024)
	for {
		if time.Now().After(giveUp) {
			t.Fatal("the server kept a client that never finished its headers for two minutes")
		}
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err == nil && n > 0 {
			continue // an error answer: the connection closes after it
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if _, werr := conn.Write([]byte("x")); werr != nil {
				return // closed by the server
			}
			continue
		}
		return // EOF or reset: closed by the server
	}
}
