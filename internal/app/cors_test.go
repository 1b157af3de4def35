package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/signal"
)

// send makes one request without an API key; headers are name, value pairs.
func send(t *testing.T, method, url, body string, headers ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d, answer is not a JSON object: %q", method, url, resp.StatusCode, raw)
		}
	}
	return resp, out
}

func errorCode(body map[string]any) string {
	errs, _ := body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// Without ROOMSD_CORS_ORIGINS no response lets another origin read it, and
// a preflight is just an unauthenticated request to the API.
func TestCORSOffByDefault(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	resp, body := send(t, "OPTIONS", s.URL+"/v2/rooms/"+room+"/actions/refresh_client_token", "",
		"Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
	if resp.StatusCode == http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Vary") != "" {
		t.Errorf("preflight with CORS off: %d %v", resp.StatusCode, resp.Header)
	}
	if errorCode(body) == "" {
		t.Errorf("preflight with CORS off: not the API's JSON error: %v", body)
	}
	resp, _ = send(t, "GET", s.URL+"/v2/rooms", "", "Origin", "https://app.example.com")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET with CORS off: %v", resp.Header)
	}
}

// With an origin listed, a page of that origin can refresh a client token
// (a preflighted JSON POST, no API key) and read the API's errors; other
// origins are refused at the preflight; the signaling socket still opens.
func TestCORSAllowedOrigin(t *testing.T) {
	const origin = "https://app.example.com"
	s := newServer(t, func(c *config.Config) { c.CORSOrigins = []string{"HTTPS://App.Example.com:443"} })
	room := s.room(nil)
	code, out := s.api("POST", "/rooms/"+room+"/actions/generate_join_client_token", map[string]any{})
	if code != 201 {
		t.Fatalf("token: %d %v", code, out)
	}
	refresh := data(out)["refresh_token"].(string)
	refreshURL := s.URL + "/v2/rooms/" + room + "/actions/refresh_client_token"

	resp, _ := send(t, "OPTIONS", refreshURL, "", "Origin", origin, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
		resp.Header.Get("Access-Control-Allow-Headers") != "content-type" || resp.Header.Get("Access-Control-Allow-Methods") != "GET, POST, PATCH, DELETE" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	resp, body := send(t, "POST", refreshURL, `{"refresh_token":"`+refresh+`"}`, "Origin", origin, "Content-Type", "application/json")
	tok, _ := data(body)["token"].(string)
	if resp.StatusCode != 201 || tok == "" {
		t.Fatalf("refresh from the page: %d %v", resp.StatusCode, body)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != origin || resp.Header.Get("Access-Control-Expose-Headers") != "X-Request-Id" ||
		resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("Vary") != "Origin" {
		t.Errorf("refresh from the page: headers %v", resp.Header)
	}

	resp, body = send(t, "GET", s.URL+"/v2/rooms", "", "Origin", origin)
	if resp.StatusCode != 401 || errorCode(body) != "10009" || resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("GET /v2/rooms without a key: %d %v %v", resp.StatusCode, resp.Header, body)
	}

	resp, body = send(t, "OPTIONS", refreshURL, "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if resp.StatusCode != 403 || errorCode(body) != "10010" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v %v", resp.StatusCode, resp.Header, body)
	}
	resp, _ = send(t, "POST", refreshURL, `{"refresh_token":"`+refresh+`"}`, "Origin", "https://evil.example", "Content-Type", "application/json")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("POST from another origin may be read: %v", resp.Header)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, client.ConnectURL(s.URL, room), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
	if err != nil {
		t.Fatalf("signaling socket from the page's origin: %v", err)
	}
	defer ws.Close(websocket.StatusNormalClosure, "")
	if err := wsjson.Write(ctx, ws, signal.Message{Type: signal.TypeJoin, Token: tok}); err != nil {
		t.Fatal(err)
	}
	var reply signal.Message
	if err := wsjson.Read(ctx, ws, &reply); err != nil || reply.Type != signal.TypeJoined {
		t.Errorf("join over the socket: %+v, %v", reply, err)
	}
}
