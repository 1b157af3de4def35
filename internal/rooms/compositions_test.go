package rooms_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store/sqlite"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "roomsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A composition's job: enqueueing wakes the renderer; a claim leases it,
// a release hands it straight back, a failure keeps its reason and is
// final against a second failure, and a later completion clears the
// reason.
func TestCompositionJob(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	woken := 0
	svc := rooms.New(openStore(t), rooms.WithClock(c.Now), rooms.WithCompositionNotifier(func() { woken++ }))
	room, err := svc.CreateRoom(ctx, rooms.RoomChanges{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Join(ctx, room.ID, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.EndSession(ctx, p.SessionID, domain.ReasonAPI); err != nil {
		t.Fatal(err)
	}
	comp, err := svc.CreateComposition(ctx, rooms.CompositionRequest{SessionID: &p.SessionID})
	if err != nil || woken != 1 {
		t.Fatalf("create: %v, the renderer woken %d times", err, woken)
	}
	if _, err := svc.CreateComposition(ctx, rooms.CompositionRequest{}); err == nil || woken != 1 {
		t.Errorf("a refused composition: %v, the renderer woken %d times", err, woken)
	}

	job, ok, err := svc.ClaimComposition(ctx, 30*time.Second)
	if err != nil || !ok || job.ID != comp.ID || job.Status != domain.CompositionProcessing || job.Attempts != 1 ||
		!job.StartedAt.Equal(c.Now()) {
		t.Fatalf("claim: %v %v %+v", ok, err, job)
	}
	if _, ok, _ := svc.ClaimComposition(ctx, 30*time.Second); ok {
		t.Fatal("claimed a leased composition")
	}
	c.Set(c.Now().Add(20 * time.Second))
	if ok, err := svc.RenewComposition(ctx, job.ID, job.Attempts, 30*time.Second); !ok || err != nil {
		t.Fatalf("renew: %v %v", ok, err)
	}
	c.Set(c.Now().Add(20 * time.Second)) // past the first lease, within the renewed one
	if _, ok, _ := svc.ClaimComposition(ctx, 30*time.Second); ok {
		t.Fatal("claimed a composition whose lease was renewed")
	}
	if err := svc.ReleaseComposition(ctx, job.ID, job.Attempts); err != nil {
		t.Fatal(err)
	}
	job, ok, err = svc.ClaimComposition(ctx, 30*time.Second)
	if err != nil || !ok || job.Attempts != 2 {
		t.Fatalf("claim after the release: %v %v, attempt %d", ok, err, job.Attempts)
	}

	failed, err := svc.FailComposition(ctx, job.ID, "ffmpeg failed")
	if err != nil || failed.Status != domain.CompositionFailed || failed.FailureReason == nil || *failed.FailureReason != "ffmpeg failed" ||
		failed.EndedAt == nil || failed.CompletedAt != nil {
		t.Fatalf("fail: %v %+v", err, failed)
	}
	again, err := svc.FailComposition(ctx, job.ID, "another reason")
	if err != nil || *again.FailureReason != "ffmpeg failed" || !again.UpdatedAt.Equal(failed.UpdatedAt) {
		t.Errorf("a second failure changed the composition: %v %+v", err, again)
	}
	if ok, _ := svc.RenewComposition(ctx, job.ID, job.Attempts, 30*time.Second); ok {
		t.Error("renewed the lease of a failed composition")
	}
	done, err := svc.CompleteComposition(ctx, job.ID, 1.5, 60, "http://roomsd.test/c")
	if err != nil || done.Status != domain.CompositionCompleted || done.FailureReason != nil {
		t.Errorf("complete after a failure: %v %+v", err, done)
	}
	if got, _ := svc.FailComposition(ctx, job.ID, "late"); got.Status != domain.CompositionCompleted {
		t.Errorf("a failure after completion: %s", got.Status)
	}
}
