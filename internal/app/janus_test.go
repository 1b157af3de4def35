package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
	"github.com/roomsd/roomsd/internal/token"
)

// janusClient speaks the Janus API as the @telnyx/video SDK does: JSON
// text frames, a transaction per request, the client token on each.
type janusClient struct {
	t       *testing.T
	ws      *websocket.Conn
	token   string
	session float64
	n       int
	in      chan map[string]any
	closed  chan websocket.CloseError
}

func dialJanus(t *testing.T, s *server, roomID, tok string) *janusClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/" + roomID + "/janus"
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"janus-protocol"}})
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "janus-protocol" {
		t.Fatalf("subprotocol in the answer: %q, want janus-protocol", got)
	}
	c := &janusClient{t: t, ws: ws, token: tok, in: make(chan map[string]any, 256), closed: make(chan websocket.CloseError, 1)}
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				ce := websocket.CloseError{Code: websocket.CloseStatus(err)}
				c.closed <- ce
				close(c.in)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("not JSON: %s", b)
				continue
			}
			c.in <- m
		}
	}()
	t.Cleanup(func() { _ = ws.CloseNow() })
	return c
}

// send sends a request and returns its transaction.
func (c *janusClient) send(m map[string]any) string {
	c.t.Helper()
	c.n++
	tx := fmt.Sprintf("tx-%d", c.n)
	m["transaction"] = tx
	m["client_token"] = c.token
	if c.session != 0 {
		m["session_id"] = c.session
	}
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
	return tx
}

// next returns the next message matching want, skipping others.
func (c *janusClient) next(what string, want func(map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatalf("the socket closed waiting for %s", what)
			}
			if want(m) {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no %s", what)
		}
	}
}

// reply waits for the reply of a transaction of the given janus type.
func (c *janusClient) reply(tx, janus string) map[string]any {
	c.t.Helper()
	return c.next(janus+" for "+tx, func(m map[string]any) bool { return m["transaction"] == tx && m["janus"] == janus })
}

func (c *janusClient) create() {
	c.t.Helper()
	m := c.reply(c.send(map[string]any{"janus": "create"}), "success")
	c.session = m["data"].(map[string]any)["id"].(float64)
	if c.session != float64(int64(c.session)) || c.session == 0 {
		c.t.Fatalf("session id %v is not a non-zero integer", c.session)
	}
}

func (c *janusClient) attach(plugin string) float64 {
	c.t.Helper()
	m := c.reply(c.send(map[string]any{"janus": "attach", "plugin": plugin}), "success")
	return m["data"].(map[string]any)["id"].(float64)
}

// request sends a plugin request and returns the event's data.
func (c *janusClient) request(handle float64, body map[string]any) map[string]any {
	c.t.Helper()
	m := c.reply(c.send(map[string]any{"janus": "message", "handle_id": handle, "body": body}), "event")
	return m["plugindata"].(map[string]any)["data"].(map[string]any)
}

// joinPresence joins the room as the SDK's presence handle does.
func (c *janusClient) joinPresence(roomID, participantID, context string) (float64, map[string]any) {
	c.t.Helper()
	h := c.attach("janus.plugin.audiobridge")
	d := display(map[string]any{"participantId": participantID, "external": context, "canReceiveMessages": false})
	tx := c.send(map[string]any{"janus": "message", "handle_id": h, "body": map[string]any{"request": "join", "room": roomID, "display": d, "muted": true}})
	m := c.next("the presence join's answer", func(m map[string]any) bool {
		return m["transaction"] == tx && m["janus"] == "event" || m["status_code"] != nil
	})
	return h, m
}

func display(v map[string]any) string {
	b, _ := json.Marshal(v)
	return base64.StdEncoding.EncodeToString(b)
}

// statusCode waits for an error the SDK acts on, and the close after it.
func (c *janusClient) statusCode() float64 {
	c.t.Helper()
	m := c.next("a status_code", func(m map[string]any) bool { return m["status_code"] != nil })
	select {
	case <-c.closed:
	case <-time.After(30 * time.Second):
		c.t.Fatal("the socket stayed open after the error")
	}
	return m["status_code"].(float64)
}

// The Janus front checks the client token on every message: none, a
// forged one, or one of another room is answered with status_code 401 and
// the socket closes; the session and handle ids are JSON integers; a
// keepalive is acknowledged. The metrics count the sockets and refusals.
func TestJanusTokens(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.Metrics = true })
	room, other := s.room(nil), s.room(nil)

	c := dialJanus(t, s, room, s.token(room))
	c.create()
	if _, text := get(t, s.URL+"/metrics", ""); sample(text, "roomsd_janus_sockets") != 1 {
		t.Errorf("roomsd_janus_sockets: %v, want 1", sample(text, "roomsd_janus_sockets"))
	}
	c.reply(c.send(map[string]any{"janus": "keepalive"}), "ack")
	h := c.attach("janus.plugin.videoroom")
	if h != float64(int64(h)) || h == 0 {
		t.Errorf("handle id %v is not a non-zero integer", h)
	}

	for name, tok := range map[string]string{"no token": "", "forged": s.token(room) + "x", "another room's": s.token(other)} {
		c := dialJanus(t, s, room, tok)
		c.send(map[string]any{"janus": "create"})
		if code := c.statusCode(); code != 401 {
			t.Errorf("%s token: status_code %v, want 401", name, code)
		}
	}
	// A later message with a bad token ends a session that began well.
	c.token = "not a token"
	c.send(map[string]any{"janus": "keepalive"})
	if code := c.statusCode(); code != 401 {
		t.Errorf("a bad token in a keepalive: status_code %v, want 401", code)
	}
	testutil.Eventually(t, 30*time.Second, "the refusals counted and the sockets closed", func() bool {
		_, text := get(t, s.URL+"/metrics", "")
		return sample(text, `roomsd_janus_refused_total{reason="unauthorized"}`) == 4 && sample(text, "roomsd_janus_sockets") == 0
	})
}

// A token refreshed through keepalive keeps the session past the first
// token's expiry; a session whose token runs out is told (401) and
// closed, and its participant leaves.
func TestJanusTokenRefreshAndExpiry(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, func(c *config.Config) { c.TokenKey = base64.StdEncoding.EncodeToString(seed) })
	signer := token.NewSigner(ed25519.NewKeyFromSeed(seed), nil)
	room := s.room(nil)
	short := func(ttl time.Duration) (string, time.Time) {
		tok, exp, err := signer.Issue(room, token.TypeAccess, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok, exp
	}

	first, exp := short(3 * time.Second)
	c := dialJanus(t, s, room, first)
	c.create()
	if _, m := c.joinPresence(room, "p-1", "refreshing"); m["status_code"] != nil {
		t.Fatalf("join refused: %v", m)
	}
	c.token, _ = short(time.Minute)
	c.reply(c.send(map[string]any{"janus": "keepalive"}), "ack")
	waitUntil(t, exp.Add(time.Second))
	c.reply(c.send(map[string]any{"janus": "keepalive"}), "ack") // still in

	last, _ := short(3 * time.Second)
	d := dialJanus(t, s, room, last)
	d.create()
	if _, m := d.joinPresence(room, "p-2", "expiring"); m["status_code"] != nil {
		t.Fatalf("join refused: %v", m)
	}
	if code := d.statusCode(); code != 401 {
		t.Errorf("an expired session: status_code %v, want 401", code)
	}
	waitParticipants(t, s, room, "refreshing")
}

// waitUntil waits for the clock to pass at.
func waitUntil(t *testing.T, at time.Time) {
	t.Helper()
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	<-timer.C
}

// waitParticipants waits until exactly the participants with these
// contexts are in the room's active session.
func waitParticipants(t *testing.T, s *server, room string, contexts ...string) {
	t.Helper()
	var got []string
	testutil.Eventually(t, 30*time.Second, fmt.Sprintf("participants %v", contexts), func() bool {
		got = got[:0]
		_, r := s.api("GET", "/room_sessions/"+activeSession(t, s, room)+"/participants", nil)
		for _, p := range r["data"].([]any) {
			p := p.(map[string]any)
			if p["left_at"] == nil {
				got = append(got, p["context"].(string))
			}
		}
		slices.Sort(got)
		return slices.Equal(got, slices.Sorted(slices.Values(contexts)))
	})
}

func activeSession(t *testing.T, s *server, room string) string {
	t.Helper()
	_, r := s.api("GET", "/rooms/"+room, nil)
	id, _ := data(r)["active_session_id"].(string)
	return id
}

// max_participants counts both fronts' participants: in a room for two
// with a roomsd client and a Janus client, a second Janus join is refused
// (403) and changes nothing.
func TestJanusCapCountsEveryone(t *testing.T) {
	s := newServer(t)
	room := s.room(map[string]any{"max_participants": 2})
	first := s.join(room, "first", false, false)
	defer first.Close()
	c := dialJanus(t, s, room, s.token(room))
	c.create()
	if _, m := c.joinPresence(room, "p-1", "second"); m["status_code"] != nil {
		t.Fatalf("join refused: %v", m)
	}
	d := dialJanus(t, s, room, s.token(room))
	d.create()
	_, m := d.joinPresence(room, "p-2", "third")
	if m["status_code"] != 403.0 {
		t.Fatalf("a join over the cap: %v, want status_code 403", m)
	}
	waitParticipants(t, s, room, "first", "second")
}

// Ending the session closes a Janus client's socket with 4000 (the SDK's
// session_terminated); deleting the room sends videoroom destroyed (the
// SDK then leaves on its own).
func TestJanusEndAndDelete(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	c := dialJanus(t, s, room, s.token(room))
	c.create()
	if _, m := c.joinPresence(room, "p-1", "ended"); m["status_code"] != nil {
		t.Fatalf("join refused: %v", m)
	}
	if code, r := s.api("POST", "/room_sessions/"+activeSession(t, s, room)+"/actions/end", nil); code != 200 {
		t.Fatalf("end: %d %v", code, r)
	}
	select {
	case ce := <-c.closed:
		if ce.Code != 4000 {
			t.Errorf("close code %d, want 4000", ce.Code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the socket stayed open after the session ended")
	}

	room = s.room(nil)
	d := dialJanus(t, s, room, s.token(room))
	d.create()
	if _, m := d.joinPresence(room, "p-2", "deleted"); m["status_code"] != nil {
		t.Fatalf("join refused: %v", m)
	}
	listener := d.attach("janus.plugin.videoroom")
	if r := d.request(listener, map[string]any{"request": "join", "room": room, "ptype": "publisher",
		"display": display(map[string]any{"participantId": "p-2"})}); r["videoroom"] != "joined" {
		t.Fatalf("listener join: %v", r)
	}
	if code, r := s.api("DELETE", "/rooms/"+room, nil); code != 204 {
		t.Fatalf("delete: %d %v", code, r)
	}
	d.next("videoroom destroyed", func(m map[string]any) bool {
		pd, _ := m["plugindata"].(map[string]any)
		data, _ := pd["data"].(map[string]any)
		return m["sender"] == listener && data["videoroom"] == "destroyed"
	})
}
