package token_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/roomsd/roomsd/internal/token"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const room = "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"

func TestIssueAndVerify(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := token.NewSigner(newKey(t), func() time.Time { return now })
	raw, exp, err := s.Issue(room, token.TypeAccess, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(10 * time.Minute)) {
		t.Errorf("exp = %v", exp)
	}
	c, err := s.Verify(raw, token.TypeAccess)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.RoomID() != room || c.Type != "access" || c.ID == "" || !c.IssuedAt.Equal(now) || !c.NotBefore.Equal(now) {
		t.Errorf("claims = %+v", c)
	}
	// The wire form: header alg EdDSA with kid; grants as in the Telnyx example.
	parts := strings.Split(raw, ".")
	var hdr, body map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[0])
	json.Unmarshal(b, &hdr)
	b, _ = base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(b, &body)
	if hdr["alg"] != "EdDSA" || hdr["kid"] != s.KeyID() {
		t.Errorf("header = %v", hdr)
	}
	g, _ := json.Marshal(body["grants"])
	if string(g) != `[{"actions":["join"],"resources":["telnyx:video:rooms:`+room+`"]}]` {
		t.Errorf("grants = %s", g)
	}
	for _, k := range []string{"iat", "nbf", "exp", "jti", "typ"} {
		if _, ok := body[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
}

func TestRejects(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := now
	key := newKey(t)
	s := token.NewSigner(key, func() time.Time { return clock })
	access, _, _ := s.Issue(room, token.TypeAccess, time.Minute)
	refresh, _, _ := s.Issue(room, token.TypeRefresh, time.Hour)
	other, _, _ := token.NewSigner(newKey(t), func() time.Time { return clock }).Issue(room, token.TypeRefresh, time.Hour)

	parts := strings.Split(refresh, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), room, "11111111-4df3-4bca-a65a-3da1ecc777f0", 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]

	unsigned := jwt.NewWithClaims(jwt.SigningMethodNone, token.Claims{Type: token.TypeRefresh,
		RegisteredClaims: jwt.RegisteredClaims{Issuer: token.Issuer, Audience: jwt.ClaimStrings{token.Issuer}, ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))},
		Grants:           []token.Grant{{Actions: []string{"join"}, Resources: []string{"telnyx:video:rooms:" + room}}}})
	none, _ := unsigned.SignedString(jwt.UnsafeAllowNoneSignatureType)

	cases := map[string]string{
		"access used as refresh": access,
		"other key":              other,
		"tampered payload":       tampered,
		"alg none":               none,
		"garbage":                "not.a.jwt",
		"empty":                  "",
	}
	for name, raw := range cases {
		if _, err := s.Verify(raw, token.TypeRefresh); !errors.Is(err, token.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Verify(refresh, token.TypeRefresh); err != nil {
		t.Fatalf("good refresh token: %v", err)
	}
	clock = now.Add(time.Hour + time.Second)
	if _, err := s.Verify(refresh, token.TypeRefresh); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("expired: %v, want ErrInvalid", err)
	}
	clock = now.Add(-time.Minute)
	if _, err := s.Verify(refresh, token.TypeRefresh); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("not yet valid: %v, want ErrInvalid", err)
	}
}

func TestJWKSVerifiesTokens(t *testing.T) {
	s := token.NewSigner(newKey(t), nil)
	raw, _, _ := s.Issue(room, token.TypeAccess, time.Minute)
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(s.JWKS(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS = %s", s.JWKS())
	}
	k := set.Keys[0]
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["kid"] != s.KeyID() || k["alg"] != "EdDSA" {
		t.Errorf("JWK = %v", k)
	}
	x, _ := base64.RawURLEncoding.DecodeString(k["x"])
	// A third party checks the token with nothing but the published key.
	_, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return ed25519.PublicKey(x), nil }, jwt.WithValidMethods([]string{"EdDSA"}))
	if err != nil {
		t.Errorf("token does not verify with the JWKS key: %v", err)
	}
}

func TestParseSeed(t *testing.T) {
	seed := make([]byte, 32)
	seed[0] = 1
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
		k, err := token.ParseSeed(enc.EncodeToString(seed))
		if err != nil || !k.Equal(ed25519.NewKeyFromSeed(seed)) {
			t.Errorf("ParseSeed: %v", err)
		}
	}
	for _, bad := range []string{"", "%%%", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := token.ParseSeed(bad); err == nil {
			t.Errorf("ParseSeed(%q) accepted", bad)
		}
	}
}

// Why a token is refused is said in plain words: the text reaches users of
// the REST API and of the signaling socket, so it carries nothing of the
// JWT library's wording.
func TestRejectionsInPlainWords(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := now
	key := newKey(t)
	s := token.NewSigner(key, func() time.Time { return clock })

	// claims are those of a good access token, changed by edit.
	claims := func(edit func(*token.Claims)) token.Claims {
		c := token.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    token.Issuer,
				Audience:  jwt.ClaimStrings{token.Issuer},
				IssuedAt:  jwt.NewNumericDate(now),
				NotBefore: jwt.NewNumericDate(now),
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			},
			Type:   token.TypeAccess,
			Grants: []token.Grant{{Actions: []string{"join"}, Resources: []string{"telnyx:video:rooms:" + room}}},
		}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, k any, c token.Claims) string {
		t.Helper()
		raw, err := jwt.NewWithClaims(m, c).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	ours := func(edit func(*token.Claims)) string { return sign(jwt.SigningMethodEdDSA, key, claims(edit)) }

	if _, err := s.Verify(ours(nil), token.TypeAccess); err != nil {
		t.Fatalf("the unchanged claims do not verify: %v", err)
	}
	access, _, _ := s.Issue(room, token.TypeAccess, time.Minute)
	refresh, _, _ := s.Issue(room, token.TypeRefresh, time.Hour)
	other, _, _ := token.NewSigner(newKey(t), func() time.Time { return now }).Issue(room, token.TypeAccess, time.Hour)
	none := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT"}`))

	const (
		unreadable = "the token is not a client token (it cannot be read)"
		notOurs    = "the token was not signed by this server"
		notRoomsd  = "the token was not issued by roomsd"
	)
	cases := []struct {
		name, raw, want string
		at              time.Time // the clock when checked; zero for now
	}{
		{name: "empty", raw: "", want: unreadable},
		{name: "two segments", raw: "abc.def", want: unreadable},
		{name: "four segments", raw: access + ".x", want: unreadable},
		{name: "garbage base64", raw: "!!!.@@@.###", want: unreadable},
		{name: "payload not JSON", raw: hdr + "." + base64.RawURLEncoding.EncodeToString([]byte("not json")) + ".c2ln", want: unreadable},
		{name: "signed HS512", raw: sign(jwt.SigningMethodHS512, []byte("some shared key"), claims(nil)), want: notOurs},
		{name: "signed HS256", raw: sign(jwt.SigningMethodHS256, []byte("some shared key"), claims(nil)), want: notOurs},
		{name: "another Ed25519 key", raw: other, want: notOurs},
		{name: "alg none", raw: none, want: notOurs},
		{name: "signature cut off", raw: access[:strings.LastIndex(access, ".")+1], want: notOurs},
		{name: "expired", raw: access, at: now.Add(time.Minute + time.Second), want: "the token has expired"},
		{name: "not valid yet", raw: access, at: now.Add(-time.Minute), want: "the token is not valid yet"},
		{name: "issued in the future", raw: ours(func(c *token.Claims) { c.NotBefore, c.IssuedAt = nil, jwt.NewNumericDate(now.Add(time.Minute)) }), want: "the token is not valid yet"},
		{name: "wrong issuer", raw: ours(func(c *token.Claims) { c.Issuer = "someone-else" }), want: notRoomsd},
		{name: "no issuer", raw: ours(func(c *token.Claims) { c.Issuer = "" }), want: notRoomsd},
		{name: "wrong audience", raw: ours(func(c *token.Claims) { c.Audience = jwt.ClaimStrings{"someone-else"} }), want: notRoomsd},
		{name: "no expiry", raw: ours(func(c *token.Claims) { c.ExpiresAt = nil }), want: notRoomsd},
		{name: "refresh where access is needed", raw: refresh, want: "the token is a refresh token; an access token is needed"},
		{name: "no type", raw: ours(func(c *token.Claims) { c.Type = "" }), want: "the token is not an access token"},
		{name: "no grant", raw: ours(func(c *token.Claims) { c.Grants = nil }), want: "the token grants no room"},
		{name: "grant of something else", raw: ours(func(c *token.Claims) { c.Grants[0].Resources = []string{"telnyx:video:recordings:x"} }), want: "the token grants no room"},
	}
	check := func(name string, err error, want string) {
		t.Helper()
		if !errors.Is(err, token.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
			return
		}
		if err.Error() != want {
			t.Errorf("%s: %q, want %q", name, err, want)
		}
		for _, jargon := range []string{"jwt", "segments", "signing method", "ed25519", "crypto", "verification error", "token is malformed", "a access"} {
			if strings.Contains(strings.ToLower(err.Error()), jargon) {
				t.Errorf("%s: %q speaks of %q", name, err, jargon)
			}
		}
	}
	for _, c := range cases {
		clock = now
		if !c.at.IsZero() {
			clock = c.at
		}
		_, err := s.Verify(c.raw, token.TypeAccess)
		check(c.name, err, c.want)
	}
	clock = now
	_, err := s.Verify(access, token.TypeRefresh)
	check("access where refresh is needed", err, "the token is an access token; a refresh token is needed")

	// The JWT library's own error stays reachable for code that wants it.
	clock = now.Add(time.Hour)
	if _, err := s.Verify(access, token.TypeAccess); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("expired: %v does not match jwt.ErrTokenExpired", err)
	}
}
