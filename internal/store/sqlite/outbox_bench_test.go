package sqlite_test

// Cost of one read of the webhook dispatcher's due queue heads, by how
// many events are pending (spread over 50 rooms, all due):
//
//	go test -run '^$' -bench DueDeliveries -benchmem ./internal/store/sqlite/

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

func BenchmarkDueDeliveries(b *testing.B) {
	ctx := context.Background()
	for _, pending := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			st := openStore(b, filepath.Join(b.TempDir(), "outbox.db"))
			now := time.Now()
			rooms := make([]string, 50)
			for i := range rooms {
				rooms[i] = uuid.NewString()
			}
			err := st.InTx(ctx, func(q store.Queries) error {
				for i := 0; i < pending; i++ {
					ev := domain.Event{ID: uuid.NewString(), Type: domain.EventParticipantJoined, RoomID: rooms[i%len(rooms)],
						SessionID: uuid.NewString(), ParticipantID: uuid.NewString(), Context: "x", OccurredAt: now}
					if err := q.AppendDelivery(ctx, domain.Delivery{Event: ev, URL: "http://127.0.0.1:9/hook",
						Status: domain.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				due, err := st.DueDeliveries(ctx, now.Add(time.Second), 64)
				if err != nil || len(due) != len(rooms) {
					b.Fatalf("%d due, %v", len(due), err)
				}
			}
		})
	}
}
