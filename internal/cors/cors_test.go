package cors_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/cors"
)

// reached is what the wrapped handler answers: 200, a body and its own
// Vary entry, so that the tests see whether a request got through.
func reached(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept-Encoding")
	w.Header().Set("X-Request-Id", "req-1")
	w.Write([]byte("next"))
}

func policy(t *testing.T, origins ...string) *cors.Policy {
	t.Helper()
	p, err := cors.New(origins)
	if err != nil {
		t.Fatalf("New(%q): %v", origins, err)
	}
	return p
}

// serve sends one request through p.Wrap(reached); headers are name,
// value pairs.
func serve(p *cors.Policy, method string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://roomsd.test/v2/rooms", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	p.Wrap(http.HandlerFunc(reached)).ServeHTTP(w, r)
	return w
}

// vary lists the response's Vary entries, one per name.
func vary(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Vary") {
		for _, item := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(item))
		}
	}
	return out
}

var corsResponseHeaders = []string{
	"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
	"Access-Control-Allow-Credentials", "Access-Control-Expose-Headers", "Access-Control-Max-Age",
}

// Without origins the handler is the wrapped one: no CORS headers, no Vary,
// and a preflight reaches it like any other request.
func TestWrapOff(t *testing.T) {
	var nilPolicy *cors.Policy
	for name, p := range map[string]*cors.Policy{"nil": nilPolicy, "empty": policy(t)} {
		for _, method := range []string{"GET", "OPTIONS"} {
			w := serve(p, method, "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
			if w.Code != 200 || w.Body.String() != "next" {
				t.Errorf("%s, %s: status %d body %q, want the wrapped handler's answer", name, method, w.Code, w.Body)
			}
			if got := vary(w.Header()); !slices.Equal(got, []string{"Accept-Encoding"}) {
				t.Errorf("%s, %s: Vary %q", name, method, got)
			}
			for _, h := range corsResponseHeaders {
				if v := w.Header().Get(h); v != "" {
					t.Errorf("%s, %s: %s: %q, want none", name, method, h, v)
				}
			}
		}
	}
}

// Requests other than preflights always reach the handler; those from an
// allowed origin may be read by that origin's pages.
func TestWrapRequests(t *testing.T) {
	for _, c := range []struct {
		name    string
		origins []string
		method  string
		origin  string
		allowed bool
	}{
		{"listed origin", []string{"https://app.example.com"}, "GET", "https://app.example.com", true},
		{"second listed origin", []string{"https://app.example.com", "http://localhost:3000"}, "POST", "http://localhost:3000", true},
		{"listed origin, DELETE", []string{"https://app.example.com"}, "DELETE", "https://app.example.com", true},
		{"any origin", []string{"*"}, "PATCH", "https://elsewhere.example", true},
		{"any origin beside a listed one", []string{"https://app.example.com", "*"}, "GET", "http://127.0.0.1:5173", true},
		{"listed in other case", []string{"HTTPS://App.Example.COM"}, "GET", "https://app.example.com", true},
		{"listed with the default port", []string{"https://app.example.com:443", "http://intranet:80"}, "GET", "http://intranet", true},
		{"other origin", []string{"https://app.example.com"}, "GET", "https://evil.example", false},
		{"other scheme", []string{"https://app.example.com"}, "GET", "http://app.example.com", false},
		{"other port", []string{"https://app.example.com"}, "GET", "https://app.example.com:8443", false},
		{"subdomain", []string{"https://example.com"}, "GET", "https://app.example.com", false},
		{"no origin", []string{"https://app.example.com"}, "GET", "", false},
		{"no origin, any allowed", []string{"*"}, "GET", "", false},
		{"OPTIONS without a requested method", []string{"https://app.example.com"}, "OPTIONS", "https://app.example.com", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			if c.origin != "" {
				headers = []string{"Origin", c.origin}
			}
			w := serve(policy(t, c.origins...), c.method, headers...)
			if w.Code != 200 || w.Body.String() != "next" {
				t.Fatalf("status %d body %q, want the wrapped handler's answer", w.Code, w.Body)
			}
			h := w.Header()
			if got := vary(h); !slices.Equal(got, []string{"Origin", "Accept-Encoding"}) {
				t.Errorf("Vary %q, want Origin and the handler's Accept-Encoding", got)
			}
			if h.Get("X-Request-Id") != "req-1" {
				t.Errorf("the handler's own headers are lost: %v", h)
			}
			if h.Get("Access-Control-Allow-Credentials") != "" || h.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("preflight-only or credential headers on a request: %v", h)
			}
			if c.allowed {
				if got := h.Get("Access-Control-Allow-Origin"); got != c.origin {
					t.Errorf("Access-Control-Allow-Origin %q, want %q", got, c.origin)
				}
				if got := h.Get("Access-Control-Expose-Headers"); got != "X-Request-Id" {
					t.Errorf("Access-Control-Expose-Headers %q, want X-Request-Id", got)
				}
				return
			}
			for _, name := range corsResponseHeaders {
				if v := h.Get(name); v != "" {
					t.Errorf("%s: %q for an origin not allowed", name, v)
				}
			}
		})
	}
}

// A preflight from an allowed origin is answered without the handler:
// 204, the origin echoed, the methods, the requested headers, a max age.
func TestPreflightAllowed(t *testing.T) {
	for _, c := range []struct {
		name, origins, origin, method string
		requested                     []string // Access-Control-Request-Headers lines
		wantHeaders                   string   // "" for no Access-Control-Allow-Headers
	}{
		{"POST with JSON", "https://app.example.com", "https://app.example.com", "POST", []string{"content-type"}, "content-type"},
		{"headers echoed as asked", "https://app.example.com", "https://app.example.com", "PATCH",
			[]string{"authorization,content-type,x-request-id"}, "authorization, content-type, x-request-id"},
		{"spaces, empty items and two lines", "https://app.example.com", "https://app.example.com", "DELETE",
			[]string{" Authorization ,, X-Custom-Header ", "x-trace_id"}, "Authorization, X-Custom-Header, x-trace_id"},
		{"no headers asked for", "https://app.example.com", "https://app.example.com", "GET", nil, ""},
		{"a header name that is not a token", "https://app.example.com", "https://app.example.com", "POST",
			[]string{"content-type, bad header"}, "Authorization, Content-Type, X-Request-Id"},
		{"a header name with a slash", "https://app.example.com", "https://app.example.com", "POST",
			[]string{"x/y"}, "Authorization, Content-Type, X-Request-Id"},
		{"any origin echoes the origin", "*", "http://127.0.0.1:5173", "POST", []string{"content-type"}, "content-type"},
		{"listed in other case", "HTTP://LocalHost:3000", "http://localhost:3000", "GET", []string{"authorization"}, "authorization"},
	} {
		t.Run(c.name, func(t *testing.T) {
			headers := []string{"Origin", c.origin, "Access-Control-Request-Method", c.method}
			for _, v := range c.requested {
				headers = append(headers, "Access-Control-Request-Headers", v)
			}
			w := serve(policy(t, strings.Split(c.origins, ",")...), "OPTIONS", headers...)
			if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
				t.Fatalf("status %d body %q, want 204 and no body", w.Code, w.Body)
			}
			h := w.Header()
			want := map[string]string{
				"Access-Control-Allow-Origin":      c.origin,
				"Access-Control-Allow-Methods":     "GET, POST, PATCH, DELETE",
				"Access-Control-Allow-Headers":     c.wantHeaders,
				"Access-Control-Max-Age":           "600",
				"Access-Control-Allow-Credentials": "",
				"Access-Control-Expose-Headers":    "",
				"X-Request-Id":                     "",
			}
			for name, v := range want {
				if got := h.Get(name); got != v {
					t.Errorf("%s: %q, want %q", name, got, v)
				}
			}
			if got := vary(h); !slices.Equal(got, []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}) {
				t.Errorf("Vary %q", got)
			}
		})
	}
}

// A preflight from an origin not listed, or for a method the API does not
// use, is refused with 403 and the error envelope, and nothing that would
// let the browser go on.
func TestPreflightRefused(t *testing.T) {
	for _, c := range []struct {
		name, origins, origin, method string
		title, detail                 string
	}{
		{"other origin", "https://app.example.com", "https://evil.example", "POST",
			"Origin not allowed", "add the origin to ROOMSD_CORS_ORIGINS"},
		{"other port", "https://app.example.com", "https://app.example.com:8443", "GET",
			"Origin not allowed", "https://app.example.com:8443"},
		{"null origin", "https://app.example.com", "null", "GET", "Origin not allowed", "ROOMSD_CORS_ORIGINS"},
		{"PUT", "https://app.example.com", "https://app.example.com", "PUT", "Method not allowed", "GET, POST, PATCH, DELETE"},
		{"lower-case method", "*", "https://app.example.com", "patch", "Method not allowed", "patch"},
		{"CONNECT with any origin", "*", "https://app.example.com", "CONNECT", "Method not allowed", "CONNECT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := serve(policy(t, c.origins), "OPTIONS", "Origin", c.origin, "Access-Control-Request-Method", c.method,
				"Access-Control-Request-Headers", "content-type")
			if w.Code != http.StatusForbidden {
				t.Fatalf("status %d body %q, want 403", w.Code, w.Body)
			}
			h := w.Header()
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			for _, name := range corsResponseHeaders {
				if v := h.Get(name); v != "" {
					t.Errorf("%s: %q on a refused preflight", name, v)
				}
			}
			if got := vary(h); !slices.Equal(got, []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}) {
				t.Errorf("Vary %q", got)
			}
			var body struct {
				Errors []map[string]string `json:"errors"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if len(body.Errors) != 1 {
				t.Fatalf("body %q, want one error", w.Body)
			}
			e := body.Errors[0]
			if e["code"] != "10010" || e["title"] != c.title || !strings.Contains(e["detail"], c.detail) {
				t.Errorf("error %q, want code 10010, title %q, a detail with %q", e, c.title, c.detail)
			}
		})
	}
}

// Vary keeps what an outer handler and the wrapped one put there, and
// names Origin once.
func TestVaryMerged(t *testing.T) {
	p := policy(t, "https://app.example.com")
	for _, c := range []struct {
		name   string
		before []string // Vary lines already on the response
		method string
		want   []string
	}{
		{"empty", nil, "GET", []string{"Origin", "Accept-Encoding"}},
		{"kept", []string{"Accept-Language"}, "GET", []string{"Accept-Language", "Origin", "Accept-Encoding"}},
		{"Origin already there", []string{"Cookie, origin"}, "GET", []string{"Cookie", "origin", "Accept-Encoding"}},
		{"star", []string{"*"}, "GET", []string{"*", "Accept-Encoding"}},
		{"preflight adds what is missing", []string{"Origin"}, "OPTIONS",
			[]string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "/v2/rooms", nil)
			r.Header.Set("Origin", "https://app.example.com")
			if c.method == "OPTIONS" {
				r.Header.Set("Access-Control-Request-Method", "GET")
			}
			w := httptest.NewRecorder()
			for _, v := range c.before {
				w.Header().Add("Vary", v)
			}
			p.Wrap(http.HandlerFunc(reached)).ServeHTTP(w, r)
			if got := vary(w.Header()); !slices.Equal(got, c.want) {
				t.Errorf("Vary %q, want %q", got, c.want)
			}
		})
	}
}

// A preflight needs no API key: the handler that would ask for one is
// never called.
func TestPreflightSkipsHandler(t *testing.T) {
	called := false
	h := policy(t, "https://app.example.com").Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		w.WriteHeader(http.StatusUnauthorized)
	}))
	for _, origin := range []string{"https://app.example.com", "https://evil.example"} {
		r := httptest.NewRequest("OPTIONS", "/v2/rooms/x/actions/refresh_client_token", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if called || w.Code == http.StatusUnauthorized {
			t.Errorf("%s: the preflight reached the handler (status %d)", origin, w.Code)
		}
	}
}

// New refuses entries that are not origins, naming the entry and the form
// expected.
func TestNewRefusesBadEntries(t *testing.T) {
	for _, c := range []struct{ entry, reason string }{
		{"", "no scheme"},
		{"app.example.com", "no scheme"},
		{"//app.example.com", "no scheme"},
		{"://app.example.com", "scheme is not http or https"},
		{"ftp://app.example.com", "scheme is not http or https"},
		{"ws://app.example.com", "scheme is not http or https"},
		{"https:app.example.com", "no scheme"},
		{"https://", "no host"},
		{"https://:8080", "no host"},
		{"https://app.example.com/", "path, query or fragment"},
		{"https://app.example.com/app", "path, query or fragment"},
		{"https://app.example.com?x=1", "path, query or fragment"},
		{"https://app.example.com#top", "path, query or fragment"},
		{"https://user:pass@app.example.com", "user information"},
		{"https://*.example.com", "wildcards"},
		{"https://app.example.com:", "port"},
		{"https://app.example.com:0", "port"},
		{"https://app.example.com:65536", "port"},
		{"https://app.example.com:+80", "port"},
		{"https://app.example.com:http", "port"},
		{"https://app example.com", "character"},
		{"https://bücher.example", "character"},
		{"https://[::1", "closing ]"},
		{"https://[example]", "IPv6"},
		{"https://[127.0.0.1]", "IPv6"},
		{"https://[fe80::1%25eth0]", "IPv6"},
		{"https://[::1]x", "IPv6"},
		{" https://app.example.com", "scheme"},
		{"**", "no scheme"},
	} {
		_, err := cors.New([]string{"https://good.example", c.entry})
		if err == nil {
			t.Errorf("%q accepted", c.entry)
			continue
		}
		msg := err.Error()
		for _, want := range []string{strconv.Quote(c.entry) + " is not an origin", c.reason, "scheme://host[:port]", "http or https", "* for any"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q: error %q does not say %q", c.entry, msg, want)
			}
		}
	}
}

// Accepted entries are compared the way browsers send origins: lower-case
// scheme and host, no default port, IPv6 in its short form.
func TestNewNormalizes(t *testing.T) {
	for _, c := range []struct{ entry, origin string }{
		{"https://app.example.com", "https://app.example.com"},
		{"HTTPS://APP.Example.Com", "https://app.example.com"},
		{"Http://LocalHost:3000", "http://localhost:3000"},
		{"https://app.example.com:443", "https://app.example.com"},
		{"http://app.example.com:80", "http://app.example.com"},
		{"http://app.example.com:0443", "http://app.example.com:443"},
		{"https://app.example.com:80", "https://app.example.com:80"},
		{"http://127.0.0.1:8081", "http://127.0.0.1:8081"},
		{"http://[0:0:0:0:0:0:0:1]:8081", "http://[::1]:8081"},
		{"https://[2001:DB8::1]", "https://[2001:db8::1]"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
	} {
		w := serve(policy(t, c.entry), "GET", "Origin", c.origin)
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != c.origin {
			t.Errorf("%q: Access-Control-Allow-Origin %q for %q", c.entry, got, c.origin)
		}
	}
}
