package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/signal"
)

// A kicked participant's token, the tokens refreshed from its refresh
// token, and its meeting link cannot join the room again for
// ROOMSD_KICK_BAN; the refusal says so in words and until when. A token
// minted afresh with the API key joins.
func TestKickedCannotRejoinWithTheSameTokenOrLink(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.KickBan = time.Hour })
	room := s.room(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	join := func(tok string) (*client.Client, error) {
		c, err := client.Join(ctx, client.ConnectURL(s.URL, room), tok, client.Options{Loopback: true})
		if err == nil {
			t.Cleanup(c.Close)
		}
		return c, err
	}
	kick := func(c *client.Client) {
		t.Helper()
		if code, out := s.api("POST", "/room_sessions/"+c.SessionID+"/actions/kick",
			map[string]any{"participants": []string{c.ParticipantID}}); code != 200 {
			t.Fatalf("kick: %d %v", code, out)
		}
		for range c.Events() {
		}
	}
	refused := func(what string, err error) {
		t.Helper()
		var je *client.JoinError
		if !errors.As(err, &je) || je.Code != signal.CodeKicked || !strings.Contains(je.Message, "you were removed from this room") {
			t.Errorf("%s: %v; want refused as kicked", what, err)
		}
	}

	_, tokens := s.api("POST", "/rooms/"+room+"/actions/generate_join_client_token", map[string]any{})
	tok, refresh := data(tokens)["token"].(string), data(tokens)["refresh_token"].(string)
	c, err := join(tok)
	if err != nil {
		t.Fatal(err)
	}
	kick(c)
	_, err = join(tok)
	refused("the same token", err)
	_, fresh := s.api("POST", "/rooms/"+room+"/actions/refresh_client_token", map[string]any{"refresh_token": refresh})
	_, err = join(data(fresh)["token"].(string))
	refused("a token refreshed from the same refresh token", err)
	if _, err := join(s.token(room)); err != nil {
		t.Errorf("a new token minted with the API key: %v", err)
	}

	// A meeting link: kicked once, the link is kept out too.
	code, out := s.Call("POST", "/roomsd/rooms/"+room+"/links", map[string]any{"name": "Ann"})
	if code != 201 {
		t.Fatalf("create link: %d %v", code, out)
	}
	secret := data(out)["url"].(string)[strings.Index(data(out)["url"].(string), "#link=")+len("#link="):]
	openLink := func() string {
		t.Helper()
		code, out := s.Call("POST", "/roomsd/links/actions/open", map[string]any{"link": secret})
		if code != 201 {
			t.Fatalf("open link: %d %v", code, out)
		}
		return data(out)["token"].(string)
	}
	c, err = join(openLink())
	if err != nil {
		t.Fatal(err)
	}
	kick(c)
	_, err = join(openLink())
	refused("the same meeting link, opened again", err)
}
