package httpx

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
)

// MaxHeaderBytes bounds a request's header block (http.Server's
// MaxHeaderBytes). Beyond it net/http answers 431 before any handler runs;
// Listener makes that answer JSON like every other.
const MaxHeaderBytes = 64 << 10

// Listener wraps ln so that the error answers net/http writes straight to
// the connection, before any handler runs, are written as the JSON error
// envelope instead of plain text: 400 for a request that is not valid
// HTTP/1.1 (bad request line, header or Host), 431 for headers over
// http.Server.MaxHeaderBytes, 501 for an unknown transfer encoding, 505
// for an unknown protocol version, 417 for an Expect other than
// 100-continue. Everything else passes untouched.
//
// It recognises those answers by their fixed form: net/http writes them in
// one write, headers "Content-Type: text/plain; charset=utf-8" then
// "Connection: close", an order its ordinary responses never have (they
// sort header names), or, for 417, a complete header block with no body.
//
// TLS, when used, belongs inside: wrap the TLS listener, not the other way
// round, so that the answers are rewritten before they are encrypted (and
// pass the TLS state on: net/http reads it from a connection that has a
// ConnectionState method).
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return conn{c}, nil
}

type conn struct{ net.Conn }

func (c conn) Write(b []byte) (int, error) {
	if out, ok := rewrite(b); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// CloseWrite half-closes a TCP connection, which net/http does after a 431
// so the client can read the answer.
func (c conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// rewrite returns the JSON form of one of net/http's own error answers,
// or false if b is not one.
func rewrite(b []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if len(b) < len(proto)+3 || !bytes.HasPrefix(b, []byte(proto)) {
		return nil, false
	}
	status, err := strconv.Atoi(string(b[len(proto) : len(proto)+3]))
	if err != nil || status < 400 {
		return nil, false
	}
	e := ForStatus(status)
	if i := bytes.Index(b, []byte(plainErrorHeaders)); i >= 0 {
		// "HTTP/1.1 400 Bad Request: missing required Host header" names
		// the fault in net/http's fixed words; keep them.
		line := b[:i]
		if j := bytes.Index(line, []byte(": ")); j >= 0 {
			e.Detail = "The request is not valid HTTP/1.1: " + string(line[j+2:]) + "."
		}
	} else if !(status == http.StatusExpectationFailed && bytes.HasSuffix(b, []byte("\r\n\r\n")) &&
		bytes.Contains(b, []byte("\r\nContent-Length: 0\r\n"))) {
		return nil, false
	}
	body := e.Marshal()
	var out bytes.Buffer
	out.WriteString(proto + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	out.WriteString("Connection: close\r\n")
	out.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	out.WriteString("Content-Type: application/json\r\n")
	out.WriteString("X-Content-Type-Options: nosniff\r\n\r\n")
	out.Write(body)
	return out.Bytes(), true
}
