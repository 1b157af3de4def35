// Package wspair gives tests both ends of a real WebSocket over loopback
// HTTP, for code that writes to one end. It imports nothing of roomsd's,
// so any package's own tests may use it.
package wspair

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// New returns the server's end and the client's end of a new WebSocket;
// the server's end reads (and drops) what the client sends, so that close
// frames and pongs are handled. Both close when the test ends.
func New(t testing.TB) (server, client *websocket.Conn) {
	t.Helper()
	accepted := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		accepted <- ws
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	client.SetReadLimit(8 << 20)
	t.Cleanup(func() { _ = client.CloseNow() })
	return <-accepted, client
}
