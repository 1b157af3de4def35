package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/postgres"
)

// seedRooms inserts n rooms, one a second from 2024-01-01, through SQL.
func seedRooms(b *testing.B, st *postgres.Store, n int) {
	b.Helper()
	ctx := context.Background()
	_, err := st.Pool().Exec(ctx, `INSERT INTO rooms (id, max_participants, created_at, updated_at)
		SELECT md5(g::text), 10, 1704067200000000 + g::bigint * 1000000, 1704067200000000 + g::bigint * 1000000
		FROM generate_series(1, $1::int) AS g`, n)
	if err == nil {
		_, err = st.Pool().Exec(ctx, `VACUUM ANALYZE rooms`)
	}
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDeepRoomPage reads one page of 20 rooms deep in a list of
// 200,000: by OFFSET (no page before it remembered), and by seeking on
// from the page before it, as a client paging in turn does.
func BenchmarkDeepRoomPage(b *testing.B) {
	ctx := context.Background()
	st := openStore(b, freshSchema(b))
	seedRooms(b, st, 200_000)
	// A filter that every room matches: its total is a count of 200,000
	// rows, which a seek page reuses while nothing changes.
	filtered := store.RoomFilter{UpdatedAt: store.TimeRange{From: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}}
	for _, number := range []int{2, 500, 9000} {
		page := store.Page{Number: number, Size: 20}
		b.Run(fmt.Sprintf("offset/page%d", number), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := st.ListRooms(ctx, store.RoomFilter{}, page); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				st.ForgetPages()
				b.StartTimer()
			}
		})
		for name, f := range map[string]store.RoomFilter{"seek": {}, "seek-filtered": filtered} {
			b.Run(fmt.Sprintf("%s/page%d", name, number), func(b *testing.B) {
				prev := store.Page{Number: number - 1, Size: 20}
				if _, _, err := st.ListRooms(ctx, f, prev); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if _, total, err := st.ListRooms(ctx, f, page); err != nil || total != 200_000 {
						b.Fatalf("total %d, %v", total, err)
					}
				}
			})
		}
	}
}
