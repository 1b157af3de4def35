package sfu

// Interleavings found in review: each test fails on the code before the
// fix it names.

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func newTestManager(t *testing.T, onEmpty func(string), emptyTimeout time.Duration) *Manager {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	m, err := NewManager(Config{UDP: udp, Loopback: true, OnEmpty: onEmpty, EmptyTimeout: emptyTimeout},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close("test") })
	return m
}

// A Disconnect (REST kick) that lands between Join's registration in
// m.participants and room.add leaves a closed participant in room.members.
func TestDisconnectDuringJoinLeavesNoMember(t *testing.T) {
	m := newTestManager(t, func(string) {}, time.Hour)
	zombies := 0
	for i := 0; i < 100; i++ {
		id := "p" + string(rune('a'+i%26)) + time.Now().Format("150405.000000000")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					m.Disconnect([]string{id}, "kicked")
				}
			}
		}()
		p, err := m.Join("room", "s", id, "", func(Event) {}, SubscribeAll)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		p.Close("left")
		p.room.mu.Lock()
		if p.room.members[id] == p {
			zombies++
		}
		p.room.mu.Unlock()
	}
	t.Logf("zombie members: %d of 100; Participants(room) = %d", zombies, len(m.Participants("room")))
	if zombies > 0 {
		t.Errorf("closed participants stay in room.members: %d", zombies)
	}
}

// A participant whose Join looked the room up just before the last member's
// leave dropped it lands in an orphan Room; later joiners get a new Room.
func TestJoinDuringLastLeaveUsesTheRegisteredRoom(t *testing.T) {
	m := newTestManager(t, nil, 0)
	orphans := 0
	for i := 0; i < 100; i++ {
		a, err := m.Join("room", "s", "a", "", func(Event) {}, SubscribeAll)
		if err != nil {
			t.Fatal(err)
		}
		go a.Close("left")
		b, err := m.Join("room", "s", "b", "", func(Event) {}, SubscribeAll)
		if err != nil {
			t.Fatal(err)
		}
		<-a.Done()
		m.mu.Lock()
		cur := m.rooms["room"]
		m.mu.Unlock()
		if cur != b.room {
			orphans++
		}
		b.Close("left")
	}
	if orphans > 0 {
		t.Errorf("participant joined an orphan room (not in m.rooms) %d times of 100", orphans)
	}
}

// OnEmpty fires although a participant joined between the timer's r.empty()
// check and the call: the session is ended under a live participant. The
// invariant: when OnEmpty runs, no room of this id that is no longer
// registered has anyone in it (a join never lands in a dropped room), and
// a joiner is always in the registered room. Someone in a new room,
// registered after the drop, is fine: they joined after it.
func TestEmptyTimerSparesANewMember(t *testing.T) {
	var mu sync.Mutex
	var bad int
	var seen []*Room
	var m *Manager
	m = newTestManager(t, func(id string) {
		mu.Lock()
		rooms := append([]*Room(nil), seen...)
		mu.Unlock()
		m.mu.Lock()
		registered := m.rooms[id]
		m.mu.Unlock()
		for _, r := range rooms {
			if r != registered && !r.empty() {
				mu.Lock()
				bad++
				mu.Unlock()
			}
		}
	}, 20*time.Millisecond)
	for i := 0; i < 40; i++ {
		a, _ := m.Join("room", "s", "a", "", func(Event) {}, SubscribeAll)
		mu.Lock()
		seen = append(seen, a.room)
		mu.Unlock()
		a.Close("left")
		time.Sleep(20*time.Millisecond - time.Duration(i%10)*50*time.Microsecond)
		b, _ := m.Join("room", "s", "b", "", func(Event) {}, SubscribeAll)
		mu.Lock()
		seen = append(seen, b.room)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		m.mu.Lock()
		cur := m.rooms["room"]
		m.mu.Unlock()
		if cur != b.room {
			mu.Lock()
			bad++
			mu.Unlock()
		}
		b.Close("left")
		time.Sleep(30 * time.Millisecond)
	}
	if bad > 0 {
		t.Errorf("someone in a dropped room when OnEmpty ran, or an orphan room: %d of 40", bad)
	}
}

// The answer to the client's offer leaves before any server offer.
func TestAnswerLeavesBeforeTheNextOffer(t *testing.T) {
	m := newTestManager(t, func(string) {}, time.Hour)
	bad := 0
	for i := 0; i < 100; i++ {
		var mu sync.Mutex
		var seq []string
		p, err := m.Join("room", "s", fmt.Sprint("p", i), "", func(ev Event) {
			if ev.Type == EventOffer || ev.Type == EventAnswer {
				mu.Lock()
				seq = append(seq, ev.Type)
				mu.Unlock()
			}
		}, SubscribeAll)
		if err != nil {
			t.Fatal(err)
		}
		cli, _ := webrtc.NewPeerConnection(webrtc.Configuration{})
		cli.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio)
		o, _ := cli.CreateOffer(nil)
		cli.SetLocalDescription(o)
		tr := fakeTrack(t, "o", webrtc.RTPCodecTypeAudio)
		done := make(chan struct{})
		go func() { // another participant publishes now
			defer close(done)
			for j := 0; j < 2000; j++ {
				p.mu.Lock()
				r := p.conn.ready
				p.mu.Unlock()
				if r {
					p.conn.subscribe(tr)
					p.conn.negotiate()
					return
				}
			}
		}()
		if err := p.HandleOffer(o.SDP); err != nil {
			t.Fatal(err)
		}
		<-done
		mu.Lock()
		if len(seq) >= 2 && seq[0] == EventOffer {
			bad++
		}
		mu.Unlock()
		cli.Close()
		p.Close("left")
	}
	if bad > 0 {
		t.Errorf("server offer sent before the answer to the client's offer: %d of 100", bad)
	}
}

// A malformed answer leaves the server's offer open, so the client can
// answer again and negotiation goes on.
func TestBadAnswerKeepsTheOfferOpen(t *testing.T) {
	m := newTestManager(t, func(string) {}, time.Hour)
	var mu sync.Mutex
	var offers []string
	p, err := m.Join("room", "s", "p", "", func(ev Event) {
		if ev.Type == EventOffer {
			mu.Lock()
			offers = append(offers, ev.SDP.SDP)
			mu.Unlock()
		}
	}, SubscribeAll)
	if err != nil {
		t.Fatal(err)
	}
	cli := offerFrom(t, p)
	p.conn.subscribe(fakeTrack(t, "o", webrtc.RTPCodecTypeAudio))
	p.conn.negotiate()
	if err := p.HandleAnswer("v=0 garbage"); err == nil {
		t.Fatal("a malformed answer was accepted")
	}
	// Events are delivered by the participant's own goroutine: wait for
	// the offer (a hang fails the test, not the suite).
	var offer string
	for deadline := time.Now().Add(time.Minute); offer == ""; {
		mu.Lock()
		if len(offers) > 0 {
			offer = offers[len(offers)-1]
		}
		mu.Unlock()
		if offer == "" {
			if time.Now().After(deadline) {
				t.Fatal("no server offer")
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := cli.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	ans, _ := cli.CreateAnswer(nil)
	cli.SetLocalDescription(ans)
	if err := p.HandleAnswer(ans.SDP); err != nil {
		t.Fatalf("a good answer after a bad one: %v", err)
	}
	if p.conn.pc.SignalingState() != webrtc.SignalingStateStable {
		t.Errorf("signaling state %v after the good answer", p.conn.pc.SignalingState())
	}
}

// A join under way keeps an empty room: its timer neither drops it nor
// reports it, however often it fires, until the join is in or has failed;
// a failed join leaves the room to its timer.
func TestJoinUnderWayKeepsTheRoom(t *testing.T) {
	emptied := make(chan string, 10)
	m := newTestManager(t, func(id string) { emptied <- id }, 5*time.Millisecond)
	a, err := m.Join("room", "s", "a", "", func(Event) {}, SubscribeAll)
	if err != nil {
		t.Fatal(err)
	}
	room := a.room
	// A second join has picked the room and is building its connection.
	m.mu.Lock()
	room.joining++
	m.mu.Unlock()
	a.Close("left")
	// The timer fires (and re-arms) several times meanwhile.
	deadline := time.Now().Add(time.Minute)
	for {
		room.mu.Lock()
		gen := room.emptyGen
		room.mu.Unlock()
		if gen >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the empty-room timer fired only %d times", gen)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case id := <-emptied:
		t.Fatalf("OnEmpty(%s) while a join was under way", id)
	default:
	}
	m.mu.Lock()
	registered := m.rooms["room"] == room
	m.mu.Unlock()
	if !registered {
		t.Fatal("the room was dropped while a join was under way")
	}
	// The join fails: the room is empty, and its timer reports it.
	room.joinFailed()
	select {
	case id := <-emptied:
		if id != "room" {
			t.Fatalf("OnEmpty(%s)", id)
		}
	case <-time.After(time.Minute):
		t.Fatal("OnEmpty never ran after the join failed")
	}
}

// The event sink runs under no lock of the media server: it may call
// back into the participant (here Roster and SetTrackSettings, which take
// the room's and the participant's locks) without a deadlock, and events
// keep their order.
func TestEventSinkMayCallBack(t *testing.T) {
	m := newTestManager(t, func(string) {}, time.Hour)
	got := make(chan string, 16)
	var p *Participant
	ready := make(chan struct{})
	var err error
	p, err = m.Join("room", "s", "p", "", func(ev Event) {
		<-ready
		p.Roster()
		_ = p.SetTrackSettings("t", Settings{Hidden: true})
		got <- ev.Type
	}, SubscribeAll)
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	offerFrom(t, p)
	p.conn.subscribe(fakeTrack(t, "o", webrtc.RTPCodecTypeAudio))
	p.conn.negotiate()
	var seen []string
	for len(seen) < 2 {
		select {
		case typ := <-got:
			if typ == EventAnswer || typ == EventOffer {
				seen = append(seen, typ)
			}
		case <-time.After(time.Minute):
			t.Fatalf("events stopped after %v: the sink deadlocked", seen)
		}
	}
	if seen[0] != EventAnswer || seen[1] != EventOffer {
		t.Errorf("events in the order %v, want answer then offer", seen)
	}
}

// offerFrom has a pion client offer audio to p and apply p's answer; it
// returns the client (closed when the test ends).
func offerFrom(t *testing.T, p *Participant) *webrtc.PeerConnection {
	t.Helper()
	cli, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	cli.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio)
	o, _ := cli.CreateOffer(nil)
	cli.SetLocalDescription(o)
	if err := p.HandleOffer(o.SDP); err != nil {
		t.Fatal(err)
	}
	if err := cli.SetRemoteDescription(*p.conn.pc.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	return cli
}

// A client offer that follows the first one at once (before pion has
// started ICE from the first, in the background) is renegotiation, not
// an ICE restart: the server keeps its ICE credentials.
func TestQuickSecondOfferKeepsICE(t *testing.T) {
	m := newTestManager(t, func(string) {}, time.Hour)
	for i := range 20 {
		p, err := m.Join("room", "s", fmt.Sprint("p", i), "", func(Event) {}, SubscribeAll)
		if err != nil {
			t.Fatal(err)
		}
		cli := offerFrom(t, p)
		first := iceUfrag(p.conn.pc.LocalDescription().SDP)
		cli.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo)
		o, err := cli.CreateOffer(nil)
		if err == nil {
			err = cli.SetLocalDescription(o)
		}
		if err == nil {
			err = p.HandleOffer(o.SDP)
		}
		if err != nil {
			t.Fatal(err)
		}
		if second := iceUfrag(p.conn.pc.LocalDescription().SDP); second != first {
			t.Fatalf("join %d: the server's ICE ufrag changed from %q to %q on a second offer", i, first, second)
		}
		p.Close("test")
	}
}

func iceUfrag(sdp string) string {
	i := strings.Index(sdp, "a=ice-ufrag:")
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(strings.SplitN(sdp[i+len("a=ice-ufrag:"):], "\n", 2)[0])
}
