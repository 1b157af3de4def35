package app_test

import (
	"slices"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
)

// speakersOf returns a channel of the speaker lists a client hears.
func speakersOf(t *testing.T, c *client.Client) <-chan []string {
	out := make(chan []string, 64)
	go func() {
		for m := range c.Events() {
			if m.Type == "speakers" && m.Speakers != nil {
				select {
				case out <- *m.Speakers:
				default:
				}
			}
		}
	}()
	return out
}

// waitSpeakers waits for a speakers message whose list is want.
func waitSpeakers(t *testing.T, ch <-chan []string, want []string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	var last []string
	for {
		select {
		case got := <-ch:
			last = got
			if slices.Equal(got, want) {
				return
			}
		case <-deadline:
			t.Fatalf("speakers never became %v (last %v)", want, last)
		}
	}
}

// The room announces who speaks, from the audio levels in the packets:
// Alice alone, then Bob when Alice falls silent, nobody when both are, and
// never someone who was muted.
func TestSpeakersAreAnnounced(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	listener := s.joinWith(room, client.Options{Context: "Listener"})
	heard := speakersOf(t, listener)
	alice := s.joinWith(room, client.Options{Context: "Alice", Audio: true})
	bob := s.joinWith(room, client.Options{Context: "Bob", Audio: true})
	bob.SetSilent(true)
	waitSpeakers(t, heard, []string{alice.ParticipantID})

	alice.SetSilent(true)
	bob.SetSilent(false)
	waitSpeakers(t, heard, []string{bob.ParticipantID})

	bob.SetSilent(true)
	waitSpeakers(t, heard, []string{})

	// Muted, Bob is no speaker however loud his packets say he is.
	if code, _ := s.api("POST", "/room_sessions/"+bob.SessionID+"/actions/mute", map[string]any{"participants": []string{bob.ParticipantID}}); code != 200 {
		t.Fatalf("mute: %d", code)
	}
	bob.SetSilent(false)
	alice.SetSilent(false)
	waitSpeakers(t, heard, []string{alice.ParticipantID})
	// And for a second more (an observation window, not a wait).
	deadline := time.After(time.Second)
	for {
		select {
		case got := <-heard:
			if slices.Contains(got, bob.ParticipantID) {
				t.Fatalf("muted Bob announced as a speaker: %v", got)
			}
		case <-deadline:
			return
		}
	}
}
