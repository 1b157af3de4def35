//go:build unix

package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// walIndex reads the header of SQLite's wal-index (the database's -shm
// file), which every connection, in this process or another, rewrites
// when it commits: the rewrite is what makes the commit visible to
// readers. SQLite itself compares this header to tell whether the
// database changed since a connection last read it (PRAGMA data_version
// reports what it finds); reading it from a read-only mapping answers the
// same question in nanoseconds, with no statement and no SQLite lock. The layout is SQLite's documented, cross-process
// and cross-version WAL-index format (https://sqlite.org/walformat.html):
// two copies of a 48-byte header at offsets 0 and 48. A writer updates
// the second copy, then the first; a reader that reads the first, then
// the second, and finds them equal holds a consistent header.
type walIndex struct {
	f   *os.File
	mem []byte
}

// walIndexFormat is the wal-index format number SQLite writes in the
// first word of the header.
const walIndexFormat = 3007000

func openWALIndex(dbPath string) (*walIndex, error) {
	f, err := os.Open(dbPath + "-shm")
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	const size = 2 * walHeaderWords * 4
	if fi.Size() < size {
		f.Close()
		return nil, fmt.Errorf("%s: %d bytes, too short for a wal-index", f.Name(), fi.Size())
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("map %s: %w", f.Name(), err)
	}
	w := &walIndex{f: f, mem: mem}
	if _, ok := w.version(); !ok {
		w.close()
		return nil, fmt.Errorf("%s: no initialised wal-index header in SQLite's format %d", f.Name(), walIndexFormat)
	}
	return w, nil
}

// version returns the current header, or false while a writer is midway
// through rewriting it (or if it is not an initialised header at all).
func (w *walIndex) version() (dbVersion, bool) {
	var first, second dbVersion
	words := (*[2 * walHeaderWords]uint32)(unsafe.Pointer(&w.mem[0]))
	for i := range walHeaderWords {
		first[i] = atomic.LoadUint32(&words[i])
	}
	for i := range walHeaderWords {
		second[i] = atomic.LoadUint32(&words[walHeaderWords+i])
	}
	// Word 0 is the format version; byte 12, the first in memory of word
	// 3, is isInit.
	var w3 [4]byte
	binary.NativeEndian.PutUint32(w3[:], first[3])
	if first != second || first[0] != walIndexFormat || w3[0] == 0 {
		return dbVersion{}, false
	}
	return first, true
}

func (w *walIndex) close() error {
	err := syscall.Munmap(w.mem)
	return errors.Join(err, w.f.Close())
}
