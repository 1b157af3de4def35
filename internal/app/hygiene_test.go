package app_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/signal"
	"github.com/roomsd/roomsd/internal/testutil"
)

// Every answer roomsd gives carries nosniff, and every error answer is the
// Telnyx envelope in JSON, whichever part of the server gave it: the REST
// API, the guard in front of everything, the signaling endpoint (also when
// the websocket library refuses a handshake) or the meeting page.
func TestEveryErrorIsJSON(t *testing.T) {
	a := testutil.StartApp(t)
	room := func() string {
		_, body := a.Call("POST", "/v2/rooms", map[string]any{})
		return body["data"].(map[string]any)["id"].(string)
	}()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		name, method, path string
		headers            map[string]string
		status             int
	}{
		{"double slash", "GET", "//v2/rooms", nil, 404},
		{"dot segment", "GET", "/v2/./rooms", nil, 404},
		{"dot-dot", "GET", "/v2/rooms/../rooms", nil, 404},
		{"encoded dot-dot", "DELETE", "/v2/room_recordings/%2e%2e", nil, 404},
		{"connect without upgrade", "GET", "/v2/rooms/" + room + "/connect", nil, 426},
		{"connect with a bad websocket version", "GET", "/v2/rooms/" + room + "/connect",
			map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 400},
		{"connect with a bad room id", "GET", "/v2/rooms/x/connect", nil, 400},
		{"malformed query", "GET", "/v2/rooms?filter[unique_name]=a%zz", nil, 400},
		{"no route", "GET", "/nothing", nil, 404},
		{"wrong method", "PUT", "/v2/rooms", nil, 405},
		{"no key", "GET", "/v2/rooms", map[string]string{"Authorization": ""}, 401},
		// The page's file server answers a range past the end in plain
		// text; the guard makes it the envelope.
		{"page range past the end", "GET", "/", map[string]string{"Range": "bytes=999999-"}, 416},
	} {
		req, err := http.NewRequest(c.method, a.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer k")
		for k, v := range c.headers {
			if v == "" {
				req.Header.Del(k)
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := testutil.ErrorEnvelope(resp.Header, body); resp.StatusCode != c.status || err != nil {
			t.Errorf("%s: %s %s → %d (%v); want the JSON envelope with %d", c.name, c.method, c.path, resp.StatusCode, err, c.status)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", c.name)
		}
	}
	for _, path := range []string{"/v2/rooms", "/", "/web/app.js", "/.well-known/jwks.json"} {
		req, _ := http.NewRequest("GET", a.URL+path, nil)
		req.Header.Set("Authorization", "Bearer k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d, nosniff %q", path, resp.StatusCode, resp.Header.Get("X-Content-Type-Options"))
		}
	}
}

// The meeting page lets its script open WebSockets to its own host only.
func TestPageCSPNamesItsHost(t *testing.T) {
	a := testutil.StartApp(t)
	req, _ := http.NewRequest("GET", a.URL+"/", nil)
	req.Host = "meet.example.test:8443"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' ws://meet.example.test:8443 wss://meet.example.test:8443;") ||
		strings.Contains(csp, " ws: ") || strings.Contains(csp, " wss:;") {
		t.Errorf("CSP %q", csp)
	}
}

// Over the REST API and the signaling socket the reason reads as one
// plain sentence.
func TestRefusedTokensInPlainWordsOverTheWire(t *testing.T) {
	a := testutil.StartApp(t)
	code, out := a.Call("POST", "/v2/rooms", map[string]any{})
	if code != 201 {
		t.Fatalf("create room: %d %v", code, out)
	}
	room := out["data"].(map[string]any)["id"].(string)
	code, out = a.Call("POST", "/v2/rooms/"+room+"/actions/generate_join_client_token", map[string]any{})
	if code != 201 {
		t.Fatalf("generate token: %d %v", code, out)
	}
	toks := out["data"].(map[string]any)

	for tok, want := range map[string]string{
		"abc.def":                            "The token does not allow this: the token is not a client token (it cannot be read).",
		toks["token"].(string):               "The token does not allow this: the token is an access token; a refresh token is needed.",
		"x" + toks["refresh_token"].(string): "The token does not allow this: the token is not a client token (it cannot be read).",
	} {
		code, out := a.Call("POST", "/v2/rooms/"+room+"/actions/refresh_client_token", map[string]any{"refresh_token": tok})
		errs, _ := out["errors"].([]any)
		if code != 403 || len(errs) != 1 || errs[0].(map[string]any)["detail"] != want {
			t.Errorf("refresh with a bad token: %d %v; want 403 with detail %q", code, out, want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Join(ctx, client.ConnectURL(a.URL, room), toks["refresh_token"].(string), client.Options{Loopback: true})
	if c != nil {
		c.Close()
	}
	var je *client.JoinError
	want := "the token does not allow joining this room: the token is a refresh token; an access token is needed"
	if !errors.As(err, &je) || je.Code != signal.CodeUnauthorized || je.Message != want {
		t.Errorf("join with a refresh token: %v; want %s: %q", err, signal.CodeUnauthorized, want)
	}
}
