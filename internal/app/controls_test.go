package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/signal"
)

// next returns the next event of c of one of the types, skipping others.
func next(t *testing.T, c *client.Client, types ...string) signal.Message {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m, ok := <-c.Events():
			if !ok {
				t.Fatalf("socket closed while waiting for %v", types)
			}
			for _, typ := range types {
				if m.Type == typ {
					return m
				}
			}
		case <-deadline:
			t.Fatalf("no %v within 15 s", types)
		}
	}
}

// A participant's own microphone and camera switches, its screen share and
// its chat messages reach the others; a newcomer learns who has what off
// and who shares a screen; chat is bounded in length and rate.
func TestControlsReachTheOthers(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	alice := s.join(room, "alice", false, false)
	bob := s.join(room, "bob", false, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	on, off := false, true
	send := func(m signal.Message) {
		t.Helper()
		if err := alice.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	send(signal.Message{Type: signal.TypeSelfMute, Kind: "video", Muted: &off})
	if m := next(t, bob, "self_muted"); m.ParticipantID != alice.ParticipantID || m.Kind != "video" || m.Muted == nil || !*m.Muted {
		t.Errorf("bob got %+v", m)
	}
	send(signal.Message{Type: signal.TypeScreenShare, TrackID: "screen-1"})
	if m := next(t, bob, "screen_share"); m.ParticipantID != alice.ParticipantID || m.TrackID != alice.ParticipantID+"-video-screen-1" {
		t.Errorf("bob got %+v", m)
	}
	send(signal.Message{Type: signal.TypeChat, Text: "hello, room"})
	for _, c := range []*client.Client{alice, bob} {
		if m := next(t, c, "chat"); m.ParticipantID != alice.ParticipantID || m.Text != "hello, room" || m.SentAt == "" {
			t.Errorf("chat reached as %+v", m)
		}
	}
	// A newcomer learns the state.
	carol := s.join(room, "carol", false, false)
	if m := next(t, carol, "self_muted"); m.ParticipantID != alice.ParticipantID || m.Kind != "video" {
		t.Errorf("carol got %+v", m)
	}
	if m := next(t, carol, "screen_share"); m.TrackID != alice.ParticipantID+"-video-screen-1" {
		t.Errorf("carol got %+v", m)
	}
	send(signal.Message{Type: signal.TypeSelfMute, Kind: "video", Muted: &on})
	if m := next(t, carol, "self_muted"); m.Muted == nil || *m.Muted {
		t.Errorf("carol got %+v", m)
	}
	// Bounds.
	for _, bad := range []signal.Message{
		{Type: signal.TypeSelfMute, Kind: "screen", Muted: &on},
		{Type: signal.TypeSelfMute, Kind: "audio"},
		{Type: signal.TypeChat, Text: "   "},
		{Type: signal.TypeChat, Text: strings.Repeat("é", 1001)},
	} {
		send(bad)
		if m := next(t, alice, "error"); m.Code != signal.CodeBadMessage {
			t.Errorf("%+v: %+v", bad, m)
		}
	}
	// Rate: a burst goes through, then messages are refused, and the
	// others get only what went through.
	refused := 0
	for i := range 10 {
		send(signal.Message{Type: signal.TypeChat, Text: "burst " + string(rune('a'+i))})
	}
	relayed := 0
	for relayed+refused < 10 {
		m := next(t, alice, "chat", "error")
		switch {
		case m.Type == "chat" && strings.HasPrefix(m.Text, "burst "):
			relayed++
		case m.Type == "error" && m.Code == signal.CodeRateLimited:
			refused++
		}
	}
	// A burst of 5, and one more a second: a slow sender may get one or
	// two more through.
	if refused == 0 || relayed > 7 {
		t.Errorf("10 messages at once: %d relayed, %d refused; want about 5 relayed", relayed, refused)
	}
}
