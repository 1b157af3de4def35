package client

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// encoding is one simulcast encoding of the client's video. pion sends
// the encodings of a sender on their own SSRCs but does not stamp them
// with the mid and rid header extensions that tell the receiver which
// encoding a packet belongs to (a browser does), so the client packetizes
// its samples itself and adds both.
type encoding struct {
	track      *webrtc.TrackLocalStaticRTP
	rid        string
	packetizer rtp.Packetizer
	clockRate  uint32

	mu          sync.Mutex
	transceiver *webrtc.RTPTransceiver
	midID       uint8 // 0 until negotiated
	ridID       uint8
}

func newEncoding(codec webrtc.RTPCodecCapability, id, stream, rid string) (*encoding, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(codec, id, stream, webrtc.WithRTPStreamID(rid))
	if err != nil {
		return nil, err
	}
	// Payload type and SSRC are rewritten by the track for the binding.
	p := rtp.NewPacketizer(1200, 0, 0, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), codec.ClockRate)
	return &encoding{track: t, rid: rid, packetizer: p, clockRate: codec.ClockRate}, nil
}

// extensionIDs looks up the negotiated ids of the mid and rid extensions.
func (e *encoding) extensionIDs() (mid string, midID, ridID uint8) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.transceiver == nil {
		return "", 0, 0
	}
	if e.midID == 0 {
		e.midID = extensionID(e.transceiver, sdp.SDESMidURI)
		e.ridID = extensionID(e.transceiver, sdp.SDESRTPStreamIDURI)
	}
	return e.transceiver.Mid(), e.midID, e.ridID
}

// WriteSample packetizes one frame and sends it, once negotiated.
func (e *encoding) WriteSample(s media.Sample) error {
	mid, midID, ridID := e.extensionIDs()
	samples := uint32(s.Duration.Seconds() * float64(e.clockRate))
	pkts := e.packetizer.Packetize(s.Data, samples)
	if mid == "" || midID == 0 || ridID == 0 {
		return nil // not negotiated yet: the frame is dropped, as a camera's would be
	}
	for _, p := range pkts {
		if err := p.Header.SetExtension(midID, []byte(mid)); err != nil {
			return err
		}
		if err := p.Header.SetExtension(ridID, []byte(e.rid)); err != nil {
			return err
		}
		if err := e.track.WriteRTP(p); err != nil {
			return err
		}
	}
	return nil
}

// audioTrack is the client's Opus track. Like a browser it says how loud
// each packet is (the RFC 6464 audio-level extension): 20 dBov while
// speaking, 127 (silence) when silent is set.
type audioTrack struct {
	track      *webrtc.TrackLocalStaticRTP
	packetizer rtp.Packetizer
	silent     *atomic.Bool

	mu          sync.Mutex
	transceiver *webrtc.RTPTransceiver
	levelID     uint8
}

func newAudioTrack(id, stream string, silent *atomic.Bool) (*audioTrack, error) {
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	t, err := webrtc.NewTrackLocalStaticRTP(codec, id, stream)
	if err != nil {
		return nil, err
	}
	p := rtp.NewPacketizer(1200, 0, 0, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), codec.ClockRate)
	return &audioTrack{track: t, packetizer: p, silent: silent}, nil
}

// WriteSample packetizes one Opus frame and sends it with its level.
func (a *audioTrack) WriteSample(s media.Sample) error {
	a.mu.Lock()
	if a.levelID == 0 && a.transceiver != nil {
		a.levelID = extensionID(a.transceiver, sdp.AudioLevelURI)
	}
	id := a.levelID
	a.mu.Unlock()
	level := byte(20)
	if a.silent.Load() {
		level = 127
	}
	for _, p := range a.packetizer.Packetize(s.Data, uint32(s.Duration.Seconds()*48000)) {
		if id != 0 {
			if err := p.Header.SetExtension(id, []byte{level}); err != nil {
				return err
			}
		}
		if err := a.track.WriteRTP(p); err != nil {
			return err
		}
	}
	return nil
}

// extensionID is the id a transceiver's sender negotiated for a header
// extension, or 0.
func extensionID(tr *webrtc.RTPTransceiver, uri string) uint8 {
	for _, x := range tr.Sender().GetParameters().HeaderExtensions {
		if x.URI == uri {
			return uint8(x.ID)
		}
	}
	return 0
}
