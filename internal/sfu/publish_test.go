package sfu

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// A track published by a real pion peer is announced through OnPublish,
// and a tap opened on it then receives the publisher's video from a
// keyframe on: what a recorder does.
func TestPublishedTrackCanBeTapped(t *testing.T) {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	published := make(chan PublishedTrack, 4)
	m, err := NewManager(Config{UDP: udp, Loopback: true, OnPublish: func(pt PublishedTrack) { published <- pt }},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close("test") })

	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	cli, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	answers := make(chan string, 1)
	p, err := m.Join("room", "session", "pub", "", func(ev Event) {
		switch ev.Type {
		case EventAnswer:
			answers <- ev.SDP.SDP
		case EventCandidate:
			_ = cli.AddICECandidate(*ev.Candidate)
		}
	}, SubscribeAll)
	if err != nil {
		t.Fatal(err)
	}
	cli.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			_ = p.AddCandidate(c.ToJSON())
		}
	})
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AddTrack(video); err != nil {
		t.Fatal(err)
	}
	offer, err := cli.CreateOffer(nil)
	if err == nil {
		err = cli.SetLocalDescription(offer)
	}
	if err == nil {
		err = p.HandleOffer(offer.SDP)
	}
	if err == nil {
		err = cli.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: <-answers})
	}
	if err != nil {
		t.Fatal(err)
	}
	// 640x480 keyframes every 10 frames, delta frames between.
	key := append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, make([]byte, 2000)...)
	delta := append([]byte{0x31, 0x02, 0x00}, make([]byte, 300)...)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			frame := delta
			if i%10 == 0 {
				frame = key
			}
			_ = video.WriteSample(media.Sample{Data: frame, Duration: 33 * time.Millisecond})
		}
	}()

	var pt PublishedTrack
	select {
	case pt = <-published:
	case <-time.After(time.Minute): // a hang fails the test, not the suite
		t.Fatal("no track was announced")
	}
	if pt.RoomID != "room" || pt.SessionID != "session" || pt.ParticipantID != "pub" || pt.Kind != webrtc.RTPCodecTypeVideo ||
		pt.Codec.MimeType != webrtc.MimeTypeVP8 {
		t.Fatalf("announced %+v", pt)
	}
	tp, err := m.Tap(pt.RoomID, pt.TrackID, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	var got []TapPacket
	deadline := time.After(time.Minute)
	for len(got) < 20 {
		select {
		case pkt := <-tp.Packets():
			got = append(got, pkt)
		case <-deadline:
			t.Fatalf("the tap received %d packets", len(got))
		}
	}
	if !bytes.Contains(got[0].Payload, []byte{0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}) {
		t.Errorf("the tap's first packet is not the start of a keyframe: % x", got[0].Payload[:12])
	}
	for i := 1; i < len(got); i++ {
		if got[i].SequenceNumber != got[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, got[i].SequenceNumber, got[i-1].SequenceNumber)
		}
	}
	for i := range got {
		got[i].Release()
	}
}
