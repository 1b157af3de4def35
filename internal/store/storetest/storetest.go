// Package storetest is the contract every store.Store implementation must
// pass. A backend's own test calls Run with a function that opens a fresh,
// empty store; each subtest gets its own.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// Run exercises st against the contract.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"Ready", testReady},
		{"RoomRoundTrip", testRoomRoundTrip},
		{"RoomNotFound", testRoomNotFound},
		{"UniqueName", testUniqueName},
		{"ListOrderAndPaging", testListOrderAndPaging},
		{"ListFilters", testListFilters},
		{"SequentialPaging", testSequentialPaging},
		{"PagingWhileChanging", testPagingWhileChanging},
		{"PagingEveryList", testPagingEveryList},
		{"RoomLockOrdersEvents", testRoomLockOrdersEvents},
		{"SessionNodes", testSessionNodes},
		{"Nodes", testNodes},
		{"LinksAndBans", testLinksAndBans},
		{"SessionsAndParticipants", testSessionsAndParticipants},
		{"OneActiveSessionPerRoom", testOneActiveSession},
		{"DeleteCascades", testDeleteCascades},
		{"TxRollback", testTxRollback},
		{"APIKeys", testAPIKeys},
		{"SigningKey", testSigningKey},
		{"ListSessionsAndParticipants", testListSessionsAndParticipants},
		{"Recordings", testRecordings},
		{"Compositions", testCompositions},
		{"CompositionClaims", testCompositionClaims},
		{"ConcurrentCompositionClaims", testConcurrentCompositionClaims},
		{"MediaOutlivesRoom", testMediaOutlivesRoom},
		{"Outbox", testOutbox},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// testReady: a freshly opened store is migrated and answers.
func testReady(t *testing.T, st store.Store) {
	if err := st.Ready(context.Background()); err != nil {
		t.Fatalf("Ready on a migrated store: %v", err)
	}
}

var base = time.Date(2024, 3, 10, 12, 0, 0, 123456000, time.UTC)

func id() string { return uuid.Must(uuid.NewV7()).String() }

func ptr[T any](v T) *T { return &v }

func room(at time.Time) domain.Room {
	return domain.Room{ID: id(), MaxParticipants: 10, CreatedAt: at, UpdatedAt: at}
}

func mustInsert(t *testing.T, st store.Store, r domain.Room) domain.Room {
	t.Helper()
	if err := st.InsertRoom(context.Background(), r); err != nil {
		t.Fatalf("InsertRoom: %v", err)
	}
	return r
}

func testRoomRoundTrip(t *testing.T, st store.Store) {
	ctx := context.Background()
	full := domain.Room{
		ID: id(), UniqueName: ptr("Room ü"), MaxParticipants: 50, EnableRecording: true,
		WebhookEventURL: ptr("https://example.com/hook"), WebhookEventFailoverURL: ptr(""),
		WebhookTimeoutSecs: ptr(0), CreatedAt: base, UpdatedAt: base.Add(time.Microsecond),
	}
	bare := room(base)
	for _, want := range []domain.Room{full, bare} {
		mustInsert(t, st, want)
		got, err := st.GetRoom(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetRoom: %v", err)
		}
		if d := diffRoom(got, want); d != "" {
			t.Errorf("GetRoom after insert: %s", d)
		}
	}
	full.UniqueName, full.WebhookTimeoutSecs, full.WebhookEventURL = nil, nil, nil
	full.MaxParticipants, full.EnableRecording = 2, false
	full.UpdatedAt = base.Add(time.Hour)
	if err := st.UpdateRoom(ctx, full); err != nil {
		t.Fatalf("UpdateRoom: %v", err)
	}
	got, err := st.GetRoom(ctx, full.ID)
	if err != nil {
		t.Fatalf("GetRoom: %v", err)
	}
	if d := diffRoom(got, full); d != "" {
		t.Errorf("GetRoom after update: %s", d)
	}
}

func diffRoom(got, want domain.Room) string {
	g, w := fmt.Sprintf("%+v", flat(got)), fmt.Sprintf("%+v", flat(want))
	if g != w {
		return "got " + g + "\nwant " + w
	}
	return ""
}

func flat(r domain.Room) []any {
	deref := func(p any) any {
		switch v := p.(type) {
		case *string:
			if v != nil {
				return *v
			}
		case *int:
			if v != nil {
				return *v
			}
		}
		return "<nil>"
	}
	return []any{r.ID, deref(r.UniqueName), r.MaxParticipants, r.EnableRecording, deref(r.WebhookEventURL),
		deref(r.WebhookEventFailoverURL), deref(r.WebhookTimeoutSecs), deref(r.ActiveSessionID),
		r.CreatedAt.Format(time.RFC3339Nano), r.UpdatedAt.Format(time.RFC3339Nano)}
}

func testRoomNotFound(t *testing.T, st store.Store) {
	ctx := context.Background()
	missing := room(base)
	if _, err := st.GetRoom(ctx, missing.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("GetRoom missing: %v, want ErrNotFound", err)
	}
	if err := st.UpdateRoom(ctx, missing); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateRoom missing: %v, want ErrNotFound", err)
	}
	if err := st.DeleteRoom(ctx, missing.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("DeleteRoom missing: %v, want ErrNotFound", err)
	}
	if _, err := st.GetSession(ctx, id()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("GetSession missing: %v, want ErrNotFound", err)
	}
	if _, err := st.GetParticipant(ctx, id()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("GetParticipant missing: %v, want ErrNotFound", err)
	}
}

func isDuplicate(err error) bool {
	var ve *domain.ValidationError
	return errors.As(err, &ve) && ve.Kind == domain.KindDuplicate && ve.Field == "unique_name"
}

func testUniqueName(t *testing.T, st store.Store) {
	ctx := context.Background()
	a := room(base)
	a.UniqueName = ptr("alpha")
	mustInsert(t, st, a)
	dup := room(base)
	dup.UniqueName = ptr("alpha")
	if err := st.InsertRoom(ctx, dup); !isDuplicate(err) {
		t.Errorf("insert duplicate name: %v, want duplicate unique_name", err)
	}
	// Names are case-sensitive, and any number of rooms may have none.
	other := room(base)
	other.UniqueName = ptr("Alpha")
	mustInsert(t, st, other)
	mustInsert(t, st, room(base))
	mustInsert(t, st, room(base))
	other.UniqueName = ptr("alpha")
	if err := st.UpdateRoom(ctx, other); !isDuplicate(err) {
		t.Errorf("rename onto taken name: %v, want duplicate unique_name", err)
	}
	if _, total, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: 1, Size: 10}); err != nil || total != 4 {
		t.Errorf("ListRooms total = %d, %v; want 4 (failed writes change nothing)", total, err)
	}
}

func ids(rs []domain.Room) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func testListOrderAndPaging(t *testing.T, st store.Store) {
	ctx := context.Background()
	// Seven rooms: five at distinct instants, two sharing one instant.
	var want []string // newest first
	var rs []domain.Room
	for i := range 5 {
		rs = append(rs, mustInsert(t, st, room(base.Add(time.Duration(i)*time.Second))))
	}
	tieA, tieB := room(base.Add(10*time.Second)), room(base.Add(10*time.Second))
	if tieA.ID < tieB.ID {
		tieA, tieB = tieB, tieA
	}
	mustInsert(t, st, tieB)
	mustInsert(t, st, tieA)
	want = append(want, tieA.ID, tieB.ID)
	for i := len(rs) - 1; i >= 0; i-- {
		want = append(want, rs[i].ID)
	}
	var got []string
	for n := 1; ; n++ {
		page, total, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: n, Size: 3})
		if err != nil {
			t.Fatalf("ListRooms page %d: %v", n, err)
		}
		if total != 7 {
			t.Fatalf("total = %d, want 7", total)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, ids(page)...)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order across pages:\n got %v\nwant %v", got, want)
	}
	page, total, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: 100, Size: 3})
	if err != nil || len(page) != 0 || total != 7 {
		t.Errorf("page past the end = %d rooms, total %d, %v; want 0, 7, nil", len(page), total, err)
	}
}

func testListFilters(t *testing.T, st store.Store) {
	ctx := context.Background()
	day := time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)
	before := mustInsert(t, st, room(day.Add(-time.Microsecond)))
	first := mustInsert(t, st, room(day))
	last := mustInsert(t, st, room(day.Add(24*time.Hour-time.Microsecond)))
	after := room(day.Add(24 * time.Hour))
	after.UniqueName = ptr("named")
	after.UpdatedAt = day.Add(72 * time.Hour)
	mustInsert(t, st, after)

	next := day.Add(24 * time.Hour)
	cases := []struct {
		name string
		f    store.RoomFilter
		want []domain.Room
	}{
		{"none", store.RoomFilter{}, []domain.Room{after, last, first, before}},
		{"created on day", store.RoomFilter{CreatedAt: store.TimeRange{From: day, Until: next}}, []domain.Room{last, first}},
		{"created from day", store.RoomFilter{CreatedAt: store.TimeRange{From: day}}, []domain.Room{after, last, first}},
		{"created until end of day", store.RoomFilter{CreatedAt: store.TimeRange{Until: next}}, []domain.Room{last, first, before}},
		{"updated later", store.RoomFilter{UpdatedAt: store.TimeRange{From: day.Add(48 * time.Hour)}}, []domain.Room{after}},
		{"name", store.RoomFilter{UniqueName: ptr("named")}, []domain.Room{after}},
		{"name is exact", store.RoomFilter{UniqueName: ptr("Named")}, nil},
		{"name and date", store.RoomFilter{UniqueName: ptr("named"), CreatedAt: store.TimeRange{Until: next}}, nil},
	}
	for _, tc := range cases {
		got, total, err := st.ListRooms(ctx, tc.f, store.Page{Number: 1, Size: 10})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(ids(tc.want)) || total != len(tc.want) {
			t.Errorf("%s: got %v (total %d), want %v", tc.name, ids(got), total, ids(tc.want))
		}
	}
}

func testSessionsAndParticipants(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := mustInsert(t, st, room(base))
	old := domain.Session{ID: id(), RoomID: r.ID, CreatedAt: base, UpdatedAt: base, EndedAt: ptr(base.Add(time.Minute))}
	cur := domain.Session{ID: id(), RoomID: r.ID, Active: true, CreatedAt: base.Add(time.Hour), UpdatedAt: base.Add(time.Hour)}
	for _, s := range []domain.Session{old, cur} {
		if err := st.InsertSession(ctx, s); err != nil {
			t.Fatalf("InsertSession: %v", err)
		}
	}
	got, err := st.GetRoom(ctx, r.ID)
	if err != nil || got.ActiveSessionID == nil || *got.ActiveSessionID != cur.ID {
		t.Fatalf("room active_session_id = %v, %v; want %s", got.ActiveSessionID, err, cur.ID)
	}
	act, err := st.ActiveSession(ctx, r.ID)
	if err != nil || act.ID != cur.ID {
		t.Fatalf("ActiveSession = %v, %v; want %s", act.ID, err, cur.ID)
	}
	ss, err := st.SessionsByRooms(ctx, []string{r.ID})
	if err != nil || len(ss) != 2 || ss[0].ID != cur.ID || ss[1].ID != old.ID || ss[1].EndedAt == nil || !ss[1].EndedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("SessionsByRooms = %+v, %v; want [current, old]", ss, err)
	}

	p1 := domain.Participant{ID: id(), SessionID: cur.ID, Context: "Alice", JoinedAt: base.Add(time.Hour), UpdatedAt: base.Add(time.Hour)}
	p2 := domain.Participant{ID: id(), SessionID: cur.ID, Context: "Bob", JoinedAt: base.Add(2 * time.Hour), UpdatedAt: base.Add(2 * time.Hour)}
	for _, p := range []domain.Participant{p2, p1} {
		if err := st.InsertParticipant(ctx, p); err != nil {
			t.Fatalf("InsertParticipant: %v", err)
		}
	}
	if n, err := st.CountPresent(ctx, cur.ID); err != nil || n != 2 {
		t.Errorf("CountPresent = %d, %v; want 2", n, err)
	}
	left := base.Add(3 * time.Hour)
	p1.LeftAt, p1.UpdatedAt = &left, left
	if err := st.UpdateParticipant(ctx, p1); err != nil {
		t.Fatalf("UpdateParticipant: %v", err)
	}
	if n, _ := st.CountPresent(ctx, cur.ID); n != 1 {
		t.Errorf("CountPresent after one left = %d, want 1", n)
	}
	end := base.Add(4 * time.Hour)
	if err := st.LeaveAll(ctx, cur.ID, end, domain.ReasonEnded); err != nil {
		t.Fatalf("LeaveAll: %v", err)
	}
	ps, err := st.ParticipantsBySessions(ctx, []string{cur.ID, old.ID})
	if err != nil || len(ps) != 2 || ps[0].ID != p1.ID || ps[1].ID != p2.ID {
		t.Fatalf("ParticipantsBySessions = %+v, %v; want [Alice, Bob] in join order", ps, err)
	}
	if !ps[0].LeftAt.Equal(left) || !ps[1].LeftAt.Equal(end) || !ps[1].UpdatedAt.Equal(end) {
		t.Errorf("left_at = %v, %v; want %v (kept), %v (LeaveAll)", ps[0].LeftAt, ps[1].LeftAt, left, end)
	}
	cur.Active, cur.EndedAt, cur.UpdatedAt = false, &end, end
	if err := st.UpdateSession(ctx, cur); err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	if got, _ := st.GetRoom(ctx, r.ID); got.ActiveSessionID != nil {
		t.Errorf("active_session_id after end = %v, want nil", *got.ActiveSessionID)
	}
	if _, err := st.ActiveSession(ctx, r.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ActiveSession after end: %v, want ErrNotFound", err)
	}
}

func testOneActiveSession(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := mustInsert(t, st, room(base))
	if err := st.InsertSession(ctx, domain.Session{ID: id(), RoomID: r.ID, Active: true, CreatedAt: base, UpdatedAt: base}); err != nil {
		t.Fatalf("InsertSession: %v", err)
	}
	if err := st.InsertSession(ctx, domain.Session{ID: id(), RoomID: r.ID, Active: true, CreatedAt: base, UpdatedAt: base}); err == nil {
		t.Error("a second active session in one room was accepted")
	}
}

func testDeleteCascades(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := mustInsert(t, st, room(base))
	keep := mustInsert(t, st, room(base))
	s := domain.Session{ID: id(), RoomID: r.ID, Active: true, CreatedAt: base, UpdatedAt: base}
	p := domain.Participant{ID: id(), SessionID: s.ID, JoinedAt: base, UpdatedAt: base}
	if err := st.InsertSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertParticipant(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteRoom(ctx, r.ID); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	if _, err := st.GetSession(ctx, s.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("session after room delete: %v, want ErrNotFound", err)
	}
	if _, err := st.GetParticipant(ctx, p.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("participant after room delete: %v, want ErrNotFound", err)
	}
	got, total, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: 1, Size: 10})
	if err != nil || total != 1 || len(got) != 1 || got[0].ID != keep.ID {
		t.Errorf("after delete: %v total %d, %v; want only %s", ids(got), total, err, keep.ID)
	}
}

func testTxRollback(t *testing.T, st store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	r := room(base)
	err := st.InTx(ctx, func(q store.Queries) error {
		if err := q.InsertRoom(ctx, r); err != nil {
			return err
		}
		if _, err := q.LockRoom(ctx, r.ID); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want the callback's error", err)
	}
	if _, err := st.GetRoom(ctx, r.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("room written in a rolled-back tx: %v, want ErrNotFound", err)
	}
	if _, total, _ := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: 1, Size: 1}); total != 0 {
		t.Errorf("total after rollback = %d, want 0", total)
	}
	if err := st.InTx(ctx, func(q store.Queries) error { return q.InsertRoom(ctx, r) }); err != nil {
		t.Fatalf("InTx commit: %v", err)
	}
	if _, err := st.GetRoom(ctx, r.ID); err != nil {
		t.Errorf("room written in a committed tx: %v", err)
	}
}

func testAPIKeys(t *testing.T, st store.Store) {
	ctx := context.Background()
	if hs, err := st.APIKeyHashes(ctx); err != nil || len(hs) != 0 {
		t.Fatalf("APIKeyHashes on a new store = %d, %v; want none", len(hs), err)
	}
	h := make([]byte, 32)
	h[0] = 7
	if err := st.InsertAPIKeyHash(ctx, h, base); err != nil {
		t.Fatalf("InsertAPIKeyHash: %v", err)
	}
	hs, err := st.APIKeyHashes(ctx)
	if err != nil || len(hs) != 1 || string(hs[0]) != string(h) {
		t.Errorf("APIKeyHashes = %x, %v; want [%x]", hs, err, h)
	}
}
