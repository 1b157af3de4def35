package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Meeting links (roomsd's own, under /roomsd/): made with the API key for
// a room, shown with their URL once; opened without a key, each time
// minting fresh client tokens for the room; refused with a plain reason
// when forged, expired or revoked.
func TestMeetingLinks(t *testing.T) {
	e := newEnv(t)
	room := e.req("POST", "/v2/rooms", map[string]any{"unique_name": "standup"}).want(t, http.StatusCreated).body["data"].(map[string]any)["id"].(string)
	created := e.req("POST", "/roomsd/rooms/"+room+"/links", map[string]any{"name": "Ann", "ttl_secs": 7 * 24 * 3600}).want(t, http.StatusCreated)
	link := created.body["data"].(map[string]any)
	url, _ := link["url"].(string)
	secret, ok := strings.CutPrefix(url, "https://meet.example.com/join#link=")
	if !ok || link["name"] != "Ann" || link["room_id"] != room || link["revoked_at"] != nil || link["record_type"] != "meeting_link" {
		t.Fatalf("created link: %s", created.raw)
	}
	if created.header.Get("Cache-Control") != "no-store" {
		t.Error("the answer with the link's secret may be cached")
	}
	exp, _ := time.Parse(time.RFC3339Nano, link["expires_at"].(string))
	if want := e.clock.Now().Add(7 * 24 * time.Hour); !exp.Equal(want) {
		t.Errorf("expires_at %v, want %v", exp, want)
	}
	// Listing shows the link without its URL: the secret is not kept.
	list := e.req("GET", "/roomsd/rooms/"+room+"/links", nil).want(t, http.StatusOK)
	if items := list.body["data"].([]any); len(items) != 1 || items[0].(map[string]any)["url"] != nil {
		t.Errorf("list: %s", list.raw)
	}
	// Opening needs no API key and gives fresh tokens each time.
	open := func(link string) response {
		return e.req("POST", "/roomsd/links/actions/open", map[string]any{"link": link}, "Authorization", "")
	}
	first := open(secret).want(t, http.StatusCreated).body["data"].(map[string]any)
	second := open(secret).want(t, http.StatusCreated).body["data"].(map[string]any)
	if first["room_id"] != room || first["name"] != "Ann" || first["token"] == "" || first["token"] == second["token"] ||
		first["refresh_token"] == "" {
		t.Errorf("opened: %v then %v", first, second)
	}
	if _, err := e.svc.VerifyJoinToken(t.Context(), room, first["token"].(string)); err != nil {
		t.Errorf("the minted token does not join the room: %v", err)
	}
	// Forged or cut: 404, saying what to check.
	id, _, _ := strings.Cut(secret, ".")
	for _, bad := range []string{id + ".AAAA", id, "nonsense", secret[:len(secret)-2]} {
		r := open(bad)
		r.wantError(t, http.StatusNotFound, "10005", "", "")
		if !strings.Contains(string(r.raw), "whole link") {
			t.Errorf("open %q: %s", bad, r.raw)
		}
	}
	open("").wantError(t, http.StatusUnprocessableEntity, "10004", "/link", "")
	// Making and listing links needs the API key.
	e.req("POST", "/roomsd/rooms/"+room+"/links", map[string]any{}, "Authorization", "").want(t, http.StatusUnauthorized)
	e.req("POST", "/roomsd/rooms/"+room+"/links", map[string]any{"ttl_secs": 30}).wantError(t, http.StatusUnprocessableEntity, "10015", "/ttl_secs", "")
	e.req("POST", "/roomsd/rooms/"+room+"/links", map[string]any{"ttl": 3600}).wantError(t, http.StatusUnprocessableEntity, "10015", "/ttl", "")
	e.req("POST", "/roomsd/rooms/01a22801-0000-7000-8000-000000000000/links", map[string]any{}).want(t, http.StatusNotFound)

	// Expired: a plain 403 that says when and what to do.
	e.clock.Set(exp)
	r := open(secret)
	r.wantError(t, http.StatusForbidden, "10010", "", "")
	if !strings.Contains(string(r.raw), "expired") || !strings.Contains(string(r.raw), "ask whoever sent it") {
		t.Errorf("expired: %s", r.raw)
	}
	// Revoked.
	e.clock.Set(exp.Add(-time.Hour))
	e.req("POST", "/roomsd/links/"+id+"/actions/revoke", nil).want(t, http.StatusOK)
	r = open(secret)
	r.wantError(t, http.StatusForbidden, "10010", "", "")
	if !strings.Contains(string(r.raw), "revoked") {
		t.Errorf("revoked: %s", r.raw)
	}
	// The room deleted: its links go with it.
	e.req("DELETE", "/v2/rooms/"+room, nil).want(t, http.StatusNoContent)
	open(secret).want(t, http.StatusNotFound)
}
