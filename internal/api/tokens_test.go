package api_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestGenerateJoinClientToken(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	e.clock.Set(now)
	room := e.createRoom(nil)["id"].(string)
	path := "/v2/rooms/" + room + "/actions/generate_join_client_token"

	d := e.req("POST", path, nil).want(t, 201).data()
	if d["token_expires_at"] != "2024-03-10T12:10:00.000000Z" || d["refresh_token_expires_at"] != "2024-03-10T13:00:00.000000Z" {
		t.Errorf("default lifetimes: %v", d)
	}
	c, err := e.signer.Verify(d["token"].(string), "access")
	if err != nil || c.RoomID() != room {
		t.Errorf("token: %v, room %q", err, c.RoomID())
	}
	if _, err := e.signer.Verify(d["refresh_token"].(string), "refresh"); err != nil {
		t.Errorf("refresh token: %v", err)
	}

	d = e.req("POST", path, map[string]any{"token_ttl_secs": 10, "refresh_token_ttl_secs": 86400}).want(t, 201).data()
	if d["token_expires_at"] != "2024-03-10T12:00:10.000000Z" || d["refresh_token_expires_at"] != "2024-03-11T12:00:00.000000Z" {
		t.Errorf("custom lifetimes: %v", d)
	}
	e.req("POST", path, map[string]any{"token_ttl_secs": 3600, "refresh_token_ttl_secs": 60}).want(t, 201)
	for _, tc := range []struct {
		body    string
		pointer string
	}{
		{`{"token_ttl_secs":9}`, "/token_ttl_secs"},
		{`{"token_ttl_secs":3601}`, "/token_ttl_secs"},
		{`{"token_ttl_secs":"600"}`, "/token_ttl_secs"},
		{`{"refresh_token_ttl_secs":59}`, "/refresh_token_ttl_secs"},
		{`{"refresh_token_ttl_secs":86401}`, "/refresh_token_ttl_secs"},
	} {
		e.req("POST", path, tc.body).wantError(t, 422, "10015", tc.pointer, "")
	}
	e.req("POST", "/v2/rooms/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0/actions/generate_join_client_token", nil).wantError(t, 404, "10005", "", "")
	e.req("POST", path, nil, "Authorization", "").wantError(t, 401, "10009", "", "")
}

func TestRefreshClientToken(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	e.clock.Set(now)
	room := e.createRoom(nil)["id"].(string)
	other := e.createRoom(nil)["id"].(string)
	issue := func(id string) map[string]any {
		return e.req("POST", "/v2/rooms/"+id+"/actions/generate_join_client_token", nil).want(t, 201).data()
	}
	toks, otherToks := issue(room), issue(other)
	path := "/v2/rooms/" + room + "/actions/refresh_client_token"
	noKey := []string{"Authorization", ""}

	// No API key needed: the refresh token is the credential.
	e.clock.Set(now.Add(30 * time.Minute))
	d := e.req("POST", path, map[string]any{"refresh_token": toks["refresh_token"], "token_ttl_secs": 120}, noKey...).want(t, 201).data()
	if d["token_expires_at"] != "2024-03-10T12:32:00.000000Z" || len(d) != 2 {
		t.Errorf("refreshed: %v", d)
	}
	if c, err := e.signer.Verify(d["token"].(string), "access"); err != nil || c.RoomID() != room {
		t.Errorf("refreshed token: %v", err)
	}

	forged := strings.Split(toks["refresh_token"].(string), ".")
	forged[2] = base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	for name, tok := range map[string]any{
		"access token":     toks["token"],
		"other room":       otherToks["refresh_token"],
		"forged signature": strings.Join(forged, "."),
		"garbage":          "abc.def.ghi",
	} {
		r := e.req("POST", path, map[string]any{"refresh_token": tok}, noKey...)
		r.wantError(t, 403, "10010", "", "")
		if t.Failed() {
			t.Fatalf("case %s", name)
		}
	}
	e.req("POST", path, map[string]any{}, noKey...).wantError(t, 422, "10004", "/refresh_token", "")
	e.req("POST", path, map[string]any{"refresh_token": 5}, noKey...).wantError(t, 422, "10015", "/refresh_token", "")
	e.req("POST", path, map[string]any{"refresh_token": toks["refresh_token"], "token_ttl_secs": 5}, noKey...).wantError(t, 422, "10015", "/token_ttl_secs", "")

	// Expired.
	e.clock.Set(now.Add(time.Hour + time.Second))
	e.req("POST", path, map[string]any{"refresh_token": toks["refresh_token"]}, noKey...).wantError(t, 403, "10010", "", "")

	// A deleted room's tokens stop working.
	e.clock.Set(now.Add(time.Minute))
	e.req("DELETE", "/v2/rooms/"+other, nil).want(t, 204)
	e.req("POST", "/v2/rooms/"+other+"/actions/refresh_client_token", map[string]any{"refresh_token": otherToks["refresh_token"]}, noKey...).
		wantError(t, 403, "10010", "", "")
	if _, err := e.svc.VerifyJoinToken(t.Context(), other, otherToks["token"].(string)); err == nil {
		t.Errorf("a deleted room's join token still verifies")
	}
}

// The JWKS is public and verifies the tokens the server issues.
func TestJWKS(t *testing.T) {
	e := newEnv(t)
	e.clock.Set(time.Now())
	room := e.createRoom(nil)["id"].(string)
	tok := e.req("POST", "/v2/rooms/"+room+"/actions/generate_join_client_token", nil).want(t, 201).data()["token"].(string)

	resp, err := http.Get(e.url + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != 200 || len(set.Keys) != 1 {
		t.Fatalf("JWKS: %d, %v, %v", resp.StatusCode, set, err)
	}
	x, _ := base64.RawURLEncoding.DecodeString(set.Keys[0]["x"])
	parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		if tk.Header["kid"] != set.Keys[0]["kid"] {
			t.Errorf("kid %v not in the JWKS", tk.Header["kid"])
		}
		return ed25519.PublicKey(x), nil
	}, jwt.WithValidMethods([]string{"EdDSA"}))
	if err != nil || !parsed.Valid {
		t.Errorf("token does not verify with the published key: %v", err)
	}
}
