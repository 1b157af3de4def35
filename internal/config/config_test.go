package config_test

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/config"
)

func load(t *testing.T, args []string, env map[string]string) (config.Config, error) {
	t.Helper()
	return config.Load(args, func(k string) string { return env[k] }, io.Discard)
}

// Flags win over variables, variables over defaults, and lists and
// switches are read as the help says.
func TestLoad(t *testing.T) {
	c, err := load(t, []string{"--webhook-attempts", "3", "--rtc-loopback", "on"}, map[string]string{
		"ROOMSD_API_KEYS":         " a, b ,,c ",
		"ROOMSD_RTC_ICE_SERVERS":  "stun:x:3478, turn:u:p@y:3478",
		"ROOMSD_WEBHOOK_ATTEMPTS": "5",
		"ROOMSD_LIST_CACHE":       "off",
		"ROOMSD_EMPTY_TIMEOUT":    "90s",
		"ROOMSD_RTC_UDP_PORT":     "0",
		"ROOMSD_COMPOSE_WORKERS":  "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.APIKeys, []string{"a", "b", "c"}) {
		t.Errorf("APIKeys %q", c.APIKeys)
	}
	if !slices.Equal(c.RTCICEServers, []string{"stun:x:3478", "turn:u:p@y:3478"}) {
		t.Errorf("RTCICEServers %q", c.RTCICEServers)
	}
	if c.WebhookAttempts != 3 || c.ListCache || !c.RTCLoopback || c.EmptyTimeout != 90*time.Second || c.RTCUDPPort != 0 ||
		c.ComposeWorkers != 0 {
		t.Errorf("attempts %d, list cache %v, loopback %v, empty timeout %v, port %d, compose workers %d",
			c.WebhookAttempts, c.ListCache, c.RTCLoopback, c.EmptyTimeout, c.RTCUDPPort, c.ComposeWorkers)
	}
	d, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Addr != "127.0.0.1:8080" || d.DB != "./roomsd.db" || !d.ListCache || d.RTCLoopback || d.RTCUDPPort != 7882 ||
		d.WebhookAttempts != 12 || d.WebhookTimeout != 10*time.Second || d.WebhookBackoff != 2*time.Second ||
		d.ReconnectGrace != 10*time.Second || d.ShutdownTimeout != 15*time.Second || d.APIKeys != nil ||
		d.CORSOrigins != nil || d.ComposeWorkers != 1 {
		t.Errorf("defaults: %+v", d)
	}
}

// A value that cannot work is refused with the variable, the flag and
// what was wrong.
func TestLoadRefusesBadValues(t *testing.T) {
	for _, c := range []struct{ env, value, want string }{
		{"ROOMSD_LIST_CACHE", "yes", `ROOMSD_LIST_CACHE/--list-cache: "yes" is not on or off`},
		{"ROOMSD_RTC_LOOPBACK", "1", `ROOMSD_RTC_LOOPBACK/--rtc-loopback: "1" is not on or off`},
		{"ROOMSD_RTC_UDP_PORT", "65536", `ROOMSD_RTC_UDP_PORT/--rtc-udp-port: "65536" is not a port number`},
		{"ROOMSD_RTC_UDP_PORT", "x", `ROOMSD_RTC_UDP_PORT/--rtc-udp-port: "x" is not a port number`},
		{"ROOMSD_RTC_PUBLIC_IP", "host", `ROOMSD_RTC_PUBLIC_IP/--rtc-public-ip: "host" is not an IP address`},
		{"ROOMSD_EMPTY_TIMEOUT", "-1s", `ROOMSD_EMPTY_TIMEOUT/--empty-timeout: "-1s" is not a duration such as 30s`},
		{"ROOMSD_RECONNECT_GRACE", "soon", `ROOMSD_RECONNECT_GRACE/--reconnect-grace: "soon" is not a duration such as 30s`},
		{"ROOMSD_WEBHOOK_TIMEOUT", "0s", `ROOMSD_WEBHOOK_TIMEOUT/--webhook-timeout: "0s" is not a positive duration such as 10s`},
		{"ROOMSD_WEBHOOK_BACKOFF", "x", `ROOMSD_WEBHOOK_BACKOFF/--webhook-backoff: "x" is not a positive duration such as 2s`},
		{"ROOMSD_WEBHOOK_ATTEMPTS", "0", `ROOMSD_WEBHOOK_ATTEMPTS/--webhook-attempts: "0" is not a positive number`},
		{"ROOMSD_COMPOSE_WORKERS", "-1", `ROOMSD_COMPOSE_WORKERS/--compose-workers: "-1" is not a number from 0 to 64`},
		{"ROOMSD_COMPOSE_WORKERS", "many", `ROOMSD_COMPOSE_WORKERS/--compose-workers: "many" is not a number from 0 to 64`},
		{"ROOMSD_PUBLIC_URL", "rooms.example.com", `ROOMSD_PUBLIC_URL/--public-url: "rooms.example.com" is not an http(s) address`},
		{"ROOMSD_PUBLIC_URL", "https://rooms.example.com/?x=1", `ROOMSD_PUBLIC_URL/--public-url: "https://rooms.example.com/?x=1" is not an http(s) address`},
		{"ROOMSD_DOWNLOAD_URL_TTL", "0s", `ROOMSD_DOWNLOAD_URL_TTL/--download-url-ttl: "0s" is not a positive duration such as 1h`},
		{"ROOMSD_NODE_LEASE", "0s", `ROOMSD_NODE_LEASE/--node-lease: "0s" is not a positive duration such as 5s`},
		{"ROOMSD_NODE_LEASE", "500ms", `ROOMSD_NODE_LEASE/--node-lease: "500ms" is shorter than 1s`},
		{"ROOMSD_WEBHOOK_RETENTION", "a week", `ROOMSD_WEBHOOK_RETENTION/--webhook-retention: "a week" is not a duration such as 168h`},
		{"ROOMSD_SHUTDOWN_TIMEOUT", "-2s", `ROOMSD_SHUTDOWN_TIMEOUT/--shutdown-timeout: "-2s" is not a duration such as 15s`},
		{"ROOMSD_LOG_LEVEL", "loud", `ROOMSD_LOG_LEVEL/--log-level: "loud" is not one of debug, info, warn, error`},
		{"ROOMSD_LOG_FORMAT", "xml", `ROOMSD_LOG_FORMAT/--log-format: "xml" is not text or json`},
		{"ROOMSD_ADDR", "8080", `ROOMSD_ADDR/--addr: "8080" is not host:port`},
		{"ROOMSD_DEBUG_ADDR", "6060", `ROOMSD_DEBUG_ADDR/--debug-addr: "6060" is not host:port`},
		{"ROOMSD_CORS_ORIGINS", "https://app.example.com/", `ROOMSD_CORS_ORIGINS/--cors-origins: "https://app.example.com/" is not an origin`},
		{"ROOMSD_CORS_ORIGINS", "https://a.example, app.example.com", `ROOMSD_CORS_ORIGINS/--cors-origins: "app.example.com" is not an origin`},
		{"ROOMSD_CORS_ORIGINS", "ftp://app.example.com", "give scheme://host[:port] with scheme http or https"},
		{"ROOMSD_LIMIT_TOKENS", "20", `ROOMSD_LIMIT_TOKENS/--limit-tokens: "20" is not a rate such as "20/s"`},
		{"ROOMSD_LIMIT_CONNECTS", "5/s:0", `ROOMSD_LIMIT_CONNECTS/--limit-connects: "5/s:0" has a burst`},
		{"ROOMSD_MAX_SOCKETS", "-1", `ROOMSD_MAX_SOCKETS/--max-sockets: "-1" is not a number, 0 or more`},
		{"ROOMSD_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal", `ROOMSD_TRUSTED_PROXIES/--trusted-proxies: "10.0.0.0/8, proxy.internal" has "proxy.internal", which is neither`},
		{"ROOMSD_TLS_CERT", "cert.pem", "ROOMSD_TLS_CERT/--tls-cert and ROOMSD_TLS_KEY/--tls-key go together: give both"},
		{"ROOMSD_HTTP_ADDR", ":80", "a plain-HTTP listener beside HTTPS needs HTTPS"},
	} {
		_, err := load(t, nil, map[string]string{c.env: c.value})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: error %v, want %q", c.env, c.value, err, c.want)
		}
	}
}

// CORS is off unless origins are given; the flag wins over the variable,
// and the list is read like the other lists.
func TestLoadCORSOrigins(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want []string
	}{
		{nil, "", nil},
		{nil, " , ", nil},
		{nil, "https://app.example.com, http://localhost:3000", []string{"https://app.example.com", "http://localhost:3000"}},
		{nil, "*", []string{"*"}},
		{[]string{"--cors-origins", "https://flag.example"}, "https://env.example", []string{"https://flag.example"}},
		{[]string{"--cors-origins", ""}, "https://env.example", nil},
	} {
		cfg, err := load(t, c.args, map[string]string{"ROOMSD_CORS_ORIGINS": c.env})
		if err != nil {
			t.Errorf("%q, env %q: %v", c.args, c.env, err)
			continue
		}
		if !slices.Equal(cfg.CORSOrigins, c.want) {
			t.Errorf("%q, env %q: CORSOrigins %q, want %q", c.args, c.env, cfg.CORSOrigins, c.want)
		}
	}
	// A bad flag is refused even when the variable is good.
	_, err := load(t, []string{"--cors-origins", "https://*.example.com"}, map[string]string{"ROOMSD_CORS_ORIGINS": "https://ok.example"})
	if err == nil || !strings.Contains(err.Error(), `ROOMSD_CORS_ORIGINS/--cors-origins: "https://*.example.com" is not an origin`) {
		t.Errorf("wildcard host: error %v", err)
	}
}

// With ACME the plain-HTTP listener (HTTP-01 challenges, redirects) is on
// :80 unless said otherwise; "off" turns it off.
func TestLoadTLS(t *testing.T) {
	c, err := load(t, nil, map[string]string{"ROOMSD_ACME_DOMAINS": "rooms.example.com"})
	if err != nil || c.HTTPAddr != ":80" || !c.TLS() {
		t.Errorf("ACME: %v, HTTPAddr %q", err, c.HTTPAddr)
	}
	c, err = load(t, nil, map[string]string{"ROOMSD_ACME_DOMAIN": "one.example.com"})
	if err != nil || len(c.ACMEDomains) != 1 || c.ACMEDomains[0] != "one.example.com" {
		t.Errorf("ROOMSD_ACME_DOMAIN: %v, %v", err, c.ACMEDomains)
	}
	c, err = load(t, nil, map[string]string{"ROOMSD_ACME_DOMAINS": "rooms.example.com", "ROOMSD_HTTP_ADDR": "off"})
	if err != nil || c.HTTPAddr != "" {
		t.Errorf("ACME, HTTP off: %v, HTTPAddr %q", err, c.HTTPAddr)
	}
	if _, err := load(t, nil, map[string]string{"ROOMSD_ACME_DOMAINS": "a.example", "ROOMSD_TLS_CERT": "c", "ROOMSD_TLS_KEY": "k"}); err == nil {
		t.Error("a certificate and ACME at once were accepted")
	}
	c, err = load(t, nil, map[string]string{"ROOMSD_TLS_CERT": "c.pem", "ROOMSD_TLS_KEY": "k.pem"})
	if err != nil || c.HTTPAddr != "" || !c.TLS() {
		t.Errorf("certificate files: %v, HTTPAddr %q", err, c.HTTPAddr)
	}
}
