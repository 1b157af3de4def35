package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
)

// A participant that may not use UDP connects its media over TCP to the
// media port number, and exchanges audio and video with one on UDP; the
// metrics show one media path of each kind.
func TestMediaOverTCP(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.RTCTCP, c.Metrics = true, true })
	room := s.room(nil)
	alice := s.join(room, "Alice", true, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bob, err := client.Join(ctx, client.ConnectURL(s.URL, room), s.token(room),
		client.Options{Context: "Bob", Audio: true, Video: true, Loopback: true, TCPOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	testutil.Eventually(t, 30*time.Second, "audio and video both ways, one side over TCP", func() bool {
		return received(alice, bob.ParticipantID, "audio") > 50 && received(alice, bob.ParticipantID, "video") > 20 &&
			received(bob, alice.ParticipantID, "audio") > 50 && received(bob, alice.ParticipantID, "video") > 20
	})
	_, text := get(t, s.URL+"/metrics", "")
	var udp, tcp float64
	for _, cand := range []string{"host", "srflx", "prflx", "relay"} {
		udp += sample(text, `roomsd_media_connections{candidate="`+cand+`",transport="udp"}`)
		tcp += sample(text, `roomsd_media_connections{candidate="`+cand+`",transport="tcp"}`)
	}
	if udp != 1 || tcp != 1 {
		t.Errorf("media paths: %v over UDP, %v over TCP; want one each", udp, tcp)
	}
}
