package sqlite_test

// Benchmarks of the room list path over seeded databases:
//
//	go test -run '^$' -bench ListRooms -benchmem ./internal/store/sqlite/
//	ROOMSD_BENCH_1M=1 go test -run '^$' -bench 'ListRooms/rooms=1M' -benchmem ./internal/store/sqlite/
//	go test -run '^$' -bench 'ListRooms$/rooms=10k/cache=off/page1/size20$' -benchmem ./internal/store/sqlite/
//
// Every case runs twice per size: cache=on repeats the same request
// against a store with the room-list cache (the default; after the first
// call the page comes from memory), cache=off against the same file
// opened a second time with sqlite.WithoutListCache(), so every call runs
// the query.
//
// Each size is seeded once per process, the first time a benchmark needs
// it, into a temporary directory removed at exit. Set ROOMSD_BENCH_DIR to
// keep the files there and reuse them in later runs. The 1M size (about
// 15 s to seed, 900 MB on disk) runs only with ROOMSD_BENCH_1M=1. No Test
// function seeds more than the 20k rooms of the plan test.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/api"
	"github.com/roomsd/roomsd/internal/auth"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/store/sqlite/seed"
)

type benchSize struct {
	name string
	n    int
	gate string // environment variable that must be set to run this size
}

var benchSizes = []benchSize{
	{"10k", 10_000, ""},
	{"100k", 100_000, ""},
	{"1M", 1_000_000, "ROOMSD_BENCH_1M"},
}

// storeKey names one open store: a seeded size, with or without the
// room-list cache.
type storeKey struct {
	n     int
	cache bool
}

var (
	seedMu      sync.Mutex
	seeded      = map[storeKey]*sqlite.Store{}
	seededFiles = map[int]bool{}
	seedDir     string
	keepFiles   bool
)

func TestMain(m *testing.M) {
	if path := os.Getenv(writerEnv); path != "" {
		os.Exit(childWriterMain(path))
	}
	code := m.Run()
	seedMu.Lock()
	for _, st := range seeded {
		st.Close()
	}
	if seedDir != "" && !keepFiles {
		os.RemoveAll(seedDir)
	}
	os.Exit(code)
}

// seededStore returns a store holding n seeded rooms, seeding the file on
// first use. With cache false the same file is opened a second time with
// sqlite.WithoutListCache(), so that every ListRooms runs its query.
func seededStore(b *testing.B, n int, cache bool) *sqlite.Store {
	seedMu.Lock()
	defer seedMu.Unlock()
	if st := seeded[storeKey{n, cache}]; st != nil {
		return st
	}
	path := seedFile(b, n)
	var opts []sqlite.Option
	if !cache {
		opts = append(opts, sqlite.WithoutListCache())
	}
	st, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		b.Fatal(err)
	}
	seeded[storeKey{n, cache}] = st
	return st
}

// seedFile returns the path of a database holding n seeded rooms, reusing
// a complete file from an earlier run of this process or ROOMSD_BENCH_DIR.
// The caller holds seedMu.
func seedFile(b *testing.B, n int) string {
	ctx := context.Background()
	if seedDir == "" {
		if dir := os.Getenv("ROOMSD_BENCH_DIR"); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			seedDir, keepFiles = dir, true
		} else {
			dir, err := os.MkdirTemp("", "roomsd-bench-")
			if err != nil {
				b.Fatal(err)
			}
			seedDir = dir
		}
	}
	path := filepath.Join(seedDir, fmt.Sprintf("rooms-%d.db", n))
	if seededFiles[n] {
		return path
	}
	if _, err := os.Stat(path); err == nil {
		st, err := sqlite.Open(ctx, path, sqlite.WithoutListCache())
		if err == nil {
			_, total, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: 1, Size: 1})
			st.Close()
			if err == nil && total == n {
				seededFiles[n] = true
				return path
			}
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	stats, err := seed.Rooms(ctx, path, n)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d rooms, %d sessions, %d participants in %v", stats.Rooms, stats.Sessions, stats.Participants, stats.Elapsed.Round(time.Millisecond))
	seededFiles[n] = true
	return path
}

type listCase struct {
	name string
	p    rooms.ListRoomsParams
}

// listCases are the list requests measured at every size. Names say the
// page number and size; the deep page is page 5,000 where it exists and
// the middle page otherwise.
func listCases(n int) []listCase {
	page := func(num, size int) store.Page { return store.Page{Number: num, Size: size} }
	deep := 5000
	if deep*20 > n {
		deep = n / 20 / 2
	}
	day := seed.Start.Add(seed.Span / 2).Truncate(24 * time.Hour)
	oneDay := store.TimeRange{From: day, Until: day.Add(24 * time.Hour)}
	lastYear := store.TimeRange{From: seed.Start.Add(seed.Span - 365*24*time.Hour).Truncate(24 * time.Hour)}
	name := seed.Name(n / 2)
	return []listCase{
		{"page1/size20", rooms.ListRoomsParams{Page: page(1, 20)}},
		{"page1/size250", rooms.ListRoomsParams{Page: page(1, 250)}},
		{fmt.Sprintf("page%d/size20", deep), rooms.ListRoomsParams{Page: page(deep, 20)}},
		{"include_sessions/size20", rooms.ListRoomsParams{Page: page(1, 20), IncludeSessions: true}},
		{"created_eq_day/size20", rooms.ListRoomsParams{Page: page(1, 20), Filter: store.RoomFilter{CreatedAt: oneDay}}},
		{"updated_eq_day/size20", rooms.ListRoomsParams{Page: page(1, 20), Filter: store.RoomFilter{UpdatedAt: oneDay}}},
		{"created_gte_1y/size20", rooms.ListRoomsParams{Page: page(1, 20), Filter: store.RoomFilter{CreatedAt: lastYear}}},
		{"unique_name/size20", rooms.ListRoomsParams{Page: page(1, 20), Filter: store.RoomFilter{UniqueName: &name}}},
	}
}

// forEachStore runs fn as rooms=<size>/cache=on and rooms=<size>/cache=off
// for every enabled size.
func forEachStore(b *testing.B, fn func(b *testing.B, st *sqlite.Store, n int)) {
	for _, size := range benchSizes {
		b.Run("rooms="+size.name, func(b *testing.B) {
			if size.gate != "" && os.Getenv(size.gate) == "" {
				b.Skipf("set %s=1 to run the %s size", size.gate, size.name)
			}
			for _, cache := range []bool{true, false} {
				name := "cache=on"
				if !cache {
					name = "cache=off"
				}
				b.Run(name, func(b *testing.B) {
					fn(b, seededStore(b, size.n, cache), size.n)
				})
			}
		})
	}
}

// BenchmarkListRooms measures rooms.Service.ListRooms: the count, the page
// and, with include_sessions, the sessions and participants. With
// cache=on, the repeated page (count included) comes from the list cache;
// the sessions of include_sessions are still read from the database.
func BenchmarkListRooms(b *testing.B) {
	forEachStore(b, func(b *testing.B, st *sqlite.Store, n int) {
		svc := rooms.New(st)
		for _, c := range listCases(n) {
			b.Run(c.name, func(b *testing.B) {
				ctx := context.Background()
				views, _, err := svc.ListRooms(ctx, c.p)
				if err != nil {
					b.Fatal(err)
				}
				if len(views) == 0 {
					b.Fatalf("%s: empty page", c.name)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := svc.ListRooms(ctx, c.p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}

// BenchmarkListRoomsHandler measures GET /v2/rooms through the whole HTTP
// handler (middleware, auth, query parsing, JSON) without the network,
// with and without the list cache, next to the load test's baseline
// (api.FixedListHandler serving the same page 1).
func BenchmarkListRoomsHandler(b *testing.B) {
	benchListRoomsHandler(b, func(b *testing.B, serve func()) {
		for b.Loop() {
			serve()
		}
	})
}

// BenchmarkListRoomsHandlerParallel is BenchmarkListRoomsHandler with
// requests served concurrently on every CPU (b.RunParallel), as a server
// serves them: it shows what requests wait on each other for.
func BenchmarkListRoomsHandlerParallel(b *testing.B) {
	benchListRoomsHandler(b, func(b *testing.B, serve func()) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve()
			}
		})
	})
}

func benchListRoomsHandler(b *testing.B, loop func(b *testing.B, serve func())) {
	const key = "bench-key"
	forEachStore(b, func(b *testing.B, st *sqlite.Store, n int) {
		h := api.New(rooms.New(st), auth.NewKeyring([]string{key}, nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
		b.Run("baseline/size20", func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/v2/rooms", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			fixed, err := api.FixedListHandler(w.Body.Bytes())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			loop(b, func() { fixed.ServeHTTP(httptest.NewRecorder(), req) })
		})
		day := seed.Start.Add(seed.Span / 2).Format(time.DateOnly)
		for _, c := range []struct{ name, query string }{
			{"page1/size20", ""},
			{"page1/size250", "page[size]=250"},
			{"include_sessions/size20", "include_sessions=true"},
			{"created_eq_day/size20", "filter[date_created_at][eq]=" + day},
		} {
			b.Run(c.name, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/v2/rooms?"+c.query, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				b.ReportAllocs()
				loop(b, func() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Errorf("status %d: %s", w.Code, w.Body)
					}
				})
			})
		}
	})
}

// BenchmarkPagingInTurn reads the pages of the whole room list one after
// another, as an auto-pager does, over and over (one op is one page of
// 20): each page after the first seeks from where the one before ended.
// BenchmarkPagingDeep reads pages at the same depths out of turn (page
// size 19, pages in a shuffled order, so no page's predecessor was just
// served): each walks the index past the rows before it. Both without the
// list cache.
//
//	go test -run '^$' -bench 'Paging' -benchmem ./internal/store/sqlite/
func BenchmarkPagingInTurn(b *testing.B) {
	for _, size := range benchSizes[:2] {
		b.Run("rooms="+size.name, func(b *testing.B) {
			st := seededStore(b, size.n, false)
			ctx := context.Background()
			pages := size.n / 20
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: i%pages + 1, Size: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPagingDeep(b *testing.B) {
	for _, size := range benchSizes[:2] {
		b.Run("rooms="+size.name, func(b *testing.B) {
			st := seededStore(b, size.n, false)
			ctx := context.Background()
			pages := size.n / 19
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// A stride coprime with the page count visits pages out of
				// turn, all depths alike.
				n := (i*7919)%pages + 1
				if _, _, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: n, Size: 19}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
