package webhooks_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/testutil"
	"github.com/roomsd/roomsd/internal/webhook"
)

// A receiver that never answers must hold up only its own rooms.
//
// With 40 and with 100 rooms on the hanging host: attempts waiting for a
// hanging host must not take the global slots, and the rooms in flight
// must not hide newer rooms' queue heads. The dispatcher skips a host at
// its limit instead of waiting for it, and reads up to 1,000 queue heads
// per pass.
func TestSlowHostDoesNotHoldUpOtherHosts(t *testing.T) {
	for _, n := range []int{40, 100} {
		t.Run(fmt.Sprintf("%d slow rooms", n), func(t *testing.T) { slowHost(t, n) })
	}
}

func slowHost(t *testing.T, slowRooms int) {
	ctx := context.Background()
	st := testutil.OpenStore(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	d := webhook.New(st, webhook.NewSigner(key, nil), webhook.Config{PollInterval: 50 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc := rooms.New(st, rooms.WithEventNotifier(d.Notify))

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // answers only at the room's timeout (or the end of the test)
		case <-release:
		case <-r.Context().Done():
		}
	}))
	var got atomic.Int64
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	d.Start()
	t.Cleanup(func() {
		close(release)
		d.Stop()
		slow.Close()
		fast.Close()
	})

	// The slow host's attempts outlast the test (the longest timeout a
	// room may have), so the healthy host's events can only arrive if the
	// hanging attempts leave them room.
	timeout := 30
	for i := 0; i < slowRooms; i++ {
		u := slow.URL
		r, err := svc.CreateRoom(ctx, rooms.RoomChanges{WebhookEventURL: rooms.Some(&u), WebhookTimeoutSecs: rooms.Some(&timeout)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Join(ctx, r.ID, "x"); err != nil {
			t.Fatal(err)
		}
	}
	u := fast.URL
	r, err := svc.CreateRoom(ctx, rooms.RoomChanges{WebhookEventURL: rooms.Some(&u)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := svc.Join(ctx, r.ID, "y"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the healthy host gets its 2 events while the slow host's attempts hang", func() bool {
		return got.Load() >= 2
	})
	t.Logf("the healthy host got its events after %v", time.Since(start).Round(time.Millisecond))
}

// Stop must not count an attempt that never sent a request. An attempt
// that is still waiting for one of its host's slots when Stop is called
// gives up with "shutting down", and deliver records that as a failed
// attempt; with ROOMSD_WEBHOOK_ATTEMPTS=1 (or on the 12th attempt) the
// event is marked failed for good without ever having been sent.
//
// The dispatcher now takes the host's slot before it starts an attempt,
// so an attempt that starts is always sent.
func TestStopDoesNotCountUnsentAttempts(t *testing.T) {
	ctx := context.Background()
	st := testutil.OpenStore(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	d := webhook.New(st, webhook.NewSigner(key, nil), webhook.Config{PollInterval: 50 * time.Millisecond, MaxAttempts: 1},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc := rooms.New(st, rooms.WithEventNotifier(d.Notify))
	release := make(chan struct{})
	var got atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		<-release
	}))
	defer slow.Close()
	d.Start()
	u := slow.URL
	for i := 0; i < 5; i++ { // one more room than the host's 4 slots
		r, err := svc.CreateRoom(ctx, rooms.RoomChanges{WebhookEventURL: rooms.Some(&u)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Join(ctx, r.ID, "x"); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 5*time.Second, "4 requests in flight", func() bool { return got.Load() == 4 })
	stopped := make(chan struct{})
	go func() { d.Stop(); close(stopped) }()
	// Stop waits for the 4 in flight. Answer them once the fifth attempt,
	// which never got a slot, has given up (today it is at once), or
	// after a second if it does not.
	failed := "failed"
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ds, _, _ := st.ListDeliveries(ctx, store.DeliveryFilter{Status: &failed}, store.Page{Number: 1, Size: 10}); len(ds) > 0 {
			break
		}
	}
	close(release)
	<-stopped
	ds, _, _ := st.ListDeliveries(ctx, store.DeliveryFilter{Status: &failed}, store.Page{Number: 1, Size: 10})
	for _, del := range ds {
		t.Errorf("event %s marked %s after %d attempt(s) (%q) though the receiver got only %d requests, none of them this event's",
			del.Event.ID, del.Status, del.Attempts, del.LastError, got.Load())
	}
}
