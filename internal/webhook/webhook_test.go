package webhook_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/testutil"
	"github.com/roomsd/roomsd/internal/webhook"
)

// hit is one request a receiver got.
type hit struct {
	at      time.Time
	body    []byte
	header  http.Header
	event   map[string]any
	meta    map[string]any
	eventID string
}

// receiver is a real HTTP endpoint on 127.0.0.1 whose answer a test
// chooses per request.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	answer func(n int, h hit) int // status for the n-th request (1-based)
}

func newReceiver(t *testing.T, answer func(n int, h hit) int) *receiver {
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var env struct {
			Data map[string]any `json:"data"`
			Meta map[string]any `json:"meta"`
		}
		json.Unmarshal(body, &env)
		h := hit{at: time.Now(), body: body, header: req.Header.Clone(), event: env.Data, meta: env.Meta}
		h.eventID, _ = env.Data["id"].(string)
		r.mu.Lock()
		r.hits = append(r.hits, h)
		n := len(r.hits)
		r.mu.Unlock()
		status := 200
		if r.answer != nil {
			status = r.answer(n, h)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

type env struct {
	t      *testing.T
	st     store.Store
	svc    *rooms.Service
	d      *webhook.Dispatcher
	key    ed25519.PrivateKey
	secret []byte
}

func newEnv(t *testing.T, cfg webhook.Config) *env {
	t.Helper()
	return newEnvLogging(t, cfg, io.Discard)
}

// newEnvLogging is newEnv with the dispatcher's log written to logs.
func newEnvLogging(t *testing.T, cfg webhook.Config, logs io.Writer) *env {
	t.Helper()
	st := testutil.OpenStore(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	secret := []byte("0123456789abcdef0123456789abcdef")
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = 50 * time.Millisecond
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	d := webhook.New(st, webhook.NewSigner(key, secret), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	svc := rooms.New(st, rooms.WithEventNotifier(d.Notify))
	d.Start()
	t.Cleanup(d.Stop)
	return &env{t: t, st: st, svc: svc, d: d, key: key, secret: secret}
}

func ptr[T any](v T) *T { return &v }

func (e *env) room(url, failover string, timeout *int) domain.Room {
	e.t.Helper()
	c := rooms.RoomChanges{WebhookEventURL: rooms.Some(&url), WebhookTimeoutSecs: rooms.Some(timeout)}
	if failover != "" {
		c.WebhookEventFailoverURL = rooms.Some(&failover)
	}
	r, err := e.svc.CreateRoom(context.Background(), c)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func types(hs []hit) string {
	var out []string
	for _, h := range hs {
		out = append(out, strings.TrimPrefix(h.event["event_type"].(string), "video.room."))
	}
	return strings.Join(out, " ")
}

// verify checks both signatures on a request, as a receiver would.
func (e *env) verify(h hit) {
	e.t.Helper()
	ts := h.header.Get("telnyx-timestamp")
	sig, err := base64.StdEncoding.DecodeString(h.header.Get("telnyx-signature-ed25519"))
	if err != nil || !ed25519.Verify(e.key.Public().(ed25519.PublicKey), append([]byte(ts+"|"), h.body...), sig) {
		e.t.Errorf("Ed25519 signature does not verify")
	}
	mac := hmac.New(sha256.New, e.secret)
	mac.Write([]byte(h.header.Get("webhook-id") + "." + h.header.Get("webhook-timestamp") + "."))
	mac.Write(h.body)
	if h.header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) || h.header.Get("webhook-id") != h.eventID {
		e.t.Errorf("Standard Webhooks signature does not verify")
	}
	if h.header.Get("Content-Type") != "application/json" {
		e.t.Errorf("Content-Type %q", h.header.Get("Content-Type"))
	}
}

func TestEveryEventTypeWithItsShape(t *testing.T) {
	e := newEnv(t, webhook.Config{})
	ctx := context.Background()
	rx := newReceiver(t, nil)
	compRx := newReceiver(t, nil)
	room := e.room(rx.URL+"/hooks", "", nil)
	alice, err := e.svc.Join(ctx, room.ID, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := e.svc.Join(ctx, room.ID, "Bob")
	rec, _ := e.svc.StartRecording(ctx, alice.ID, "audio", "opus")
	e.svc.CompleteRecording(ctx, rec.ID, 1.5, 42, "https://files.example/a.ogg")
	e.svc.Kick(ctx, alice.SessionID, rooms.Selection{IDs: []string{bob.ID}})
	e.svc.Leave(ctx, alice.ID, domain.ReasonLeft)
	carol, _ := e.svc.Join(ctx, room.ID, "Carol")
	e.svc.EndSession(ctx, alice.SessionID, domain.ReasonAPI)
	comp, err := e.svc.CreateComposition(ctx, rooms.CompositionRequest{SessionID: &alice.SessionID,
		Webhooks: rooms.WebhookSettings{WebhookEventURL: rooms.Some(ptr(compRx.URL))}})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.CompleteComposition(ctx, comp.ID, 2.5, 40, "https://files.example/c.mp4")

	want := "session.started participant.joined participant.joined recording.started recording.completed " +
		"participant.left participant.left participant.joined participant.left session.ended"
	testutil.Eventually(t, 10*time.Second, "all room events delivered", func() bool { return len(rx.got()) >= 10 })
	hs := rx.got()
	if types(hs) != want {
		t.Fatalf("events in order:\n got %s\nwant %s", types(hs), want)
	}
	for _, h := range hs {
		e.verify(h)
		if h.event["record_type"] != "event" || h.meta["attempt"] != float64(1) || h.meta["delivered_to"] != rx.URL+"/hooks" {
			t.Errorf("envelope: %s", h.body)
		}
		if _, err := time.Parse(time.RFC3339Nano, h.event["occurred_at"].(string)); err != nil {
			t.Errorf("occurred_at: %v", err)
		}
	}
	payload := func(i int) map[string]any { return hs[i].event["payload"].(map[string]any) }
	check := func(i int, want map[string]any) {
		t.Helper()
		got := payload(i)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %#v, want %#v", hs[i].event["event_type"], k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s payload has fields %v, want exactly %v", hs[i].event["event_type"], got, want)
		}
	}
	sid := alice.SessionID
	check(0, map[string]any{"session_id": sid, "room_id": room.ID})
	check(1, map[string]any{"session_id": sid, "room_id": room.ID, "participant_id": alice.ID, "context": "Alice"})
	check(3, map[string]any{"session_id": sid, "room_id": room.ID, "participant_id": alice.ID, "recording_id": rec.ID, "type": "audio"})
	check(4, map[string]any{"session_id": sid, "room_id": room.ID, "participant_id": alice.ID, "recording_id": rec.ID, "type": "audio",
		"size_mb": 1.5, "download_url": "https://files.example/a.ogg", "codec": "opus", "duration_secs": float64(42)})
	check(5, map[string]any{"session_id": sid, "room_id": room.ID, "participant_id": bob.ID, "context": "Bob",
		"duration_secs": float64(0), "left_reason": "kicked"})
	check(6, map[string]any{"session_id": sid, "room_id": room.ID, "participant_id": alice.ID, "context": "Alice",
		"duration_secs": float64(0), "left_reason": "leave"})
	check(8, map[string]any{"session_id": sid, "room_id": room.ID, "participant_id": carol.ID, "context": "Carol",
		"duration_secs": float64(0), "left_reason": "session_ended"})
	check(9, map[string]any{"session_id": sid, "room_id": room.ID, "duration_secs": float64(0), "ended_reason": "api"})

	testutil.Eventually(t, 10*time.Second, "the composition event reaches the composition's own URL", func() bool { return len(compRx.got()) == 1 })
	c := compRx.got()[0]
	e.verify(c)
	cp := c.event["payload"].(map[string]any)
	if c.event["event_type"] != "video.room.composition.completed" || cp["composition_id"] != comp.ID || cp["size_mb"] != 2.5 ||
		cp["format"] != "mp4" || cp["resolution"] != "1280x720" || cp["download_url"] != "https://files.example/c.mp4" ||
		cp["duration_secs"] != float64(40) || cp["room_id"] != room.ID || cp["session_id"] != sid {
		t.Errorf("composition.completed: %s", c.body)
	}
	// Rooms without a webhook URL produce no outbox rows.
	quiet, _ := e.svc.CreateRoom(ctx, rooms.RoomChanges{})
	e.svc.Join(ctx, quiet.ID, "Zed")
	ds, _, _ := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &quiet.ID}, store.Page{Number: 1, Size: 10})
	if len(ds) != 0 {
		t.Errorf("%d deliveries for a room without a webhook URL", len(ds))
	}
}

func TestFailoverOnErrorAndOnTimeout(t *testing.T) {
	e := newEnv(t, webhook.Config{})
	ctx := context.Background()
	failing := newReceiver(t, func(int, hit) int { return 500 })
	hanging := newReceiver(t, func(int, hit) int { time.Sleep(3 * time.Second); return 200 })
	failover := newReceiver(t, nil)

	r1 := e.room(failing.URL, failover.URL+"/a", nil)
	e.svc.Join(ctx, r1.ID, "A")
	testutil.Eventually(t, 5*time.Second, "failover gets both events of room 1", func() bool { return len(failover.got()) == 2 })
	for _, h := range failover.got() {
		if h.meta["delivered_to"] != failover.URL+"/a" || h.meta["attempt"] != float64(1) {
			t.Errorf("failover envelope: %s", h.body)
		}
		e.verify(h)
	}
	if len(failing.got()) != 2 {
		t.Errorf("primary tried %d times, want once per event", len(failing.got()))
	}

	start := time.Now()
	r2 := e.room(hanging.URL, failover.URL+"/b", ptr(1))
	e.svc.Join(ctx, r2.ID, "B") // session.started and participant.joined
	testutil.Eventually(t, 10*time.Second, "failover gets room 2's first event after the room's 1 s timeout", func() bool {
		for _, h := range failover.got() {
			if h.meta["delivered_to"] == failover.URL+"/b" {
				return true
			}
		}
		return false
	})
	// The hanging receiver answers 200 after 3 s, so the failover hears of
	// the event only if the room's 1 s timeout cut the attempt short; a
	// busy machine may make it later, never earlier.
	if el := time.Since(start); el < time.Second {
		t.Errorf("failover after %v; the room's timeout is 1 s", el)
	}
	ds, _, _ := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &r1.ID}, store.Page{Number: 1, Size: 10})
	for _, d := range ds {
		if d.Status != domain.DeliveryDelivered || d.DeliveredTo != failover.URL+"/a" || d.LastStatus != 200 {
			t.Errorf("delivery record: %+v", d)
		}
	}
}

func TestRetriesWithBackoffThenFail(t *testing.T) {
	e := newEnv(t, webhook.Config{BaseBackoff: 100 * time.Millisecond, MaxAttempts: 4})
	ctx := context.Background()
	flaky := newReceiver(t, func(n int, _ hit) int {
		if n <= 2 {
			return 503
		}
		return 204
	})
	r := e.room(flaky.URL, "", nil)
	rm := r.ID
	e.svc.CreateRoom(ctx, rooms.RoomChanges{}) // unrelated
	e.svc.Join(ctx, rm, "A")
	testutil.Eventually(t, 10*time.Second, "both events delivered after two failures", func() bool { return len(flaky.got()) == 4 })
	hs := flaky.got()
	for i, want := range []float64{1, 2, 3} {
		if hs[i].meta["attempt"] != want || hs[i].eventID != hs[0].eventID {
			t.Errorf("request %d: attempt %v of %s", i, hs[i].meta["attempt"], hs[i].eventID)
		}
	}
	g1, g2 := hs[1].at.Sub(hs[0].at), hs[2].at.Sub(hs[1].at)
	// Lower bounds only: a busy machine delays attempts, never hastens them.
	// The second wait is longer than the first can ever be (100 ms +20 %).
	if g1 < 70*time.Millisecond || g2 < 140*time.Millisecond {
		t.Errorf("backoff gaps %v then %v; want about 100 ms then 200 ms", g1, g2)
	}
	if hs[3].event["event_type"] != "video.room.participant.joined" {
		t.Errorf("the second event went before the first was delivered")
	}

	dead := newReceiver(t, func(int, hit) int { return 500 })
	r2 := e.room(dead.URL, "", nil)
	e.svc.Join(ctx, r2.ID, "B")
	failed := domain.DeliveryFailed
	testutil.Eventually(t, 10*time.Second, "the first event is marked failed after 4 attempts", func() bool {
		ds, _, _ := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &r2.ID, Status: &failed}, store.Page{Number: 1, Size: 10})
		return len(ds) >= 1
	})
	ds, _, _ := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &r2.ID, Status: &failed}, store.Page{Number: 1, Size: 10})
	if d := ds[len(ds)-1]; d.Attempts != 4 || d.LastError != "answered 500" || d.LastStatus != 500 {
		t.Errorf("failed delivery: %+v", d)
	}
}

// A room's events arrive in the order they happened even when one needs
// retries, while another room's events are not held up: they arrive while
// room A's receiver still holds its first attempt unanswered.
func TestOrderPerRoomAndIsolation(t *testing.T) {
	e := newEnv(t, webhook.Config{BaseBackoff: 200 * time.Millisecond})
	ctx := context.Background()
	var once sync.Once
	release := make(chan struct{})
	slowFirst := newReceiver(t, func(n int, h hit) int {
		first := false
		once.Do(func() { first = true })
		if first {
			<-release
			return 500
		}
		return 200
	})
	var unblockOnce sync.Once
	unblock := func() { unblockOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the receiver's Close, which waits for its handler
	other := newReceiver(t, nil)
	a := e.room(slowFirst.URL, "", nil)
	b := e.room(other.URL, "", nil)
	for _, who := range []string{"1", "2", "3"} {
		e.svc.Join(ctx, a.ID, who)
	}
	testutil.Eventually(t, 10*time.Second, "room A's first attempt reaches its receiver", func() bool { return len(slowFirst.got()) == 1 })
	e.svc.Join(ctx, b.ID, "x")
	testutil.Eventually(t, 10*time.Second, "the other room's events arrive while room A's attempt hangs", func() bool { return len(other.got()) == 2 })
	if n := len(slowFirst.got()); n != 1 {
		t.Errorf("room A's receiver got %d requests while its first was unanswered", n)
	}
	unblock()
	testutil.Eventually(t, 10*time.Second, "room A's events all arrive", func() bool { return len(slowFirst.got()) == 5 })
	got := slowFirst.got()
	var order []string
	for _, h := range got[1:] { // the first request was the failed attempt
		p := h.event["payload"].(map[string]any)
		order = append(order, strings.TrimPrefix(h.event["event_type"].(string), "video.room.")+":"+strings.TrimSpace(fmtAny(p["context"])))
	}
	if strings.Join(order, " ") != "session.started: participant.joined:1 participant.joined:2 participant.joined:3" {
		t.Errorf("room A order: %v", order)
	}
	if got[0].eventID != got[1].eventID {
		t.Errorf("the retried event was not the first one")
	}
}

func fmtAny(v any) string {
	s, _ := v.(string)
	return s
}

// Redirects are not followed, big answers are cut, and Stop leaves
// pending events for the next start.
func TestRedirectsBodiesAndRestart(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, webhook.Config{BaseBackoff: time.Hour})
	target := newReceiver(t, nil)
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 10<<20)))
	}))
	defer big.Close()

	r1 := e.room(redirect.URL, "", nil)
	r2 := e.room(big.URL, "", nil)
	e.svc.Join(ctx, r1.ID, "A")
	e.svc.Join(ctx, r2.ID, "B")
	testutil.Eventually(t, 5*time.Second, "both rooms' first events attempted", func() bool {
		d1, _, _ := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &r1.ID}, store.Page{Number: 1, Size: 10})
		d2, _, _ := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &r2.ID}, store.Page{Number: 1, Size: 10})
		return d1[1].Attempts == 1 && d2[1].Status == domain.DeliveryDelivered && d2[0].Status == domain.DeliveryDelivered
	})
	d1, _, _ := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &r1.ID}, store.Page{Number: 1, Size: 10})
	if d1[1].Status != domain.DeliveryPending || d1[1].LastStatus != http.StatusTemporaryRedirect || len(target.got()) != 0 {
		t.Errorf("redirect: %+v; target got %d requests", d1[1], len(target.got()))
	}

	// A new dispatcher on the same outbox (a restart) delivers what is left.
	e.d.Stop()
	rx := newReceiver(t, nil)
	r3 := e.room(rx.URL, "", nil)
	e.svc.Join(ctx, r3.ID, "C") // recorded while no dispatcher runs
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	d2 := webhook.New(e.st, webhook.NewSigner(key, nil), webhook.Config{PollInterval: 50 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d2.Start()
	defer d2.Stop()
	testutil.Eventually(t, 5*time.Second, "the restarted dispatcher delivers the pending events", func() bool { return len(rx.got()) == 2 })
	if h := rx.got()[0]; h.header.Get("webhook-signature") != "" {
		t.Errorf("Standard Webhooks header sent without a secret")
	}
}

// deliveryOf returns the outbox row of the event with the given ID.
func (e *env) deliveryOf(roomID, eventID string) (domain.Delivery, bool) {
	e.t.Helper()
	ds, _, err := e.st.ListDeliveries(context.Background(), store.DeliveryFilter{RoomID: &roomID}, store.Page{Number: 1, Size: 50})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range ds {
		if d.Event.ID == eventID {
			return d, true
		}
	}
	return domain.Delivery{}, false
}

// A receiver that answers 200 and then never ends its body does not hold
// the attempt until the room's timeout: only MaxResponseBytes (64 KiB) are
// read, so the event is marked delivered at once. Reading the whole body
// would run into the timeout instead.
func TestEndlessResponseBodyIsCutAtTheCap(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, webhook.Config{})
	quit := make(chan struct{})
	chunk := []byte(strings.Repeat("x", 32<<10))
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
		for {
			select {
			case <-quit:
				return
			case <-r.Context().Done():
				return
			default:
			}
			if _, err := w.Write(chunk); err != nil {
				return // the dispatcher hung up
			}
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(endless.Close)
	t.Cleanup(func() { close(quit) }) // runs before Close: no handler outlives the test

	// The room waits 30 s for an answer, far longer than the condition
	// below waits: the events are marked delivered in time only if the
	// body is cut at the cap rather than read until the timeout.
	const timeoutSecs = 30
	room := e.room(endless.URL, "", ptr(timeoutSecs))
	start := time.Now()
	if _, err := e.svc.Join(ctx, room.ID, "A"); err != nil { // session.started and participant.joined
		t.Fatal(err)
	}
	delivered := domain.DeliveryDelivered
	testutil.Eventually(t, 20*time.Second, "both events marked delivered well within the room's 30 s timeout", func() bool {
		ds, _, _ := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &room.ID, Status: &delivered}, store.Page{Number: 1, Size: 10})
		return len(ds) == 2
	})
	t.Logf("both events delivered after %v", time.Since(start).Round(time.Millisecond))
	ds, _, _ := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &room.ID}, store.Page{Number: 1, Size: 10})
	for _, d := range ds {
		if d.Status != domain.DeliveryDelivered || d.Attempts != 1 || d.LastStatus != http.StatusOK || d.LastError != "" || d.DeliveredTo != endless.URL {
			t.Errorf("delivery record: %+v", d)
		}
	}
}

// Stop waits for an attempt in flight: it does not return while the
// receiver holds the request, and once the receiver answers, the outcome
// is recorded by the time Stop returns.
func TestStopWaitsForAttemptsInFlight(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, webhook.Config{})
	arrived := make(chan string, 1) // the held event's ID
	release := make(chan struct{})
	var releaseOnce, holdOnce sync.Once
	releaseFn := func() { releaseOnce.Do(func() { close(release) }) }
	held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		json.Unmarshal(body, &env)
		hold := false
		holdOnce.Do(func() { hold = true })
		if hold {
			arrived <- env.Data.ID
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(held.Close)
	t.Cleanup(releaseFn) // runs before Close, should the test end early

	room := e.room(held.URL, "", nil) // the default 10 s timeout: the hold does not time out
	if _, err := e.svc.Join(ctx, room.ID, "A"); err != nil {
		t.Fatal(err)
	}
	var eventID string
	select {
	case eventID = <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the first event's attempt did not reach the receiver within 5 s")
	}

	stopped := make(chan struct{})
	go func() {
		e.d.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		releaseFn()
		t.Fatal("Stop returned while an attempt was still in flight")
	case <-time.After(300 * time.Millisecond): // a bounded check for absence
	}
	releaseFn()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return within 5 s of the receiver answering")
	}

	// No waiting here: the outcome must be recorded by the time Stop returns.
	d, ok := e.deliveryOf(room.ID, eventID)
	if !ok {
		t.Fatalf("no outbox row for event %s", eventID)
	}
	if d.Status != domain.DeliveryDelivered || d.Attempts != 1 || d.LastStatus != http.StatusOK || d.DeliveredTo != held.URL {
		t.Errorf("the held attempt's record after Stop: %+v", d)
	}
}

// TestOldEventsArePruned: events delivered longer ago than Retention are
// deleted; pending ones (a receiver that is down) stay.
func TestOldEventsArePruned(t *testing.T) {
	rx := newReceiver(t, nil)
	e := newEnv(t, webhook.Config{Retention: 300 * time.Millisecond, PruneEvery: 50 * time.Millisecond, BaseBackoff: time.Hour})
	up := e.room(rx.URL+"/hook", "", nil)
	down := e.room("http://"+testutil.ClosedAddr(t)+"/hook", "", nil)
	ctx := context.Background()
	for _, r := range []domain.Room{up, down} {
		if _, err := e.svc.Join(ctx, r.ID, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	count := func(roomID string) int {
		_, n, err := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &roomID}, store.Page{Number: 1, Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	testutil.Eventually(t, 10*time.Second, "both events delivered", func() bool { return len(rx.got()) == 2 })
	if n := count(up.ID); n != 2 {
		t.Fatalf("just delivered: %d events listed, want 2", n)
	}
	testutil.Eventually(t, 10*time.Second, "the delivered events pruned", func() bool { return count(up.ID) == 0 })
	if n := count(down.ID); n != 2 {
		t.Errorf("the pending events of a room whose receiver is down: %d left, want 2", n)
	}
}

// TestTwoDispatchersOnOneDatabase: two servers' dispatchers drain one
// outbox (two processes on one SQLite file, as on one PostgreSQL). Each
// event is sent once, and each room's events arrive in order.
func TestTwoDispatchersOnOneDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roomsd.db")
	ctx := context.Background()
	var stores []*sqlite.Store
	for range 2 {
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	rx := newReceiver(t, nil)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var svcs []*rooms.Service
	for i, st := range stores {
		d := webhook.New(st, webhook.NewSigner(key, nil), webhook.Config{PollInterval: 5 * time.Millisecond, Node: fmt.Sprintf("node-%d", i)},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		d.Start()
		t.Cleanup(d.Stop)
		svcs = append(svcs, rooms.New(st, rooms.WithEventNotifier(d.Notify)))
	}
	url := rx.URL + "/hook"
	const nRooms, joins = 4, 10
	want := 0
	for r := range nRooms {
		room, err := svcs[r%2].CreateRoom(ctx, rooms.RoomChanges{WebhookEventURL: rooms.Some(&url)})
		if err != nil {
			t.Fatal(err)
		}
		for j := range joins {
			if _, err := svcs[j%2].Join(ctx, room.ID, fmt.Sprintf("p%d", j)); err != nil {
				t.Fatal(err)
			}
		}
		want += joins + 1 // the session's start and each join
	}
	testutil.Eventually(t, 30*time.Second, "every event delivered", func() bool { return len(rx.got()) >= want })
	// Whatever is still in flight lands before the count is taken.
	for _, st := range stores {
		testutil.Eventually(t, 30*time.Second, "no event pending", func() bool {
			pending := domain.DeliveryPending
			_, n, _ := st.ListDeliveries(ctx, store.DeliveryFilter{Status: &pending}, store.Page{Number: 1, Size: 1})
			return n == 0
		})
	}
	seen := map[string]int{}
	last := map[string]string{} // each room's latest event id (ids grow with time)
	for _, h := range rx.got() {
		seen[h.eventID]++
		if seen[h.eventID] == 2 {
			t.Errorf("event %s sent twice", h.eventID)
		}
		payload, _ := h.event["payload"].(map[string]any)
		room, _ := payload["room_id"].(string)
		if h.eventID < last[room] {
			t.Errorf("room %s: event %s arrived after the later %s", room, h.eventID, last[room])
		}
		last[room] = max(last[room], h.eventID)
	}
	if len(seen) != want {
		t.Errorf("%d distinct events received, want %d", len(seen), want)
	}
}
