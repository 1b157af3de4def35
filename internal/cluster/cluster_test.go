package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/cluster"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/testutil"
)

// A node registers itself, lists the other live nodes as peers, and
// forgets nodes silent for over a day once none of their sessions is
// active; at stop it marks its heartbeat expired.
func TestNodeRegistry(t *testing.T) {
	ctx := context.Background()
	st := testutil.OpenStore(t)
	now := time.Now()
	for _, n := range []domain.Node{
		{ID: "peer", URL: "http://10.0.0.2:8080", HeartbeatAt: now.Add(time.Hour)}, // alive for the whole test
		{ID: "old", URL: "http://10.0.0.3:8080", HeartbeatAt: now.Add(-48 * time.Hour)},
		{ID: "old-busy", URL: "http://10.0.0.4:8080", HeartbeatAt: now.Add(-48 * time.Hour)},
		{ID: "recent", URL: "http://10.0.0.5:8080", HeartbeatAt: now.Add(-time.Hour)},
	} {
		n.StartedAt = n.HeartbeatAt
		if err := st.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// old-busy still has an active session. This node takes nothing over
	// before its own heartbeat has held for a lease (an hour here), so
	// the session stays active and the node registered.
	room := domain.Room{ID: "01a22801-0000-7000-8000-000000000001", MaxParticipants: 10, CreatedAt: now, UpdatedAt: now}
	sess := domain.Session{ID: "01a22801-0000-7000-8000-000000000002", RoomID: room.ID, Active: true, CreatedAt: now, UpdatedAt: now, NodeID: "old-busy"}
	if err := st.InTx(ctx, func(q store.Queries) error {
		if err := q.InsertRoom(ctx, room); err != nil {
			return err
		}
		return q.InsertSession(ctx, sess)
	}); err != nil {
		t.Fatal(err)
	}
	svc := rooms.New(st, rooms.WithNode("self"), rooms.WithNodeLease(time.Hour))
	n := cluster.New(cluster.Config{Store: st, Rooms: svc, Lease: time.Hour, Sweep: 20 * time.Millisecond,
		Node: domain.Node{ID: "self", MediaAddr: "10.0.0.1:7882"}})
	n.SetURL("http://10.0.0.1:8080")
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := n.Peers(); !slices.Equal(got, []string{"10.0.0.2:8080"}) {
		t.Errorf("peers %v, want the one live node", got)
	}
	ids := func() []string {
		nodes, err := st.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range nodes {
			out = append(out, x.ID)
		}
		return out
	}
	testutil.Eventually(t, 30*time.Second, "the node silent for two days forgotten", func() bool {
		return !slices.Contains(ids(), "old")
	})
	if got, want := ids(), []string{"old-busy", "peer", "recent", "self"}; !slices.Equal(got, want) {
		t.Errorf("nodes %v, want %v", got, want)
	}
	n.Close()
	self, err := st.GetNode(ctx, "self")
	if err != nil || self.Alive(time.Now(), time.Hour) || self.URL != "http://10.0.0.1:8080" {
		t.Errorf("after Close: %+v, %v; want registered and expired", self, err)
	}
}
