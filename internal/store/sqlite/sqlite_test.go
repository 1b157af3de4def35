package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/store/storetest"
)

// openStore opens the database at path and closes it when the test ends.
func openStore(tb testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openStore(t, filepath.Join(t.TempDir(), "roomsd.db"))
	})
}

func TestContractWithoutListCache(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openStore(t, filepath.Join(t.TempDir(), "roomsd.db"), sqlite.WithoutListCache())
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
