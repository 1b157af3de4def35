package app_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/pion/webrtc/v4"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/signal"
	"github.com/roomsd/roomsd/internal/testutil"
)

// server is a whole roomsd (REST, signaling, media on 127.0.0.1) over
// httptest, driven by real pion participants.
type server struct {
	*testutil.App
	t *testing.T
}

func newServer(t *testing.T, tweak ...func(*config.Config)) *server {
	t.Helper()
	return &server{App: testutil.StartApp(t, tweak...), t: t}
}

// api calls the REST API and decodes the response.
func (s *server) api(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	return s.Call(method, "/v2"+path, body)
}

func data(m map[string]any) map[string]any { d, _ := m["data"].(map[string]any); return d }

func (s *server) room(body map[string]any) string {
	s.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	code, out := s.api("POST", "/rooms", body)
	if code != 201 {
		s.t.Fatalf("create room: %d %v", code, out)
	}
	return data(out)["id"].(string)
}

func (s *server) token(roomID string) string {
	s.t.Helper()
	code, out := s.api("POST", "/rooms/"+roomID+"/actions/generate_join_client_token", map[string]any{})
	if code != 201 {
		s.t.Fatalf("token: %d %v", code, out)
	}
	return data(out)["token"].(string)
}

func (s *server) join(roomID, who string, audio, video bool) *client.Client {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Join(ctx, client.ConnectURL(s.URL, roomID), s.token(roomID),
		client.Options{Context: who, Audio: audio, Video: video, Loopback: true})
	if err != nil {
		s.t.Fatalf("%s joins: %v", who, err)
	}
	s.t.Cleanup(c.Close)
	return c
}

// waitEvent returns the next event of the given type, skipping others.
func waitEvent(t *testing.T, c *client.Client, typ string, within time.Duration) signal.Message {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case m, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection closed while waiting for %q", typ)
			}
			if m.Type == typ {
				return m
			}
			t.Logf("(skipping %+v while waiting for %q)", m, typ)
		case <-timeout:
			t.Fatalf("no %q event within %v", typ, within)
		}
	}
}

func received(c *client.Client, from, kind string) int64 { return c.Received(from, kind).Packets }

func TestTwoParticipantsExchangeMedia(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	alice := s.join(room, "Alice", true, true)
	bob := s.join(room, "Bob", true, true)
	testutil.Eventually(t, 15*time.Second, "both receive audio and video from each other", func() bool {
		return received(alice, bob.ParticipantID, "audio") > 50 && received(alice, bob.ParticipantID, "video") > 20 &&
			received(bob, alice.ParticipantID, "audio") > 50 && received(bob, alice.ParticipantID, "video") > 20
	})
	// Over two seconds, what each sends is what the other receives (give
	// or take the packets in flight at either end of the window).
	a0, b0 := received(alice, bob.ParticipantID, "audio"), received(bob, alice.ParticipantID, "audio")
	sa0, sb0 := alice.SentAudio(), bob.SentAudio()
	time.Sleep(2 * time.Second)
	ra, rb := received(alice, bob.ParticipantID, "audio")-a0, received(bob, alice.ParticipantID, "audio")-b0
	sa, sb := alice.SentAudio()-sa0, bob.SentAudio()-sb0
	if d := rb - sa; d < -10 || d > 10 || sa < 20 {
		t.Errorf("Alice sent %d audio packets, Bob received %d", sa, rb)
	}
	if d := ra - sb; d < -10 || d > 10 || sb < 20 {
		t.Errorf("Bob sent %d audio packets, Alice received %d", sb, ra)
	}
	if alice.Received(bob.ParticipantID, "video").Keyframes == 0 {
		t.Errorf("no keyframe arrived")
	}
	_, r := s.api("GET", "/rooms/"+room+"?include_sessions=true", nil)
	d := data(r)
	sessions := d["sessions"].([]any)
	parts := sessions[0].(map[string]any)["participants"].([]any)
	if d["active_session_id"] != alice.SessionID || len(sessions) != 1 || len(parts) != 2 {
		t.Fatalf("REST view: %v", d)
	}
	for _, p := range parts {
		pm := p.(map[string]any)
		if pm["left_at"] != nil || (pm["context"] != "Alice" && pm["context"] != "Bob") {
			t.Errorf("participant %v", pm)
		}
	}
}

// A subscriber who arrives mid-stream gets a keyframe quickly: the test
// pattern's only keyframe is its first frame, so one arrives within the
// bound only if the keyframe request is relayed to the publisher.
func TestLateJoinerGetsKeyframe(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	pub := s.join(room, "Publisher", false, true)
	early := s.join(room, "Early", false, false)
	testutil.Eventually(t, 15*time.Second, "the early subscriber receives video", func() bool {
		return received(early, pub.ParticipantID, "video") > 30
	})
	late := s.join(room, "Late", false, false)
	joined := time.Now()
	testutil.Eventually(t, 10*time.Second, "the late subscriber receives video", func() bool {
		return received(late, pub.ParticipantID, "video") > 0
	})
	testutil.Eventually(t, 2*time.Second, "the late subscriber gets a keyframe", func() bool {
		return late.Received(pub.ParticipantID, "video").Keyframes > 0
	})
	st := late.Received(pub.ParticipantID, "video")
	if wait := st.FirstKey.Sub(st.First); wait > 1500*time.Millisecond {
		t.Errorf("first keyframe %v after the first packet, want under 1.5s", wait)
	}
	t.Logf("late joiner: first packet %v after join, first keyframe %v after join",
		st.First.Sub(joined).Round(time.Millisecond), st.FirstKey.Sub(joined).Round(time.Millisecond))
}

func TestKickMuteEndDelete(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	alice := s.join(room, "Alice", true, true)
	bob := s.join(room, "Bob", true, false)
	carol := s.join(room, "Carol", false, false)
	testutil.Eventually(t, 15*time.Second, "everyone hears Alice and Bob", func() bool {
		return received(carol, alice.ParticipantID, "audio") > 20 && received(carol, bob.ParticipantID, "audio") > 20
	})
	session := alice.SessionID

	// Mute Alice: her audio stops reaching Carol, her video does not;
	// everyone is told.
	if code, _ := s.api("POST", "/room_sessions/"+session+"/actions/mute", map[string]any{"participants": []string{alice.ParticipantID}}); code != 200 {
		t.Fatalf("mute: %d", code)
	}
	if m := waitEvent(t, carol, "muted", 5*time.Second); m.ParticipantID != alice.ParticipantID {
		t.Errorf("muted event for %s", m.ParticipantID)
	}
	time.Sleep(200 * time.Millisecond) // packets in flight drain
	a0, v0, b0 := received(carol, alice.ParticipantID, "audio"), received(carol, alice.ParticipantID, "video"), received(carol, bob.ParticipantID, "audio")
	time.Sleep(time.Second)
	if da := received(carol, alice.ParticipantID, "audio") - a0; da != 0 {
		t.Errorf("muted Alice: %d audio packets still reached Carol", da)
	}
	if dv, db := received(carol, alice.ParticipantID, "video")-v0, received(carol, bob.ParticipantID, "audio")-b0; dv < 5 || db < 30 {
		t.Errorf("while Alice is muted: her video %d, Bob's audio %d packets in a second; want both flowing", dv, db)
	}
	s.api("POST", "/room_sessions/"+session+"/actions/unmute", map[string]any{"participants": "all"})
	waitEvent(t, carol, "unmuted", 5*time.Second)
	a1 := received(carol, alice.ParticipantID, "audio")
	testutil.Eventually(t, 5*time.Second, "Alice's audio flows again", func() bool { return received(carol, alice.ParticipantID, "audio") > a1+20 })
	// The second of mute (some 50 packets dropped at the server) leaves no
	// hole in the sequence numbers Carol sees: she has nothing to report
	// lost or ask to have resent.
	if st := carol.Received(alice.ParticipantID, "audio"); st.Expected-st.Packets > 5 {
		t.Errorf("after the mute Carol's stream of Alice's audio misses %d of %d packets", st.Expected-st.Packets, st.Expected)
	}

	// Kick Bob: his connection closes, the others hear he left.
	s.api("POST", "/room_sessions/"+session+"/actions/kick", map[string]any{"participants": []string{bob.ParticipantID}})
	waitEvent(t, bob, "kicked", 5*time.Second)
	testutil.Eventually(t, 5*time.Second, "Bob's connection closes", func() bool {
		select {
		case <-bob.Done():
			return true
		default:
			return false
		}
	})
	if m := waitEvent(t, carol, "participant_left", 5*time.Second); m.ParticipantID != bob.ParticipantID || m.Reason != "kicked" {
		t.Errorf("participant_left = %+v", m)
	}
	_, p := s.api("GET", "/room_participants/"+bob.ParticipantID, nil)
	if data(p)["left_at"] == nil {
		t.Errorf("kicked Bob has no left_at: %v", p)
	}

	// End: everyone still connected is told and disconnected.
	s.api("POST", "/room_sessions/"+session+"/actions/end", nil)
	for _, c := range []*client.Client{alice, carol} {
		waitEvent(t, c, "session_ended", 5*time.Second)
		<-c.Done()
	}
	_, r := s.api("GET", "/rooms/"+room, nil)
	if data(r)["active_session_id"] != nil {
		t.Errorf("session still active after end")
	}

	// Delete: a new session's participants are disconnected with the room.
	dave := s.join(room, "Dave", false, false)
	if dave.SessionID == session {
		t.Errorf("joined the ended session")
	}
	s.api("DELETE", "/rooms/"+room, nil)
	if m := waitEvent(t, dave, "closed", 5*time.Second); m.Reason != "room_deleted" {
		t.Errorf("closed event reason %q", m.Reason)
	}
}

func TestConcurrentJoinsRespectCap(t *testing.T) {
	s := newServer(t)
	room := s.room(map[string]any{"max_participants": 10})
	tokens := make([]string, 100)
	for i := range tokens {
		tokens[i] = s.token(room)
	}
	var (
		mu           sync.Mutex
		joined, full int
		clients      []*client.Client
		wg           sync.WaitGroup
	)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := client.Join(ctx, client.ConnectURL(s.URL, room), tokens[i], client.Options{Context: fmt.Sprint(i), Loopback: true})
			mu.Lock()
			defer mu.Unlock()
			var je *client.JoinError
			switch {
			case err == nil:
				joined++
				clients = append(clients, c)
			case errors.As(err, &je) && je.Code == signal.CodeRoomFull:
				full++
			default:
				t.Errorf("join %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for _, c := range clients {
		t.Cleanup(c.Close)
	}
	if joined != 10 || full != 90 {
		t.Errorf("100 joins into a room of 10: %d joined, %d refused as full; want 10 and 90", joined, full)
	}
	if n := len(s.App.MediaParticipants(room)); n != 10 {
		t.Errorf("%d connected to the media server, want 10", n)
	}
}

func TestBadTokensRefused(t *testing.T) {
	s := newServer(t)
	room, other := s.room(nil), s.room(nil)
	otherTok := s.token(other)
	code, out := s.api("POST", "/rooms/"+room+"/actions/generate_join_client_token", map[string]any{"token_ttl_secs": 10})
	if code != 201 {
		t.Fatal(out)
	}
	refresh := data(out)["refresh_token"].(string)
	good := s.token(room)
	forged := good[:len(good)-4] + "AAAA"
	for name, tok := range map[string]string{"other room": otherTok, "forged": forged, "refresh token": refresh, "API key": "k", "empty": ""} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.Join(ctx, client.ConnectURL(s.URL, room), tok, client.Options{Loopback: true})
		cancel()
		var je *client.JoinError
		if !errors.As(err, &je) || je.Code != signal.CodeUnauthorized {
			t.Errorf("%s: %v, want unauthorized", name, err)
		}
	}
	_, r := s.api("GET", "/rooms/"+room, nil)
	if data(r)["active_session_id"] != nil {
		t.Errorf("a refused join opened a session")
	}
}

func TestLeaveReconnectAndEmptyTimeout(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.EmptyTimeout = 500 * time.Millisecond; c.ReconnectGrace = time.Second })
	room := s.room(nil)
	a := s.join(room, "Alice", true, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	_, p := s.api("GET", "/room_participants/"+a.ParticipantID, nil)
	if data(p)["left_at"] == nil {
		t.Fatalf("left_at not set after leave: %v", p)
	}
	// The session stays open for the empty timeout, then ends.
	_, r := s.api("GET", "/rooms/"+room, nil)
	if data(r)["active_session_id"] != a.SessionID {
		t.Errorf("session ended at once; want it kept for the empty timeout")
	}
	testutil.Eventually(t, 5*time.Second, "the empty session ends", func() bool {
		_, r := s.api("GET", "/room_sessions/"+a.SessionID, nil)
		return data(r)["active"] == false
	})
	// Joining again opens a new session with a new participant.
	b := s.join(room, "Alice", false, false)
	if b.SessionID == a.SessionID || b.ParticipantID == a.ParticipantID {
		t.Errorf("rejoin reused the old session or participant")
	}
	_, r = s.api("GET", "/rooms/"+room, nil)
	if data(r)["active_session_id"] != b.SessionID {
		t.Errorf("active_session_id = %v, want %s", data(r)["active_session_id"], b.SessionID)
	}
	// A dropped connection leaves after the grace period, as disconnected.
	b.Close()
	testutil.Eventually(t, 5*time.Second, "the dropped participant leaves", func() bool {
		_, p := s.api("GET", "/room_participants/"+b.ParticipantID, nil)
		return data(p)["left_at"] != nil
	})
}

func TestBadMessagesGetErrors(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	c := s.join(room, "Alice", false, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Send(ctx, signal.Message{Type: "dance"})
	if m := waitEvent(t, c, "error", 5*time.Second); m.Code != signal.CodeUnknownType {
		t.Errorf("unknown type: %+v", m)
	}
	c.Send(ctx, signal.Message{Type: signal.TypeAnswer, SDP: "nonsense"})
	if m := waitEvent(t, c, "error", 5*time.Second); m.Code != signal.CodeNegotiation {
		t.Errorf("answer without offer: %+v", m)
	}
	c.Send(ctx, signal.Message{Type: signal.TypeCandidate})
	waitEvent(t, c, "error", 5*time.Second)
	c.Send(ctx, signal.Message{Type: signal.TypePing})
	waitEvent(t, c, "pong", 5*time.Second)
	// Still connected after all that.
	_, p := s.api("GET", "/room_participants/"+c.ParticipantID, nil)
	if data(p)["left_at"] != nil {
		t.Errorf("bad messages disconnected the participant")
	}
}

// rawJoin opens a signaling socket and sends join; it returns the socket
// and the server's first reply.
func rawJoin(t *testing.T, s *server, roomID string, m signal.Message) (*websocket.Conn, signal.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, client.ConnectURL(s.URL, roomID), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := wsjson.Write(ctx, ws, m); err != nil {
		t.Fatal(err)
	}
	var reply signal.Message
	if err := wsjson.Read(ctx, ws, &reply); err != nil {
		t.Fatal(err)
	}
	return ws, reply
}

// A participant whose socket drops may resume within the grace period and
// stays in the room; one who does not is gone after it.
func TestResumeWithinGrace(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.ReconnectGrace = 2 * time.Second })
	room := s.room(nil)
	ws, joined := rawJoin(t, s, room, signal.Message{Type: signal.TypeJoin, Token: s.token(room), Context: "Alice"})
	if joined.Type != signal.TypeJoined {
		t.Fatalf("join: %+v", joined)
	}
	ws.CloseNow()
	if joined.ResumeToken == "" {
		t.Fatalf("joined carries no resume_token")
	}
	// Someone else in the room, with a valid token but without the resume
	// token, cannot take the participant over.
	wsX, stolen := rawJoin(t, s, room, signal.Message{Type: signal.TypeJoin, Token: s.token(room), Resume: joined.ParticipantID, ResumeToken: "guess"})
	wsX.CloseNow()
	if stolen.Type != signal.TypeError || stolen.Code != signal.CodeNotFound {
		t.Fatalf("resume without the resume token: %+v", stolen)
	}
	ws2, again := rawJoin(t, s, room, signal.Message{Type: signal.TypeJoin, Token: s.token(room), Resume: joined.ParticipantID, ResumeToken: joined.ResumeToken})
	defer ws2.CloseNow()
	if again.Type != signal.TypeJoined || again.ParticipantID != joined.ParticipantID || again.SessionID != joined.SessionID {
		t.Fatalf("resume: %+v", again)
	}
	// Past the first socket's grace period the participant is still in.
	time.Sleep(3 * time.Second)
	_, p := s.api("GET", "/room_participants/"+joined.ParticipantID, nil)
	if data(p)["left_at"] != nil {
		t.Errorf("resumed participant was dropped: %v", p)
	}
	// Resuming someone unknown, or in another room, is refused.
	other := s.room(nil)
	ws3, refused := rawJoin(t, s, other, signal.Message{Type: signal.TypeJoin, Token: s.token(other), Resume: joined.ParticipantID, ResumeToken: joined.ResumeToken})
	ws3.CloseNow()
	if refused.Type != signal.TypeError || refused.Code != signal.CodeNotFound {
		t.Errorf("resume into another room: %+v", refused)
	}
}

// ROOMSD_RTC_ICE_SERVERS reach the client in joined (TURN credentials
// split out), and ROOMSD_RTC_PUBLIC_IP is the address the server's ICE
// candidates advertise, on the one media UDP port every participant
// shares.
func TestICEServersAndPublicIP(t *testing.T) {
	s := newServer(t, func(c *config.Config) {
		c.RTCICEServers = []string{"stun:stun.example.net:3478", "turn:alice:secret@turn.example.net:3478"}
		c.RTCPublicIP = "192.0.2.10" // TEST-NET-1: never reached, only advertised
	})
	room := s.room(nil)
	ws, joined := rawJoin(t, s, room, signal.Message{Type: signal.TypeJoin, Token: s.token(room)})
	defer ws.CloseNow()
	if len(joined.ICEServers) != 2 || joined.ICEServers[0].URLs[0] != "stun:stun.example.net:3478" ||
		joined.ICEServers[1].URLs[0] != "turn:turn.example.net:3478" || joined.ICEServers[1].Username != "alice" ||
		joined.ICEServers[1].Credential != "secret" {
		t.Fatalf("ice_servers in joined: %+v", joined.ICEServers)
	}
	// Offer from a peer that sends no candidates of its own, and read what
	// the server gathers.
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.CreateDataChannel("x", nil)
	offer, _ := pc.CreateOffer(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, ws, signal.Message{Type: signal.TypeOffer, SDP: offer.SDP}); err != nil {
		t.Fatal(err)
	}
	for {
		var m signal.Message
		if err := wsjson.Read(ctx, ws, &m); err != nil {
			t.Fatalf("no server candidate: %v", err)
		}
		if m.Type == signal.TypeCandidate && m.Candidate != nil {
			port := strconv.Itoa(s.MediaAddr().(*net.UDPAddr).Port)
			if !strings.Contains(m.Candidate.Candidate, " 192.0.2.10 "+port+" ") {
				t.Errorf("candidate %q does not advertise the public IP and the media port %s", m.Candidate.Candidate, port)
			}
			return
		}
	}
}

// A participant who resumes learns the room as it is now, whatever it
// missed while its socket was down: who arrived, who left, who was muted,
// what they publish.
func TestResumeSendsTheRoomAsItIsNow(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.ReconnectGrace = time.Minute })
	room := s.room(nil)
	ws, joined := rawJoin(t, s, room, signal.Message{Type: signal.TypeJoin, Token: s.token(room), Context: "Alice"})
	if joined.Type != signal.TypeJoined {
		t.Fatalf("join: %+v", joined)
	}
	bob := s.join(room, "Bob", true, true)
	ws.CloseNow() // Alice drops; she misses what follows

	carol := s.join(room, "Carol", false, false)
	dave := s.join(room, "Dave", false, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dave.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "Dave is gone and Bob publishes both tracks", func() bool {
		_, p := s.api("GET", "/room_participants/"+dave.ParticipantID, nil)
		return data(p)["left_at"] != nil && received(carol, bob.ParticipantID, "video") > 0 && received(carol, bob.ParticipantID, "audio") > 0
	})
	_, sess := s.api("GET", "/room_participants/"+bob.ParticipantID, nil)
	if code, out := s.api("POST", "/room_sessions/"+data(sess)["session_id"].(string)+"/actions/mute", map[string]any{"participants": []string{bob.ParticipantID}}); code != 200 {
		t.Fatalf("mute Bob: %d %v", code, out)
	}

	ws2, again := rawJoin(t, s, room, signal.Message{Type: signal.TypeJoin, Token: s.token(room), Resume: joined.ParticipantID, ResumeToken: joined.ResumeToken})
	defer ws2.CloseNow()
	if again.Type != signal.TypeJoined || again.ParticipantID != joined.ParticipantID {
		t.Fatalf("resume: %+v", again)
	}
	var state signal.Message
	for state.Type != signal.TypeState {
		if err := wsjson.Read(ctx, ws2, &state); err != nil {
			t.Fatalf("no state message after resuming: %v", err)
		}
		if state.Type != signal.TypeState && state.Type != signal.TypeCandidate && state.Type != signal.TypeOffer {
			t.Fatalf("%q before the state message", state.Type)
		}
	}
	if state.Participants == nil {
		t.Fatalf("state without participants: %+v", state)
	}
	got := map[string]signal.Member{}
	for _, m := range *state.Participants {
		got[m.ParticipantID] = m
	}
	if len(got) != 2 {
		t.Fatalf("state lists %d participants, want Bob and Carol: %+v", len(got), *state.Participants)
	}
	b, c := got[bob.ParticipantID], got[carol.ParticipantID]
	if b.Context != "Bob" || !b.Muted || len(b.Tracks) != 2 {
		t.Errorf("Bob in the state: %+v", b)
	}
	kinds := map[string]bool{}
	for _, tr := range b.Tracks {
		kinds[tr.Kind] = tr.StreamID == bob.ParticipantID && tr.TrackID != ""
	}
	if !kinds["audio"] || !kinds["video"] {
		t.Errorf("Bob's tracks: %+v", b.Tracks)
	}
	if c.Context != "Carol" || c.Muted || len(c.Tracks) != 0 {
		t.Errorf("Carol in the state: %+v", c)
	}
}

// Someone who stays while others come and go receives each newcomer's
// media, though the newcomer's tracks travel on the transceivers the ones
// before left behind.
func TestStayerReceivesEachVisitorOnReusedTransceivers(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	stayer := s.join(room, "Stayer", false, false)
	for i := range 3 {
		visitor := s.join(room, fmt.Sprintf("Visitor %d", i), true, true)
		testutil.Eventually(t, 15*time.Second, fmt.Sprintf("the stayer receives visitor %d's audio and video", i), func() bool {
			return received(stayer, visitor.ParticipantID, "audio") > 25 && received(stayer, visitor.ParticipantID, "video") > 10
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := visitor.Leave(ctx); err != nil {
			t.Fatalf("visitor %d leaves: %v", i, err)
		}
		cancel()
		if left := waitEvent(t, stayer, "participant_left", 10*time.Second); left.ParticipantID != visitor.ParticipantID {
			t.Fatalf("participant_left for %s, want visitor %d", left.ParticipantID, i)
		}
	}
}

// Signaling text must be valid UTF-8 without NUL characters: a join whose
// context is not is refused (not_joined), and a later message that is not
// gets bad_message, rather than being stored or relayed with replacement
// characters.
func TestSignalingRefusesTextThatIsNotUTF8(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exchange := func(ws *websocket.Conn, frame string) signal.Message {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		var m signal.Message
		if err := wsjson.Read(ctx, ws, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ws, _, err := websocket.Dial(ctx, client.ConnectURL(s.URL, room), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	m := exchange(ws, `{"type":"join","token":"`+s.token(room)+"\",\"context\":\"Ann\xff\"}")
	if m.Type != signal.TypeError || m.Code != signal.CodeNotJoined || !strings.Contains(m.Message, "UTF-8") {
		t.Errorf("join with invalid UTF-8: %+v", m)
	}

	ws2, joined := rawJoin(t, s, room, signal.Message{Type: signal.TypeJoin, Token: s.token(room), Context: "Ann"})
	defer ws2.CloseNow()
	if joined.Type != signal.TypeJoined {
		t.Fatalf("join: %+v", joined)
	}
	// Nothing else reaches this socket: nobody else is in the room, and
	// it made no offer, so the server gathers no candidates for it.
	m = exchange(ws2, `{"type":"ping","context":"a\u0000b"}`)
	if m.Type != signal.TypeError || m.Code != signal.CodeBadMessage || !strings.Contains(m.Message, "NUL") {
		t.Errorf("a message holding a NUL: %+v", m)
	}
}

// A publisher sending H.264 without simulcast reaches its subscribers as
// H.264, and a subscriber who joins later starts on a keyframe (the SFU
// starts a down-track only on a keyframe it recognised, after relaying
// the subscriber's request for one).
func TestH264PublisherWithoutSimulcast(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	join := func(who string, opts client.Options) *client.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		opts.Context, opts.Loopback = who, true
		c, err := client.Join(ctx, client.ConnectURL(s.URL, room), s.token(room), opts)
		if err != nil {
			t.Fatalf("%s joins: %v", who, err)
		}
		t.Cleanup(c.Close)
		return c
	}
	pub := join("Publisher", client.Options{Video: true, H264: true})
	early := join("Early", client.Options{})
	testutil.Eventually(t, 15*time.Second, "the early subscriber receives H.264 video with a keyframe", func() bool {
		st := early.Received(pub.ParticipantID, "video")
		return st.Packets > 60 && st.Keyframes > 0
	})
	if codec := early.Received(pub.ParticipantID, "video").Codec; codec != "video/H264" {
		t.Fatalf("the subscriber receives %q, want video/H264", codec)
	}
	late := join("Late", client.Options{})
	testutil.Eventually(t, 15*time.Second, "the late subscriber receives a keyframe", func() bool {
		return late.Received(pub.ParticipantID, "video").Keyframes > 0
	})
	if st := late.Received(pub.ParticipantID, "video"); !st.First.Equal(st.FirstKey) {
		t.Errorf("the late subscriber's first packet (%v) is not its first keyframe (%v)", st.First, st.FirstKey)
	}
}

// The others see a participant whose connection dropped as reconnecting
// (not frozen), and as back when it resumes; one who joins meanwhile
// hears it too.
func TestOthersSeeReconnecting(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.ReconnectGrace = time.Minute })
	room := s.room(nil)
	alice := s.join(room, "alice", false, false)
	ws, bob := rawJoin(t, s, room, signal.Message{Type: signal.TypeJoin, Token: s.token(room), Context: "bob"})
	waitFor := func(c *client.Client, typ, who string) {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case m := <-c.Events():
				if m.Type == typ && m.ParticipantID == who {
					return
				}
			case <-deadline:
				t.Fatalf("no %s for %s", typ, who)
			}
		}
	}
	ws.CloseNow()
	waitFor(alice, "participant_reconnecting", bob.ParticipantID)
	carol := s.join(room, "carol", false, false)
	waitFor(carol, "participant_reconnecting", bob.ParticipantID)
	ws2, again := rawJoin(t, s, room, signal.Message{Type: signal.TypeJoin, Token: s.token(room), Resume: bob.ParticipantID, ResumeToken: bob.ResumeToken})
	defer ws2.CloseNow()
	if again.ParticipantID != bob.ParticipantID {
		t.Fatalf("resume: %+v", again)
	}
	waitFor(alice, "participant_reconnected", bob.ParticipantID)
	waitFor(carol, "participant_reconnected", bob.ParticipantID)
}
