package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "roomsd.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestContract(t *testing.T) {
	storetest.Run(t, open)
}

func TestContractWithoutListCache(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "roomsd.db"), sqlite.WithoutListCache())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestReopenKeepsDataAndSkipsApplied(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roomsd.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InsertAPIKeyHash(ctx, make([]byte, 32), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st.Close()
	if hs, err := st.APIKeyHashes(ctx); err != nil || len(hs) != 1 {
		t.Errorf("after reopen: %d keys, %v; want 1", len(hs), err)
	}
}

// The room-list cache must never serve a page that a commit has changed,
// whether the commit came through this store or another process on the
// same file.
func TestListCacheSeesEveryCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roomsd.db")
	a, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	other, err := sqlite.Open(ctx, path) // stands in for another process
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	page := store.Page{Number: 1, Size: 10}
	count := func() int {
		t.Helper()
		rooms, total, err := a.ListRooms(ctx, store.RoomFilter{}, page)
		if err != nil || len(rooms) != total {
			t.Fatalf("ListRooms: %d rooms, total %d, %v", len(rooms), total, err)
		}
		return total
	}
	at := time.Unix(1700000000, 0).UTC()
	room := func(i int) domain.Room {
		return domain.Room{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), MaxParticipants: 10, CreatedAt: at, UpdatedAt: at}
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
