package sqlite_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/roomsd/roomsd/internal/store/sqlite"
)

// The store keeps the wal-index file open as long as SQLite's connections
// are open, whether or not it maps it: closing a descriptor of the file
// would drop SQLite's POSIX locks on it, and another process could then
// reset the wal-index while this one uses it.
func TestStoreKeepsWALIndexLocks(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    []sqlite.Option
		mapping bool
	}{
		{"mapped", nil, true},
		{"mapping failed", []sqlite.Option{sqlite.FailWALIndexMapping()}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "roomsd.db")
			st := openStore(t, path, c.opts...)
			if st.ListCacheReadsWALIndex() != c.mapping {
				t.Fatalf("wal-index mapped: %v, want %v", st.ListCacheReadsWALIndex(), c.mapping)
			}
			listTotal(t, st)
			if n := locksHeld(t, path+"-shm"); n == 0 {
				t.Errorf("this process holds no lock on the wal-index while its store is open")
			}
		})
	}
}

// locksHeld counts this process's POSIX locks on file, from /proc/locks.
func locksHeld(t *testing.T, file string) int {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(locks), "\n") {
		// 1: POSIX  ADVISORY  READ 1234 fd:01:5678 128 128
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != "POSIX" || f[4] != strconv.Itoa(os.Getpid()) {
			continue
		}
		dev := strings.Split(f[5], ":")
		if dev[len(dev)-1] == strconv.FormatUint(ino, 10) {
			n++
		}
	}
	return n
}
