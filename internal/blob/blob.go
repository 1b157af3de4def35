// Package blob keeps media files (recordings, compositions) by key, behind
// a small interface: a local directory today, any shared store (an
// S3-compatible bucket) next, so that a file written by one node can be
// read by a worker on another. Keys are made by roomsd from ids, never
// taken from a request.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// ErrNotFound reports that no blob has the key.
var ErrNotFound = errors.New("blob: not found")

// Store keeps blobs by key.
type Store interface {
	// Create starts a new blob under key, replacing any. What is written
	// is readable as it is written (a recording in progress survives a
	// crash up to its last write).
	Create(ctx context.Context, key string) (Writer, error)
	// Open returns a blob for reading.
	Open(ctx context.Context, key string) (Reader, error)
	// Stat returns a blob's size and last change.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes a blob; a missing blob is not an error.
	Delete(ctx context.Context, key string) error
	// Path is where a local process (ffmpeg) can read the blob; ok is
	// false for a store without local files.
	Path(key string) (path string, ok bool)
}

// Writer is a blob being written. WriteAt lets container writers fill in
// a header (duration, index) once the media is known.
type Writer interface {
	io.Writer
	io.WriterAt
	io.Seeker
	// Sync makes what was written durable.
	Sync() error
	io.Closer
}

// Reader is a stored blob.
type Reader interface {
	io.ReadSeekCloser
	Info() Info
}

// Info describes a blob.
type Info struct {
	Size    int64
	ModTime time.Time
}

// keyRE is what a key may be: slash-separated names of letters, digits,
// '-', '_' and '.', none starting with a dot. Nothing can climb out of the
// store's directory.
var keyRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$`)

// CheckKey refuses a key that is not a plain relative name.
func CheckKey(key string) error {
	if len(key) > 512 || !keyRE.MatchString(key) {
		return fmt.Errorf("blob: invalid key %q", key)
	}
	return nil
}

// Dir is a Store in a local directory.
type Dir struct {
	root string
}

// OpenDir uses dir (created if missing) as a store and checks that files
// can be written in it.
func OpenDir(dir string) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", abs, err)
	}
	probe, err := os.CreateTemp(abs, ".write-check-*")
	if err != nil {
		return nil, fmt.Errorf("data directory %s is not writable: %w", abs, err)
	}
	name := probe.Name()
	_, werr := probe.Write([]byte("ok"))
	cerr := probe.Close()
	os.Remove(name)
	if err := errors.Join(werr, cerr); err != nil {
		return nil, fmt.Errorf("data directory %s is not writable: %w", abs, err)
	}
	return &Dir{root: abs}, nil
}

// Root is the directory's absolute path.
func (d *Dir) Root() string { return d.root }

func (d *Dir) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Create implements Store.
func (d *Dir) Create(_ context.Context, key string) (Writer, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return nil, err
	}
	return os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
}

// Open implements Store.
func (d *Dir) Open(_ context.Context, key string) (Reader, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileReader{File: f, info: Info{Size: st.Size(), ModTime: st.ModTime()}}, nil
}

type fileReader struct {
	*os.File
	info Info
}

func (r *fileReader) Info() Info { return r.info }

// Stat implements Store.
func (d *Dir) Stat(_ context.Context, key string) (Info, error) {
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return Info{}, ErrNotFound
	}
	if err != nil {
		return Info{}, err
	}
	return Info{Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete implements Store.
func (d *Dir) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Path implements Store.
func (d *Dir) Path(key string) (string, bool) {
	p, err := d.path(key)
	return p, err == nil
}
