package app_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
)

// A participant that may use nothing but TURN joins through the embedded
// server with the credentials its joined message carries, and exchanges
// media with one that connects directly; the metrics show the relay.
func TestMediaThroughTURN(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.TURN, c.TURNPort, c.Metrics = true, 0, true })
	room := s.room(nil)
	alice := s.join(room, "Alice", true, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bob, err := client.Join(ctx, client.ConnectURL(s.URL, room), s.token(room),
		client.Options{Context: "Bob", Audio: true, Video: true, Loopback: true, RelayOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	testutil.Eventually(t, 30*time.Second, "audio and video both ways, one side through TURN", func() bool {
		return received(alice, bob.ParticipantID, "audio") > 50 && received(alice, bob.ParticipantID, "video") > 20 &&
			received(bob, alice.ParticipantID, "audio") > 50 && received(bob, alice.ParticipantID, "video") > 20
	})
	_, text := get(t, s.URL+"/metrics", "")
	if v := sample(text, `roomsd_media_connections{candidate="relay",transport="udp"}`); v != 1 {
		t.Errorf("relayed media paths: %v; want 1", v)
	}
}

// The relay reaches this server's media and nothing else: an allocation
// made with valid credentials cannot send to another address, nor to
// another port of the media address; and credentials of the wrong
// secret or expired are refused.
func TestTURNIsNoOpenRelay(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.TURN, c.TURNPort = true, 0 })
	room := s.room(nil)
	// The TURN URL and credentials a participant is given.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := client.Join(ctx, client.ConnectURL(s.URL, room), s.token(room), client.Options{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	servers := p.ICEServers()
	if len(servers) != 1 || len(servers[0].URLs) < 2 || servers[0].Username == "" {
		t.Fatalf("ICE servers in the joined message: %+v", servers)
	}
	turnAddr := strings.TrimSuffix(strings.TrimPrefix(servers[0].URLs[0], "turn:"), "?transport=udp")
	user, pass := servers[0].Username, servers[0].Credential.(string)

	// A target the relay must not reach: a UDP socket of this machine.
	target, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()

	dial := func(user, pass string) (*turn.Client, net.PacketConn) {
		t.Helper()
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: turnAddr, TURNServerAddr: turnAddr, Conn: conn,
			Username: user, Password: pass, Realm: "roomsd", LoggerFactory: logging.NewDefaultLoggerFactory()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		return c, conn
	}
	c, _ := dial(user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate with the participant's credentials: %v", err)
	}
	defer relay.Close()
	// Another port of the same address (the machine's other services):
	// the permission (per IP) is granted, but nothing leaves the relay.
	if _, err := relay.WriteTo([]byte("hello"), target.LocalAddr()); err == nil {
		target.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 64)
		if n, _, err := target.ReadFrom(buf); err == nil {
			t.Errorf("the relay delivered %q to %v, which is not the media port", buf[:n], target.LocalAddr())
		}
	}
	// Another address: refused outright.
	if _, err := relay.WriteTo([]byte("hello"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9}); err == nil {
		t.Error("the relay accepted a permission for another address")
	}

	// Credentials that do not check out allocate nothing.
	for name, creds := range map[string][2]string{
		"a forged password":   {user, "bm90IHRoZSBwYXNzd29yZA=="},
		"expired credentials": {"1000:" + p.ParticipantID, pass},
	} {
		c, _ := dial(creds[0], creds[1])
		if r, err := c.Allocate(); err == nil {
			r.Close()
			t.Errorf("%s allocated a relay", name)
		}
	}
}
