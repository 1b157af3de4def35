package participants_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/participants"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/sfu"
	"github.com/roomsd/roomsd/internal/testutil"
)

type setup struct {
	rooms *rooms.Service
	media *sfu.Manager
	svc   *participants.Service
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	media, err := sfu.NewManager(sfu.Config{UDP: udp, Loopback: true, ConnectTimeout: time.Hour}, log)
	if err != nil {
		t.Fatal(err)
	}
	st := testutil.OpenStore(t)
	r := rooms.New(st, rooms.WithMedia(media))
	s := &setup{rooms: r, media: media, svc: participants.New(r, media, log, 0)}
	t.Cleanup(func() {
		media.Close(domain.ReasonDisconnected)
		s.svc.Wait()
		udp.Close()
	})
	return s
}

func (s *setup) room(t *testing.T, max int) string {
	t.Helper()
	r, err := s.rooms.CreateRoom(context.Background(), rooms.RoomChanges{MaxParticipants: rooms.Some(max)})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// left waits for the Left callback.
func left(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(time.Minute): // a hang fails the test, not the suite
		t.Fatal("Left never ran")
		return ""
	}
}

// A join is admitted in the database, where the cap holds, before it
// reaches the media server; when the participant goes, its leave is
// recorded, then the front end hears of it, and its place is free again.
func TestJoinAdmitsAndRecordsTheLeave(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	roomID := s.room(t, 2)
	var admitted domain.Participant
	gone := make(chan string, 1)
	p, err := s.svc.Join(ctx, participants.Request{RoomID: roomID, Context: "alice",
		Admitted: func(part domain.Participant) {
			admitted = part
			if s.media.Participant(part.ID) != nil {
				t.Error("Admitted ran after the media join")
			}
		},
		Events: func(sfu.Event) {},
		Left: func(p *sfu.Participant, reason string) {
			if now, err := s.rooms.GetParticipant(context.Background(), p.ID()); err != nil || now.LeftAt == nil {
				t.Errorf("Left ran before the leave was recorded: %+v %v", now, err)
			}
			gone <- reason
		}})
	if err != nil {
		t.Fatal(err)
	}
	if admitted.ID != p.ID() || p.RoomID() != roomID {
		t.Fatalf("admitted %+v, joined %s in %s", admitted, p.ID(), p.RoomID())
	}
	if _, err := s.svc.Join(ctx, participants.Request{RoomID: roomID, Events: func(sfu.Event) {}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Join(ctx, participants.Request{RoomID: roomID, Events: func(sfu.Event) {}}); !errors.Is(err, domain.ErrRoomFull) {
		t.Fatalf("a third join into a room for two: %v, want ErrRoomFull", err)
	}
	p.Close(domain.ReasonLeft)
	if r := left(t, gone); r != domain.ReasonLeft {
		t.Errorf("left for %q, want %q", r, domain.ReasonLeft)
	}
	now, err := s.rooms.GetParticipant(ctx, p.ID())
	if err != nil || now.LeftReason != domain.ReasonLeft {
		t.Fatalf("recorded %+v, %v; want left", now, err)
	}
	if _, err := s.svc.Join(ctx, participants.Request{RoomID: roomID, Events: func(sfu.Event) {}}); err != nil {
		t.Fatalf("the place did not come free: %v", err)
	}
	if _, err := s.svc.Join(ctx, participants.Request{RoomID: "01a22000-0000-7000-8000-000000000000", Events: func(sfu.Event) {}}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a join into no room: %v, want ErrNotFound", err)
	}
}

// A kick recorded between the admission and the media join (which found
// nobody to disconnect then) takes effect once the participant is
// reachable.
func TestKickDuringTheJoinHolds(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	gone := make(chan string, 1)
	_, err := s.svc.Join(ctx, participants.Request{RoomID: s.room(t, 5), Events: func(sfu.Event) {},
		Admitted: func(part domain.Participant) {
			if _, err := s.rooms.Leave(ctx, part.ID, domain.ReasonKicked); err != nil {
				t.Error(err)
			}
		},
		Left: func(_ *sfu.Participant, reason string) { gone <- reason }})
	if err != nil {
		t.Fatal(err)
	}
	if r := left(t, gone); r != domain.ReasonKicked {
		t.Errorf("left for %q, want kicked", r)
	}
}

// When the media server does not take the participant, the admission is
// undone (recorded as a disconnect), and after Wait no join is taken.
func TestRefusedJoinIsUndone(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	roomID := s.room(t, 2)
	s.media.Close(domain.ReasonDisconnected)
	var id string
	_, err := s.svc.Join(ctx, participants.Request{RoomID: roomID, Events: func(sfu.Event) {},
		Admitted: func(part domain.Participant) { id = part.ID }})
	if !errors.Is(err, participants.ErrUnavailable) {
		t.Fatalf("join with the media server closed: %v, want ErrUnavailable", err)
	}
	if now, err := s.rooms.GetParticipant(ctx, id); err != nil || now.LeftReason != domain.ReasonDisconnected {
		t.Fatalf("recorded %+v, %v; want disconnected", now, err)
	}
	s.svc.Wait()
	called := false
	_, err = s.svc.Join(ctx, participants.Request{RoomID: roomID, Events: func(sfu.Event) {},
		Admitted: func(domain.Participant) { called = true }})
	if !errors.Is(err, participants.ErrUnavailable) || called {
		t.Fatalf("join after Wait: %v (admitted told: %v), want ErrUnavailable before the media server", err, called)
	}
}
