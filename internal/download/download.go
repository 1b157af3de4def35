// Package download makes and checks the links through which recordings
// and compositions are fetched from roomsd. A stored download_url is the
// plain address of the file on roomsd ({base}/v2/room_recordings/{id}/download);
// whenever it is shown (in the API, in a webhook) it is signed afresh:
// ?expires=UNIX&signature=HMAC, so a browser or curl without the API key
// can fetch the file until the link expires.
package download

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Kinds of downloadable things: the collection names of the REST API.
const (
	Recordings   = "room_recordings"
	Compositions = "room_compositions"
)

// Signer signs and checks download links. It is safe for concurrent use.
type Signer struct {
	key  []byte
	base string // scheme://host[:port], no trailing slash
	ttl  time.Duration
	now  func() time.Time
}

// New returns a Signer for links under base (roomsd's public URL) that
// stay valid for ttl, keyed by key (at least 32 bytes).
func New(key []byte, base string, ttl time.Duration) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("download: key shorter than 32 bytes")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("public URL %q is not http(s)://host[:port]", base)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("download link lifetime must be positive, got %s", ttl)
	}
	return &Signer{key: key, base: u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/"), ttl: ttl, now: time.Now}, nil
}

// TTL is how long a signed link stays valid.
func (s *Signer) TTL() time.Duration { return s.ttl }

// URL is the plain (unsigned) address of a file: what is stored.
func (s *Signer) URL(kind, id string) string {
	return s.base + "/v2/" + kind + "/" + id + "/download"
}

// Sign returns raw with a fresh expiry and signature when raw is one of
// this server's plain download addresses, and raw unchanged otherwise.
func (s *Signer) Sign(raw string) string { return s.SignUntil(raw, s.now().Add(s.ttl)) }

// SignUntil is Sign with a chosen expiry.
func (s *Signer) SignUntil(raw string, until time.Time) string {
	kind, id, ok := s.parse(raw)
	if !ok {
		return raw
	}
	exp := until.Unix()
	return raw + "?expires=" + strconv.FormatInt(exp, 10) + "&signature=" + s.mac(kind, id, exp)
}

func (s *Signer) parse(raw string) (kind, id string, ok bool) {
	rest, ok := strings.CutPrefix(raw, s.base+"/v2/")
	if !ok {
		return "", "", false
	}
	rest, ok = strings.CutSuffix(rest, "/download")
	if !ok {
		return "", "", false
	}
	kind, id, ok = strings.Cut(rest, "/")
	if !ok || (kind != Recordings && kind != Compositions) || id == "" || strings.ContainsAny(id, "/?#") {
		return "", "", false
	}
	return kind, id, true
}

func (s *Signer) mac(kind, id string, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s\n%s\n%d", kind, id, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Errors of Check.
var (
	// ErrUnsigned: the request carries neither expires nor signature.
	ErrUnsigned = errors.New("download: link is not signed")
	// ErrBadSignature: the signature does not match (forged, or for
	// another file, or altered expiry).
	ErrBadSignature = errors.New("download: signature does not match")
	// ErrExpired: the link was genuine but its time has passed.
	ErrExpired = errors.New("download: link has expired")
)

// Check verifies the expires and signature query values of a request for
// kind/id.
func (s *Signer) Check(kind, id string, q url.Values) error {
	expS, sig := q.Get("expires"), q.Get("signature")
	if expS == "" && sig == "" {
		return ErrUnsigned
	}
	exp, err := strconv.ParseInt(expS, 10, 64)
	if err != nil || sig == "" {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(sig), []byte(s.mac(kind, id, exp))) {
		return ErrBadSignature
	}
	if s.now().Unix() > exp {
		return fmt.Errorf("%w at %s", ErrExpired, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}
