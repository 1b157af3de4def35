package recording

import (
	"time"

	"github.com/roomsd/roomsd/internal/blob"
)

// annexBSink writes H.264 as an Annex-B elementary stream (what
// `ffmpeg -f h264` reads), starting at an IDR picture. The stream has no
// timestamps of its own; the recording's duration is kept in its row.
type annexBSink struct {
	f      *fileWriter
	begun  bool
	lastTS uint32
	ext    int64
}

func newAnnexBSink(f blob.Writer) *annexBSink { return &annexBSink{f: newFileWriter(f)} }

func (s *annexBSink) flush() error { return s.f.flush() }

func (s *annexBSink) write(fr frame) error {
	if !s.begun {
		if !fr.key {
			return errNeedKeyframe
		}
		s.begun, s.lastTS = true, fr.ts
	}
	if d := int64(int32(fr.ts - s.lastTS)); d > 0 {
		s.ext += d
		s.lastTS = fr.ts
	}
	_, _ = s.f.Write(fr.data)
	return s.f.error()
}

func (s *annexBSink) close(time.Time) error { return s.f.Close() }

func (s *annexBSink) duration() time.Duration {
	if !s.begun {
		return 0
	}
	return time.Duration(s.ext)*time.Second/90000 + time.Second/30
}

// annexBKeyframe reports whether an Annex-B access unit is one a stream
// can start on: an IDR slice (NAL type 5) with the sequence parameter set
// (type 7) before it. A recording that begins while a keyframe is in
// flight can receive its IDR slice without the parameter sets sent just
// before it; that is no start for a decoder.
func annexBKeyframe(b []byte) bool {
	zeros, sps := 0, false
	for i, c := range b {
		switch {
		case c == 0:
			zeros++
			continue
		case c == 1 && zeros >= 2 && i+1 < len(b):
			switch b[i+1] & 0x1f {
			case 7:
				sps = true
			case 5:
				if sps {
					return true
				}
			}
		}
		zeros = 0
	}
	return false
}
