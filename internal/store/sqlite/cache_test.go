package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/sqlite"
)

// The two ways the room-list cache learns of commits: from the mapped
// wal-index header (the default on unix systems), and by asking PRAGMA
// data_version (elsewhere, or when the mapping fails).
var cacheModes = []struct {
	name string
	opts []sqlite.Option
}{
	{"wal-index", nil},
	{"data_version", []sqlite.Option{sqlite.WithoutWALIndex()}},
}

// forEachCacheMode runs fn as a subtest for each cache mode, with a
// cached store on a new database file at path.
func forEachCacheMode(t *testing.T, fn func(t *testing.T, st *sqlite.Store, path string)) {
	for _, mode := range cacheModes {
		t.Run(mode.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "roomsd.db")
			fn(t, openCached(t, path, mode.opts), path)
		})
	}
}

func openCached(t *testing.T, path string, opts []sqlite.Option) *sqlite.Store {
	t.Helper()
	st := openStore(t, path, opts...)
	if want := len(opts) == 0; st.ListCacheReadsWALIndex() != want {
		t.Fatalf("list cache reads the wal-index: %v, want %v", st.ListCacheReadsWALIndex(), want)
	}
	return st
}

var roomTime = time.Unix(1700000000, 0).UTC()

func room(i int) domain.Room {
	return domain.Room{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), MaxParticipants: 10, CreatedAt: roomTime, UpdatedAt: roomTime}
}

// writerEnv names a database that a child process of this test binary
// writes to (see TestMain), standing in for another program using
// roomsd's file: for each number it reads on stdin it inserts that room,
// then answers "ok".
const writerEnv = "ROOMSD_SQLITE_TEST_WRITER"

type childWriter struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChildWriter(t *testing.T, path string) *childWriter {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), writerEnv+"="+path)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	return &childWriter{in: in, out: bufio.NewScanner(out)}
}

func (c *childWriter) insert(t *testing.T, i int) {
	t.Helper()
	fmt.Fprintln(c.in, i)
	if !c.out.Scan() || c.out.Text() != "ok" {
		t.Fatalf("child process: insert %d: %q %v", i, c.out.Text(), c.out.Err())
	}
}

// childWriterMain runs in the child process.
func childWriterMain(path string) int {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.WithoutListCache())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer st.Close()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		i, err := strconv.Atoi(in.Text())
		if err == nil {
			err = st.InsertRoom(ctx, room(i))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ok")
	}
	return 0
}

func listTotal(t *testing.T, st *sqlite.Store) int {
	t.Helper()
	rooms, total, err := st.ListRooms(context.Background(), store.RoomFilter{}, store.Page{Number: 1, Size: 10})
	if err != nil || len(rooms) != min(total, 10) {
		t.Fatalf("ListRooms: %d rooms, total %d, %v", len(rooms), total, err)
	}
	return total
}

// A commit by another process is seen by the very next list, every time.
func TestListCacheSeesCommitsOfAnotherProcess(t *testing.T) {
	forEachCacheMode(t, func(t *testing.T, st *sqlite.Store, path string) {
		child := startChildWriter(t, path)
		for i := 1; i <= 20; i++ {
			listTotal(t, st)
			listTotal(t, st) // served from the cache
			child.insert(t, i)
			if n := listTotal(t, st); n != i {
				t.Fatalf("after the child's insert %d the list shows %d rooms", i, n)
			}
		}
	})
}

// While another store commits room after room, a list that starts after a
// commit returned never shows fewer rooms than that commit left.
func TestListCacheUnderConcurrentCommits(t *testing.T) {
	forEachCacheMode(t, func(t *testing.T, st *sqlite.Store, path string) {
		ctx := context.Background()
		writer := openStore(t, path, sqlite.WithoutListCache())
		const n = 300
		var committed atomic.Int64
		var wg sync.WaitGroup
		var stale, lists atomic.Int64
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for committed.Load() < n {
					before := committed.Load()
					_, total, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: 1, Size: 10})
					if err != nil {
						t.Error(err)
						return
					}
					lists.Add(1)
					if int64(total) < before {
						stale.Add(1)
					}
				}
			}()
		}
		for i := 1; i <= n; i++ {
			if err := writer.InsertRoom(ctx, room(i)); err != nil {
				t.Fatal(err)
			}
			committed.Store(int64(i))
		}
		wg.Wait()
		if stale.Load() > 0 {
			t.Errorf("%d of %d lists showed fewer rooms than had been committed before they began", stale.Load(), lists.Load())
		}
		if got := listTotal(t, st); got != n {
			t.Errorf("final list: %d rooms, want %d", got, n)
		}
		t.Logf("%d lists during %d commits", lists.Load(), n)
	})
}

// The room-list cache must never serve a page that a commit has changed,
// whether the commit came through this store or another process on the
// same file.
func TestListCacheSeesEveryCommit(t *testing.T) {
	forEachCacheMode(t, testListCacheSeesEveryCommit)
}

func testListCacheSeesEveryCommit(t *testing.T, a *sqlite.Store, path string) {
	ctx := context.Background()
	other := openStore(t, path) // stands in for another process
	page := store.Page{Number: 1, Size: 10}
	count := func() int {
		t.Helper()
		rooms, total, err := a.ListRooms(ctx, store.RoomFilter{}, page)
		if err != nil || len(rooms) != total {
			t.Fatalf("ListRooms: %d rooms, total %d, %v", len(rooms), total, err)
		}
		return total
	}
	if n := count(); n != 0 {
		t.Fatalf("new database lists %d rooms", n)
	}
	count() // now cached
	if err := a.InsertRoom(ctx, room(1)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("after a write through this store: %d rooms, want 1", n)
	}
	if err := other.InsertRoom(ctx, room(2)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("after a write by another connection: %d rooms, want 2", n)
	}
	r := room(2)
	r.MaxParticipants = 3
	if err := other.UpdateRoom(ctx, r); err != nil {
		t.Fatal(err)
	}
	rooms, _, _ := a.ListRooms(ctx, store.RoomFilter{}, page)
	if rooms[0].MaxParticipants != 3 {
		t.Errorf("an update by another connection is not seen: max_participants %d", rooms[0].MaxParticipants)
	}
	// Callers may change what they get without touching the cache.
	rooms[0].MaxParticipants = 99
	again, _, _ := a.ListRooms(ctx, store.RoomFilter{}, page)
	if again[0].MaxParticipants != 3 {
		t.Errorf("a caller's change leaked into the cache")
	}
}

// Requests that miss the cache together, after a commit, cost one query:
// the first reads the page and the others wait for it.
func TestListCacheReadsEachPageOncePerCommit(t *testing.T) {
	forEachCacheMode(t, func(t *testing.T, st *sqlite.Store, _ string) {
		ctx := context.Background()
		for i := 1; i <= 3; i++ {
			if err := st.InsertRoom(ctx, room(i)); err != nil {
				t.Fatal(err)
			}
			before := st.ListCacheReads()
			start := make(chan struct{})
			var wg sync.WaitGroup
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, total, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: 1, Size: 10})
					if err != nil || total != i {
						t.Errorf("ListRooms: total %d, %v; want %d", total, err, i)
					}
				}()
			}
			close(start)
			wg.Wait()
			if reads := st.ListCacheReads() - before; reads != 1 {
				t.Errorf("commit %d: 32 concurrent lists read the page %d times, want once", i, reads)
			}
		}
	})
}

// A read that fails (here, its request was cancelled) is not kept: the
// next request reads the page again and keeps it. (Only with the
// wal-index: with data_version the cancelled request fails before it
// starts a read.)
func TestListCacheForgetsAFailedRead(t *testing.T) {
	ctx := context.Background()
	st := openCached(t, filepath.Join(t.TempDir(), "roomsd.db"), nil)
	if err := st.InsertRoom(ctx, room(1)); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := st.ListRooms(cancelled, store.RoomFilter{}, store.Page{Number: 1, Size: 10}); err == nil {
		t.Fatal("a list with a cancelled context succeeded")
	}
	before := st.ListCacheReads()
	for range 3 {
		if n := listTotal(t, st); n != 1 {
			t.Errorf("after a failed read the list shows %d rooms, want 1", n)
		}
	}
	if reads := st.ListCacheReads() - before; reads != 1 {
		t.Errorf("three lists after a failed read made %d reads, want 1 (then kept)", reads)
	}
}

// A bound at the Unix epoch is a bound: its page is not the unfiltered
// page's entry.
func TestListCacheKeepsAnEpochBoundApart(t *testing.T) {
	ctx := context.Background()
	st := openCached(t, filepath.Join(t.TempDir(), "roomsd.db"), nil)
	if err := st.InsertRoom(ctx, room(1)); err != nil {
		t.Fatal(err)
	}
	listTotal(t, st) // the unfiltered page, now cached
	before := store.RoomFilter{CreatedAt: store.TimeRange{Until: time.Unix(0, 0)}}
	if rooms, total, err := st.ListRooms(ctx, before, store.Page{Number: 1, Size: 10}); err != nil || len(rooms) != 0 || total != 0 {
		t.Errorf("rooms created before 1970: %d, total %d, %v; want none", len(rooms), total, err)
	}
}

// Past its bound on rooms, sessions and participants held, the cache
// keeps no more entries until the next commit empties it; what it holds
// still serves.
func TestListCacheBound(t *testing.T) {
	ctx := context.Background()
	st := openCached(t, filepath.Join(t.TempDir(), "roomsd.db"), nil)
	for i := 1; i <= 20; i++ {
		if err := st.InsertRoom(ctx, room(i)); err != nil {
			t.Fatal(err)
		}
	}
	st.LimitListCacheItems(15)
	reads := func(page int) int64 {
		t.Helper()
		before := st.ListCacheReads()
		for range 3 {
			rooms, total, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: page, Size: 10})
			if err != nil || len(rooms) != 10 || total != 20 {
				t.Fatalf("page %d: %d rooms, total %d, %v", page, len(rooms), total, err)
			}
		}
		return st.ListCacheReads() - before
	}
	if n := reads(1); n != 1 {
		t.Errorf("page 1 (10 rooms, within the bound of 15): 3 lists made %d reads, want 1", n)
	}
	if n := reads(2); n != 3 {
		t.Errorf("page 2 (10 more rooms, past the bound): 3 lists made %d reads, want 3", n)
	}
	if n := reads(1); n != 0 {
		t.Errorf("page 1 again: %d reads, want 0 (still cached)", n)
	}
}

// Checkpoints move the WAL back into the database and restart it; the
// cache must see every commit across them.
func TestListCacheAcrossCheckpoints(t *testing.T) {
	forEachCacheMode(t, func(t *testing.T, st *sqlite.Store, path string) {
		ctx := context.Background()
		other := openStore(t, path, sqlite.WithoutListCache())
		n := 0
		for round := range 3 {
			for _, cp := range []string{"PASSIVE", "FULL", "RESTART", "TRUNCATE"} {
				for range 2 {
					n++
					if err := other.InsertRoom(ctx, room(n)); err != nil {
						t.Fatal(err)
					}
					if got := listTotal(t, st); got != n {
						t.Fatalf("round %d, before %s: %d rooms, want %d", round, cp, got, n)
					}
				}
				if _, err := other.WriteDB().ExecContext(ctx, "PRAGMA wal_checkpoint("+cp+")"); err != nil {
					t.Fatal(err)
				}
				if got := listTotal(t, st); got != n {
					t.Fatalf("round %d, after %s: %d rooms, want %d", round, cp, got, n)
				}
			}
		}
	})
}

// A list after Close fails with an error; it must not read the wal-index
// mapping that Close released.
func TestListAfterCloseFails(t *testing.T) {
	forEachCacheMode(t, func(t *testing.T, st *sqlite.Store, _ string) {
		listTotal(t, st)
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.ListRooms(context.Background(), store.RoomFilter{}, store.Page{Number: 1, Size: 10}); err == nil {
			t.Error("ListRooms after Close succeeded")
		}
	})
}

// The include_sessions loads are cached too, and a commit by another
// connection is seen by the next one.
func TestListCacheSeesSessionChanges(t *testing.T) {
	forEachCacheMode(t, func(t *testing.T, st *sqlite.Store, path string) {
		ctx := context.Background()
		other := openStore(t, path, sqlite.WithoutListCache())
		r := room(1)
		s := domain.Session{ID: "00000000-0000-4000-8000-100000000001", RoomID: r.ID, Active: true, CreatedAt: roomTime, UpdatedAt: roomTime}
		p := domain.Participant{ID: "00000000-0000-4000-8000-200000000001", SessionID: s.ID, JoinedAt: roomTime, UpdatedAt: roomTime}
		for _, err := range []error{other.InsertRoom(ctx, r), other.InsertSession(ctx, s), other.InsertParticipant(ctx, p)} {
			if err != nil {
				t.Fatal(err)
			}
		}
		participants := func() []domain.Participant {
			t.Helper()
			ss, err := st.SessionsByRooms(ctx, []string{r.ID})
			if err != nil || len(ss) != 1 {
				t.Fatalf("SessionsByRooms: %v, %v", ss, err)
			}
			ps, err := st.ParticipantsBySessions(ctx, []string{ss[0].ID})
			if err != nil || len(ps) != 1 {
				t.Fatalf("ParticipantsBySessions: %v, %v", ps, err)
			}
			return ps
		}
		participants()
		reads := st.ListCacheReads()
		if ps := participants(); ps[0].LeftAt != nil {
			t.Fatal("participant has left before leaving")
		}
		if st.ListCacheReads() != reads {
			t.Errorf("repeating the loads read the database again")
		}
		left := roomTime.Add(time.Second)
		p.LeftAt, p.UpdatedAt, p.LeftReason = &left, left, "left"
		if err := other.UpdateParticipant(ctx, p); err != nil {
			t.Fatal(err)
		}
		if ps := participants(); ps[0].LeftAt == nil || !ps[0].LeftAt.Equal(left) {
			t.Errorf("after another connection's commit: left_at %v, want %v", ps[0].LeftAt, left)
		}
	})
}
