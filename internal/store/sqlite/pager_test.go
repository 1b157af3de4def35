package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// TestPagingInTurnSkipsNoRows: the work of reading page N+1 right after
// page N does not grow with N. Every page after the first is a seek from
// where the one before ended; no OFFSET skips rows. The work is counted
// by the store (seeks, and the rows OFFSETs skipped), not timed. A page
// asked for out of turn is read with an OFFSET, and the rows it skips
// are counted.
func TestPagingInTurnSkipsNoRows(t *testing.T) {
	ctx := context.Background()
	for _, opts := range [][]Option{nil, {WithoutListCache()}} {
		st, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		err = st.InTx(ctx, func(q store.Queries) error {
			for i := range 500 {
				at := base.Add(time.Duration(i) * time.Second)
				if err := q.InsertRoom(ctx, domain.Room{ID: uuid.Must(uuid.NewV7()).String(), MaxParticipants: 10, CreatedAt: at, UpdatedAt: at}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		filters := []store.RoomFilter{{}, {CreatedAt: store.TimeRange{Until: base.Add(400 * time.Second)}},
			{UpdatedAt: store.TimeRange{From: base.Add(10 * time.Second)}}}
		for _, f := range filters {
			seeks, offsets, skipped := st.pager.seeks.Load(), st.pager.offsets.Load(), st.pager.skipped.Load()
			pages := 0
			for n := 1; ; n++ {
				rs, _, err := st.ListRooms(ctx, f, store.Page{Number: n, Size: 20})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(rs) < 20 {
					break
				}
			}
			if got := st.pager.seeks.Load() - seeks; got != int64(pages-1) {
				t.Errorf("filter %+v: %d of %d pages after the first read by seeking", f, got, pages-1)
			}
			if o, s := st.pager.offsets.Load()-offsets, st.pager.skipped.Load()-skipped; o != 0 || s != 0 {
				t.Errorf("filter %+v: %d pages read with an OFFSET, skipping %d rows; want none", f, o, s)
			}
		}
		// Out of turn: an OFFSET, and the rows it skips.
		skipped := st.pager.skipped.Load()
		if _, _, err := st.ListRooms(ctx, store.RoomFilter{}, store.Page{Number: 20, Size: 7}); err != nil {
			t.Fatal(err)
		}
		if got := st.pager.skipped.Load() - skipped; got != 19*7 {
			t.Errorf("page 20 of 7 out of turn skipped %d rows, want %d", got, 19*7)
		}
	}
}
