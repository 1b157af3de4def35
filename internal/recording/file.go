package recording

import (
	"bufio"
	"errors"
	"sync"

	"github.com/roomsd/roomsd/internal/blob"
)

// fileWriter is the file a container writer writes into: buffered (a
// recorded frame is several small writes; the recorder flushes a few
// times a second, so a crash loses at most that much), and never
// failing. The first write error is kept, and what follows is dropped,
// for the recorder to see (flush, error): ebml-go's writer stops at an
// error and would then block whoever writes the next frame.
type fileWriter struct {
	mu  sync.Mutex // the container library writes from a goroutine of its own
	f   blob.Writer
	buf *bufio.Writer
	err error
}

func newFileWriter(f blob.Writer) *fileWriter {
	return &fileWriter{f: f, buf: bufio.NewWriterSize(f, 64<<10)}
}

func (w *fileWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failLocked(err)
}

func (w *fileWriter) failLocked(err error) {
	if w.err == nil {
		w.err = err
	}
}

// error is the first write error, if any.
func (w *fileWriter) error() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *fileWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		if _, err := w.buf.Write(p); err != nil {
			w.failLocked(err)
		}
	}
	return len(p), nil
}

// WriteAt writes what is buffered, then p at off (a header filled in on
// close).
func (w *fileWriter) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		if err := w.buf.Flush(); err != nil {
			w.failLocked(err)
		} else if _, err := w.f.WriteAt(p, off); err != nil {
			w.failLocked(err)
		}
	}
	return len(p), nil
}

// flush hands what is buffered to the file, and says whether writing has
// failed.
func (w *fileWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		if err := w.buf.Flush(); err != nil {
			w.failLocked(err)
		}
	}
	return w.err
}

// Close flushes and closes the file; it returns the first write error.
func (w *fileWriter) Close() error {
	err := w.flush()
	return errors.Join(err, w.f.Close())
}
