package rooms_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store/sqlite"
)

// clock is a settable time source for deterministic timestamps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func ptr[T any](v T) *T          { return &v }
func newService(t *testing.T, c *clock) *rooms.Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "roomsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return rooms.New(st, rooms.WithClock(c.Now))
}

func TestCreateDefaultsAndUpdateAdvances(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2024, 1, 2, 3, 4, 5, 678901234, time.UTC)}
	svc := newService(t, c)
	r, err := svc.CreateRoom(ctx, rooms.RoomChanges{})
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxParticipants != 10 || r.EnableRecording || r.WebhookEventFailoverURL == nil || *r.WebhookEventFailoverURL != "" ||
		r.UniqueName != nil || r.WebhookEventURL != nil || r.WebhookTimeoutSecs != nil {
		t.Errorf("defaults = %+v", r)
	}
	if !r.CreatedAt.Equal(time.Date(2024, 1, 2, 3, 4, 5, 678901000, time.UTC)) {
		t.Errorf("created_at = %v, want microsecond-truncated clock", r.CreatedAt)
	}
	// The clock has not moved: updated_at must still advance.
	u, err := svc.UpdateRoom(ctx, r.ID, rooms.RoomChanges{MaxParticipants: rooms.Some(3)})
	if err != nil {
		t.Fatal(err)
	}
	if !u.UpdatedAt.After(r.UpdatedAt) || !u.CreatedAt.Equal(r.CreatedAt) || u.MaxParticipants != 3 {
		t.Errorf("after update: %+v (before %+v)", u, r)
	}
	// An update that sends nothing changes nothing.
	same, err := svc.UpdateRoom(ctx, r.ID, rooms.RoomChanges{})
	if err != nil || !same.UpdatedAt.Equal(u.UpdatedAt) {
		t.Errorf("empty update moved updated_at: %v -> %v (%v)", u.UpdatedAt, same.UpdatedAt, err)
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	svc := newService(t, &clock{t: time.Now()})
	cases := []struct {
		c     rooms.RoomChanges
		field string
		kind  domain.Kind
	}{
		{rooms.RoomChanges{MaxParticipants: rooms.Some(1)}, "max_participants", domain.KindInvalid},
		{rooms.RoomChanges{MaxParticipants: rooms.Some(51)}, "max_participants", domain.KindInvalid},
		{rooms.RoomChanges{WebhookTimeoutSecs: rooms.Some(ptr(-1))}, "webhook_timeout_secs", domain.KindInvalid},
		{rooms.RoomChanges{WebhookTimeoutSecs: rooms.Some(ptr(31))}, "webhook_timeout_secs", domain.KindInvalid},
		{rooms.RoomChanges{UniqueName: rooms.Some(ptr(""))}, "unique_name", domain.KindInvalid},
		{rooms.RoomChanges{WebhookEventURL: rooms.Some(ptr("ftp://example.com"))}, "webhook_event_url", domain.KindInvalidURL},
		{rooms.RoomChanges{WebhookEventFailoverURL: rooms.Some(ptr("/relative"))}, "webhook_event_failover_url", domain.KindInvalidURL},
	}
	for _, tc := range cases {
		_, err := svc.CreateRoom(ctx, tc.c)
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || ve.Kind != tc.kind {
			t.Errorf("%+v: got %v, want %s error on %s", tc.c, err, []string{"invalid", "url"}[tc.kind], tc.field)
		}
	}
}

func TestJoinLeaveEnd(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
	svc := newService(t, c)
	r, _ := svc.CreateRoom(ctx, rooms.RoomChanges{MaxParticipants: rooms.Some(2)})
	a, err := svc.Join(ctx, r.ID, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Join(ctx, r.ID, "Bob")
	if err != nil || b.SessionID != a.SessionID {
		t.Fatalf("second join: %v, session %s vs %s", err, b.SessionID, a.SessionID)
	}
	if _, err := svc.Join(ctx, r.ID, "Carol"); !errors.Is(err, domain.ErrRoomFull) {
		t.Fatalf("third join in a room of 2: %v, want ErrRoomFull", err)
	}
	view, _ := svc.ViewRoom(ctx, r.ID, true)
	if view.ActiveSessionID == nil || *view.ActiveSessionID != a.SessionID || len(view.Sessions) != 1 || len(view.Sessions[0].Participants) != 2 {
		t.Fatalf("view = %+v", view)
	}
	if _, err := svc.Leave(ctx, a.ID, domain.ReasonLeft); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Join(ctx, r.ID, "Carol"); err != nil {
		t.Fatalf("join after a leave: %v", err)
	}
	c.Set(c.Now().Add(time.Hour))
	s, present, err := svc.EndSession(ctx, a.SessionID, domain.ReasonEnded)
	if err != nil || s.Active || s.EndedAt == nil || len(present) != 2 {
		t.Fatalf("EndSession = %+v, %d present, %v", s, len(present), err)
	}
	if _, _, err := svc.EndSession(ctx, a.SessionID, domain.ReasonEnded); !errors.Is(err, domain.ErrSessionEnded) {
		t.Errorf("second EndSession: %v, want ErrSessionEnded", err)
	}
	view, _ = svc.ViewRoom(ctx, r.ID, true)
	if view.ActiveSessionID != nil {
		t.Errorf("active_session_id after end = %s", *view.ActiveSessionID)
	}
	for _, p := range view.Sessions[0].Participants {
		if p.LeftAt == nil {
			t.Errorf("participant %s still present after the session ended", p.Context)
		}
	}
	d, err := svc.Join(ctx, r.ID, "Dave")
	if err != nil || d.SessionID == a.SessionID {
		t.Errorf("join after end: %v, session %s; want a new session", err, d.SessionID)
	}
}

func TestConcurrentJoinsRespectCap(t *testing.T) {
	ctx := context.Background()
	svc := newService(t, &clock{t: time.Now()})
	r, _ := svc.CreateRoom(ctx, rooms.RoomChanges{MaxParticipants: rooms.Some(10)})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Join(ctx, r.ID, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, domain.ErrRoomFull):
				full++
			default:
				t.Errorf("join: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 10 || full != 90 {
		t.Errorf("100 concurrent joins into a room of 10: %d joined, %d refused; want 10 and 90", ok, full)
	}
}
