package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// testLinksAndBans: meeting links round-trip, list newest first, are
// revoked once, and go with their room; participants' origins round-trip;
// bans keep the latest time and lapse.
func testLinksAndBans(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := mustInsert(t, st, room(base))
	other := mustInsert(t, st, room(base.Add(time.Second)))
	l1 := domain.Link{ID: id(), RoomID: r.ID, Name: "Ann", SecretHash: []byte{1, 2, 3}, CreatedAt: base, ExpiresAt: base.Add(7 * 24 * time.Hour),
		TokenTTL: 10 * time.Minute}
	l2 := domain.Link{ID: id(), RoomID: r.ID, Name: "", SecretHash: []byte{4}, CreatedAt: base.Add(time.Minute), ExpiresAt: base.Add(time.Hour)}
	for _, l := range []domain.Link{l1, l2} {
		if err := st.InsertLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.GetLink(ctx, l1.ID)
	if err != nil || got.Name != "Ann" || !bytes.Equal(got.SecretHash, l1.SecretHash) || !got.CreatedAt.Equal(base) ||
		!got.ExpiresAt.Equal(l1.ExpiresAt) || got.RevokedAt != nil || got.TokenTTL != 10*time.Minute {
		t.Errorf("GetLink = %+v, %v", got, err)
	}
	if _, err := st.GetLink(ctx, id()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("GetLink of an unknown id: %v", err)
	}
	if list, err := st.ListLinks(ctx, r.ID); err != nil || len(list) != 2 || list[0].ID != l2.ID {
		t.Errorf("ListLinks = %+v, %v; want newest first", list, err)
	}
	at := base.Add(2 * time.Minute)
	for _, when := range []time.Time{at, at.Add(time.Hour)} {
		if err := st.RevokeLink(ctx, l1.ID, when); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := st.GetLink(ctx, l1.ID); got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
		t.Errorf("revoked at %v, want the first revocation %v", got.RevokedAt, at)
	}
	if err := st.RevokeLink(ctx, id(), at); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("RevokeLink of an unknown id: %v", err)
	}

	// Origins.
	s := domain.Session{ID: id(), RoomID: r.ID, Active: true, CreatedAt: base, UpdatedAt: base}
	p := domain.Participant{ID: id(), SessionID: s.ID, JoinedAt: base, UpdatedAt: base}
	o := domain.Origin{Family: "fam-1", Link: l1.ID}
	if err := st.InTx(ctx, func(q store.Queries) error {
		if err := q.InsertSession(ctx, s); err != nil {
			return err
		}
		if err := q.InsertParticipant(ctx, p); err != nil {
			return err
		}
		return q.SetOrigin(ctx, p.ID, o)
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.GetOrigin(ctx, p.ID); err != nil || got != o {
		t.Errorf("GetOrigin = %+v, %v; want %+v", got, err, o)
	}
	if got, err := st.GetOrigin(ctx, id()); err != nil || got != (domain.Origin{}) {
		t.Errorf("GetOrigin of a participant without one = %+v, %v", got, err)
	}

	// Bans: the latest time wins, per room; a lapsed ban keeps no one out.
	subjects := o.Subjects()
	if err := st.Ban(ctx, r.ID, subjects, base.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := st.Ban(ctx, r.ID, subjects[:1], base.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if until, banned, err := st.BannedUntil(ctx, r.ID, []string{"family:other", subjects[0]}, base); err != nil || !banned ||
		!until.Equal(base.Add(10*time.Minute)) {
		t.Errorf("BannedUntil = %v, %v, %v; want the later ban", until, banned, err)
	}
	if _, banned, err := st.BannedUntil(ctx, other.ID, subjects, base); err != nil || banned {
		t.Errorf("banned in another room: %v, %v", banned, err)
	}
	if _, banned, err := st.BannedUntil(ctx, r.ID, subjects, base.Add(10*time.Minute)); err != nil || banned {
		t.Errorf("a lapsed ban still holds: %v, %v", banned, err)
	}
	if _, banned, err := st.BannedUntil(ctx, r.ID, nil, base); err != nil || banned {
		t.Errorf("no subjects: %v, %v", banned, err)
	}

	// They go with the room.
	if err := st.InTx(ctx, func(q store.Queries) error { return q.DeleteRoom(ctx, r.ID) }); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetLink(ctx, l1.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a deleted room's link: %v", err)
	}
	if got, err := st.GetOrigin(ctx, p.ID); err != nil || got != (domain.Origin{}) {
		t.Errorf("a deleted room's participant origin: %+v, %v", got, err)
	}
}
