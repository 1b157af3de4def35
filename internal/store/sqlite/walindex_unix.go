//go:build unix

package sqlite

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
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
// same question in nanoseconds, with no statement and no SQLite lock.
// The layout is SQLite's documented, cross-process and cross-version
// WAL-index format (https://sqlite.org/walformat.html): two copies of a
// 48-byte header at offsets 0 and 48. A writer updates the second copy,
// then the first; a reader that reads the first, then the second, and
// finds them equal holds a consistent header.
type walIndex struct {
	mem []byte
}

// walIndexFormat is the wal-index format number SQLite writes in the
// first word of the header.
const walIndexFormat = 3007000

// openSHM opens the wal-index file of the database file dbFile.
//
// The file must stay open until every SQLite connection of this process
// to the database has closed. SQLite locks the wal-index with POSIX
// record locks, and closing any descriptor of a file releases all of the
// process's POSIX locks on that file, SQLite's included: another process
// could then take the wal-index for unused and reset it under us.
func openSHM(dbFile string) (*os.File, error) {
	return os.Open(dbFile + "-shm")
}

// mapWALIndex maps the header of the wal-index open as f. It does not
// close f.
func mapWALIndex(f *os.File) (*walIndex, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	const size = 2 * walHeaderWords * 4
	if fi.Size() < size {
		return nil, fmt.Errorf("%s: %d bytes, too short for a wal-index", f.Name(), fi.Size())
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", f.Name(), err)
	}
	w := &walIndex{mem: mem}
	// A commit in another process may be rewriting the header right now;
	// that takes nanoseconds.
	for range 1000 {
		if _, ok := w.version(); ok {
			return w, nil
		}
		runtime.Gosched()
	}
	w.unmap()
	return nil, fmt.Errorf("%s: no initialised wal-index header in SQLite's format %d", f.Name(), walIndexFormat)
}

// version returns the current header, or false while a writer is midway
// through rewriting it (or if it is not an initialised header at all).
func (w *walIndex) version() (dbVersion, bool) {
	var first, second dbVersion
	words := unsafe.Slice((*uint32)(unsafe.Pointer(&w.mem[0])), 2*walHeaderWords)
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

func (w *walIndex) unmap() error {
	return syscall.Munmap(w.mem)
}
