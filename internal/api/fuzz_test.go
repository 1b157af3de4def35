package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/roomsd/roomsd/internal/httpx"
)

// The fuzz targets below hold the strict request parsing to what it
// promises: a malformed query or body is refused with a client error that
// names the fault, and whatever is accepted is text the rest of roomsd can
// store and echo as it is. `go test` runs their seeds (f.Add and
// testdata/fuzz/<target>) as ordinary tests; docs/fuzzing.md says how to
// fuzz them for longer.

// checkClientError fails unless err is an *apiError with a 4xx status,
// a code, a title and a detail, whose text is valid UTF-8.
func checkClientError(t *testing.T, err error) *apiError {
	t.Helper()
	ae, ok := err.(*apiError)
	if !ok {
		t.Fatalf("error %v is a %T, not an *apiError", err, err)
	}
	if ae.Status < 400 || ae.Status > 499 {
		t.Fatalf("status %d for %v, want a 4xx", ae.Status, ae)
	}
	if ae.Code == "" || ae.Title == "" || ae.Detail == "" {
		t.Fatalf("error without code, title or detail: %+v", ae)
	}
	texts := []string{ae.Code, ae.Title, ae.Detail}
	if ae.Source != nil {
		if ae.Source.Pointer == "" && ae.Source.Parameter == "" {
			t.Fatalf("error with an empty source: %+v", ae)
		}
		texts = append(texts, ae.Source.Pointer, ae.Source.Parameter)
	}
	for _, s := range texts {
		if !utf8.ValidString(s) {
			t.Fatalf("error text %q is not valid UTF-8 (%+v)", s, ae)
		}
	}
	return ae
}

// checkText fails unless s is text roomsd can store and echo: valid UTF-8
// without a NUL.
func checkText(t *testing.T, what, s string) {
	t.Helper()
	if p := httpx.TextProblem(s); p != "" {
		t.Fatalf("accepted %s %q %s", what, s, p)
	}
}

// checkDecodedText is checkText for a string decoded from the JSON input
// in: besides, it holds U+FFFD only when in does, literally or as an
// escape, since encoding/json puts U+FFFD in place of invalid UTF-8 and
// unpaired surrogates without an error.
func checkDecodedText(t *testing.T, in []byte, what, s string) {
	t.Helper()
	checkText(t, what, s)
	if strings.ContainsRune(s, utf8.RuneError) && !bytes.Contains(in, []byte("\uFFFD")) &&
		!bytes.Contains(bytes.ToLower(in), []byte(`\ufffd`)) {
		t.Fatalf("accepted %s %q holds U+FFFD that the input %q does not", what, s, in)
	}
}

// FuzzParseQuery holds parseQuery to the standard library: it accepts
// only what url.ParseQuery accepts, reads it the same, and refuses with a
// 400 or 422 what it does not take.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"filter[room_id]=0ccc7b54-4df3-4bca-a65a-3da1ecc777f0%zz&filter[type]=audio",
		"filter[room_id]=0ccc7b54-4df3-4bca-a65a-3da1ecc777f0;&filter[type]=audio",
		"filter[room_id]=0ccc7b54-4df3-4bca-a65a-3da1ecc777f0%00&filter[type]=audio",
		"filter[session_id]=0ccc7b54-4df3-4bca-a65a-3da1ecc777f0%zz",
		"%zz=1",
		"=x",
		"a=%ff",
		"a=%ed%a0%80",
		"a&&b=",
		"filter%5Broom_id%5D=x",
		"page[number]=1&page[number]=2",
		"",
		"&",
		"a=1&a=2&b=%20+x",
		"%ff=%zz",
		"a%00=1",
		"a=%",
		"a=%g1",
	} {
		f.Add(s)
	}
	f.Fuzz(checkParseQuery)
}

// checkParseQuery is FuzzParseQuery's property for one query.
func checkParseQuery(t *testing.T, raw string) {
	got, err := parseQuery(raw)
	want, stdErr := url.ParseQuery(raw)
	if err != nil {
		ae := checkClientError(t, err)
		if ae.Status != http.StatusBadRequest && ae.Status != http.StatusUnprocessableEntity {
			t.Fatalf("parseQuery(%q): status %d, want 400 or 422", raw, ae.Status)
		}
		if ae.Code != codeBadRequest {
			t.Fatalf("parseQuery(%q): code %s, want %s", raw, ae.Code, codeBadRequest)
		}
		return
	}
	if strings.Contains(raw, ";") {
		t.Fatalf("parseQuery(%q) accepted a ;", raw)
	}
	if stdErr != nil {
		t.Fatalf("parseQuery(%q) accepted what url.ParseQuery refuses (%v): %v", abbrev(raw), stdErr, len(got))
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("parseQuery(%q) = %q, url.ParseQuery = %q", raw, got, want)
	}
	for name, vs := range got {
		checkText(t, "name", name)
		if name == "" {
			t.Fatalf("parseQuery(%q) accepted a nameless value", raw)
		}
		for _, v := range vs {
			checkText(t, "value of "+name, v)
		}
	}
}

// abbrev bounds an input shown in a failure.
func abbrev(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// Inputs too large for the fuzz corpus, where the fuzzer would spend its
// time mutating them, get the same properties here.

func TestParseQueryAtTheParameterLimit(t *testing.T) {
	for _, pairs := range []int{maxQueryParams, maxQueryParams + 1} {
		checkParseQuery(t, strings.Repeat("a&", pairs-1)+"a")
		checkParseQuery(t, strings.Repeat("&", pairs-1))
	}
}

func TestReadObjectAtTheNestingLimit(t *testing.T) {
	// encoding/json takes 10000 levels and refuses 10001: each depth below
	// is tried bare and one level deeper.
	for _, depth := range []int{9999, 10000} {
		nested := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		checkReadObject(t, []byte(nested))
		checkReadObject(t, []byte(`{"a":`+nested+`}`))
	}
}

// readBody runs readObject on body sent as JSON, as a handler would.
func readBody(body []byte) (map[string]json.RawMessage, error) {
	r := httptest.NewRequest(http.MethodPost, "/v2/rooms", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return readObject(httptest.NewRecorder(), r)
}

// jsonSeeds are bodies every body target starts from.
var jsonSeeds = []string{
	"{\"unique_name\":\"a\xffb\"}",
	"{\"a\xffb\":1}",
	`{"unique_name":"\ud800"}`,
	`{"unique_name":"\udc00"}`,
	`{"unique_name":"\ud800\u0041"}`,
	`{"unique_name":"\ud83d\ude00"}`,
	`{"unique_name":"\u0000"}`,
	`{"a":1,"a":2}`,
	`{"a":1,"\u0061":2}`,
	`[]`,
	`null`,
	`{}`,
	``,
	`{"a":[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]}`,
	`{"a":1} trailing`,
	`{"a":1}{}`,
	`{"a/b~c":"\ud800"}`,
}

// FuzzReadObject holds readObject to keeping every field of an accepted
// body, once, as sent, in text roomsd can store.
func FuzzReadObject(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkReadObject)
}

// checkReadObject is FuzzReadObject's property for one body.
func checkReadObject(t *testing.T, body []byte) {
	obj, err := readBody(body)
	if err != nil {
		checkClientError(t, err)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if len(obj) != 0 {
			t.Fatalf("an empty body gave fields %v", obj)
		}
		return
	}
	if p := httpx.JSONTextProblem(body); p != "" {
		t.Fatalf("accepted a body that %s: %q", p, body)
	}
	// Every field given is kept, once, with its value as sent.
	var want map[string]json.RawMessage
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("accepted %q, which is not a JSON object: %v", abbrev(string(body)), err)
	}
	if n := countTopLevelKeys(t, body); n != len(obj) {
		t.Fatalf("accepted %q: %d fields given, %d kept", body, n, len(obj))
	}
	if !maps.EqualFunc(obj, want, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
		t.Fatalf("accepted %q as %q, want %q", body, obj, want)
	}
	for k, v := range obj {
		checkDecodedText(t, body, "field name", k)
		if p := httpx.JSONTextProblem(v); p != "" {
			t.Fatalf("accepted field %s whose value %s: %q", k, p, v)
		}
	}
}

// countTopLevelKeys counts the fields of a JSON object, repeats included.
func countTopLevelKeys(t *testing.T, body []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%q is not a JSON object", body)
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// checkFieldError checks a body decoder's error: a client error whose
// pointer, when it has one, is a JSON pointer (RFC 6901) to a value of the
// input, or, for a missing required field, to a place in an object of the
// input.
func checkFieldError(t *testing.T, body []byte, err error) {
	t.Helper()
	ae := checkClientError(t, err)
	if ae.Source == nil || ae.Source.Pointer == "" {
		return
	}
	ptr := ae.Source.Pointer
	if !strings.HasPrefix(ptr, "/") {
		t.Fatalf("pointer %q does not start with /", ptr)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // 1e400 is valid JSON, and no float64
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("error %+v points into %q, which is not JSON", ae, body)
	}
	if _, ok := resolvePointer(doc, ptr); ok {
		return
	}
	if ae.Code == codeMissingParameter {
		parent := ptr[:strings.LastIndexByte(ptr, '/')]
		if p, ok := resolvePointer(doc, parent); ok {
			if _, isObject := p.(map[string]any); isObject {
				return
			}
		}
	}
	t.Fatalf("pointer %q (%s: %s) names no value of %q", ptr, ae.Title, ae.Detail, body)
}

// resolvePointer finds the value a JSON pointer names in doc.
func resolvePointer(doc any, ptr string) (any, bool) {
	if ptr == "" {
		return doc, true
	}
	if ptr[0] != '/' {
		return nil, false
	}
	unescape := strings.NewReplacer("~1", "/", "~0", "~")
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = unescape.Replace(tok)
		switch v := doc.(type) {
		case map[string]any:
			var ok bool
			if doc, ok = v[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) || strconv.Itoa(i) != tok {
				return nil, false
			}
			doc = v[i]
		default:
			return nil, false
		}
	}
	return doc, true
}

var roomSeeds = []string{
	`{"unique_name":"standup","max_participants":8,"enable_recording":true,"webhook_event_url":"https://example.com/hook",` +
		`"webhook_event_failover_url":null,"webhook_timeout_secs":5}`,
	`{"unique_name":null,"webhook_timeout_secs":null}`,
	`{"unique_name":5}`,
	`{"max_participants":null}`,
	`{"max_participants":1.5}`,
	`{"max_participants":"8"}`,
	`{"enable_recording":"true"}`,
	`{"webhook_event_url":"https://example.com/\u0000"}`,
	`{"unique_name":"\ud800x"}`,
}

// addSeeds adds a target's own seeds and the JSON seeds every body
// decoder shares.
func addSeeds(f *testing.F, seeds []string) {
	for _, s := range append(seeds, jsonSeeds...) {
		f.Add([]byte(s))
	}
}

// fuzzObject fuzzes a decoder of one part of a JSON object body: the body
// is split into fields first, and a body refused there must be refused
// with a well-formed error.
func fuzzObject(f *testing.F, seeds []string, check func(t *testing.T, body []byte, obj map[string]json.RawMessage)) {
	addSeeds(f, seeds)
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, err := decodeObject(body)
		if err != nil {
			checkFieldError(t, body, err)
			return
		}
		check(t, body, obj)
	})
}

// FuzzRoomChanges decodes room create and update bodies.
func FuzzRoomChanges(f *testing.F) {
	addSeeds(f, roomSeeds)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPatch, "/v2/rooms/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		c, err := readRoomChanges(httptest.NewRecorder(), r)
		if err != nil {
			checkFieldError(t, body, err)
			return
		}
		for what, s := range map[string]*string{
			"unique_name":                c.UniqueName.Value,
			"webhook_event_url":          c.WebhookEventURL.Value,
			"webhook_event_failover_url": c.WebhookEventFailoverURL.Value,
		} {
			if s != nil {
				checkDecodedText(t, body, what, *s)
			}
		}
	})
}

var selectionSeeds = []string{
	`{"participants":"all"}`,
	`{"participants":"ALL"}`,
	`{"participants":["0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"]}`,
	`{"participants":["0CCC7B54-4DF3-4BCA-A65A-3DA1ECC777F0"],"exclude":null}`,
	`{"participants":[]}`,
	`{"participants":null}`,
	`{"participants":[1]}`,
	`{"participants":["0ccc7b54-4df3-4bca-a65a-3da1ecc777f0\u0000"]}`,
	`{"exclude":["0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"]}`,
	`{"exclude":[]}`,
	`{"exclude":"all"}`,
	`{"participants":{"a":1}}`,
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// FuzzSelection decodes the participant selection of kick, mute and
// unmute.
func FuzzSelection(f *testing.F) {
	fuzzObject(f, selectionSeeds, func(t *testing.T, body []byte, obj map[string]json.RawMessage) {
		for _, action := range []string{"kick", "mute", "unmute"} {
			sel, err := selection(obj, action)
			if err != nil {
				checkFieldError(t, body, err)
				continue
			}
			for _, id := range slices.Concat(sel.IDs, sel.Exclude) {
				if !uuidRE.MatchString(id) {
					t.Fatalf("%s of %q selected %q, not a participant id in canonical form", action, body, id)
				}
			}
			if sel.All == (len(sel.IDs) > 0) {
				t.Fatalf("%s of %q: selection %+v is neither everyone nor a list", action, body, sel)
			}
			// A kick of everyone is asked for in words, never by omission.
			var asked string
			if action == "kick" && sel.All && len(sel.Exclude) == 0 &&
				(json.Unmarshal(obj["participants"], &asked) != nil || asked != "all") {
				t.Fatalf("kick of %q selects everyone without asking", body)
			}
		}
	})
}

var layoutSeeds = []string{
	`{"video_layout":{"first":{"x_pos":0,"y_pos":0,"z_pos":1,"height":360,"width":640,"max_columns":2,"max_rows":2,` +
		`"video_sources":["*","0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"]}}}`,
	`{"video_layout":null}`,
	`{"video_layout":{"a":null}}`,
	`{"video_layout":{"a":{"x_pos":"1"}}}`,
	`{"video_layout":{"a":{"video_sources":"*"}}}`,
	`{"video_layout":{"a":{"video_sources":["\ud800"]}}}`,
	`{"video_layout":{"a/b":{"x_pos":true}}}`,
	`{"video_layout":{"~1":null}}`,
	`{"video_layout":[]}`,
	`{"video_layout":{"a":{"x_pos":1e400}}}`,
}

// FuzzVideoLayout decodes a composition's video layout.
func FuzzVideoLayout(f *testing.F) {
	fuzzObject(f, layoutSeeds, func(t *testing.T, body []byte, obj map[string]json.RawMessage) {
		layout, err := videoLayout(obj)
		if err != nil {
			checkFieldError(t, body, err)
			return
		}
		for name, reg := range layout {
			checkDecodedText(t, body, "region name", name)
			for _, src := range reg.VideoSources {
				checkDecodedText(t, body, "video source", src)
			}
		}
	})
}
