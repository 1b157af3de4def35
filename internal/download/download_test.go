package download

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func signer(t *testing.T) *Signer {
	t.Helper()
	s, err := New([]byte(strings.Repeat("k", 32)), "https://rooms.example.com/", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func query(t *testing.T, link string) url.Values {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestSignAndCheck(t *testing.T) {
	s := signer(t)
	plain := s.URL(Recordings, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0")
	if plain != "https://rooms.example.com/v2/room_recordings/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0/download" {
		t.Fatalf("URL = %q", plain)
	}
	link := s.Sign(plain)
	if err := s.Check(Recordings, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", query(t, link)); err != nil {
		t.Errorf("a fresh link: %v", err)
	}
	for name, tc := range map[string]struct {
		kind, id string
		q        url.Values
		want     error
	}{
		"another id":          {Recordings, "1ccc7b54-4df3-4bca-a65a-3da1ecc777f0", query(t, link), ErrBadSignature},
		"another kind":        {Compositions, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", query(t, link), ErrBadSignature},
		"no signature":        {Recordings, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", url.Values{}, ErrUnsigned},
		"expiry moved on":     {Recordings, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", func() url.Values { q := query(t, link); q.Set("expires", "9999999999"); return q }(), ErrBadSignature},
		"expiry not a number": {Recordings, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", func() url.Values { q := query(t, link); q.Set("expires", "soon"); return q }(), ErrBadSignature},
		"expired":             {Recordings, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", query(t, s.SignUntil(plain, time.Now().Add(-time.Second))), ErrExpired},
	} {
		if err := s.Check(tc.kind, tc.id, tc.q); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestSignLeavesOtherURLsAlone(t *testing.T) {
	s := signer(t)
	for _, u := range []string{
		"https://files.example/a.ogg",
		"https://rooms.example.com/v2/rooms/x/download",
		"https://rooms.example.com/v2/room_recordings/a/b/download",
		"http://rooms.example.com/v2/room_recordings/x/download", // another scheme
	} {
		if got := s.Sign(u); got != u {
			t.Errorf("Sign(%q) = %q, want it unchanged", u, got)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	for _, tc := range []struct {
		key  []byte
		base string
		ttl  time.Duration
	}{
		{key[:16], "https://a.example", time.Hour},
		{key, "ftp://a.example", time.Hour},
		{key, "https://", time.Hour},
		{key, "https://a.example", 0},
	} {
		if _, err := New(tc.key, tc.base, tc.ttl); err == nil {
			t.Errorf("New(%d-byte key, %q, %v) accepted", len(tc.key), tc.base, tc.ttl)
		}
	}
}
