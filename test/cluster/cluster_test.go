// Package cluster_test runs two real roomsd processes on one PostgreSQL
// database and checks that they behave as one server: the REST API, the
// max_participants cap, media between participants who entered through
// different nodes, orders served by one node acting on media held by the
// other, the takeover of a killed node's rooms, and webhooks from both.
// It needs ROOMSD_TEST_POSTGRES_URL and skips without it.
package cluster_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/roomsd/roomsd/internal/bot"
	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/signal"
	"github.com/roomsd/roomsd/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBinary()
	os.Exit(code)
}

// lease is the nodes' ROOMSD_NODE_LEASE: a killed node's rooms are taken
// over a little after it.
const lease = "2s"

// node starts one roomsd of the cluster on db.
func node(t *testing.T, db, id string, extra map[string]string) *testutil.Process {
	t.Helper()
	env := map[string]string{
		"ROOMSD_DB": db, "ROOMSD_ADDR": "127.0.0.1:0", "ROOMSD_API_KEYS": "k", "ROOMSD_NODE_ID": id,
		"ROOMSD_DATA_DIR": t.TempDir(), "ROOMSD_RTC_LOOPBACK": "on", "ROOMSD_RTC_UDP_PORT": "0",
		"ROOMSD_NODE_LEASE": lease, "ROOMSD_WEBHOOK_BACKOFF": "200ms", "ROOMSD_LOG_LEVEL": "debug",
	}
	for k, v := range extra {
		env[k] = v
	}
	return testutil.StartRoomsd(t, env)
}

// cluster starts two nodes, a and b, on a new schema.
func cluster(t *testing.T, extra map[string]string) (a, b *testutil.Process) {
	t.Helper()
	a, b, _ = clusterDB(t, extra)
	return a, b
}

// clusterDB is cluster, and the URL of the nodes' database.
func clusterDB(t *testing.T, extra map[string]string) (a, b *testutil.Process, db string) {
	t.Helper()
	db = testutil.PostgresSchema(t)
	a = node(t, db, "node-a", extra)
	b = node(t, db, "node-b", extra)
	return a, b, db
}

type roomBody struct {
	Data struct {
		ID              string  `json:"id"`
		UniqueName      *string `json:"unique_name"`
		MaxParticipants int     `json:"max_participants"`
		ActiveSessionID *string `json:"active_session_id"`
	} `json:"data"`
}

func createRoom(t *testing.T, p *testutil.Process, body map[string]any) string {
	t.Helper()
	var r roomBody
	p.Call(t, http.MethodPost, "/v2/rooms", body, &r)
	return r.Data.ID
}

func token(t *testing.T, p *testutil.Process, roomID string) string {
	t.Helper()
	var body struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	p.Call(t, http.MethodPost, "/v2/rooms/"+roomID+"/actions/generate_join_client_token", map[string]any{}, &body)
	return body.Data.Token
}

// join enters a room through node p (following its redirect, if the
// other node serves the room) and closes the client when the test ends.
func join(t *testing.T, p *testutil.Process, roomID, name string, publish bool) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Join(ctx, client.ConnectURL(p.Root, roomID), token(t, p, roomID),
		client.Options{Context: name, Audio: publish, Video: publish, Loopback: true})
	if err != nil {
		t.Fatalf("%s joins through %s: %v", name, p.Root, err)
	}
	t.Cleanup(c.Close)
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatalf("%s: media: %v", name, err)
	}
	return c
}

type participant struct {
	ID        string  `json:"id"`
	SessionID string  `json:"session_id"`
	LeftAt    *string `json:"left_at"`
}

type session struct {
	ID     string        `json:"id"`
	Active bool          `json:"active"`
	Parts  []participant `json:"participants"`
}

func getSession(t *testing.T, p *testutil.Process, id string) session {
	t.Helper()
	var body struct {
		Data session `json:"data"`
	}
	p.Call(t, http.MethodGet, "/v2/room_sessions/"+id+"?include_participants=true", nil, &body)
	return body.Data
}

func getParticipant(t *testing.T, p *testutil.Process, id string) participant {
	t.Helper()
	var body struct {
		Data participant `json:"data"`
	}
	p.Call(t, http.MethodGet, "/v2/room_participants/"+id, nil, &body)
	return body.Data
}

// closedWith waits for the client's socket to close and returns the last
// message before it (kicked, session_ended, closed).
func closedWith(t *testing.T, c *client.Client) signal.Message {
	t.Helper()
	var last signal.Message
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-c.Events():
			if !ok {
				return last
			}
			switch m.Type {
			case signal.TypeKicked, signal.TypeSessionEnded, signal.TypeClosed:
				last = m
			}
		case <-deadline:
			t.Fatal("the participant's socket is still open 30 s on")
		}
	}
}

// A room created through one node is read, listed, changed and deleted
// through the other.
func TestRESTAcrossNodes(t *testing.T) {
	a, b := cluster(t, nil)
	id := createRoom(t, a, map[string]any{"unique_name": "across", "max_participants": 7})
	var got roomBody
	b.Call(t, http.MethodGet, "/v2/rooms/"+id, nil, &got)
	if got.Data.ID != id || got.Data.MaxParticipants != 7 || got.Data.UniqueName == nil || *got.Data.UniqueName != "across" {
		t.Fatalf("room read on b: %+v", got.Data)
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	b.Call(t, http.MethodGet, "/v2/rooms?filter[unique_name]=across", nil, &list)
	if len(list.Data) != 1 || list.Data[0].ID != id {
		t.Fatalf("room list on b: %+v", list.Data)
	}
	b.Call(t, http.MethodPatch, "/v2/rooms/"+id, map[string]any{"max_participants": 9}, &got)
	a.Call(t, http.MethodGet, "/v2/rooms/"+id, nil, &got)
	if got.Data.MaxParticipants != 9 {
		t.Fatalf("a reads max_participants %d after b changed it to 9", got.Data.MaxParticipants)
	}
	if status, raw := b.Do(t, http.MethodDelete, "/v2/rooms/"+id, nil); status != http.StatusNoContent {
		t.Fatalf("DELETE on b: %d %s", status, raw)
	}
	if status, _ := a.Do(t, http.MethodGet, "/v2/rooms/"+id, nil); status != http.StatusNotFound {
		t.Fatalf("GET on a after the delete on b: %d, want 404", status)
	}
}

// 100 joins at once, half through each node, for a room capped at 10:
// exactly 10 are admitted, all in one session on one node, and the others
// are refused as room_full.
func TestCapAcrossNodes(t *testing.T) {
	const joins, capacity = 100, 10
	a, b := cluster(t, nil)
	id := createRoom(t, a, map[string]any{"max_participants": capacity})
	tokens := make([]string, joins)
	for i := range tokens {
		tokens[i] = token(t, []*testutil.Process{a, b}[i%2], id)
	}
	var (
		mu       sync.Mutex
		admitted []*client.Client
		full     int
		other    []error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range joins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			via := []*testutil.Process{a, b}[i%2]
			c, err := client.Join(ctx, client.ConnectURL(via.Root, id), tokens[i], client.Options{Loopback: true})
			mu.Lock()
			defer mu.Unlock()
			var refused *client.JoinError
			switch {
			case err == nil:
				admitted = append(admitted, c)
			case errors.As(err, &refused) && refused.Code == signal.CodeRoomFull:
				full++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	for _, c := range admitted {
		defer c.Close()
	}
	if len(admitted) != capacity || full != joins-capacity || len(other) > 0 {
		t.Fatalf("%d admitted, %d refused as full, other errors %v; want %d and %d", len(admitted), full, other, capacity, joins-capacity)
	}
	sessions := map[string]bool{}
	for _, c := range admitted {
		sessions[c.SessionID] = true
	}
	if len(sessions) != 1 {
		t.Fatalf("admitted into %d sessions, want 1", len(sessions))
	}
	var room roomBody
	b.Call(t, http.MethodGet, "/v2/rooms/"+id, nil, &room)
	s := getSession(t, b, *room.Data.ActiveSessionID)
	present := 0
	for _, p := range s.Parts {
		if p.LeftAt == nil {
			present++
		}
	}
	if present != capacity {
		t.Fatalf("the session shows %d present, want %d", present, capacity)
	}
}

// Two participants, one entering through each node, receive each other's
// audio and video: roomsd bot counts the packets.
func TestMediaAcrossNodes(t *testing.T) {
	a, b := cluster(t, nil)
	id := createRoom(t, a, map[string]any{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reports := make([]*bot.Report, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, via := range []*testutil.Process{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = bot.Run(ctx, bot.Config{Server: via.Root, APIKey: "k", Room: id, Context: []string{"via-a", "via-b"}[i],
				Count: 1, Duration: 4 * time.Second, Audio: true, Video: true, Loopback: true})
		}()
	}
	wg.Wait()
	for i, r := range reports {
		if errs[i] != nil || r.Failed > 0 {
			t.Fatalf("bot %d: %v %+v", i, errs[i], r)
		}
	}
	if reports[0].Participants[0].SessionID != reports[1].Participants[0].SessionID {
		t.Fatalf("the bots are in two sessions: %s and %s", reports[0].Participants[0].SessionID, reports[1].Participants[0].SessionID)
	}
	for i, r := range reports {
		other := reports[1-i].ParticipantIDs[0]
		got := r.Participants[0].Received[other]
		if got["audio"].Packets < 20 || got["video"].Packets < 10 || got["video"].Keyframes < 1 {
			t.Errorf("bot %d received from the other: %+v", i, got)
		}
	}
}

// Orders served by one node act on media held by the other, through the
// database's notification (not the periodic sweep): a mute and a
// kick through a, for a participant held by b; an end through b for a
// session held by a; a room deleted through a while b holds its session.
func TestOrdersAcrossNodes(t *testing.T) {
	// A lease (and so a sweep) of a minute: within the waits below only
	// the notification can carry an order to the other node.
	a, b := cluster(t, map[string]string{"ROOMSD_NODE_LEASE": "1m"})

	t.Run("mute and kick on a, held by b", func(t *testing.T) {
		id := createRoom(t, b, map[string]any{})
		held := join(t, b, id, "held-by-b", true)
		stay := join(t, a, id, "redirected-to-b", false) // a sends it to b
		a.Call(t, http.MethodPost, "/v2/room_sessions/"+held.SessionID+"/actions/mute",
			map[string]any{"participants": []string{held.ParticipantID}}, nil)
		waitEvent(t, stay, "muted", held.ParticipantID)
		a.Call(t, http.MethodPost, "/v2/room_sessions/"+held.SessionID+"/actions/kick",
			map[string]any{"participants": []string{held.ParticipantID}}, nil)
		if m := closedWith(t, held); m.Type != signal.TypeKicked {
			t.Fatalf("last message before the socket closed: %+v, want kicked", m)
		}
		if p := getParticipant(t, a, held.ParticipantID); p.LeftAt == nil {
			t.Fatalf("kicked participant: %+v", p)
		}
	})
	t.Run("recording turned on through a, recorded by b", func(t *testing.T) {
		id := createRoom(t, b, map[string]any{})
		join(t, b, id, "publisher-on-b", true)
		a.Call(t, http.MethodPatch, "/v2/rooms/"+id, map[string]any{"enable_recording": true}, nil)
		testutil.Eventually(t, 30*time.Second, "b records the room's tracks", func() bool {
			var body struct {
				Data []struct {
					Type string `json:"type"`
				} `json:"data"`
			}
			a.Call(t, http.MethodGet, "/v2/room_recordings?filter[room_id]="+id, nil, &body)
			return len(body.Data) == 2
		})
	})
	t.Run("end on b, held by a", func(t *testing.T) {
		id := createRoom(t, a, map[string]any{})
		held := join(t, a, id, "held-by-a", false)
		b.Call(t, http.MethodPost, "/v2/room_sessions/"+held.SessionID+"/actions/end", map[string]any{}, nil)
		if m := closedWith(t, held); m.Type != signal.TypeSessionEnded {
			t.Fatalf("last message before the socket closed: %+v, want session_ended", m)
		}
	})
	t.Run("delete on a, held by b", func(t *testing.T) {
		id := createRoom(t, b, map[string]any{})
		held := join(t, b, id, "held-by-b", false)
		if status, raw := a.Do(t, http.MethodDelete, "/v2/rooms/"+id, nil); status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", status, raw)
		}
		if m := closedWith(t, held); m.Type != signal.TypeClosed || m.Reason != "room_deleted" {
			t.Fatalf("last message before the socket closed: %+v, want closed room_deleted", m)
		}
	})
}

// waitEvent waits for a message of type typ about participant id.
func waitEvent(t *testing.T, c *client.Client, typ, id string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-c.Events():
			if !ok {
				t.Fatalf("socket closed while waiting for %s", typ)
			}
			if m.Type == typ && m.ParticipantID == id {
				return
			}
		case <-deadline:
			t.Fatalf("no %s for %s within 30 s", typ, id)
		}
	}
}

// A participant whose socket dropped resumes through the other node: it
// is sent to the node holding it and keeps its place.
func TestResumeThroughOtherNode(t *testing.T) {
	a, b := cluster(t, nil)
	id := createRoom(t, a, map[string]any{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws, joined, hops, err := rawJoinMessage(ctx, signal.ConnectURL(a.Root, id), signal.Message{Type: signal.TypeJoin, Token: token(t, a, id)})
	if err != nil || hops != 0 {
		t.Fatalf("join through a: %v (%d redirects)", err, hops)
	}
	ws.CloseNow() // dropped: the participant waits for its grace period
	ws, again, hops, err := rawJoinMessage(ctx, signal.ConnectURL(b.Root, id), signal.Message{Type: signal.TypeJoin,
		Token: token(t, b, id), Resume: joined.ParticipantID, ResumeToken: joined.ResumeToken})
	if err != nil {
		t.Fatalf("resume through b: %v", err)
	}
	defer ws.CloseNow()
	if hops != 1 || again.ParticipantID != joined.ParticipantID || again.SessionID != joined.SessionID {
		t.Fatalf("resumed as %+v after %d redirects; want %s in session %s after one", again, hops, joined.ParticipantID, joined.SessionID)
	}
}

// hooks records the webhooks it receives, and whether each carried a
// valid Ed25519 signature by key (when set).
type hooks struct {
	mu     sync.Mutex
	key    ed25519.PublicKey
	events []hookEvent
	forged int
}

type hookEvent struct {
	ID, Type, RoomID, Reason string
}

func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	sig, _ := base64.StdEncoding.DecodeString(r.Header.Get("telnyx-signature-ed25519"))
	var body struct {
		Data struct {
			ID        string `json:"id"`
			EventType string `json:"event_type"`
			Payload   struct {
				RoomID      string `json:"room_id"`
				LeftReason  string `json:"left_reason"`
				EndedReason string `json:"ended_reason"`
			} `json:"payload"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	d := body.Data
	h.mu.Lock()
	if h.key != nil && !ed25519.Verify(h.key, []byte(r.Header.Get("telnyx-timestamp")+"|"+string(raw)), sig) {
		h.forged++
	}
	h.events = append(h.events, hookEvent{d.ID, d.EventType, d.Payload.RoomID, d.Payload.LeftReason + d.Payload.EndedReason})
	h.mu.Unlock()
}

func (h *hooks) got() []hookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// held is a receiver that holds its first request unanswered (until
// its sender goes away) and answers the others; arrived is closed when the
// first request is held.
type held struct {
	hooks
	first   sync.Once
	arrived chan struct{}
}

func (h *held) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hold := false
	h.first.Do(func() { hold = true })
	h.hooks.ServeHTTP(w, r)
	if hold {
		close(h.arrived)
		<-r.Context().Done()
	}
}

// publicKey reads a node's webhook public key.
func publicKey(t *testing.T, p *testutil.Process) ed25519.PublicKey {
	t.Helper()
	var body struct {
		PublicKey string `json:"public_key"`
	}
	p.Call(t, http.MethodGet, "/.well-known/webhook-public-key", nil, &body)
	key, err := base64.StdEncoding.DecodeString(body.PublicKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		t.Fatalf("webhook public key %q: %v", body.PublicKey, err)
	}
	return key
}

func receiver(t *testing.T) (*hooks, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hooks{}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h, "http://" + ln.Addr().String() + "/hooks"
}

// roomsd bot --rejoin with both nodes' URLs: two participants meet
// through node a; a is killed; they rejoin through b (which takes the
// room over once a's lease has run out) and receive each other again.
func TestBotRejoinsThroughSurvivor(t *testing.T) {
	a, b := cluster(t, nil)
	id := createRoom(t, a, map[string]any{})
	logs := &testutil.SyncBuffer{}
	snapshot := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var report *bot.Report
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		report, runErr = bot.Run(ctx, bot.Config{Server: a.Root + "," + b.Root, Rejoin: true, APIKey: "k", Room: id,
			Context: "rejoiner", Count: 2, Duration: time.Hour, Audio: true, Video: true, Loopback: true,
			Log: logs, Snapshot: snapshot})
	}()
	present := func(p *testutil.Process) (string, int) {
		var room roomBody
		p.Call(t, http.MethodGet, "/v2/rooms/"+id, nil, &room)
		if room.Data.ActiveSessionID == nil {
			return "", 0
		}
		n := 0
		for _, x := range getSession(t, p, *room.Data.ActiveSessionID).Parts {
			if x.LeftAt == nil {
				n++
			}
		}
		return *room.Data.ActiveSessionID, n
	}
	defer func() {
		if t.Failed() {
			t.Logf("bot log:\n%s", logs)
		}
	}()
	line := regexp.MustCompile(`snapshot t=\S+ connected=(\d+)/2 failed=(\d+) packets=(\d+)`)
	connected := func() bool {
		snapshot <- struct{}{}
		m := line.FindAllStringSubmatch(logs.String(), -1)
		return len(m) > 0 && m[len(m)-1][1] == "2"
	}
	var first string
	// Both in a's session with their media connected before a dies, so
	// that what follows is their rejoin, not a first connection cut short.
	testutil.Eventually(t, 60*time.Second, "both bots in a's session, media connected", func() bool {
		s, n := present(b)
		first = s
		return n == 2 && connected()
	})
	a.Kill(t)
	testutil.Eventually(t, 2*time.Minute, "both bots rejoined, in a new session", func() bool {
		s, n := present(b)
		return s != "" && s != first && n == 2
	})
	testutil.Eventually(t, 60*time.Second, "media between the rejoined bots", func() bool {
		snapshot <- struct{}{}
		m := line.FindAllStringSubmatch(logs.String(), -1)
		if len(m) == 0 {
			return false
		}
		last := m[len(m)-1]
		packets, _ := strconv.Atoi(last[3])
		return last[1] == "2" && last[2] == "0" && packets >= 200
	})
	cancel()
	<-done
	if runErr != nil || report.Failed != 0 {
		t.Fatalf("bot: %v, %+v\n%s", runErr, report, logs)
	}
	for i, p := range report.Participants {
		other := report.ParticipantIDs[1-i]
		got := p.Received[other]
		if p.Rejoins != 1 || !p.Connected || got["audio"].Packets == 0 || got["video"].Packets == 0 {
			t.Errorf("participant %d: rejoins %d, connected %v, received from the other %+v", i, p.Rejoins, p.Connected, got)
		}
	}
}

// A node killed in the middle of a webhook attempt leaves the event to the
// other node, which sends it again once the attempt's claim has run out
// (twice the room's webhook timeout and a minute): the event arrives
// again, and the room's later events follow it, in order.
func TestWebhookAttemptOfKilledNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rx := &held{arrived: make(chan struct{})}
	srv := &http.Server{Handler: rx}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	a, b, db := clusterDB(t, nil)
	id := createRoom(t, a, map[string]any{"webhook_event_url": "http://" + ln.Addr().String() + "/hooks", "webhook_timeout_secs": 1})
	join(t, a, id, "on-a", false)
	select {
	case <-rx.arrived:
	case <-time.After(60 * time.Second):
		t.Fatal("no webhook request within 60 s")
	}
	// Kill the node that made the attempt (either may have claimed it).
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var claimant string
	if err := conn.QueryRow(context.Background(),
		`SELECT claimed_by FROM webhook_events WHERE room_id = $1 ORDER BY seq LIMIT 1`, id).Scan(&claimant); err != nil {
		t.Fatal(err)
	}
	killed, survivor := a, b
	if claimant == "node-b" {
		killed, survivor = b, a
	}
	killed.Kill(t)
	want := []string{"video.room.session.started", "video.room.participant.joined"}
	testutil.Eventually(t, 3*time.Minute, "the held event sent again and the next one delivered", func() bool {
		var body struct {
			Data []struct {
				Status string `json:"status"`
			} `json:"data"`
		}
		survivor.Call(t, http.MethodGet, "/v2/webhook_deliveries?filter[room_id]="+id, nil, &body)
		if len(body.Data) < len(want) {
			return false
		}
		for _, d := range body.Data {
			if d.Status != "delivered" {
				return false
			}
		}
		return true
	})
	got := rx.got()
	if len(got) < 3 || got[0].ID != got[1].ID || got[0].Type != want[0] || got[2].Type != want[1] {
		t.Fatalf("requests received: %+v; want the held %s twice, then %s", got, want[0], want[1])
	}
}

// A node stopped with SIGTERM ends its sessions as it stops and expires
// its heartbeat: a participant rejoins through the survivor at once,
// without waiting for the lease (a minute here).
func TestStoppedNodeHandsOver(t *testing.T) {
	a, b := cluster(t, map[string]string{"ROOMSD_NODE_LEASE": "1m"})
	id := createRoom(t, b, map[string]any{})
	held := join(t, a, id, "on-a", false)
	if code := a.Terminate(t); code != 0 {
		t.Fatalf("roomsd exited with %d after SIGTERM", code)
	}
	closedWith(t, held)
	again := join(t, b, id, "rejoined", false)
	if again.SessionID == held.SessionID {
		t.Fatal("rejoined the stopped node's session")
	}
	s := getSession(t, b, held.SessionID)
	if s.Active {
		t.Fatalf("the stopped node's session is still active: %+v", s)
	}
}

// kill -9 of the node holding a room: after the lease, the other node
// ends the session (its participant left as disconnected, the session
// ended with reason node_lost), the participant rejoins through the
// survivor, and every webhook of the room (from both nodes) arrives once,
// in order.
func TestKilledNodeIsTakenOver(t *testing.T) {
	rx, hookURL := receiver(t)
	a, b := cluster(t, nil)
	// Both nodes sign with the one key kept in the database.
	key := publicKey(t, a)
	if !key.Equal(publicKey(t, b)) {
		t.Fatal("the nodes show two webhook public keys")
	}
	rx.mu.Lock()
	rx.key = key
	rx.mu.Unlock()
	id := createRoom(t, b, map[string]any{"webhook_event_url": hookURL})
	first := join(t, a, id, "on-a", false) // the room's session is a's
	other := join(t, b, id, "through-b", false)
	if first.SessionID != other.SessionID {
		t.Fatalf("two sessions: %s, %s", first.SessionID, other.SessionID)
	}
	a.Kill(t)
	closedWith(t, first)
	testutil.Eventually(t, 60*time.Second, "b ends the killed node's session", func() bool {
		return !getSession(t, b, first.SessionID).Active
	})
	for _, p := range getSession(t, b, first.SessionID).Parts {
		if p.LeftAt == nil {
			t.Fatalf("participant of the lost session still present: %+v", p)
		}
	}
	again := join(t, b, id, "rejoined", false)
	if again.SessionID == first.SessionID {
		t.Fatal("rejoined the lost session")
	}
	if ses := getSession(t, b, again.SessionID); !ses.Active {
		t.Fatalf("new session: %+v", ses)
	}
	want := []string{
		"video.room.session.started", "video.room.participant.joined", "video.room.participant.joined",
		"video.room.participant.left", "video.room.participant.left", "video.room.session.ended",
		"video.room.session.started", "video.room.participant.joined",
	}
	// Once the outbox says every event is delivered, the receiver has had
	// one request per attempt, and no more. An event the killed node had
	// claimed for an attempt when it died waits out that claim (both
	// requests' timeouts, 10 s each here, and a minute) before b sends it.
	attempts := 0
	testutil.Eventually(t, 3*time.Minute, "every webhook of the room delivered", func() bool {
		var body struct {
			Data []struct {
				Status   string `json:"status"`
				Attempts int    `json:"attempts"`
			} `json:"data"`
		}
		b.Call(t, http.MethodGet, "/v2/webhook_deliveries?filter[room_id]="+id+"&page[size]=50", nil, &body)
		attempts = 0
		for _, d := range body.Data {
			if d.Status != "delivered" {
				return false
			}
			attempts += d.Attempts
		}
		return len(body.Data) == len(want)
	})
	got := rx.got()
	if len(got) != attempts {
		t.Errorf("the receiver got %d requests for %d attempts", len(got), attempts)
	}
	rx.mu.Lock()
	if rx.forged > 0 {
		t.Errorf("%d webhooks not signed by the cluster's key", rx.forged)
	}
	rx.mu.Unlock()
	var types []string
	seen := map[string]bool{}
	for _, e := range got {
		if seen[e.ID] {
			t.Errorf("event %s (%s) delivered twice", e.ID, e.Type)
		}
		seen[e.ID] = true
		types = append(types, e.Type)
	}
	if !slices.Equal(types, want) {
		t.Fatalf("webhooks in order of arrival:\n%v\nwant\n%v", types, want)
	}
	for i, reason := range map[int]string{3: "disconnected", 4: "disconnected", 5: "node_lost"} {
		if got[i].Reason != reason {
			t.Errorf("%s reason %q, want %q", got[i].Type, got[i].Reason, reason)
		}
	}
}
