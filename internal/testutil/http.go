package testutil

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ClosedAddr is a 127.0.0.1 address nothing listens on (a port just
// released).
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// RawHTTP sends request, bytes no HTTP client would send, on a new
// connection to addr and returns the answer and its whole body. A server
// that neither answers nor hangs up within a minute fails the test rather
// than holding up the suite.
func RawHTTP(t testing.TB, addr, request string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatalf("write %.60q: %v", request, err)
	}
	method, _, _ := strings.Cut(request, " ")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%.60q: no HTTP answer: %v", request, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%.60q: read the answer's body: %v", request, err)
	}
	return resp, body
}

// ErrorEnvelope checks that an error answer is roomsd's Telnyx error
// envelope, {"errors":[{"code","title","detail",...}]} in JSON with one
// entry whose code, title and detail are non-empty strings, and returns
// that entry, or says what is wrong.
func ErrorEnvelope(h http.Header, body []byte) (map[string]any, error) {
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, fmt.Errorf("Content-Type %q, not application/json", h.Get("Content-Type"))
	}
	var env struct {
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(body, &env); err != nil || len(env.Errors) != 1 {
		return nil, fmt.Errorf("a body that is not the error envelope with one error: %.200q", body)
	}
	e := env.Errors[0]
	for _, k := range []string{"code", "title", "detail"} {
		if s, _ := e[k].(string); s == "" {
			return nil, fmt.Errorf("an error without a %s: %.200q", k, body)
		}
	}
	return e, nil
}
