// Package token issues and checks client tokens: short-lived JWTs that let
// a browser or bot join one room. They are signed with Ed25519 (alg EdDSA)
// through github.com/golang-jwt/jwt/v5; the public key is published as a
// JWKS so other services can check tokens without asking roomsd.
package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Token types, carried in the typ claim.
const (
	TypeAccess  = "access"
	TypeRefresh = "refresh"
)

// Issuer names roomsd in the iss and aud claims.
const Issuer = "roomsd"

// ActionJoin is the one grant action client tokens carry today.
const ActionJoin = "join"

const roomResourcePrefix = "telnyx:video:rooms:"

// ErrInvalid matches the error Verify returns for any token that must not
// be honoured: bad signature, wrong key, expired, not yet valid,
// malformed, wrong type.
var ErrInvalid = errors.New("invalid token")

// Grant allows actions on resources.
type Grant struct {
	Actions   []string `json:"actions"`
	Resources []string `json:"resources"`
}

// Claims are the contents of a client token.
type Claims struct {
	jwt.RegisteredClaims
	Type   string  `json:"typ"`
	Grants []Grant `json:"grants"`
	Origin
}

// Origin says where a token comes from, so that a participant removed
// from a room can be kept out by its tokens: Family is shared by a
// refresh token and every access token issued with it or from it; Link
// names the meeting link a token was issued for, if any. roomsd's own
// claims: absent from tokens of before they existed.
type Origin struct {
	Family string `json:"fam,omitempty"`
	Link   string `json:"lnk,omitempty"`
}

// RoomID returns the room the token grants joining, or "".
func (c Claims) RoomID() string {
	for _, g := range c.Grants {
		for _, r := range g.Resources {
			if id, ok := strings.CutPrefix(r, roomResourcePrefix); ok {
				return id
			}
		}
	}
	return ""
}

// Signer signs and verifies tokens with one Ed25519 key.
type Signer struct {
	priv ed25519.PrivateKey
	kid  string
	now  func() time.Time
}

// NewSigner returns a Signer for key. now may be nil for time.Now.
func NewSigner(key ed25519.PrivateKey, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	pub := key.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return &Signer{priv: key, kid: base64.RawURLEncoding.EncodeToString(sum[:12]), now: now}
}

// ParseSeed decodes a base64 (standard or URL alphabet, padded or not)
// 32-byte Ed25519 seed, the form ROOMSD_TOKEN_KEY takes.
func ParseSeed(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != ed25519.SeedSize {
				return nil, fmt.Errorf("the key is %d bytes, want a %d-byte Ed25519 seed", len(b), ed25519.SeedSize)
			}
			return ed25519.NewKeyFromSeed(b), nil
		}
	}
	return nil, errors.New("the key is not base64; generate one with: openssl rand -base64 32")
}

// KeyID identifies the signing key (the kid header and JWKS entry).
func (s *Signer) KeyID() string { return s.kid }

// Issue returns a signed token of the given type granting join on roomID,
// and its expiry.
func (s *Signer) Issue(roomID, typ string, ttl time.Duration) (string, time.Time, error) {
	return s.IssueFrom(roomID, typ, ttl, Origin{})
}

// IssueFrom is Issue for a token of the given origin.
func (s *Signer) IssueFrom(roomID, typ string, ttl time.Duration, o Origin) (string, time.Time, error) {
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(ttl)
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Audience:  jwt.ClaimStrings{Issuer},
			Subject:   roomID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        uuid.NewString(),
		},
		Type:   typ,
		Grants: []Grant{{Actions: []string{ActionJoin}, Resources: []string{roomResourcePrefix + roomID}}},
		Origin: o,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = s.kid
	signed, err := t.SignedString(s.priv)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, exp, nil
}

// Verify checks signature, algorithm, issuer, audience, time window and
// type, and returns the claims. Every error matches ErrInvalid, and its
// text is a short reason in plain words, such as "the token has expired",
// fit to show to whoever presented the token.
func (s *Signer) Verify(raw, wantType string) (Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		return s.priv.Public(), nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		return Claims{}, &invalidError{reason: reason(err), cause: err}
	}
	if c.Type != wantType {
		return Claims{}, &invalidError{reason: wrongType(c.Type, wantType)}
	}
	if c.RoomID() == "" {
		return Claims{}, &invalidError{reason: "the token grants no room"}
	}
	return c, nil
}

// invalidError is a token that must not be honoured. Its text is the
// reason alone; it matches ErrInvalid and, when the JWT library found the
// fault, the library's error too.
type invalidError struct {
	reason string
	cause  error
}

func (e *invalidError) Error() string { return e.reason }

func (e *invalidError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.cause}
}

// reason says in plain words why the JWT library refused a token. The
// signature is checked before the claims, so a fault in the claims is
// only ever reported for a token this server's key signed.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is not a client token (it cannot be read)"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token was not signed by this server"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// roomsd names itself as issuer and audience and sets an expiry
		// in every token it issues.
		return "the token was not issued by roomsd"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is not valid yet"
	}
	return "the token is not valid"
}

// wrongType says that a token of type got was presented where one of type
// want is needed.
func wrongType(got, want string) string {
	switch got {
	case TypeAccess, TypeRefresh:
		return fmt.Sprintf("the token is %s; %s is needed", withArticle(got), withArticle(want))
	}
	return fmt.Sprintf("the token is not %s", withArticle(want))
}

// withArticle is "an access token" or "a refresh token".
func withArticle(typ string) string {
	if typ == TypeAccess {
		return "an access token"
	}
	return "a " + typ + " token"
}

// JWKS returns the public key as a JSON Web Key Set (RFC 7517, OKP keys
// per RFC 8037).
func (s *Signer) JWKS() []byte {
	pub := s.priv.Public().(ed25519.PublicKey)
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": s.kid,
		"x": base64.RawURLEncoding.EncodeToString(pub),
	}}})
	return b
}
