package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// testNodes: nodes register and renew their heartbeat; the active
// sessions of a node whose heartbeat is older than the lease, or of a
// node never registered, are stale; those of a live node, of the asking
// node, of no node, and ended ones are not.
func testNodes(t *testing.T, st store.Store) {
	ctx := context.Background()
	if _, err := st.GetNode(ctx, "node-a"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("GetNode of an unknown node: %v, want ErrNotFound", err)
	}
	a := domain.Node{ID: "node-a", URL: "http://10.0.0.1:8080", MediaAddr: "10.0.0.1:7882", StartedAt: base, HeartbeatAt: base}
	b := domain.Node{ID: "node-b", URL: "http://10.0.0.2:8080", MediaAddr: "10.0.0.2:7882", StartedAt: base, HeartbeatAt: base}
	for _, n := range []domain.Node{a, b} {
		if err := st.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// node-a renews; node-b stops.
	a.HeartbeatAt = base.Add(10 * time.Second)
	a.URL = "https://a.example.com"
	if err := st.Heartbeat(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, err := st.GetNode(ctx, "node-a"); err != nil || got != a {
		t.Errorf("GetNode = %+v, %v; want %+v", got, err, a)
	}
	nodes, err := st.Nodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0] != a || nodes[1] != b {
		t.Errorf("Nodes = %+v, %v", nodes, err)
	}
	if !a.Alive(base.Add(12*time.Second), 5*time.Second) || b.Alive(base.Add(12*time.Second), 5*time.Second) {
		t.Error("Alive: node-a renewed 2 s ago is alive, node-b silent for 12 s is not (lease 5 s)")
	}

	session := func(node string, at time.Duration, active bool) domain.Session {
		r := mustInsert(t, st, room(base.Add(at)))
		s := domain.Session{ID: id(), RoomID: r.ID, Active: active, CreatedAt: base.Add(at), UpdatedAt: base.Add(at), NodeID: node}
		if !active {
			end := base.Add(at)
			s.EndedAt, s.EndedReason = &end, domain.ReasonEmpty
		}
		if err := st.InTx(ctx, func(q store.Queries) error { return q.InsertSession(ctx, s) }); err != nil {
			t.Fatal(err)
		}
		return s
	}
	session("node-a", 1*time.Second, true)
	ofB := session("node-b", 2*time.Second, true)
	session("node-b", 3*time.Second, false)
	unknown := session("node-gone", 4*time.Second, true)
	session("", 5*time.Second, true) // of no node: never stale
	self := session("node-self", 6*time.Second, true)

	aliveSince := base.Add(12*time.Second - 5*time.Second)
	stale, err := st.StaleSessions(ctx, "node-self", aliveSince, 10)
	want := []string{ofB.ID, unknown.ID}
	if err != nil || len(stale) != len(want) {
		t.Fatalf("StaleSessions = %+v, %v; want %v", stale, err, want)
	}
	for i, s := range stale {
		if s.ID != want[i] || !s.Active {
			t.Errorf("stale[%d] = %+v, want %s", i, s, want[i])
		}
	}
	if stale, err := st.StaleSessions(ctx, "node-self", aliveSince, 1); err != nil || len(stale) != 1 || stale[0].ID != ofB.ID {
		t.Errorf("StaleSessions limit 1 = %+v, %v", stale, err)
	}
	if stale, err := st.StaleSessions(ctx, "node-a", aliveSince, 10); err != nil || len(stale) != 3 || stale[2].ID != self.ID {
		t.Errorf("StaleSessions for node-a = %+v, %v; want node-self's session too", stale, err)
	}
	// Once node-b beats again, its session is its own again.
	b.HeartbeatAt = base.Add(11 * time.Second)
	if err := st.Heartbeat(ctx, b); err != nil {
		t.Fatal(err)
	}
	if stale, err := st.StaleSessions(ctx, "node-self", aliveSince, 10); err != nil || len(stale) != 1 || stale[0].ID != unknown.ID {
		t.Errorf("StaleSessions after node-b's heartbeat = %+v, %v", stale, err)
	}
	// A lost node is forgotten only if it has not beaten since it was
	// found lost.
	if gone, err := st.ForgetNode(ctx, "node-b", base); err != nil || gone {
		t.Errorf("ForgetNode with an old heartbeat = %v, %v; want false: node-b beat since", gone, err)
	}
	if gone, err := st.ForgetNode(ctx, "node-b", b.HeartbeatAt); err != nil || !gone {
		t.Errorf("ForgetNode = %v, %v; want true", gone, err)
	}
	if _, err := st.GetNode(ctx, "node-b"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("GetNode of a forgotten node: %v", err)
	}
}
