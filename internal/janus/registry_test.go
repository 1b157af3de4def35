package janus

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomsd/roomsd/internal/testutil/wspair"
	"github.com/roomsd/roomsd/internal/wsq"
)

// listening is a session whose client has joined the room and its
// listener: its messages go over a real WebSocket to the test, which
// reads them with next.
type listening struct {
	*session
	client *websocket.Conn
}

func listen(t *testing.T, g *registry, roomID string) *listening {
	t.Helper()
	ws, client := wspair.New(t)
	s := &session{roomID: roomID, reg: g, ws: ws, handles: map[uint64]*handle{},
		w:     wsq.New(ws, slog.New(slog.NewTextHandler(io.Discard, nil)), wsq.Options{Queue: 64, WriteTimeout: 10 * time.Second, Ping: time.Hour}),
		known: map[string]uint64{}, announced: map[uint64]string{}, waiting: map[string][]feedView{}}
	s.id, s.pid, s.presence, s.listener, s.joined = 1, "me", 2, 3, true
	g.join(s)
	return &listening{session: s, client: client}
}

// next reads the next message the session sent.
func (l *listening) next(t *testing.T) out {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := l.client.Read(ctx)
	if err != nil {
		t.Fatalf("no message: %v", err)
	}
	var o out
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// videoroom returns the next message, which must be a listener event.
func videoroom(t *testing.T, s *listening) map[string]any {
	t.Helper()
	o := s.next(t)
	if o.PluginData == nil || o.Sender != s.listener {
		t.Fatalf("not a listener event: %+v", o)
	}
	return o.PluginData.Data
}

// quiet checks that the session sent nothing since the last message read:
// a marker sent now is the next message (the writer keeps the order).
func quiet(t *testing.T, s *listening) {
	t.Helper()
	s.w.Send(out{Janus: "marker"})
	if o := s.next(t); o.Janus != "marker" {
		t.Fatalf("unexpected message %+v", o)
	}
}

// streamOf decodes a publishers entry's display.
func streamOf(t *testing.T, pub map[string]any) streamInfo {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(pub["display"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var d display
	if err := json.Unmarshal(raw, &d); err != nil || d.Stream == nil {
		t.Fatalf("display %s: %v", raw, err)
	}
	return *d.Stream
}

// A roomsd participant's tracks become Janus feeds as the SDK expects
// them: microphone and camera one stream ("self"), announced once both
// are there; another video a stream of its own; a track that goes takes
// its feed along, and what is left of it comes back as a new feed.
func TestRoomsdParticipantsFeeds(t *testing.T) {
	g := newRegistry()
	s := listen(t, g, "room")
	s.known["bob"] = 7 // the client knows bob

	g.trackPublished("room", "bob", "bob-audio", "audio", "", false)
	quiet(t, s) // waits for the camera
	g.trackPublished("room", "bob", "bob-video", "video", "", false)
	ev := videoroom(t, s)
	pubs := ev["publishers"].([]any)
	self := pubs[0].(map[string]any)
	if st := streamOf(t, self); st.Key != "self" || !st.IsAudioEnabled || !st.IsVideoEnabled {
		t.Fatalf("bob's first feed: %+v", st)
	}
	// The same track reported again (every session reports it) changes
	// nothing.
	g.trackPublished("room", "bob", "bob-video", "video", "", false)
	quiet(t, s)

	g.trackPublished("room", "bob", "bob-screen", "video", "", true)
	screen := videoroom(t, s)["publishers"].([]any)[0].(map[string]any)
	if st := streamOf(t, screen); st.Key != "screen" || st.IsAudioEnabled || !st.IsVideoEnabled {
		t.Fatalf("bob's screen feed: %+v", st)
	}

	// The camera goes: the self feed goes, and comes back with audio only.
	g.trackUnpublished("room", "bob-video")
	if gone := videoroom(t, s); gone["unpublished"] != self["id"] {
		t.Fatalf("after the camera went: %v, want unpublished %v", gone, self["id"])
	}
	back := videoroom(t, s)["publishers"].([]any)[0].(map[string]any)
	if st := streamOf(t, back); st.Key != "self" || !st.IsAudioEnabled || st.IsVideoEnabled || back["id"] == self["id"] {
		t.Fatalf("bob's feed after the camera went: %v %+v", back, st)
	}

	// Turning the microphone off changes the feed's display.
	for id, disp := range g.selfMuted("room", "bob", "audio", true) {
		s.feedDisplay(id, "bob", disp)
	}
	if ev := videoroom(t, s); ev["id"] != back["id"] || streamOf(t, ev).IsAudioEnabled {
		t.Fatalf("after bob's microphone went off: %v", ev)
	}
}

// A participant who publishes only audio is announced after feedWait, and
// a feed waits for the client to know its owner.
func TestAudioOnlyFeedAndUnknownOwner(t *testing.T) {
	g := newRegistry()
	s := listen(t, g, "room")
	g.trackPublished("room", "carol", "carol-audio", "audio", "", false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.waiting["carol"])
		s.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("carol's audio-only feed was never ready")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with the deadline above
	}
	quiet(t, s) // the client does not know carol yet
	s.mu.Lock()
	s.announceLocked(&member{pid: "carol", presID: 9, display: "x"})
	s.mu.Unlock()
	if o := s.next(t); o.Sender != s.presence || o.PluginData.Data["audiobridge"] != "joined" {
		t.Fatalf("carol's presence: %+v", o)
	}
	pub := videoroom(t, s)["publishers"].([]any)[0].(map[string]any)
	if st := streamOf(t, pub); !st.IsAudioEnabled || st.IsVideoEnabled {
		t.Fatalf("carol's feed: %+v", st)
	}
}
