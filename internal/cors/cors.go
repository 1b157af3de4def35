// Package cors lets web pages of chosen origins call the REST API from a
// browser (Cross-Origin Resource Sharing). It answers preflight requests
// itself and marks the responses to allowed origins. It never allows
// credentials: roomsd authenticates with bearer API keys and client
// tokens, never with cookies.
package cors

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/roomsd/roomsd/internal/httpx"
)

// The values a policy answers with.
const (
	allowMethods  = "GET, POST, PATCH, DELETE"
	allowHeaders  = "Authorization, Content-Type, X-Request-Id"
	exposeHeaders = "X-Request-Id"
	maxAge        = "600"
	preflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
)

// The Telnyx error code of a refused preflight.
const codeForbidden = "10010"

// Policy is the set of origins whose pages may call the API.
type Policy struct {
	any     bool
	origins map[string]bool
}

// New validates origins and builds a policy. Each entry is * (any origin)
// or an origin scheme://host[:port] with scheme http or https and nothing
// after the host and port; scheme and host are compared in lower case,
// and a default port (:80 for http, :443 for https) is dropped, as
// browsers send them. An empty list makes a policy that turns CORS off.
func New(origins []string) (*Policy, error) {
	p := &Policy{origins: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			p.any = true
			continue
		}
		norm, err := normalize(o)
		if err != nil {
			return nil, fmt.Errorf("%q is not an origin: %s; give scheme://host[:port] with scheme http or https, such as https://app.example.com, or * for any origin", o, err)
		}
		p.origins[norm] = true
	}
	return p, nil
}

// normalize returns origin in the form a browser sends it, or says what is
// wrong with it.
func normalize(origin string) (string, error) {
	scheme, rest, ok := strings.Cut(origin, "://")
	if !ok {
		return "", errorString("it has no scheme://")
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return "", errorString("the scheme is not http or https")
	}
	if strings.ContainsAny(rest, "/?#") {
		return "", errorString("it has a path, query or fragment")
	}
	if strings.Contains(rest, "@") {
		return "", errorString("it has user information")
	}
	host, port, hasPort := rest, "", false
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return "", errorString("the IPv6 address has no closing ]")
		}
		ip, err := netip.ParseAddr(rest[1:end])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", errorString("the host is not an IPv6 address")
		}
		host = "[" + ip.String() + "]"
		switch after := rest[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port, hasPort = after[1:], true
		default:
			return "", errorString("the host is not an IPv6 address")
		}
	} else {
		host, port, hasPort = strings.Cut(rest, ":")
		if err := checkHostname(host); err != nil {
			return "", err
		}
		host = strings.ToLower(host)
	}
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' {
			return "", errorString("the port is not a number from 1 to 65535")
		}
		port = strconv.Itoa(n)
		if scheme == "http" && n == 80 || scheme == "https" && n == 443 {
			hasPort = false
		}
	}
	if hasPort {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}

// checkHostname accepts a DNS name or an IPv4 address (ASCII letters,
// digits, dots and hyphens); internationalised names are given in their
// xn-- form, as browsers send them.
func checkHostname(host string) error {
	if host == "" {
		return errorString("it has no host")
	}
	if strings.Contains(host, "*") {
		return errorString("wildcards in a host are not supported (list each origin, or give * alone)")
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return errorString("the host has a character other than letters, digits, dots and hyphens")
		}
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// enabled reports whether p allows any origin at all.
func (p *Policy) enabled() bool { return p != nil && (p.any || len(p.origins) > 0) }

func (p *Policy) allows(origin string) bool { return p.any || p.origins[origin] }

// Wrap returns next with the policy applied; with a nil policy or no
// origins it returns next itself. Preflight requests (OPTIONS with Origin
// and Access-Control-Request-Method) are answered here and never reach
// next, so they need no API key. Every other request reaches next; the
// response to an allowed origin says the origin may read it.
func (p *Policy) Wrap(next http.Handler) http.Handler {
	if !p.enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			p.preflight(w, r, origin)
			return
		}
		h := w.Header()
		addVary(h, "Origin")
		if origin != "" && p.allows(origin) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", exposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

// preflight answers a browser asking whether it may send a request.
func (p *Policy) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	addVary(h, "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")
	if !p.allows(origin) {
		refuse(w, "Origin not allowed", "Pages from "+origin+" may not call this API from a browser; add the origin to ROOMSD_CORS_ORIGINS (or --cors-origins) to allow them.")
		return
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !allowedMethod(method) {
		refuse(w, "Method not allowed", "The API does not accept "+method+" from a browser; it accepts "+allowMethods+".")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", allowMethods)
	if headers, ok := requestedHeaders(r.Header.Values("Access-Control-Request-Headers")); !ok {
		h.Set("Access-Control-Allow-Headers", allowHeaders)
	} else if headers != "" {
		h.Set("Access-Control-Allow-Headers", headers)
	}
	h.Set("Access-Control-Max-Age", maxAge)
	w.WriteHeader(http.StatusNoContent)
}

func allowedMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// requestedHeaders joins the header names a preflight asks for, and
// reports false if one of them is not a valid HTTP token. Empty list
// elements are skipped, as HTTP's list syntax allows.
func requestedHeaders(values []string) (string, bool) {
	var names []string
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			name = strings.Trim(name, " \t")
			if name == "" {
				continue
			}
			if !httpguts.ValidHeaderFieldName(name) {
				return "", false
			}
			names = append(names, name)
		}
	}
	return strings.Join(names, ", "), true
}

// addVary adds names to the response's Vary header, keeping what is there
// and not repeating a name already listed.
func addVary(h http.Header, names ...string) {
	var missing []string
	for _, name := range names {
		if !listed(h.Values("Vary"), name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		h.Add("Vary", strings.Join(missing, ", "))
	}
}

func listed(values []string, name string) bool {
	return httpguts.HeaderValuesContainsToken(values, "*") || httpguts.HeaderValuesContainsToken(values, name)
}

// refuse answers a preflight with 403 and the Telnyx error envelope, and
// no Access-Control-Allow-* header, so the browser does not send the
// request.
func refuse(w http.ResponseWriter, title, detail string) {
	httpx.WriteError(w, &httpx.Error{Status: http.StatusForbidden, Code: codeForbidden, Title: title, Detail: detail})
}
