package client

import (
	"bytes"
	_ "embed"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// The synthetic media a client publishes: a 440 Hz tone (Opus, 20 ms
// pages) and a moving test pattern (VP8, 320x240 at 15 fps, whose only
// keyframe is its first frame, so a keyframe reaches a late subscriber
// only when a keyframe request is relayed). Both loop.
var (
	//go:embed media/tone.ogg
	toneOgg []byte
	//go:embed media/pattern.ivf
	patternIVF []byte
	// Camera-like clips: 2 s of a moving test card with noise at 30 fps,
	// VP8 at a constant bitrate, one keyframe each (its first frame).
	//go:embed media/low.ivf
	lowIVF []byte
	//go:embed media/mid.ivf
	midIVF []byte
	//go:embed media/high.ivf
	highIVF []byte
)

// VideoClip names the video a client publishes.
type VideoClip int

// The clips: see Options.VideoClip.
const (
	VideoPattern VideoClip = iota
	VideoLow
	VideoMedium
	VideoHigh
)

type clip struct {
	ivf   []byte
	frame time.Duration
}

func (v VideoClip) clip() clip {
	switch v {
	case VideoLow:
		return clip{lowIVF, time.Second / 30}
	case VideoMedium:
		return clip{midIVF, time.Second / 30}
	case VideoHigh:
		return clip{highIVF, time.Second / 30}
	}
	return clip{patternIVF, time.Second / 15}
}

// sendAudio writes the tone until stop is closed.
func sendAudio(track sampleWriter, sent *atomic.Int64, stop <-chan struct{}) error {
	const page = 20 * time.Millisecond
	tick := time.NewTicker(page)
	defer tick.Stop()
	for {
		ogg, _, err := oggreader.NewWith(bytes.NewReader(toneOgg))
		if err != nil {
			return err
		}
		for {
			data, _, err := ogg.ParseNextPage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			select {
			case <-stop:
				return nil
			case <-tick.C:
			}
			if err := track.WriteSample(media.Sample{Data: data, Duration: page}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return err
			}
			sent.Add(1) // one Opus page is one RTP packet
		}
	}
}

// sampleWriter takes media one frame at a time.
type sampleWriter interface{ WriteSample(media.Sample) error }

// sendVideo writes a clip until stop is closed; when keyframe is set (a
// keyframe was asked for) it starts over from the first frame.
func sendVideo(track sampleWriter, c clip, keyframe *atomic.Bool, stop <-chan struct{}) error {
	frame := c.frame
	tick := time.NewTicker(frame)
	defer tick.Stop()
	for {
		ivf, _, err := ivfreader.NewWith(bytes.NewReader(c.ivf))
		if err != nil {
			return err
		}
		keyframe.Store(false)
		for {
			data, _, err := ivf.ParseNextFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			select {
			case <-stop:
				return nil
			case <-tick.C:
			}
			if err := track.WriteSample(media.Sample{Data: data, Duration: frame}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return err
			}
			if keyframe.Load() {
				break
			}
		}
	}
}

// sendH264 writes a synthetic H.264 stream at 30 frames/s until stop is
// closed: a keyframe (SPS, PPS, an IDR slice) every 60 frames or when one
// is asked for, non-IDR slices between. The slices' bodies are filler; a
// decoder would refuse them, the SFU need not decode them.
func sendH264(track sampleWriter, keyframe *atomic.Bool, stop <-chan struct{}) error {
	const frame = time.Second / 30
	start := []byte{0, 0, 0, 1}
	sps := []byte{0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80, 0xf6, 0x80, 0x6d, 0x0a, 0x13, 0x50}
	pps := []byte{0x68, 0xce, 0x06, 0xe2}
	key := bytes.Join([][]byte{nil, sps, pps, append([]byte{0x65}, bytes.Repeat([]byte{0x88}, 4000)...)}, start)
	delta := append(append([]byte(nil), start...), append([]byte{0x41}, bytes.Repeat([]byte{0x9a}, 800)...)...)
	tick := time.NewTicker(frame)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		data := delta
		if n%60 == 0 || keyframe.Swap(false) {
			data = key
		}
		if err := track.WriteSample(media.Sample{Data: data, Duration: frame}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return err
		}
	}
}
