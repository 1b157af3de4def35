package sfu

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// offerHarness is one participant whose signaling the test plays, with a
// pion PeerConnection answering the server's offers as a browser would.
// The client never connects its media: it is about SDP only.
type offerHarness struct {
	t      *testing.T
	p      *Participant
	client *webrtc.PeerConnection
	sdps   chan webrtc.SessionDescription
	events chan Event // the participant's events other than offers and answers
}

func newOfferHarness(t *testing.T) *offerHarness {
	return newOfferHarnessWith(t, SubscribeAll)
}

func newOfferHarnessWith(t *testing.T, policy Subscriptions) *offerHarness {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	m, err := NewManager(Config{UDP: udp, Loopback: true, ConnectTimeout: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close("test") })
	h := &offerHarness{t: t, sdps: make(chan webrtc.SessionDescription, 4), events: make(chan Event, 64)}
	h.p, err = m.Join("room", "s", "stayer", "", func(ev Event) {
		switch ev.Type {
		case EventOffer, EventAnswer:
			h.sdps <- *ev.SDP
		case EventCandidate:
		default:
			h.events <- ev
		}
	}, policy)
	if err != nil {
		t.Fatal(err)
	}
	if h.client, err = webrtc.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.client.Close() })
	if _, err := h.client.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		t.Fatal(err)
	}
	offer, err := h.client.CreateOffer(nil)
	if err == nil {
		err = h.client.SetLocalDescription(offer)
	}
	if err == nil {
		err = h.p.HandleOffer(offer.SDP)
	}
	if err == nil {
		err = h.client.SetRemoteDescription(h.next())
	}
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *offerHarness) next() webrtc.SessionDescription {
	h.t.Helper()
	select {
	case d := <-h.sdps:
		return d
	case <-time.After(time.Minute): // a hang fails the test, not the suite
		h.t.Fatal("no SDP from the server")
		return webrtc.SessionDescription{}
	}
}

// renegotiate has the server offer and answers it; it returns the offer.
func (h *offerHarness) renegotiate() string {
	h.t.Helper()
	h.p.conn.negotiate()
	return h.answer()
}

// answer answers the server's next offer and returns it.
func (h *offerHarness) answer() string {
	h.t.Helper()
	o := h.next()
	err := h.client.SetRemoteDescription(o)
	var a webrtc.SessionDescription
	if err == nil {
		a, err = h.client.CreateAnswer(nil)
	}
	if err == nil {
		err = h.client.SetLocalDescription(a)
	}
	if err == nil {
		err = h.p.HandleAnswer(a.SDP)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return o.SDP
}

// fakeTrack is a published track of someone else, without media.
func fakeTrack(t *testing.T, ownerID string, kind webrtc.RTPCodecType) *track {
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	if kind == webrtc.RTPCodecTypeVideo {
		codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	}
	tr := &track{owner: &Participant{id: ownerID}, id: ownerID + "-" + kind.String(), kind: kind, codec: codec,
		done: make(chan struct{}), askKeyframe: func(uint32) {}}
	tr.downs.Store(&[]*downTrack{})
	return tr
}

// Server offers list only the codecs the SFU forwards (Opus; VP8 and
// baseline H.264 with RTX), so every m-line stays small.
func TestOffersListOnlyForwardedCodecs(t *testing.T) {
	h := newOfferHarness(t)
	audio, video := fakeTrack(t, "visitor", webrtc.RTPCodecTypeAudio), fakeTrack(t, "visitor", webrtc.RTPCodecTypeVideo)
	h.p.conn.subscribe(audio)
	h.p.conn.subscribe(video)
	with := h.renegotiate()
	for _, want := range []string{"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "m=video 9 UDP/TLS/RTP/SAVPF 96 97 106 107 102 103\r\n"} {
		if !strings.Contains(with, want) {
			t.Errorf("the offer has no line %q:\n%s", strings.TrimSpace(want), with)
		}
	}
	for _, gone := range []string{"VP9", "AV1", "H265", "PCMU", "PCMA", "G722", "profile-level-id=4d", "profile-level-id=64", "packetization-mode=0"} {
		if strings.Contains(with, gone) {
			t.Errorf("the offer lists %s", gone)
		}
	}
}

// A participant who stays while others come and go keeps an offer of the
// same size: a departed track's m-line stays, without a stream, and
// carries the next arrival's track of its kind on a new sender. Before,
// each departure left an inactive m-line in every later offer, and after
// some 60 visitors a long-staying participant's offer no longer fit in a
// 256 KiB signaling frame.
func TestSubscriberSDPStaysSteadyThroughChurn(t *testing.T) {
	const visitors = 500
	h := newOfferHarness(t)
	var first, largest int
	for i := range visitors {
		id := fmt.Sprintf("visitor-%03d", i)
		audio, video := fakeTrack(t, id, webrtc.RTPCodecTypeAudio), fakeTrack(t, id, webrtc.RTPCodecTypeVideo)
		h.p.conn.subscribe(audio)
		h.p.conn.subscribe(video)
		with := h.renegotiate()
		if n := strings.Count(with, "a=msid:"+id+" "); n != 2 {
			t.Fatalf("visitor %d: the offer carries %d of the visitor's tracks, want 2", i, n)
		}
		if n := strings.Count(with, "\nm="); n != 3 {
			t.Fatalf("visitor %d: %d m-lines in the offer, want 3 (the client's and the visitor's two)", i, n)
		}
		h.p.conn.unsubscribe(audio)
		h.p.conn.unsubscribe(video)
		without := h.renegotiate()
		if strings.Contains(without, id) {
			t.Fatalf("visitor %d: the offer still names the departed visitor", i)
		}
		if strings.Count(without, "a=ssrc:") != 0 || strings.Count(without, "\nm=") != 3 {
			t.Fatalf("visitor %d: after the departure the offer should keep 3 m-lines and send no stream:\n%s", i, without)
		}
		if i == 0 {
			first = sdpSize(with)
		}
		largest = max(largest, sdpSize(with))
	}
	t.Logf("offer size with a visitor, ICE candidates aside: %d bytes for the first, at most %d over %d visitors", first, largest, visitors)
	// SSRCs vary by a few digits; the offer may not grow.
	if largest > first+32 {
		t.Errorf("the offer grew from %d to %d bytes over %d visitors", first, largest, visitors)
	}
}

// sdpSize is the length of an SDP without its ICE candidate lines, which
// the server adds as it gathers them, whatever else the offer holds.
func sdpSize(sdp string) int {
	n := 0
	for _, line := range strings.SplitAfter(sdp, "\n") {
		if !strings.HasPrefix(line, "a=candidate:") && !strings.HasPrefix(line, "a=end-of-candidates") {
			n += len(line)
		}
	}
	return n
}
