package signal

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/roomsd/roomsd/internal/httpx"
)

// FuzzDecode holds the signaling decoder to its promise: a client message
// it accepts has a type, and every string in it is text roomsd can store
// and relay (valid UTF-8, no NUL, no U+FFFD that the client did not
// send). `go test` runs the seeds (below and testdata/fuzz/FuzzDecode);
// docs/fuzzing.md says how to fuzz it for longer.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","token":"eyJhbGciOiJFZERTQSJ9.e30.c2ln","context":"{\"name\":\"Ann\"}"}`,
		`{"type":"join","token":"t","resume":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","resume_token":"r"}`,
		`{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}`,
		`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",` +
			`"sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}}`,
		`{"type":"candidate","candidate":{"candidate":"\ud800","sdpMLineIndex":70000}}`,
		"{\"type\":\"join\",\"token\":\"t\",\"context\":\"a\xffb\"}",
		`{"type":"join","token":"t","context":"\u0000"}`,
		`{"type":"join","token":"t","context":"\ud83d\ude00"}`,
		`{"type":"join","context":"\udc00"}`,
		`{"type":"ping","ice_servers":[{"urls":"stun:x","credential":{"MACKey":"\ud800"}}]}`,
		`{"type":"ping","unknown":"\u0000"}`,
		`not JSON`,
		`{}`,
		`{"type":""}`,
		`{"type":"leave","type":""}`,
		`{"TYPE":"leave"}`,
		`null`,
		`[]`,
		`{"type":1}`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			if msg := err.Error(); msg == "" || !utf8.ValidString(msg) {
				t.Fatalf("decode(%q): error %q is not a readable reason", b, msg)
			}
			return
		}
		if m.Type == "" {
			t.Fatalf("decode(%q) accepted a message without a type", b)
		}
		eachString(reflect.ValueOf(m), "message", func(at, s string) {
			if p := httpx.TextProblem(s); p != "" {
				t.Fatalf("decode(%q) accepted %s %q, which %s", b, at, s, p)
			}
			if strings.ContainsRune(s, utf8.RuneError) && !bytes.Contains(b, []byte("\uFFFD")) &&
				!bytes.Contains(bytes.ToLower(b), []byte(`\ufffd`)) {
				t.Fatalf("decode(%q) accepted %s %q, with a U+FFFD the client did not send", b, at, s)
			}
		})
	})
}

// eachString calls fn with every string reachable from v (struct fields,
// pointers, slices, maps and interfaces, such as the candidate's fields
// and an ICE server's credential) and where it was found.
func eachString(v reflect.Value, at string, fn func(at, s string)) {
	switch v.Kind() {
	case reflect.String:
		fn(at, v.String())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			eachString(v.Elem(), at, fn)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			eachString(v.Field(i), at+"."+v.Type().Field(i).Name, fn)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			eachString(v.Index(i), at+"[]", fn)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			eachString(it.Key(), at+" key", fn)
			eachString(it.Value(), at+"[key]", fn)
		}
	}
}
