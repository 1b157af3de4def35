package webhooks_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/signal"
	"github.com/roomsd/roomsd/internal/testutil"
)

// A graceful stop (SIGTERM) tells the participants why, ends the server's
// sessions there and then (ended_at at the stop, not at the next start),
// and sends their webhooks before the process exits.
func TestShutdownEndsSessions(t *testing.T) {
	dir := t.TempDir()
	secret := make([]byte, 32)
	rand.Read(secret)
	env := map[string]string{
		"ROOMSD_WEBHOOK_SECRET": "whsec_" + base64.StdEncoding.EncodeToString(secret),
		"ROOMSD_DB":             filepath.Join(dir, "roomsd.db"),
		"ROOMSD_ADDR":           "127.0.0.1:0",
		"ROOMSD_API_KEYS":       apiKey,
		"ROOMSD_RTC_LOOPBACK":   "on",
		"ROOMSD_RTC_UDP_PORT":   "0",
	}
	rxAddr := testutil.ClosedAddr(t)
	srv := startServer(t, env)
	rx := startReceiver(t, rxAddr, srv.publicKey(t), secret, false)
	var room struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	srv.call(t, http.MethodPost, "/v2/rooms", map[string]any{"webhook_event_url": hookURL(rxAddr)}, &room)
	var tok struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	srv.call(t, http.MethodPost, "/v2/rooms/"+room.Data.ID+"/actions/generate_join_client_token", map[string]any{}, &tok)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Join(ctx, client.ConnectURL(srv.Root, room.Data.ID), tok.Data.Token, client.Options{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if code := srv.terminate(t); code != 0 {
		t.Fatalf("roomsd exited %d after SIGTERM", code)
	}
	var last signal.Message
	for m := range c.Events() {
		if m.Type == signal.TypeClosed {
			last = m
		}
	}
	if last.Reason != "server_shutdown" {
		t.Errorf("the participant was told %+v, want closed server_shutdown", last)
	}
	// Delivered before the process exited.
	hits, errs := rx.got()
	if len(errs) > 0 {
		t.Errorf("receiver: %v", errs)
	}
	var types []string
	for _, h := range hits {
		types = append(types, h.eventType)
	}
	want := []string{"video.room.session.started", "video.room.participant.joined", "video.room.participant.left", "video.room.session.ended"}
	if !slices.Equal(types, want) {
		t.Fatalf("webhooks received by the stop: %v, want %v", types, want)
	}
	// The next start finds the session ended at the stop.
	srv = startServer(t, env)
	var sess struct {
		Data []struct {
			Active  bool    `json:"active"`
			EndedAt *string `json:"ended_at"`
		} `json:"data"`
	}
	srv.call(t, http.MethodGet, "/v2/room_sessions?filter[room_id]="+room.Data.ID, nil, &sess)
	if len(sess.Data) != 1 || sess.Data[0].Active || sess.Data[0].EndedAt == nil {
		t.Fatalf("sessions after the restart: %+v", sess.Data)
	}
	ended, err := time.Parse(time.RFC3339Nano, *sess.Data[0].EndedAt)
	if err != nil || ended.Before(stopped.Add(-time.Second)) {
		t.Errorf("ended_at %v, want at the stop (%v)", ended, stopped)
	}
}
