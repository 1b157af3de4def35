package signal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/coder/websocket"

	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/wsq"
)

// Limits of one signaling connection.
const (
	maxMessageBytes = 256 << 10
	outboxSize      = 256
	writeTimeout    = 10 * time.Second
	pingInterval    = 15 * time.Second
)

// conn is one WebSocket: a reader (the caller) and a writer (wsq) fed by
// a bounded queue.
type conn struct {
	ws  *websocket.Conn
	out *wsq.Writer
}

func newConn(ws *websocket.Conn, log *slog.Logger) *conn {
	ws.SetReadLimit(maxMessageBytes)
	return &conn{ws: ws, out: wsq.New(ws, log, wsq.Options{Queue: outboxSize, WriteTimeout: writeTimeout, Ping: pingInterval})}
}

// send queues m; false if the connection is finished or hopelessly behind.
func (c *conn) send(m Message) bool { return c.out.Send(m) }

// finish sends what is queued, then closes the socket with status.
func (c *conn) finish(status websocket.StatusCode, reason string) { c.out.Finish(status, reason) }

// done is closed once the socket is closed.
func (c *conn) done() <-chan struct{} { return c.out.Done() }

// fail sends an error message and closes the connection.
func (c *conn) fail(status websocket.StatusCode, code, message string) {
	c.send(Message{Type: TypeError, Code: code, Message: message})
	c.finish(status, code)
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
