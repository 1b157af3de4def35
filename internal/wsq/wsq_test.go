package wsq

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomsd/roomsd/internal/testutil/wspair"
)

// pair returns a Writer on the server's end of a real WebSocket, and the
// client's end.
func pair(t *testing.T, o Options) (*Writer, *websocket.Conn) {
	t.Helper()
	server, client := wspair.New(t)
	return New(server, slog.New(slog.NewTextHandler(io.Discard, nil)), o), client
}

// Messages arrive in order as JSON; Finish sends what is queued, then
// closes with the status given first.
func TestOrderAndFinish(t *testing.T) {
	w, client := pair(t, Options{Queue: 16, WriteTimeout: 10 * time.Second, Ping: time.Hour})
	for i := range 10 {
		if !w.Send(map[string]int{"n": i}) {
			t.Fatalf("message %d refused", i)
		}
	}
	w.Finish(4000, "over")
	w.Finish(websocket.StatusNormalClosure, "later")
	if w.Send(map[string]int{"n": 99}) {
		t.Error("a message taken after Finish")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 10 {
		_, b, err := client.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		var m map[string]int
		if err := json.Unmarshal(b, &m); err != nil || m["n"] != i {
			t.Fatalf("message %d: %s", i, b)
		}
	}
	_, _, err := client.Read(ctx)
	if websocket.CloseStatus(err) != 4000 {
		t.Errorf("closed with %v, want 4000", err)
	}
	<-w.Done()
}

// A client that reads nothing is cut off once its queue is full: Send
// refuses, and the socket closes with 1008 (policy violation) after what
// was queued.
func TestSlowClientCutOff(t *testing.T) {
	w, client := pair(t, Options{Queue: 4, WriteTimeout: time.Minute, Ping: time.Hour})
	big := strings.Repeat("x", 1<<20)
	refused := false
	for i := 0; i < 1000 && !refused; i++ {
		refused = !w.Send(big)
	}
	if !refused {
		t.Fatal("1000 messages of 1 MiB queued for a client that reads nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		_, _, err := client.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Errorf("closed with %v, want 1008", err)
			}
			break
		}
	}
	<-w.Done()
}
