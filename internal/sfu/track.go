package sfu

import (
	"errors"
	"io"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// track is one published track and its fan-out to subscribers.
type track struct {
	owner   *Participant
	remote  *webrtc.TrackRemote
	local   *webrtc.TrackLocalStaticRTP
	kind    webrtc.RTPCodecType
	lastPLI time.Time // guarded by plimu
	plimu   chanMutex
}

// chanMutex is a try-lock: keyframe requests that find it held are dropped.
type chanMutex chan struct{}

func newTrack(owner *Participant, remote *webrtc.TrackRemote) (*track, error) {
	// The stream id is the publisher's participant id, so a subscriber
	// can tell whose media a track carries.
	id := owner.id + "-" + remote.Kind().String() + "-" + remote.ID()
	local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, id, owner.id)
	if err != nil {
		return nil, err
	}
	return &track{owner: owner, remote: remote, local: local, kind: remote.Kind(), plimu: make(chanMutex, 1)}, nil
}

// forward copies the publisher's packets to every subscriber until the
// publisher stops sending. One buffer serves every packet; the local track
// writes each to all its bindings from a pool, so nothing is allocated per
// packet here. While the publisher is muted, audio is read and dropped.
func (t *track) forward() {
	buf := make([]byte, 1500)
	for {
		n, _, err := t.remote.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.owner.m.log.Debug("track read ended", "participant_id", t.owner.id, "err", err)
			}
			t.owner.unpublish(t)
			return
		}
		if t.kind == webrtc.RTPCodecTypeAudio && t.owner.muted.Load() {
			continue
		}
		if _, err := t.local.Write(buf[:n]); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			t.owner.m.log.Debug("forward", "participant_id", t.owner.id, "err", err)
		}
	}
}

// requestKeyframe asks the publisher for a keyframe, at most once per
// KeyframeInterval per track, however many subscribers ask.
func (t *track) requestKeyframe() {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	select {
	case t.plimu <- struct{}{}:
	default:
		return
	}
	defer func() { <-t.plimu }()
	now := time.Now()
	if now.Sub(t.lastPLI) < t.owner.m.cfg.KeyframeInterval {
		return
	}
	t.lastPLI = now
	if err := t.owner.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.remote.SSRC())}}); err != nil {
		t.owner.m.log.Debug("keyframe request", "participant_id", t.owner.id, "err", err)
	}
}
