package sfu

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/pion/webrtc/v4"
)

// Every participant's media shares the one UDP port: a participant who
// joins and negotiates opens no socket of its own on the server, not even
// for multicast DNS, which pion's ICE agents otherwise start each time.
func TestParticipantsOpenNoSockets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts open files in /proc/self/fd")
	}
	// One client offer, made and closed before counting, serves every
	// participant: only the server's side is counted.
	client, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		t.Fatal(err)
	}
	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	client.Close()

	m := newTestManager(t, nil, 0)
	fds := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	before := fds()
	const n = 10
	for i := range n {
		p, err := m.Join("room", "s", fmt.Sprint("p", i), "", func(Event) {}, SubscribeAll)
		if err != nil {
			t.Fatal(err)
		}
		// Answering starts the participant's ICE agent.
		if err := p.HandleOffer(offer.SDP); err != nil {
			t.Fatal(err)
		}
	}
	// Files other tests' connections still close or open meanwhile may
	// move the count by a few; a socket per participant moves it by n.
	if opened := fds() - before; opened >= n {
		t.Errorf("%d participants opened %d files (sockets) on the server, want none", n, opened)
	}
}
