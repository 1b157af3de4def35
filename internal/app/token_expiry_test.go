package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/signal"
	"github.com/roomsd/roomsd/internal/token"
)

// A client token signed with the server's own key for the right room is
// refused at the WebSocket join once it has expired.
func TestExpiredTokenRefused(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, func(c *config.Config) { c.TokenKey = base64.StdEncoding.EncodeToString(seed) })
	room := s.room(nil)
	key := ed25519.NewKeyFromSeed(seed)

	// Issued an hour ago for a minute (the shortest lifetime the API
	// gives is 10 s): expired for 59 minutes, valid in every other way.
	hourAgo := token.NewSigner(key, func() time.Time { return time.Now().Add(-time.Hour) })
	expired, exp, err := hourAgo.Issue(room, token.TypeAccess, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Before(time.Now()) {
		t.Fatalf("the token expires at %v, not in the past", exp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := client.Join(ctx, client.ConnectURL(s.URL, room), expired, client.Options{Loopback: true})
	cancel()
	if c != nil {
		c.Close()
	}
	var je *client.JoinError
	if !errors.As(err, &je) || je.Code != signal.CodeUnauthorized {
		t.Errorf("expired token: %v, want unauthorized", err)
	}
	_, r := s.api("GET", "/rooms/"+room, nil)
	if data(r)["active_session_id"] != nil {
		t.Errorf("a refused join opened a session")
	}

	// The same signing, issued now, is let in: only the expiry was wrong.
	fresh, _, err := token.NewSigner(key, nil).Issue(room, token.TypeAccess, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := client.Join(ctx, client.ConnectURL(s.URL, room), fresh, client.Options{Loopback: true})
	if err != nil {
		t.Fatalf("the same token issued now: %v", err)
	}
	ok.Close()
}
