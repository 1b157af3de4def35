package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// walk reads every page of a list in turn, as an auto-pager does, and
// returns the ids in the order served and the totals each page gave.
func walk[T any](t *testing.T, size int, list func(store.Page) ([]T, int, error), idOf func(T) string, between func(page int)) ([]string, []int) {
	t.Helper()
	var seen []string
	var totals []int
	for n := 1; n < 10_000; n++ {
		page, total, err := list(store.Page{Number: n, Size: size})
		if err != nil {
			t.Fatalf("page %d: %v", n, err)
		}
		totals = append(totals, total)
		for _, x := range page {
			seen = append(seen, idOf(x))
		}
		if len(page) < size {
			return seen, totals
		}
		if between != nil {
			between(n)
		}
	}
	t.Fatal("the list does not end")
	return nil, nil
}

// roomsNewestFirst is the list order: created_at, then id, descending.
func roomsNewestFirst(rs []domain.Room) []string {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b domain.Room) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return ids(rs)
}

// testSequentialPaging: paging through a list page after page gives
// exactly the rows and totals of the offset pages when nothing changes,
// however the rows tie on their time; a page asked for out of turn, or
// again, is the same too.
func testSequentialPaging(t *testing.T, st store.Store) {
	ctx := context.Background()
	var rooms []domain.Room
	for i := range 103 {
		// Runs of up to four rooms share a creation time: the id orders
		// them.
		rooms = append(rooms, mustInsert(t, st, room(base.Add(time.Duration(i/4)*time.Second))))
	}
	want := roomsNewestFirst(rooms)
	list := func(p store.Page) ([]domain.Room, int, error) { return st.ListRooms(ctx, store.RoomFilter{}, p) }
	for _, size := range []int{1, 7, 20, 103, 250} {
		got, totals := walk(t, size, list, func(r domain.Room) string { return r.ID }, nil)
		if !slices.Equal(got, want) {
			t.Errorf("size %d: pages in turn gave %d rooms, not the list's %d in order", size, len(got), len(want))
		}
		for i, n := range totals {
			if n != 103 {
				t.Errorf("size %d page %d: total %d, want 103", size, i+1, n)
			}
		}
	}
	// Out of turn, and a page asked for twice: as the offset gives it.
	for _, n := range []int{9, 3, 3, 4, 15, 14} {
		page, total, err := list(store.Page{Number: n, Size: 7})
		if err != nil || total != 103 || !slices.Equal(ids(page), want[min((n-1)*7, 103):min(n*7, 103)]) {
			t.Errorf("page %d of 7 out of turn: %v (total %d, %v)", n, ids(page), total, err)
		}
	}
	// A filtered list, whose filter bounds the list's own order column
	// from above and below.
	f := store.RoomFilter{CreatedAt: store.TimeRange{From: base.Add(3 * time.Second), Until: base.Add(20 * time.Second)}}
	var in []domain.Room
	for _, r := range rooms {
		if !r.CreatedAt.Before(f.CreatedAt.From) && r.CreatedAt.Before(f.CreatedAt.Until) {
			in = append(in, r)
		}
	}
	got, totals := walk(t, 5, func(p store.Page) ([]domain.Room, int, error) { return st.ListRooms(ctx, f, p) },
		func(r domain.Room) string { return r.ID }, nil)
	if !slices.Equal(got, roomsNewestFirst(in)) || totals[len(totals)-1] != len(in) {
		t.Errorf("filtered: %d rooms, totals %v; want the %d in range in order", len(got), totals, len(in))
	}
}

// testPagingWhileChanging: rooms created and deleted while a client pages
// through the list. Each room is served at most once, and every room
// that existed from the first page to the last is served.
func testPagingWhileChanging(t *testing.T, st store.Store) {
	ctx := context.Background()
	var rooms []domain.Room
	for i := range 60 {
		rooms = append(rooms, mustInsert(t, st, room(base.Add(time.Duration(i)*time.Second))))
	}
	deleted := map[string]bool{}
	created := 0
	between := func(page int) {
		// After each page: a new room (it sorts first, before the pages
		// served), and the deletion of a room not yet served and of one
		// already served.
		mustInsert(t, st, room(base.Add(time.Hour+time.Duration(page)*time.Second)))
		created++
		for _, r := range []domain.Room{rooms[page*3], rooms[59-page*5]} {
			if !deleted[r.ID] {
				if err := st.DeleteRoom(ctx, r.ID); err != nil {
					t.Fatal(err)
				}
				deleted[r.ID] = true
			}
		}
	}
	got, _ := walk(t, 5, func(p store.Page) ([]domain.Room, int, error) { return st.ListRooms(ctx, store.RoomFilter{}, p) },
		func(r domain.Room) string { return r.ID }, between)
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
		if seen[id] == 2 {
			t.Errorf("room %s served twice", id)
		}
	}
	for _, r := range rooms {
		if !deleted[r.ID] && seen[r.ID] == 0 {
			t.Errorf("room %s existed throughout and was not served", r.ID)
		}
	}
	if created == 0 {
		t.Fatal("nothing changed during the walk")
	}
}

// testPagingEveryList: every other list, paged in turn with ties in its
// time column, serves its rows once each in order.
func testPagingEveryList(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := mustInsert(t, st, room(base))
	var sessions []domain.Session
	var parts []domain.Participant
	var recs []domain.Recording
	var comps []domain.Composition
	for i := range 23 {
		at := base.Add(time.Duration(i/3) * time.Minute)
		s := domain.Session{ID: id(), RoomID: r.ID, CreatedAt: at, UpdatedAt: at, EndedAt: &at}
		p := domain.Participant{ID: id(), SessionID: s.ID, JoinedAt: at, UpdatedAt: at}
		rec := recording(r.ID, s.ID, p.ID, "audio", at, ptr(1))
		c := domain.Composition{ID: id(), RoomID: r.ID, SessionID: s.ID, Status: domain.CompositionEnqueued, Format: "mp4",
			Resolution: "640x360", VideoLayout: map[string]domain.VideoRegion{}, CreatedAt: at, UpdatedAt: at}
		err := st.InTx(ctx, func(q store.Queries) error {
			if err := q.InsertSession(ctx, s); err != nil {
				return err
			}
			if err := q.InsertParticipant(ctx, p); err != nil {
				return err
			}
			if err := q.InsertRecording(ctx, rec); err != nil {
				return err
			}
			if err := q.InsertComposition(ctx, c); err != nil {
				return err
			}
			return q.AppendDelivery(ctx, domain.Delivery{Event: domain.Event{ID: id(), Type: domain.EventSessionStarted,
				OccurredAt: at, RoomID: r.ID, SessionID: s.ID}, URL: "https://example.com/h", Status: domain.DeliveryPending,
				NextAttemptAt: at, CreatedAt: at, UpdatedAt: at})
		})
		if err != nil {
			t.Fatal(err)
		}
		sessions, parts, recs, comps = append(sessions, s), append(parts, p), append(recs, rec), append(comps, c)
	}
	order := func(n int, at func(i int) time.Time, key func(i int) string) []string {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int {
			if c := at(b).Compare(at(a)); c != 0 {
				return c
			}
			return strings.Compare(key(b), key(a))
		})
		out := make([]string, n)
		for i, j := range idx {
			out[i] = key(j)
		}
		return out
	}
	check := func(name string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: paged in turn %d rows, want the list's %d in order\ngot  %v\nwant %v", name, len(got), len(want), got, want)
		}
	}
	for _, size := range []int{2, 5} {
		got, _ := walk(t, size, func(p store.Page) ([]domain.Session, int, error) {
			return st.ListSessions(ctx, store.SessionFilter{RoomID: &r.ID}, p)
		}, func(s domain.Session) string { return s.ID }, nil)
		check(fmt.Sprintf("sessions by %d", size), got, order(23, func(i int) time.Time { return sessions[i].CreatedAt },
			func(i int) string { return sessions[i].ID }))
		got, _ = walk(t, size, func(p store.Page) ([]domain.Participant, int, error) {
			return st.ListParticipants(ctx, store.ParticipantFilter{}, p)
		}, func(x domain.Participant) string { return x.ID }, nil)
		check(fmt.Sprintf("participants by %d", size), got, order(23, func(i int) time.Time { return parts[i].JoinedAt },
			func(i int) string { return parts[i].ID }))
		got, _ = walk(t, size, func(p store.Page) ([]domain.Recording, int, error) {
			return st.ListRecordings(ctx, store.RecordingFilter{RoomID: &r.ID}, p)
		}, func(x domain.Recording) string { return x.ID }, nil)
		check(fmt.Sprintf("recordings by %d", size), got, order(23, func(i int) time.Time { return recs[i].StartedAt },
			func(i int) string { return recs[i].ID }))
		got, _ = walk(t, size, func(p store.Page) ([]domain.Composition, int, error) {
			return st.ListCompositions(ctx, store.CompositionFilter{}, p)
		}, func(x domain.Composition) string { return x.ID }, nil)
		check(fmt.Sprintf("compositions by %d", size), got, order(23, func(i int) time.Time { return comps[i].CreatedAt },
			func(i int) string { return comps[i].ID }))
		all, _, err := st.ListDeliveries(ctx, store.DeliveryFilter{}, store.Page{Number: 1, Size: 100})
		if err != nil {
			t.Fatal(err)
		}
		var wantDeliveries []string
		for _, d := range all {
			wantDeliveries = append(wantDeliveries, d.Event.ID)
		}
		got, _ = walk(t, size, func(p store.Page) ([]domain.Delivery, int, error) {
			return st.ListDeliveries(ctx, store.DeliveryFilter{}, p)
		}, func(d domain.Delivery) string { return d.Event.ID }, nil)
		check(fmt.Sprintf("deliveries by %d", size), got, wantDeliveries)
	}
}

// testRoomLockOrdersEvents: transactions that lock a room (LockRoom) run
// one after another, so the events they append get outbox sequence
// numbers in the order the transactions took the lock: a room's webhooks
// go out in the order its changes were committed.
func testRoomLockOrdersEvents(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := mustInsert(t, st, room(base))
	var (
		mu    sync.Mutex
		order []string // event ids, in the order the lock was taken
		wg    sync.WaitGroup
	)
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- st.InTx(ctx, func(q store.Queries) error {
				if _, err := q.LockRoom(ctx, r.ID); err != nil {
					return err
				}
				ev := domain.Event{ID: id(), Type: domain.EventParticipantJoined, OccurredAt: base, RoomID: r.ID,
					Context: fmt.Sprint(i)}
				mu.Lock()
				order = append(order, ev.ID)
				mu.Unlock()
				// A few reads while the lock is held, as a real change makes.
				for range 3 {
					if _, err := q.GetRoom(ctx, r.ID); err != nil {
						return err
					}
				}
				return q.AppendDelivery(ctx, domain.Delivery{Event: ev, URL: "https://example.com/h",
					Status: domain.DeliveryPending, NextAttemptAt: base, CreatedAt: base, UpdatedAt: base})
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	list, _, err := st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &r.ID}, store.Page{Number: 1, Size: 50})
	if err != nil {
		t.Fatal(err)
	}
	var bySeq []string // newest first in the list: reverse it
	for i := len(list) - 1; i >= 0; i-- {
		bySeq = append(bySeq, list[i].Event.ID)
	}
	if !slices.Equal(bySeq, order) {
		t.Errorf("events by sequence number %v,\nwant the order the room lock was taken %v", bySeq, order)
	}
}

// testSessionNodes: a session keeps the node that serves it, and the
// sessions of one node can be listed.
func testSessionNodes(t *testing.T, st store.Store) {
	ctx := context.Background()
	var ids []string
	for i, node := range []string{"node-a", "node-b", ""} {
		r := mustInsert(t, st, room(base.Add(time.Duration(i)*time.Second)))
		s := domain.Session{ID: id(), RoomID: r.ID, Active: true, CreatedAt: base, UpdatedAt: base, NodeID: node}
		if err := st.InTx(ctx, func(q store.Queries) error { return q.InsertSession(ctx, s) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	if got, err := st.GetSession(ctx, ids[0]); err != nil || got.NodeID != "node-a" {
		t.Errorf("GetSession = %+v, %v; want node-a", got, err)
	}
	active := true
	for i, node := range []string{"node-a", "node-b", ""} {
		list, total, err := st.ListSessions(ctx, store.SessionFilter{Active: &active, NodeID: &node}, store.Page{Number: 1, Size: 10})
		if err != nil || total != 1 || list[0].ID != ids[i] {
			t.Errorf("sessions of %q: %+v, %d, %v", node, list, total, err)
		}
	}
}
