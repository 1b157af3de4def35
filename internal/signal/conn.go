package signal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/roomsd/roomsd/internal/httpx"
)

// Limits of one signaling connection.
const (
	maxMessageBytes = 256 << 10
	outboxSize      = 256
	writeTimeout    = 10 * time.Second
	pingInterval    = 15 * time.Second
)

// conn is one WebSocket: a reader (the caller) and one writer goroutine
// fed by a bounded queue. A client too slow to drain its queue is cut off
// rather than allowed to hold up the room.
type conn struct {
	ws  *websocket.Conn
	log *slog.Logger

	mu       sync.Mutex
	out      chan Message
	finished bool
	status   websocket.StatusCode
	reason   string
	done     chan struct{}
}

func newConn(ws *websocket.Conn, log *slog.Logger) *conn {
	ws.SetReadLimit(maxMessageBytes)
	c := &conn{ws: ws, log: log, out: make(chan Message, outboxSize), done: make(chan struct{}),
		status: websocket.StatusNormalClosure}
	go c.write()
	return c
}

// send queues m; false if the connection is finished or hopelessly behind.
func (c *conn) send(m Message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return false
	}
	select {
	case c.out <- m:
		return true
	default:
		c.log.Warn("signaling client too slow; disconnecting")
		c.finishLocked(websocket.StatusPolicyViolation, "too slow")
		return false
	}
}

// finish sends what is queued, then closes the socket with status.
func (c *conn) finish(status websocket.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finishLocked(status, reason)
}

func (c *conn) finishLocked(status websocket.StatusCode, reason string) {
	if c.finished {
		return
	}
	c.finished, c.status, c.reason = true, status, reason
	close(c.out)
}

// fail sends an error message and closes the connection.
func (c *conn) fail(status websocket.StatusCode, code, message string) {
	c.send(Message{Type: TypeError, Code: code, Message: message})
	c.finish(status, code)
}

func (c *conn) write() {
	defer close(c.done)
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		select {
		case m, ok := <-c.out:
			if !ok {
				c.mu.Lock()
				status, reason := c.status, c.reason
				c.mu.Unlock()
				c.ws.Close(status, reason)
				return
			}
			b, err := json.Marshal(m)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
				err = c.ws.Write(ctx, websocket.MessageText, b)
				cancel()
			}
			if err != nil {
				c.ws.CloseNow()
				c.drain()
				return
			}
		case <-ping.C:
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				c.ws.CloseNow()
				c.drain()
				return
			}
		}
	}
}

// drain marks the connection finished after a write failure and empties
// the queue so senders never block.
func (c *conn) drain() {
	c.finish(websocket.StatusGoingAway, "write failed")
	for range c.out {
	}
}

// read returns the next message, or an error when the socket is gone. A
// message that decode refuses comes back with bad set to the reason and a
// nil error.
func (c *conn) read(ctx context.Context) (m Message, bad string, err error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return Message{}, "", err
	}
	m, err = decode(b)
	if err != nil {
		return Message{}, err.Error(), nil
	}
	return m, "", nil
}

// decode reads one client message: a JSON object with a "type", whose
// text is valid UTF-8 without NUL characters (encoding/json would replace
// invalid bytes and keep going, and a participant's context is stored).
func decode(b []byte) (Message, error) {
	var m Message
	if json.Unmarshal(b, &m) != nil || m.Type == "" {
		return Message{}, errors.New(`messages are JSON objects with a "type"`)
	}
	if p := httpx.JSONTextProblem(b); p != "" {
		return Message{}, errors.New("the message " + p)
	}
	return m, nil
}
