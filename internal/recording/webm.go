package recording

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"

	"github.com/roomsd/roomsd/internal/blob"
)

// errNeedKeyframe: a video file can only start on a keyframe.
var errNeedKeyframe = errors.New("waiting for a keyframe")

// webmSink writes VP8 into WebM. Block times come from the RTP
// timestamps, so a pause (camera muted, frames lost) stays a pause when
// the file plays. Clusters have no size written up front: a file cut
// short by a crash plays up to its last block. A clean close adds the
// duration and a seek index (cues).
type webmSink struct {
	f      *fileWriter
	bw     webm.BlockWriteCloser
	lastMS int64 // time of the latest block
	frames int   // blocks written
	ext    int64 // 90 kHz ticks of the latest frame from the first
	prevTS uint32
}

func newWebMSink(f blob.Writer) *webmSink { return &webmSink{f: newFileWriter(f)} }

func (s *webmSink) write(fr frame) error {
	if s.bw == nil {
		if !fr.key {
			return errNeedKeyframe
		}
		w, h, ok := vp8Size(fr.data)
		if !ok {
			return errNeedKeyframe
		}
		ws, err := webm.NewSimpleBlockWriter(s.f, []webm.TrackEntry{{
			Name: "Video", TrackNumber: 1, TrackUID: 1, CodecID: "V_VP8", TrackType: 1,
			Video: &webm.Video{PixelWidth: uint64(w), PixelHeight: uint64(h)},
		}},
			// Each file its own segment info: the library's default is
			// one shared value, which it changes (the duration) for
			// every file written with cues.
			mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1000000, MuxingApp: "roomsd", WritingApp: "roomsd"}),
			mkvcore.WithSeekHead(true), mkvcore.WithCues(16<<10),
			// A new cluster at a keyframe at least 2 s after the last one
			// (a seek point), and at most 30 s apart.
			mkvcore.WithMinMaxClusterDuration(1, 2000, 30000),
			mkvcore.WithOnFatalHandler(s.f.fail))
		if err != nil {
			return err
		}
		s.bw, s.prevTS = ws[0], fr.ts
	}
	// Timestamps unwrap as they go (32 bits of 90 kHz last 13 hours).
	// Each block comes at least a millisecond after the one before
	// (players refuse two frames at one time): a layer switch can put
	// two pictures within a millisecond.
	s.ext += int64(int32(fr.ts - s.prevTS))
	s.prevTS = fr.ts
	ms := s.ext / 90
	if s.frames > 0 && ms <= s.lastMS {
		ms = s.lastMS + 1
	}
	s.lastMS = ms
	s.frames++
	if _, err := s.bw.Write(fr.key, ms, fr.data); err != nil {
		return err
	}
	return s.f.error()
}

func (s *webmSink) close(time.Time) error {
	if s.bw == nil {
		return s.f.Close()
	}
	// Close waits until the writer has finished the file (and closed it).
	err := s.bw.Close()
	return errors.Join(err, s.f.error())
}

func (s *webmSink) flush() error { return s.f.flush() }

// duration is the time from the first frame to the last, plus one frame.
func (s *webmSink) duration() time.Duration {
	if s.bw == nil {
		return 0
	}
	return time.Duration(s.lastMS)*time.Millisecond + time.Second/30
}

// vp8Size reads the picture size of a VP8 keyframe (RFC 6386 9.1).
func vp8Size(b []byte) (w, h int, ok bool) {
	if len(b) < 10 || b[0]&1 != 0 || b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a {
		return 0, 0, false
	}
	w = int(binary.LittleEndian.Uint16(b[6:8]) & 0x3fff)
	h = int(binary.LittleEndian.Uint16(b[8:10]) & 0x3fff)
	return w, h, w > 0 && h > 0
}
