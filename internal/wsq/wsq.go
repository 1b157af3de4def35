// Package wsq writes a WebSocket's messages from one goroutine, fed by a
// bounded queue, for the signaling fronts: whoever sends (the media
// server's goroutines among them) never waits on a client, and a client
// too slow to drain its queue is cut off rather than allowed to hold up
// its room. The writer also pings, so that a peer gone without a word is
// found out.
package wsq

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Writer is one socket's writer.
type Writer struct {
	ws           *websocket.Conn
	log          *slog.Logger
	writeTimeout time.Duration
	ping         time.Duration

	mu       sync.Mutex
	out      chan any
	finished bool
	status   websocket.StatusCode
	reason   string
	done     chan struct{}
}

// Options size a Writer.
type Options struct {
	Queue        int           // messages waiting at most
	WriteTimeout time.Duration // for one message or ping
	Ping         time.Duration // between pings
}

// New starts the writer of ws; each message is sent as one JSON text
// frame.
func New(ws *websocket.Conn, log *slog.Logger, o Options) *Writer {
	w := &Writer{ws: ws, log: log, writeTimeout: o.WriteTimeout, ping: o.Ping, out: make(chan any, o.Queue), done: make(chan struct{}),
		status: websocket.StatusNormalClosure}
	go w.write()
	return w
}

// Send queues m; false if the socket is finished or its client hopelessly
// behind (it is then cut off).
func (w *Writer) Send(m any) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return false
	}
	select {
	case w.out <- m:
		return true
	default:
		w.log.Warn("WebSocket client too slow; disconnecting")
		w.finishLocked(websocket.StatusPolicyViolation, "too slow")
		return false
	}
}

// Finish sends what is queued, then closes the socket with status and
// reason. The first call decides them.
func (w *Writer) Finish(status websocket.StatusCode, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finishLocked(status, reason)
}

func (w *Writer) finishLocked(status websocket.StatusCode, reason string) {
	if w.finished {
		return
	}
	w.finished, w.status, w.reason = true, status, reason
	close(w.out)
}

// Done is closed once the socket is closed.
func (w *Writer) Done() <-chan struct{} { return w.done }

func (w *Writer) write() {
	defer close(w.done)
	ping := time.NewTicker(w.ping)
	defer ping.Stop()
	for {
		select {
		case m, ok := <-w.out:
			if !ok {
				w.mu.Lock()
				status, reason := w.status, w.reason
				w.mu.Unlock()
				_ = w.ws.Close(status, reason)
				return
			}
			b, err := json.Marshal(m)
			if err != nil {
				w.log.Error("encode a WebSocket message", "err", err)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), w.writeTimeout)
			err = w.ws.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				w.fail()
				return
			}
		case <-ping.C:
			ctx, cancel := context.WithTimeout(context.Background(), w.writeTimeout)
			err := w.ws.Ping(ctx)
			cancel()
			if err != nil {
				w.fail()
				return
			}
		}
	}
}

// fail closes a socket that could not be written to, marks the writer
// finished and empties the queue so that senders never block.
func (w *Writer) fail() {
	_ = w.ws.CloseNow()
	w.Finish(websocket.StatusGoingAway, "write failed")
	for range w.out {
	}
}
