package webhooks_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/testutil"
)

// makeEvents makes events in each room through the real rooms
// operations on the server's database file, as e2e/fixture does: per room,
// cycles sessions in which two people join, one leaves and the session
// ends (6 events each). The last room keeps its last session open, so
// that the restart ends it (participant.left "disconnected" and
// session.ended "server_restart") and those events join the queue.
func makeEvents(t *testing.T, dbPath string, roomIDs []string, cycles int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := rooms.New(st) // no notifier: the server's dispatcher finds the rows by polling
	for i := 0; i < cycles; i++ {
		for r, id := range roomIDs {
			a, err := svc.Join(ctx, id, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Join(ctx, id, "bob"); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Leave(ctx, a.ID, domain.ReasonLeft); err != nil {
				t.Fatal(err)
			}
			if i == cycles-1 && r == len(roomIDs)-1 {
				continue // left active for the restart to end
			}
			if _, _, err := svc.EndSession(ctx, a.SessionID, domain.ReasonAPI); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The scenario: events pile up while the receiver is down, roomsd
// is killed with SIGKILL in the middle of retrying them, restarted on the
// same database, and the receiver comes up. Every event arrives, signed,
// in order per room; a repeat carries the same event id.
func TestKill9RestartDeliversEverything(t *testing.T) {
	t.Run("receiver down", func(t *testing.T) { kill9Scenario(t, false) })
	// The kill lands while the first attempt of every room's queue is in
	// flight: the receiver holds the requests without answering. Those
	// events are sent again after the restart, under the same id.
	t.Run("requests in flight", func(t *testing.T) { kill9Scenario(t, true) })
}

func kill9Scenario(t *testing.T, inFlight bool) {
	const (
		nRooms = 5
		cycles = 2 // 6 events per cycle and room: 60 in all, less 2 for the session left open
		// perHost is the dispatcher's limit of concurrent requests to one host.
		perHost = 4
	)
	start := time.Now()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "roomsd.db")
	secretBytes := make([]byte, 32)
	rand.Read(secretBytes)
	env := map[string]string{
		"ROOMSD_DB":              dbPath,
		"ROOMSD_ADDR":            "127.0.0.1:0",
		"ROOMSD_API_KEYS":        apiKey,
		"ROOMSD_RTC_LOOPBACK":    "on",
		"ROOMSD_RTC_UDP_PORT":    "0",
		"ROOMSD_WEBHOOK_BACKOFF": "200ms",
		"ROOMSD_WEBHOOK_SECRET":  "whsec_" + base64.StdEncoding.EncodeToString(secretBytes),
	}
	rxAddr := testutil.ClosedAddr(t) // down until the restart, unless inFlight
	timeout := 2
	if inFlight {
		timeout = 30 // held requests must still be in flight at the kill
	}

	srv := startServer(t, env)
	key := srv.publicKey(t)
	var rx *receiver
	if inFlight {
		rx = startReceiver(t, rxAddr, key, secretBytes, true)
	}
	var roomIDs []string
	for i := 0; i < nRooms; i++ {
		var body struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		srv.call(t, http.MethodPost, "/v2/rooms", map[string]any{
			"webhook_event_url": hookURL(rxAddr), "webhook_timeout_secs": timeout,
		}, &body)
		roomIDs = append(roomIDs, body.Data.ID)
	}
	makeEvents(t, dbPath, roomIDs, cycles)
	before := srv.deliveries(t)
	wantBefore := nRooms*cycles*6 - 2
	if len(before) != wantBefore {
		t.Fatalf("%d outbox rows before the kill, want %d", len(before), wantBefore)
	}

	// Wait until the dispatcher has tried (and failed) the head of every
	// room's queue at least once, or, with inFlight, until the receiver
	// holds as many requests as roomsd sends to one host at a time, so the
	// kill lands mid-retry or mid-request.
	heads := map[string]delivery{}
	testutil.Eventually(t, 15*time.Second, "every room's first event attempted", func() bool {
		clear(heads)
		for _, d := range srv.deliveries(t) {
			if _, seen := heads[d.RoomID]; !seen {
				heads[d.RoomID] = d
			}
		}
		if inFlight {
			// roomsd sends at most 4 requests at a time to one host; the
			// other rooms' heads wait for a slot.
			held, _ := rx.got()
			return len(held) == min(nRooms, perHost)
		}
		for _, d := range heads {
			if d.Attempts < 1 {
				return false
			}
		}
		return len(heads) == nRooms
	})
	for _, d := range heads {
		if inFlight && (d.Status != domain.DeliveryPending || d.Attempts != 0) {
			t.Fatalf("head delivery in flight before the kill: %+v", d)
		}
		if !inFlight && (d.Status != domain.DeliveryPending || d.LastError == "" || d.LastStatus != 0) {
			t.Fatalf("head delivery before the kill: %+v", d)
		}
	}
	// Attempts only grow, so this snapshot is a lower bound of what the
	// killed process had recorded.
	preKillAttempts := map[string]int{}
	for _, d := range srv.deliveries(t) {
		preKillAttempts[d.ID] = d.Attempts
	}
	srv.kill(t)
	if inFlight {
		rx.hold.Store(false) // answers from now on
	}

	srv = startServer(t, env)
	if !bytes.Equal(srv.publicKey(t), key) {
		t.Fatal("the webhook public key changed across the restart")
	}
	all := srv.deliveries(t) // includes what the restart appended
	if len(all) != wantBefore+2 {
		t.Fatalf("%d outbox rows after the restart, want %d (+ participant.left and session.ended of the open session)",
			len(all), wantBefore+2)
	}
	for i, d := range before {
		if all[i].ID != d.ID {
			t.Fatalf("outbox row %d changed across the restart: %s, was %s", i, all[i].ID, d.ID)
		}
	}
	tail := all[len(all)-2:]
	if tail[0].EventType != domain.EventParticipantLeft || tail[1].EventType != domain.EventSessionEnded ||
		tail[0].RoomID != roomIDs[nRooms-1] || tail[1].RoomID != roomIDs[nRooms-1] {
		t.Fatalf("the restart appended %+v", tail)
	}

	if !inFlight {
		rx = startReceiver(t, rxAddr, key, secretBytes, false)
	}
	want := map[string]delivery{}
	for _, d := range all {
		want[d.ID] = d
	}
	testutil.Eventually(t, 30*time.Second, "every event received and answered", func() bool {
		hits, _ := rx.got()
		seen := map[string]bool{}
		for _, h := range hits {
			seen[h.eventID] = seen[h.eventID] || h.answered
		}
		for id := range want {
			if !seen[id] {
				return false
			}
		}
		return true
	})
	testutil.Eventually(t, 10*time.Second, "every delivery recorded as delivered", func() bool {
		for _, d := range srv.deliveries(t) {
			if d.Status != domain.DeliveryDelivered {
				return false
			}
		}
		return true
	})

	hits, errs := rx.got()
	for _, e := range errs {
		t.Errorf("receiver: %s", e)
	}
	// Nothing unexpected, and a repeat is the same event, byte for byte.
	first, last := map[string]hit{}, map[string]hit{}
	var order []hit // first arrivals
	for _, h := range hits {
		last[h.eventID] = h
		if _, ok := want[h.eventID]; !ok {
			t.Errorf("unexpected event %s (%s)", h.eventID, h.eventType)
			continue
		}
		if f, ok := first[h.eventID]; ok {
			if !bytes.Equal(f.data, h.data) {
				t.Errorf("event %s arrived twice with different contents:\n%s\n%s", h.eventID, f.data, h.data)
			}
			continue
		}
		first[h.eventID] = h
		order = append(order, h)
	}
	// No event went out twice under different ids: each (type, payload)
	// has one id.
	byContent := map[string]string{}
	for _, h := range order {
		k := h.eventType + " " + payloadOf(t, h.data)
		if id, ok := byContent[k]; ok && id != h.eventID {
			t.Errorf("one event under two ids %s and %s: %s", id, h.eventID, k)
		}
		byContent[k] = h.eventID
	}
	// Per room, first arrivals follow the outbox order.
	for _, room := range roomIDs {
		var sent, got []string
		for _, d := range all {
			if d.RoomID == room {
				sent = append(sent, d.ID)
			}
		}
		for _, h := range order {
			if h.roomID == room {
				got = append(got, h.eventID)
			}
		}
		if !slices.Equal(sent, got) {
			t.Errorf("room %s: arrival order differs from the outbox order:\n got %v\nwant %v", room, got, sent)
		}
	}
	// Attempts counted before the kill carry over; the recorded outcome
	// matches the request that succeeded.
	final := map[string]delivery{}
	for _, d := range srv.deliveries(t) {
		final[d.ID] = d
	}
	for id, d := range final {
		f := first[id]
		if d.DeliveredTo != hookURL(rxAddr) || d.LastStatus != http.StatusOK || d.LastError != "" {
			t.Errorf("delivery %s: %+v", id, d)
		}
		if f.attempt <= preKillAttempts[id] || d.Attempts != last[id].attempt {
			t.Errorf("event %s (%s): arrived as attempt %d (last %d), recorded %d; at least %d attempts before the kill",
				id, d.EventType, f.attempt, last[id].attempt, d.Attempts, preKillAttempts[id])
		}
		if f.deliveredTo != hookURL(rxAddr) {
			t.Errorf("event %s: meta.delivered_to %q", id, f.deliveredTo)
		}
	}
	held := 0
	for _, h := range hits {
		if h.answered {
			continue
		}
		// The attempt in flight at the kill was never recorded: the event
		// goes again as attempt 1, a repeat under the same id.
		held++
		if n := countHits(hits, h.eventID); n != 2 || !last[h.eventID].answered || last[h.eventID].attempt != 1 || h.attempt != 1 {
			t.Errorf("event %s in flight at the kill arrived %d times (last answered %v, attempts %d then %d)",
				h.eventID, n, last[h.eventID].answered, h.attempt, last[h.eventID].attempt)
		}
	}
	if inFlight && held != min(nRooms, perHost) {
		t.Errorf("%d requests held at the kill", held)
	}
	for room, d := range heads {
		if !inFlight && final[d.ID].Attempts < 2 {
			t.Errorf("room %s: the head event was delivered at attempt %d; attempts made before the kill were lost", room, final[d.ID].Attempts)
		}
	}
	t.Logf("%d events (%d before the kill, %d from the restart), %d requests, %d repeats; %v in all",
		len(want), wantBefore, 2, len(hits), len(hits)-len(order), time.Since(start).Round(time.Millisecond))

	if code := srv.terminate(t); code != 0 {
		t.Errorf("roomsd exited %d after SIGTERM", code)
	}
	if !strings.Contains(srv.Stderr.String(), `msg=stopped`) {
		t.Errorf("roomsd did not log its clean stop")
	}
}

func countHits(hits []hit, id string) int {
	n := 0
	for _, h := range hits {
		if h.eventID == id {
			n++
		}
	}
	return n
}

// payloadOf returns the event's payload as canonical JSON.
func payloadOf(t *testing.T, data []byte) string {
	t.Helper()
	var ev struct {
		Payload map[string]any `json:"payload"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev.Payload) // map keys are sorted
	return string(b)
}
