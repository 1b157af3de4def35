package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/postgres"
	"github.com/roomsd/roomsd/internal/store/storetest"
)

// baseURL is the database the tests use, from ROOMSD_TEST_POSTGRES_URL;
// without it they skip.
func baseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("ROOMSD_TEST_POSTGRES_URL")
	if u == "" {
		tb.Skip("ROOMSD_TEST_POSTGRES_URL is not set; set it to a PostgreSQL URL, such as " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the PostgreSQL store's tests")
	}
	return u
}

// freshSchema creates an empty schema, dropped when the test ends, and
// returns the URL of the test database with search_path set to it. The
// session time zone is set far from UTC, so that a time that depended on
// it would show.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	base := baseURL(tb)
	b := make([]byte, 8)
	rand.Read(b)
	name := "roomsd_test_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", base, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	q.Set("timezone", "Pacific/Chatham")
	u.RawQuery = q.Encode()
	return u.String()
}

// openStore opens the store at url and closes it when the test ends.
func openStore(tb testing.TB, url string) *postgres.Store {
	tb.Helper()
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openStore(t, freshSchema(t)) })
}

// Two processes starting at once on a new database: one migrates, the
// other waits for it and finds nothing left to do. Opening again later
// keeps the data.
func TestConcurrentMigrations(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	stores := make([]*postgres.Store, 2)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(ctx, u)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, max int
	if err := conn.QueryRow(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if want := postgres.MigrationCount(); n != want || max != want {
		t.Errorf("schema_migrations: %d rows up to version %d, want %d up to %d", n, max, want, want)
	}
	if err := stores[0].InsertAPIKeyHash(ctx, make([]byte, 32), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	again := openStore(t, u)
	if hs, err := again.APIKeyHashes(ctx); err != nil || len(hs) != 1 {
		t.Errorf("after reopening: %d keys, %v; want 1", len(hs), err)
	}
}

func newRoom(t *testing.T, st store.Store, max int, hook bool) domain.Room {
	t.Helper()
	now := domain.Timestamp(time.Now())
	r := domain.Room{ID: uuid.Must(uuid.NewV7()).String(), MaxParticipants: max, CreatedAt: now, UpdatedAt: now}
	if hook {
		u := "https://hooks.example/roomsd"
		r.WebhookEventURL = &u
	}
	if err := st.InsertRoom(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// Joins racing for the last places of a room: the cap check and the
// insert run under the room's row lock, so exactly max_participants get
// in, and all of them in the one session the first join opened.
func TestJoinCapUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, freshSchema(t))
	svc := rooms.New(st)
	r := newRoom(t, st, 10, true)
	const joins = 40
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted []domain.Participant
		full     int
	)
	errs := make(chan error, joins)
	for range joins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := svc.Join(ctx, r.ID, "guest")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted = append(admitted, p)
			case errors.Is(err, domain.ErrRoomFull):
				full++
			default:
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Join: %v", err)
	}
	if len(admitted) != 10 || full != joins-10 {
		t.Fatalf("%d admitted and %d refused as full; want 10 and %d", len(admitted), full, joins-10)
	}
	sess, err := st.ActiveSession(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range admitted {
		if p.SessionID != sess.ID {
			t.Errorf("participant %s joined session %s, not the room's one active session %s", p.ID, p.SessionID, sess.ID)
		}
	}
	if n, err := st.CountPresent(ctx, sess.ID); err != nil || n != 10 {
		t.Errorf("CountPresent = %d, %v; want 10", n, err)
	}
	if n := events(t, st, r.ID)[domain.EventParticipantJoined]; n != 10 {
		t.Errorf("%d participant.joined events, want 10", n)
	}
}

// events counts a room's webhook deliveries by event type.
func events(t *testing.T, st store.Store, roomID string) map[string]int {
	t.Helper()
	ds, _, err := st.ListDeliveries(context.Background(), store.DeliveryFilter{RoomID: &roomID}, store.Page{Number: 1, Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, d := range ds {
		out[d.Event.Type]++
	}
	return out
}

// Read-modify-write transactions other than joins race too: a
// participant leaving on several paths at once leaves once, and a session
// ended on several at once ends once, each with one event, as on SQLite.
func TestConcurrentLeavesAndEnds(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, freshSchema(t))
	svc := rooms.New(st)
	r := newRoom(t, st, 10, true)
	var ps []domain.Participant
	for range 3 {
		p, err := svc.Join(ctx, r.ID, "guest")
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	race := func(n int, fn func() error) []error {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = fn()
			}()
		}
		wg.Wait()
		return errs
	}
	for _, err := range race(8, func() error {
		_, err := svc.Leave(ctx, ps[0].ID, domain.ReasonLeft)
		return err
	}) {
		if err != nil {
			t.Errorf("Leave: %v", err)
		}
	}
	if n := events(t, st, r.ID)[domain.EventParticipantLeft]; n != 1 {
		t.Errorf("one participant left %d times", n)
	}
	ended := 0
	for _, err := range race(8, func() error {
		_, _, err := svc.EndSession(ctx, ps[0].SessionID, "api")
		return err
	}) {
		switch {
		case err == nil:
			ended++
		case !errors.Is(err, domain.ErrSessionEnded):
			t.Errorf("EndSession: %v", err)
		}
	}
	ev := events(t, st, r.ID)
	if ended != 1 || ev[domain.EventSessionEnded] != 1 || ev[domain.EventParticipantLeft] != 3 {
		t.Errorf("ended %d times with %d session.ended and %d participant.left events; want 1, 1 and 3",
			ended, ev[domain.EventSessionEnded], ev[domain.EventParticipantLeft])
	}
}

// A client paging in turn is served every page after the first by a
// seek from where the page before it ended; a page asked for out of turn
// is read by its offset.
func TestPagesInTurnSeek(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, freshSchema(t))
	for range 35 {
		newRoom(t, st, 10, false)
	}
	for n := 1; n <= 4; n++ {
		page, total, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: n, Size: 10})
		if err != nil || total != 35 || len(page) != min(10, 35-(n-1)*10) {
			t.Fatalf("page %d: %d rooms of %d, %v", n, len(page), total, err)
		}
	}
	if seeks, offsets := st.PagerCounts(); seeks != 3 || offsets != 0 {
		t.Errorf("pages 2 to 4 in turn: %d seeks and %d offsets, want 3 and 0", seeks, offsets)
	}
	if _, _, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: 3, Size: 5}); err != nil {
		t.Fatal(err)
	}
	if seeks, offsets := st.PagerCounts(); seeks != 3 || offsets != 1 {
		t.Errorf("a page out of turn: %d seeks and %d offsets, want 3 and 1", seeks, offsets)
	}
}

// The pool's size is the URL's pool_max_conns, and at least 16 without it.
func TestPoolSize(t *testing.T) {
	u := freshSchema(t)
	if n := openStore(t, u).Pool().Config().MaxConns; n < 16 {
		t.Errorf("default pool size %d, want at least 16", n)
	}
	if n := openStore(t, u+"&pool_max_conns=3").Pool().Config().MaxConns; n != 3 {
		t.Errorf("pool_max_conns=3 gave a pool of %d", n)
	}
}

// A room change notified in a transaction reaches every listener of the
// schema once the transaction commits, and never when it rolls back;
// listeners of another schema on the same database hear nothing.
func TestNotifyRoom(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u := freshSchema(t)
	a, b, other := openStore(t, u), openStore(t, u), openStore(t, freshSchema(t))
	type heard struct{ who, room string }
	got := make(chan heard, 16)
	listen := func(who string, st *postgres.Store) {
		ready := make(chan struct{})
		go st.Listen(ctx, func() { close(ready) }, func(room string) { got <- heard{who, room} })
		<-ready
	}
	listen("a", a)
	listen("b", b)
	listen("other", other)
	rollback := errors.New("rolled back")
	if err := a.InTx(ctx, func(q store.Queries) error {
		if err := q.NotifyRoom(ctx, "room-1"); err != nil {
			t.Fatal(err)
		}
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if err := a.InTx(ctx, func(q store.Queries) error { return q.NotifyRoom(ctx, "room-2") }); err != nil {
		t.Fatal(err)
	}
	want := map[heard]bool{{"a", "room-2"}: true, {"b", "room-2"}: true}
	for range len(want) {
		h := <-got
		if !want[h] {
			t.Fatalf("heard %+v; want room-2 on a and b only", h)
		}
		delete(want, h)
	}
	// A marker through the other schema proves it heard nothing before.
	if err := other.NotifyRoom(ctx, "marker"); err != nil {
		t.Fatal(err)
	}
	if h := <-got; h != (heard{"other", "marker"}) {
		t.Fatalf("heard %+v; want only the marker on the other schema", h)
	}
}
