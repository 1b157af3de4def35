package janus

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

// listening is a session whose client has joined the room and its
// listener, with its messages kept in a queue instead of a socket.
func listening(g *registry, roomID string) *session {
	s := &session{roomID: roomID, reg: g, w: &sender{out: make(chan any, 64)}, handles: map[uint64]*handle{},
		known: map[string]uint64{}, announced: map[uint64]string{}, waiting: map[string][]feedView{}}
	s.id, s.pid, s.presence, s.listener, s.joined = 1, "me", 2, 3, true
	g.join(s)
	return s
}

// videoroom returns the next videoroom event the session sent, or fails.
func videoroom(t *testing.T, s *session) map[string]any {
	t.Helper()
	select {
	case m := <-s.w.out:
		o := m.(out)
		if o.PluginData == nil || o.Sender != s.listener {
			t.Fatalf("not a listener event: %+v", o)
		}
		return o.PluginData.Data
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return nil
	}
}

func quiet(t *testing.T, s *session) {
	t.Helper()
	select {
	case m := <-s.w.out:
		t.Fatalf("unexpected message %+v", m)
	default:
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
	s := listening(g, "room")
	s.known["bob"] = 7 // the client knows bob

	g.trackPublished("room", "bob", "Bob", "bob-audio", "audio", "", false)
	quiet(t, s) // waits for the camera
	g.trackPublished("room", "bob", "Bob", "bob-video", "video", "", false)
	ev := videoroom(t, s)
	pubs := ev["publishers"].([]any)
	self := pubs[0].(map[string]any)
	if st := streamOf(t, self); st.Key != "self" || !st.IsAudioEnabled || !st.IsVideoEnabled {
		t.Fatalf("bob's first feed: %+v", st)
	}
	// The same track reported again (every session reports it) changes
	// nothing.
	g.trackPublished("room", "bob", "Bob", "bob-video", "video", "", false)
	quiet(t, s)

	g.trackPublished("room", "bob", "Bob", "bob-screen", "video", "", true)
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
	s := listening(g, "room")
	g.trackPublished("room", "carol", "Carol", "carol-audio", "audio", "", false)
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
	<-s.w.out // carol's audiobridge joined, on the presence handle
	pub := videoroom(t, s)["publishers"].([]any)[0].(map[string]any)
	if st := streamOf(t, pub); !st.IsAudioEnabled || st.IsVideoEnabled {
		t.Fatalf("carol's feed: %+v", st)
	}
}
