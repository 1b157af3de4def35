package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

func testSigningKey(t *testing.T, st store.Store) {
	ctx := context.Background()
	if _, err := st.SigningKeySeed(ctx, "token"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("SigningKeySeed on a new store: %v, want ErrNotFound", err)
	}
	seed := []byte("0123456789abcdef0123456789abcdef")
	if err := st.InsertSigningKeySeed(ctx, "token", "kid1", seed, base); err != nil {
		t.Fatal(err)
	}
	got, err := st.SigningKeySeed(ctx, "token")
	if err != nil || string(got) != string(seed) {
		t.Errorf("SigningKeySeed = %q, %v", got, err)
	}
	if _, err := st.SigningKeySeed(ctx, "webhook"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a token key answered for the webhook purpose: %v", err)
	}
	// Two servers starting at once on a new database each create a key;
	// both must then use one: the first stored stays the key, whatever
	// the order the second's is stored or read in.
	if err := st.InsertSigningKeySeed(ctx, "token", "kid2", []byte("another seed of thirty-two bytes."), base.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := st.SigningKeySeed(ctx, "token"); err != nil || string(got) != string(seed) {
		t.Errorf("after a second key was stored, SigningKeySeed = %q, %v; want the first", got, err)
	}
}

func day(d int) time.Time { return time.Date(2024, 3, d, 0, 0, 0, 0, time.UTC) }

func wholeDay(d int) store.TimeRange { return store.TimeRange{From: day(d), Until: day(d + 1)} }

func testListSessionsAndParticipants(t *testing.T, st store.Store) {
	ctx := context.Background()
	r1, r2 := mustInsert(t, st, room(base)), mustInsert(t, st, room(base))
	s1 := domain.Session{ID: id(), RoomID: r1.ID, CreatedAt: day(1), UpdatedAt: day(2), EndedAt: ptr(day(2)), EndedReason: "api"}
	s2 := domain.Session{ID: id(), RoomID: r1.ID, Active: true, CreatedAt: day(3), UpdatedAt: day(3)}
	s3 := domain.Session{ID: id(), RoomID: r2.ID, Active: true, CreatedAt: day(4), UpdatedAt: day(4)}
	for _, s := range []domain.Session{s1, s2, s3} {
		if err := st.InsertSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	sids := func(ss []domain.Session) string {
		out := ""
		for _, s := range ss {
			out += map[string]string{s1.ID: "s1", s2.ID: "s2", s3.ID: "s3"}[s.ID] + " "
		}
		return out
	}
	for _, tc := range []struct {
		f    store.SessionFilter
		want string
	}{
		{store.SessionFilter{}, "s3 s2 s1 "},
		{store.SessionFilter{RoomID: &r1.ID}, "s2 s1 "},
		{store.SessionFilter{Active: ptr(true)}, "s3 s2 "},
		{store.SessionFilter{Active: ptr(false)}, "s1 "},
		{store.SessionFilter{CreatedAt: wholeDay(3)}, "s2 "},
		{store.SessionFilter{UpdatedAt: store.TimeRange{From: day(2), Until: day(4)}}, "s2 s1 "},
		{store.SessionFilter{EndedAt: wholeDay(2)}, "s1 "},
		{store.SessionFilter{EndedAt: wholeDay(3)}, ""},
	} {
		got, total, err := st.ListSessions(ctx, tc.f, store.Page{Number: 1, Size: 10})
		if err != nil || sids(got) != tc.want || total != len(got) {
			t.Errorf("ListSessions(%+v) = %q (total %d), %v; want %q", tc.f, sids(got), total, err, tc.want)
		}
	}
	if got, _ := st.GetSession(ctx, s1.ID); got.EndedReason != "api" {
		t.Errorf("ended_reason = %q", got.EndedReason)
	}
	if page, total, _ := st.ListSessions(ctx, store.SessionFilter{}, store.Page{Number: 2, Size: 2}); sids(page) != "s1 " || total != 3 {
		t.Errorf("page 2 of size 2 = %q, total %d", sids(page), total)
	}

	alice := domain.Participant{ID: id(), SessionID: s2.ID, Context: "Alice", JoinedAt: day(3), UpdatedAt: day(3)}
	bob := domain.Participant{ID: id(), SessionID: s2.ID, Context: "Bob", JoinedAt: day(4), UpdatedAt: day(5), LeftAt: ptr(day(5)), LeftReason: "kicked"}
	carol := domain.Participant{ID: id(), SessionID: s3.ID, Context: "Alice", JoinedAt: day(6), UpdatedAt: day(6), AudioMuted: true}
	for _, p := range []domain.Participant{alice, bob, carol} {
		if err := st.InsertParticipant(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	pids := func(ps []domain.Participant) string {
		out := ""
		for _, p := range ps {
			out += map[string]string{alice.ID: "alice", bob.ID: "bob", carol.ID: "carol"}[p.ID] + " "
		}
		return out
	}
	for _, tc := range []struct {
		f    store.ParticipantFilter
		want string
	}{
		{store.ParticipantFilter{}, "carol bob alice "},
		{store.ParticipantFilter{SessionID: &s2.ID}, "bob alice "},
		{store.ParticipantFilter{Context: ptr("Alice")}, "carol alice "},
		{store.ParticipantFilter{Context: ptr("alice")}, ""},
		{store.ParticipantFilter{JoinedAt: store.TimeRange{Until: day(5)}}, "bob alice "},
		{store.ParticipantFilter{UpdatedAt: wholeDay(5)}, "bob "},
		{store.ParticipantFilter{LeftAt: wholeDay(5)}, "bob "},
	} {
		got, total, err := st.ListParticipants(ctx, tc.f, store.Page{Number: 1, Size: 10})
		if err != nil || pids(got) != tc.want || total != len(got) {
			t.Errorf("ListParticipants(%+v) = %q (total %d), %v; want %q", tc.f, pids(got), total, err, tc.want)
		}
	}
	present, err := st.PresentParticipants(ctx, s2.ID)
	if err != nil || pids(present) != "alice " {
		t.Errorf("PresentParticipants = %q, %v", pids(present), err)
	}
	if got, _ := st.GetParticipant(ctx, carol.ID); !got.AudioMuted || got.LeftReason != "" {
		t.Errorf("carol = %+v", got)
	}
	if got, _ := st.GetParticipant(ctx, bob.ID); got.LeftReason != "kicked" {
		t.Errorf("bob left_reason = %q", got.LeftReason)
	}
	if err := st.LeaveAll(ctx, s2.ID, day(7), domain.ReasonEnded); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetParticipant(ctx, alice.ID); got.LeftReason != domain.ReasonEnded || got.LeftAt == nil || !got.LeftAt.Equal(day(7)) {
		t.Errorf("alice after LeaveAll = %+v", got)
	}
	if got, _ := st.GetParticipant(ctx, bob.ID); got.LeftReason != "kicked" || !got.LeftAt.Equal(day(5)) {
		t.Errorf("LeaveAll touched bob, who had left: %+v", got)
	}
}

func recording(roomID, sessionID, participantID, typ string, started time.Time, dur *int) domain.Recording {
	r := domain.Recording{ID: id(), RoomID: roomID, SessionID: sessionID, ParticipantID: participantID, Status: domain.RecordingProcessing,
		Type: typ, Codec: "opus", StartedAt: started, CreatedAt: started, UpdatedAt: started}
	if dur != nil {
		r.Status, r.DurationSecs = domain.RecordingCompleted, dur
		end := started.Add(time.Duration(*dur) * time.Second)
		r.EndedAt, r.CompletedAt, r.SizeMB, r.DownloadURL = &end, &end, ptr(1.5), ptr("https://files.example/"+r.ID)
	}
	return r
}

func testRecordings(t *testing.T, st store.Store) {
	ctx := context.Background()
	rm, sess, part := id(), id(), id()
	a := recording(rm, sess, part, "audio", day(1), ptr(30))
	v := recording(rm, sess, part, "video", day(2), ptr(90))
	p := recording(id(), id(), id(), "audio", day(3), nil)
	for _, r := range []domain.Recording{a, v, p} {
		if err := st.InsertRecording(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.GetRecording(ctx, v.ID)
	if err != nil || fmt.Sprintf("%v %v %v %v", *got.SizeMB, *got.DurationSecs, *got.DownloadURL, got.EndedAt.UTC()) !=
		fmt.Sprintf("%v %v %v %v", 1.5, 90, "https://files.example/"+v.ID, v.EndedAt.UTC()) || got.Type != "video" {
		t.Errorf("GetRecording = %+v, %v", got, err)
	}
	names := map[string]string{a.ID: "a", v.ID: "v", p.ID: "p"}
	list := func(f store.RecordingFilter) string {
		rs, total, err := st.ListRecordings(ctx, f, store.Page{Number: 1, Size: 10})
		out := ""
		for _, r := range rs {
			out += names[r.ID] + " "
		}
		if err != nil || total != len(rs) {
			t.Errorf("ListRecordings(%+v): total %d, %v", f, total, err)
		}
		return out
	}
	for _, tc := range []struct {
		f    store.RecordingFilter
		want string
	}{
		{store.RecordingFilter{}, "p v a "},
		{store.RecordingFilter{RoomID: &rm}, "v a "},
		{store.RecordingFilter{SessionID: &sess, Type: ptr("video")}, "v "},
		{store.RecordingFilter{ParticipantID: &part}, "v a "},
		{store.RecordingFilter{Status: ptr("processing")}, "p "},
		{store.RecordingFilter{DurationSecs: store.IntRange{Min: ptr(30), Max: ptr(30)}}, "a "},
		{store.RecordingFilter{DurationSecs: store.IntRange{Min: ptr(31)}}, "v "},
		{store.RecordingFilter{StartedAt: wholeDay(2)}, "v "},
		{store.RecordingFilter{EndedAt: store.TimeRange{From: day(1), Until: day(2)}}, "a "},
	} {
		if got := list(tc.f); got != tc.want {
			t.Errorf("ListRecordings(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
	// Completing a recording.
	end := day(4)
	p.Status, p.EndedAt, p.CompletedAt, p.UpdatedAt, p.DurationSecs, p.SizeMB, p.DownloadURL = "completed", &end, &end, end, ptr(5), ptr(0.1), ptr("u")
	if err := st.UpdateRecording(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := list(store.RecordingFilter{Status: ptr("completed")}); got != "p v a " {
		t.Errorf("after update: %q", got)
	}
	// Bulk delete: a page of the matching list, then the rest.
	ids, err := st.DeleteRecordings(ctx, store.RecordingFilter{RoomID: &rm}, &store.Page{Number: 1, Size: 1})
	n := len(ids)
	if err != nil || n != 1 || ids[0] != v.ID {
		t.Errorf("DeleteRecordings page = %v, %v; want [%s] (v)", ids, err, v.ID)
	}
	if got := list(store.RecordingFilter{}); got != "p a " {
		t.Errorf("after deleting the first page: %q, want the newest (v) gone", got)
	}
	ids, err = st.DeleteRecordings(ctx, store.RecordingFilter{Type: ptr("audio"), DurationSecs: store.IntRange{Max: ptr(60)}}, nil)
	n = len(ids)
	if err != nil || n != 2 {
		t.Errorf("DeleteRecordings = %d, %v; want 2", n, err)
	}
	if err := st.DeleteRecording(ctx, a.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("DeleteRecording of a deleted one: %v", err)
	}
	if _, err := st.GetRecording(ctx, p.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("GetRecording after delete: %v", err)
	}
}

func testCompositions(t *testing.T, st store.Store) {
	ctx := context.Background()
	sess := id()
	c1 := domain.Composition{ID: id(), RoomID: id(), SessionID: sess, Status: "enqueued", Format: "mp4", Resolution: "1280x720",
		VideoLayout:             map[string]domain.VideoRegion{"main": {XPos: ptr(0), Width: ptr(640), VideoSources: []string{"*"}}},
		WebhookEventFailoverURL: ptr(""), CreatedAt: day(1), UpdatedAt: day(1)}
	c2 := domain.Composition{ID: id(), RoomID: id(), SessionID: id(), Status: "completed", Format: "mp4", Resolution: "640x480",
		VideoLayout: map[string]domain.VideoRegion{}, WebhookEventURL: ptr("https://h.example"), WebhookTimeoutSecs: ptr(5),
		SizeMB: ptr(2.5), DurationSecs: ptr(60), DownloadURL: ptr("https://f.example/c2"), StartedAt: ptr(day(2)), EndedAt: ptr(day(2)),
		CompletedAt: ptr(day(2)), CreatedAt: day(2), UpdatedAt: day(2)}
	for _, c := range []domain.Composition{c1, c2} {
		if err := st.InsertComposition(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.GetComposition(ctx, c1.ID)
	if err != nil || fmt.Sprintf("%+v", got.VideoLayout["main"].VideoSources) != "[*]" || *got.VideoLayout["main"].Width != 640 ||
		got.VideoLayout["main"].Height != nil || *got.WebhookEventFailoverURL != "" || got.WebhookEventURL != nil {
		t.Errorf("GetComposition = %+v, %v", got, err)
	}
	got, _ = st.GetComposition(ctx, c2.ID)
	if *got.SizeMB != 2.5 || *got.WebhookTimeoutSecs != 5 || !got.CompletedAt.Equal(day(2)) {
		t.Errorf("GetComposition c2 = %+v", got)
	}
	for _, tc := range []struct {
		f    store.CompositionFilter
		want int
	}{
		{store.CompositionFilter{}, 2},
		{store.CompositionFilter{SessionID: &sess}, 1},
		{store.CompositionFilter{Status: ptr("completed")}, 1},
		{store.CompositionFilter{CreatedAt: wholeDay(1)}, 1},
		{store.CompositionFilter{CreatedAt: wholeDay(3)}, 0},
	} {
		cs, total, err := st.ListCompositions(ctx, tc.f, store.Page{Number: 1, Size: 10})
		if err != nil || len(cs) != tc.want || total != tc.want {
			t.Errorf("ListCompositions(%+v) = %d (total %d), %v; want %d", tc.f, len(cs), total, err, tc.want)
		}
	}
	if err := st.DeleteComposition(ctx, c1.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteComposition(ctx, c1.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

// Deleting a room must not take its recordings and compositions with it.
func testMediaOutlivesRoom(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := mustInsert(t, st, room(base))
	s := domain.Session{ID: id(), RoomID: r.ID, CreatedAt: base, UpdatedAt: base, EndedAt: ptr(base)}
	p := domain.Participant{ID: id(), SessionID: s.ID, JoinedAt: base, UpdatedAt: base, LeftAt: ptr(base)}
	if err := st.InsertSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertParticipant(ctx, p); err != nil {
		t.Fatal(err)
	}
	rec := recording(r.ID, s.ID, p.ID, "video", base, ptr(10))
	comp := domain.Composition{ID: id(), RoomID: r.ID, SessionID: s.ID, Status: "enqueued", Format: "mp4", Resolution: "1280x720",
		CreatedAt: base, UpdatedAt: base}
	if err := st.InsertRecording(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertComposition(ctx, comp); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteRoom(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetRecording(ctx, rec.ID); err != nil {
		t.Errorf("recording lost with its room: %v", err)
	}
	if _, err := st.GetComposition(ctx, comp.ID); err != nil {
		t.Errorf("composition lost with its room: %v", err)
	}
}

func testOutbox(t *testing.T, st store.Store) {
	ctx := context.Background()
	roomA, roomB := id(), id()
	add := func(room string, at time.Time, typ string) domain.Delivery {
		d := domain.Delivery{Event: domain.Event{ID: id(), Type: typ, OccurredAt: at, RoomID: room, SessionID: "s",
			ParticipantID: "p", Context: "Alice", DurationSecs: ptr(7), SizeMB: ptr(1.5), Reason: "kicked"},
			URL: "https://h.example/a", FailoverURL: "https://h.example/b", TimeoutSecs: ptr(3), Status: domain.DeliveryPending,
			NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
		if err := st.AppendDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a1 := add(roomA, day(1), domain.EventSessionStarted)
	add(roomA, day(1), domain.EventParticipantJoined)
	b1 := add(roomB, day(2), domain.EventSessionStarted)
	add(roomB, day(9), domain.EventParticipantLeft)

	if n, err := st.PendingDeliveries(ctx); n != 4 || err != nil {
		t.Errorf("PendingDeliveries = %d, %v; want 4", n, err)
	}
	due, err := st.DueDeliveries(ctx, day(3), 10)
	if err != nil || len(due) != 2 || due[0].Event.ID != a1.Event.ID || due[1].Event.ID != b1.Event.ID {
		t.Fatalf("DueDeliveries = %+v, %v; want the head of each room", due, err)
	}
	got := due[0]
	if got.Event.Context != "Alice" || *got.Event.DurationSecs != 7 || *got.Event.SizeMB != 1.5 || got.Event.Reason != "kicked" ||
		got.FailoverURL != "https://h.example/b" || *got.TimeoutSecs != 3 || got.Seq == 0 || !got.Event.OccurredAt.Equal(day(1)) {
		t.Errorf("round trip: %+v", got)
	}
	if ok, _ := st.ClaimDelivery(ctx, got.Seq, 1, "node-a", day(3), day(3).Add(time.Minute)); ok {
		t.Errorf("a claim with the wrong attempt count succeeded")
	}
	if ok, err := st.ClaimDelivery(ctx, got.Seq, 0, "node-a", day(3), day(3).Add(time.Minute)); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	// Claimed: a second dispatcher (another process on the database)
	// cannot take the same attempt, and the room's later events wait.
	if ok, _ := st.ClaimDelivery(ctx, got.Seq, 0, "node-a", day(3), day(3).Add(time.Minute)); ok {
		t.Errorf("a second claim of the same attempt succeeded")
	}
	if due, _ := st.DueDeliveries(ctx, day(3).Add(time.Second), 10); len(due) != 1 || due[0].Event.ID != b1.Event.ID {
		t.Errorf("while A's head is claimed, due = %d (want only B's head)", len(due))
	}
	// The claimer died: once the lease has passed the attempt is due again.
	if ok, _ := st.ClaimDelivery(ctx, got.Seq, 0, "node-b", day(3).Add(2*time.Minute), day(3).Add(3*time.Minute)); !ok {
		t.Errorf("an attempt whose lease ran out cannot be claimed again")
	}
	// node-b restarts: what it had claimed is due again at once; node-a
	// holds nothing.
	if n, err := st.ReleaseDeliveries(ctx, "node-a", day(3).Add(2*time.Minute)); n != 0 || err != nil {
		t.Errorf("ReleaseDeliveries(node-a) = %d, %v; want 0", n, err)
	}
	if n, err := st.ReleaseDeliveries(ctx, "node-b", day(3).Add(2*time.Minute)); n != 1 || err != nil {
		t.Errorf("ReleaseDeliveries(node-b) = %d, %v; want 1", n, err)
	}
	if ok, _ := st.ClaimDelivery(ctx, got.Seq, 0, "node-b", day(3).Add(2*time.Minute), day(3).Add(3*time.Minute)); !ok {
		t.Errorf("a released attempt cannot be claimed")
	}
	// A failed attempt moves the head into the future: room A waits.
	got.Attempts, got.NextAttemptAt, got.LastError, got.UpdatedAt = 1, day(5), "answered 500", day(3)
	if err := st.UpdateDelivery(ctx, got); err != nil {
		t.Fatal(err)
	}
	if due, _ := st.DueDeliveries(ctx, day(4), 10); len(due) != 1 || due[0].Event.ID != b1.Event.ID {
		t.Errorf("after A's failure, due = %d (want only B's head)", len(due))
	}
	// Delivered: the next event of room A becomes the head.
	got.Status, got.DeliveredTo, got.DeliveredAt = domain.DeliveryDelivered, got.URL, ptr(day(5))
	if err := st.UpdateDelivery(ctx, got); err != nil {
		t.Fatal(err)
	}
	if n, err := st.PendingDeliveries(ctx); n != 3 || err != nil {
		t.Errorf("after a delivery, PendingDeliveries = %d, %v; want 3", n, err)
	}
	due, _ = st.DueDeliveries(ctx, day(5), 10)
	if len(due) != 2 || due[0].Event.Type != domain.EventParticipantJoined {
		t.Errorf("after A's delivery, due = %+v", due)
	}
	delivered := domain.DeliveryDelivered
	list, total, err := st.ListDeliveries(ctx, store.DeliveryFilter{Status: &delivered}, store.Page{Number: 1, Size: 10})
	if err != nil || total != 1 || list[0].DeliveredTo != "https://h.example/a" || list[0].DeliveredAt == nil {
		t.Errorf("ListDeliveries(delivered) = %+v, %d, %v", list, total, err)
	}
	if _, total, _ := st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &roomB}, store.Page{Number: 1, Size: 10}); total != 2 {
		t.Errorf("room B has %d deliveries, want 2", total)
	}

	// Pruning deletes what is over (delivered, failed) and older than
	// the bound, never what is pending.
	_, all, _ := st.ListDeliveries(ctx, store.DeliveryFilter{}, store.Page{Number: 1, Size: 10})
	if n, err := st.PruneDeliveries(ctx, day(20), 10); err != nil || n != 1 {
		t.Errorf("PruneDeliveries = %d, %v; want the one delivered", n, err)
	}
	inB, _, _ := st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &roomB}, store.Page{Number: 1, Size: 10})
	for _, d := range inB {
		if d.Event.ID == b1.Event.ID {
			d.Status, d.Attempts, d.LastError, d.UpdatedAt = domain.DeliveryFailed, 12, "answered 500", day(3)
			if err := st.UpdateDelivery(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, _ := st.PruneDeliveries(ctx, day(2), 10); n != 0 {
		t.Errorf("PruneDeliveries before its creation deleted %d", n)
	}
	if n, _ := st.PruneDeliveries(ctx, day(20), 10); n != 1 {
		t.Errorf("PruneDeliveries of the failed one deleted %d, want 1", n)
	}
	if _, left, _ := st.ListDeliveries(ctx, store.DeliveryFilter{}, store.Page{Number: 1, Size: 10}); left != all-2 {
		t.Errorf("%d deliveries left of %d, want the %d pending", left, all, all-2)
	}
}

// queued is an enqueued composition created at the given time.
func queued(created time.Time) domain.Composition {
	return domain.Composition{ID: id(), RoomID: id(), SessionID: id(), Status: domain.CompositionEnqueued, Format: "mp4",
		Resolution: "640x360", VideoLayout: map[string]domain.VideoRegion{}, CreatedAt: created, UpdatedAt: created}
}

// Claims take the oldest waiting composition, never one whose lease is
// running, and again one whose lease has passed; a renewal holds only
// for the latest claim.
func testCompositionClaims(t *testing.T, st store.Store) {
	ctx := context.Background()
	done := queued(day(1))
	done.Status = domain.CompositionCompleted
	failed := queued(day(1))
	failed.Status, failed.FailureReason = domain.CompositionFailed, ptr("no recordings")
	first, second := queued(day(2)), queued(day(3))
	for _, c := range []domain.Composition{second, done, first, failed} {
		if err := st.InsertComposition(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := st.GetComposition(ctx, failed.ID); got.FailureReason == nil || *got.FailureReason != "no recordings" {
		t.Errorf("failure_reason round trip: %v", got.FailureReason)
	}
	now := day(10)
	lease := now.Add(30 * time.Second)
	claim := func(at, until time.Time) (domain.Composition, bool) {
		t.Helper()
		c, ok, err := st.ClaimComposition(ctx, at, until)
		if err != nil {
			t.Fatalf("ClaimComposition: %v", err)
		}
		return c, ok
	}
	c, ok := claim(now, lease)
	if !ok || c.ID != first.ID {
		t.Fatalf("first claim: %v %s, want the oldest enqueued (%s)", ok, c.ID, first.ID)
	}
	if c.Status != domain.CompositionProcessing || c.Attempts != 1 || c.StartedAt == nil || !c.StartedAt.Equal(now) ||
		!c.UpdatedAt.Equal(now) || c.FailureReason != nil {
		t.Errorf("claimed: %+v", c)
	}
	if got, _ := st.GetComposition(ctx, first.ID); got.Status != domain.CompositionProcessing || got.Attempts != 1 {
		t.Errorf("stored after the claim: status %s, attempts %d", got.Status, got.Attempts)
	}
	if c, ok := claim(now, lease); !ok || c.ID != second.ID {
		t.Fatalf("second claim: %v %s, want the next enqueued (%s)", ok, c.ID, second.ID)
	}
	if c, ok := claim(now.Add(29*time.Second), lease); ok {
		t.Fatalf("a third claim took %s while both leases run", c.ID)
	}
	// The second job's worker renews; the first's does not.
	later := now.Add(time.Minute)
	if ok, err := st.RenewComposition(ctx, second.ID, 1, later); !ok || err != nil {
		t.Fatalf("renew: %v %v", ok, err)
	}
	c, ok = claim(lease, lease.Add(30*time.Second))
	if !ok || c.ID != first.ID || c.Attempts != 2 || !c.StartedAt.Equal(now) {
		t.Fatalf("claim at the end of the first lease: %v %+v, want %s again, attempt 2, started_at kept", ok, c, first.ID)
	}
	if ok, err := st.RenewComposition(ctx, first.ID, 1, later); ok || err != nil {
		t.Errorf("the first worker renewed a job taken over: %v %v", ok, err)
	}
	if ok, _ := st.RenewComposition(ctx, first.ID, 2, later); !ok {
		t.Errorf("the second worker could not renew its job")
	}
	if c, ok := claim(now.Add(59*time.Second), later); ok {
		t.Errorf("claimed %s while every lease runs", c.ID)
	}
	// A lease renewed to now releases the job at once.
	if ok, _ := st.RenewComposition(ctx, second.ID, 1, now.Add(59*time.Second)); !ok {
		t.Fatal("release")
	}
	if c, ok := claim(now.Add(59*time.Second), later); !ok || c.ID != second.ID || c.Attempts != 2 {
		t.Errorf("after the release: %v %s (attempt %d), want %s", ok, c.ID, c.Attempts, second.ID)
	}
	// Finished and deleted jobs are neither claimed nor renewed.
	fin, _ := st.GetComposition(ctx, second.ID)
	fin.Status, fin.CompletedAt = domain.CompositionCompleted, ptr(later)
	if err := st.UpdateComposition(ctx, fin); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.RenewComposition(ctx, second.ID, 2, later); ok {
		t.Errorf("renewed a completed composition")
	}
	if err := st.DeleteComposition(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.RenewComposition(ctx, first.ID, 2, later); ok {
		t.Errorf("renewed a deleted composition")
	}
	if c, ok := claim(day(20), day(21)); ok {
		t.Errorf("claimed %s (%s) with nothing waiting", c.ID, c.Status)
	}
}

// Concurrent claimers each get a different composition, and together
// get every one.
func testConcurrentCompositionClaims(t *testing.T, st store.Store) {
	ctx := context.Background()
	const jobs, workers = 24, 6
	for i := range jobs {
		if err := st.InsertComposition(ctx, queued(base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	now := base.Add(time.Hour)
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
		errs    = make(chan error, workers)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, ok, err := st.ClaimComposition(ctx, now, now.Add(time.Minute))
				if err != nil {
					errs <- err
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				claimed[c.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("ClaimComposition: %v", err)
	}
	if len(claimed) != jobs {
		t.Errorf("%d compositions claimed, want all %d", len(claimed), jobs)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("composition %s claimed %d times", id, n)
		}
	}
}
