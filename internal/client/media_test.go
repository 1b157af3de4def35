package client

import (
	"errors"
	"io"
	"testing"

	"github.com/pion/webrtc/v4/pkg/media"
)

type failingWriter struct{ errs []error }

func (w *failingWriter) WriteSample(media.Sample) error {
	err := w.errs[0]
	w.errs = w.errs[1:]
	return err
}

// A sender goes on through a failed frame, which is counted with the
// first error; a closed track still ends it.
func TestLenientSenderGoesOn(t *testing.T) {
	c := &Client{}
	first := errors.New("sendto: no buffer space available")
	w := lenient{&failingWriter{errs: []error{first, nil, errors.New("again"), io.ErrClosedPipe}}, c}
	for i, want := range []error{nil, nil, nil, io.ErrClosedPipe} {
		if err := w.WriteSample(media.Sample{}); !errors.Is(err, want) && err != want {
			t.Fatalf("frame %d: %v, want %v", i, err, want)
		}
	}
	if n, err := c.SendErrors(); n != 2 || err != first {
		t.Errorf("SendErrors = %d, %v; want 2 and the first error", n, err)
	}
}
