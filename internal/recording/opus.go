package recording

import (
	"errors"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/roomsd/roomsd/internal/blob"
)

// opusRate is Opus's clock: RTP timestamps and Ogg granules count 48 kHz
// samples whatever the audio's real bandwidth.
const opusRate = 48000

// silenceFrame is one 20 ms Opus frame (CELT, fullband, mono) that
// decodes to silence; gaps are filled with it.
var silenceFrame = []byte{0xf8, 0xff, 0xfe}

const silenceSamples = opusRate / 50

// maxFill bounds the silence written for one gap or at the end (an hour),
// whatever a broken timestamp says.
const maxFill = time.Hour

// oggSink writes Opus into Ogg. The Ogg granule counts the samples
// written, so every gap in the stream (lost packets, mute, a publisher
// that stopped sending) is filled with silence: the file plays at real
// speed and lasts as long as the track was recorded.
type oggSink struct {
	f       *fileWriter
	w       *oggwriter.OggWriter
	begun   bool
	first   time.Time // arrival of the first packet
	last    time.Time // arrival of the latest packet
	nextTS  uint32    // the RTP timestamp the next packet should carry
	samples int64     // written, in 48 kHz samples
	pkt     rtp.Packet
}

func newOggSink(f blob.Writer) (*oggSink, error) {
	fw := newFileWriter(f)
	w, err := oggwriter.NewWith(fw, opusRate, 2)
	if err != nil {
		return nil, err
	}
	return &oggSink{f: fw, w: w}, nil
}

func (s *oggSink) flush() error { return s.f.flush() }

func (s *oggSink) write(fr frame) error {
	if !s.begun {
		s.begun, s.first, s.nextTS = true, fr.arrived, fr.ts
	}
	n := opusSamples(fr.data)
	if n == 0 {
		return nil // not an Opus packet: nothing a player could use
	}
	gap := int64(int32(fr.ts - s.nextTS))
	if gap < -int64(n) {
		return nil // older than what was written: a late copy
	}
	if gap >= silenceSamples/2 {
		// Never more silence than the time that passed since the last
		// packet arrived (and a second): a jump in the publisher's
		// timestamps must not stretch the file.
		wall := int64(fr.arrived.Sub(s.last).Seconds()*opusRate) + opusRate
		if err := s.fill(min(gap, wall)); err != nil {
			return err
		}
	}
	if fr.arrived.After(s.last) {
		s.last = fr.arrived
	}
	s.nextTS = fr.ts + uint32(n)
	s.samples += int64(n)
	return s.put(fr.data)
}

func (s *oggSink) put(payload []byte) error {
	s.pkt.Payload = payload
	return s.w.WriteRTP(&s.pkt)
}

// fill writes silence for about n samples, in whole 20 ms frames.
func (s *oggSink) fill(n int64) error {
	n = min(n, int64(maxFill.Seconds()*opusRate))
	for ; n >= silenceSamples/2; n -= silenceSamples {
		if err := s.put(silenceFrame); err != nil {
			return err
		}
		s.samples += silenceSamples
	}
	return nil
}

// close fills the time from the last packet to end (the track ended while
// muted, say) with silence and closes the file.
func (s *oggSink) close(end time.Time) error {
	var err error
	if s.begun {
		if missing := end.Sub(s.first) - s.duration(); missing > 200*time.Millisecond {
			err = s.fill(int64(missing.Seconds() * opusRate))
		}
	}
	// The Ogg writer closes the file (it is an io.Closer) with it.
	return errors.Join(err, s.w.Close())
}

func (s *oggSink) duration() time.Duration {
	return time.Duration(s.samples) * time.Second / opusRate
}

// opusSamples is how many 48 kHz samples an Opus packet holds (RFC 6716
// section 3.1), 0 if it is not a valid packet.
func opusSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	cfg := toc >> 3
	var per int // samples per frame at 48 kHz
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		per = []int{480, 960, 1920, 2880}[cfg%4]
	case cfg < 16: // hybrid: 10, 20 ms
		per = []int{480, 960}[cfg%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		per = []int{120, 240, 480, 960}[cfg%4]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0
		}
		frames = int(p[1] & 0x3f)
	}
	if n := per * frames; n > 0 && n <= 5760 { // at most 120 ms
		return n
	}
	return 0
}
