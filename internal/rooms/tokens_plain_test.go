package rooms_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/token"
)

// A refused token is reported as domain.ErrForbidden with the reason
// alone as its text, so a transport can put it after words of its own.
func TestRefusedTokensSayWhy(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	c := &clock{t: now}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "roomsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	svc := rooms.New(st, rooms.WithClock(c.Now), rooms.WithSigner(token.NewSigner(key, c.Now)))
	room, _ := svc.CreateRoom(ctx, rooms.RoomChanges{})
	other, _ := svc.CreateRoom(ctx, rooms.RoomChanges{})
	toks, err := svc.IssueTokens(ctx, room.ID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherToks, _ := svc.IssueTokens(ctx, other.ID, nil, nil)

	check := func(name string, err error, want string) {
		t.Helper()
		if !errors.Is(err, domain.ErrForbidden) || err.Error() != want {
			t.Errorf("%s: %v, want ErrForbidden saying %q", name, err, want)
		}
	}
	_, _, err = svc.RefreshToken(ctx, room.ID, "abc.def", nil)
	check("garbage refresh token", err, "the token is not a client token (it cannot be read)")
	_, _, err = svc.RefreshToken(ctx, room.ID, toks.Token, nil)
	check("access token to refresh", err, "the token is an access token; a refresh token is needed")
	_, err = svc.VerifyJoinToken(ctx, room.ID, toks.Refresh)
	check("refresh token to join", err, "the token is a refresh token; an access token is needed")
	_, err = svc.VerifyJoinToken(ctx, room.ID, otherToks.Token)
	check("another room's token", err, "the token is for another room")

	c.Set(now.Add(rooms.DefaultTokenTTL*time.Second + time.Second))
	_, err = svc.VerifyJoinToken(ctx, room.ID, toks.Token)
	check("expired join token", err, "the token has expired")
	if !errors.Is(err, token.ErrInvalid) {
		t.Errorf("expired join token: %v does not match token.ErrInvalid", err)
	}

	if err := svc.DeleteRoom(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.RefreshToken(ctx, other.ID, otherToks.Refresh, nil)
	check("deleted room", err, "the room no longer exists")
}
