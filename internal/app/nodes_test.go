package app_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/testutil"
)

// TestStartEndsOnlyItsOwnSessions: two servers (nodes) share a database.
// A server that starts ends the sessions its own previous run left
// active, never the live sessions of another node.
func TestStartEndsOnlyItsOwnSessions(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "shared.db")
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	room, err := rooms.New(st).CreateRoom(ctx, rooms.RoomChanges{})
	if err != nil {
		t.Fatal(err)
	}
	// Node A's session: someone is in the room through node A.
	p, err := rooms.New(st, rooms.WithNode("node-a")).Join(ctx, room.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	active := func(a *testutil.App) bool {
		_, out := a.Call("GET", "/v2/room_sessions/"+p.SessionID, nil)
		d, _ := out["data"].(map[string]any)
		return d["active"] == true
	}
	b := testutil.StartApp(t, func(c *config.Config) { c.DB = db; c.NodeID = "node-b" })
	if !active(b) {
		t.Fatal("node B's start ended node A's live session")
	}
	// Node A starts again: its session did not survive its stop.
	a := testutil.StartApp(t, func(c *config.Config) { c.DB = db; c.NodeID = "node-a" })
	if active(a) {
		t.Error("node A's restart left its own dead session active")
	}
}

// TestStartFailsRecordingsWithoutFiles: a recording a previous run left
// processing whose file never reached the disk is marked failed at the
// next start, never left processing. (A file that did reach it is
// completed from it: test/webhooks TestKill9WhileRecording.)
func TestStartFailsRecordingsWithoutFiles(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "roomsd.db")
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	svc := rooms.New(st)
	room, err := svc.CreateRoom(ctx, rooms.RoomChanges{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Join(ctx, room.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := svc.StartRecording(ctx, p.ID, "audio", "opus")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	a := testutil.StartApp(t, func(c *config.Config) { c.DB = db })
	_, out := a.Call("GET", "/v2/room_recordings/"+rec.ID, nil)
	d, _ := out["data"].(map[string]any)
	if d["status"] != "failed" || d["ended_at"] == nil || d["download_url"] != nil {
		t.Errorf("a recording left processing without a file: %v; want failed, ended, with no download_url", d)
	}
}
