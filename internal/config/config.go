// Package config turns flags and ROOMSD_* environment variables into a
// validated Config. A flag wins over its environment variable, which wins
// over the default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/roomsd/roomsd/internal/cors"
	"github.com/roomsd/roomsd/internal/limit"
)

// Config is everything roomsd serve needs to start.
type Config struct {
	Addr          string
	DB            string
	APIKeys       []string
	CORSOrigins   []string
	TokenKey      string
	ListCache     bool
	RTCUDPPort    int
	RTCPublicIP   string
	RTCICEServers []string
	RTCLoopback   bool
	// RTCTCP also carries media over TCP (ICE-TCP) on the media port
	// number.
	RTCTCP bool
	// TURN runs the embedded TURN server: UDP and TCP on TURNPort, TLS on
	// TURNTLSPort (with HTTPS), named TURNHost in the URLs handed out.
	TURN            bool
	TURNPort        int
	TURNTLSPort     int
	TURNHost        string
	EmptyTimeout    time.Duration
	ReconnectGrace  time.Duration
	WebhookSecret   string
	WebhookTimeout  time.Duration
	WebhookAttempts int
	WebhookBackoff  time.Duration
	// NodeID names this server among those sharing its database ("":
	// the host name and the data directory).
	NodeID string
	// KickBan is how long a kicked participant's token and meeting link
	// cannot join the room again.
	KickBan time.Duration
	// NodeLease is how long a node's sessions stay its own without a
	// heartbeat, on PostgreSQL (several nodes may share it).
	NodeLease time.Duration
	// WebhookRetention is how long delivered and failed webhook events
	// are kept (0: forever).
	WebhookRetention time.Duration
	LogLevel         slog.Level
	LogFormat        string
	ShutdownTimeout  time.Duration
	DebugAddr        string
	// Metrics serves Prometheus metrics at /metrics, to holders of
	// MetricsToken when it is set.
	Metrics      bool
	MetricsToken string
	// Rate limits per API key and per client address (zero: none), and
	// caps on what this server holds at once (0: none).
	LimitTokens, LimitWrites, LimitConnects limit.Rate
	MaxSockets, MaxParticipants             int
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client address.
	TrustedProxies []netip.Prefix
	// TLS on the listen address: a certificate and key from files, or
	// ACME for ACMEDomains. HTTPAddr is the plain-HTTP listener beside it
	// (redirects to HTTPS, ACME HTTP-01 challenges; "" none).
	TLSCert, TLSKey string
	ACMEDomains     []string
	ACMEEmail       string
	ACMEDirectory   string
	ACMECA          string
	HTTPAddr        string
	// DataDir holds recordings and compositions ("" : roomsd-data next
	// to the database file).
	DataDir string
	// PublicURL is how clients reach this server (download links in the
	// API and in webhooks); "" : http:// and the listen address.
	PublicURL   string
	DownloadTTL time.Duration
	// ComposeWorkers is how many compositions this server renders at
	// once; 0: it renders none (another node does).
	ComposeWorkers int
}

// maxComposeWorkers bounds ROOMSD_COMPOSE_WORKERS: each worker runs an
// ffmpeg process that keeps a few cores busy.
const maxComposeWorkers = 64

// ErrHelp is returned when --help was asked for; usage has been printed.
var ErrHelp = flag.ErrHelp

type setting struct {
	// kind is what the value is, as the usage shows it: duration,
	// on|off, number, host:port, list (comma-separated)…
	flag, kind, env, def, usage string
}

// settings is the table of every option, its variable and its default.
func settings() []setting {
	return []setting{
		{"addr", "host:port", "ROOMSD_ADDR", "127.0.0.1:8080", "listen address (host:port); the API is served under /v2"},
		{"db", "file|url", "ROOMSD_DB", "./roomsd.db", "SQLite database file (created if missing), or the postgres:// URL of an existing PostgreSQL database such as postgres://roomsd:secret@db.example:5432/roomsd?sslmode=verify-full&pool_max_conns=20 (pool settings as pgxpool URL parameters); migrated on start"},
		{"api-keys", "list", "ROOMSD_API_KEYS", "", "comma-separated API keys accepted as 'Authorization: Bearer <key>'; when empty, roomsd creates one key on first start and prints it once"},
		{"cors-origins", "list", "ROOMSD_CORS_ORIGINS", "", "comma-separated origins (https://app.example.com) whose pages may call the REST API from a browser, or * for any; empty turns CORS off"},
		{"token-key", "base64", "ROOMSD_TOKEN_KEY", "", "base64 Ed25519 seed (32 bytes, e.g. from 'openssl rand -base64 32') that signs client tokens; when empty, roomsd creates one on first start and keeps it in the database"},
		{"list-cache", "on|off", "ROOMSD_LIST_CACHE", "on", "keep recently listed room pages in memory until the next database change: on or off"},
		{"rtc-udp-port", "port", "ROOMSD_RTC_UDP_PORT", "7882", "UDP port that carries all WebRTC media (one port for everyone; 0 picks a free one)"},
		{"rtc-public-ip", "ip", "ROOMSD_RTC_PUBLIC_IP", "", "address to advertise for media when roomsd sits behind 1:1 NAT"},
		{"rtc-ice-servers", "list", "ROOMSD_RTC_ICE_SERVERS", "", "comma-separated STUN/TURN URLs handed to participants (turn:user:pass@host:port for TURN with credentials)"},
		{"rtc-tcp", "on|off", "ROOMSD_RTC_TCP", "on", "also carry media over TCP (ICE-TCP) on the same port number as ROOMSD_RTC_UDP_PORT, for participants whose network blocks UDP: on or off"},
		{"turn", "on|off", "ROOMSD_TURN", "off", "run the embedded TURN server, which relays media for participants whose network lets through neither UDP nor TCP to the media port (only to this server's media: no open relay); each participant gets credentials of its own when it joins"},
		{"turn-port", "port", "ROOMSD_TURN_PORT", "3478", "TURN over UDP and TCP"},
		{"turn-tls-port", "port", "ROOMSD_TURN_TLS_PORT", "5349", "TURN over TLS with the HTTPS certificate (only with HTTPS; 0: none)"},
		{"turn-host", "host", "ROOMSD_TURN_HOST", "", "the name or address participants reach TURN at (the TLS certificate's name for turns:); empty: the first ACME domain, or else ROOMSD_RTC_PUBLIC_IP"},
		{"rtc-loopback", "on|off", "ROOMSD_RTC_LOOPBACK", "off", "on: media only on 127.0.0.1, for trying roomsd on one machine"},
		{"empty-timeout", "duration", "ROOMSD_EMPTY_TIMEOUT", "30s", "how long a room's session stays open after the last participant leaves"},
		{"reconnect-grace", "duration", "ROOMSD_RECONNECT_GRACE", "10s", "how long a participant whose signaling connection dropped may resume before it leaves"},
		{"webhook-secret", "secret", "ROOMSD_WEBHOOK_SECRET", "", "Standard Webhooks secret (whsec_ and base64); when set, every webhook also carries webhook-id, webhook-timestamp and webhook-signature"},
		{"webhook-timeout", "duration", "ROOMSD_WEBHOOK_TIMEOUT", "10s", "how long to wait for a webhook receiver when the room's webhook_timeout_secs is null or 0"},
		{"webhook-attempts", "number", "ROOMSD_WEBHOOK_ATTEMPTS", "12", "attempts per event (each tries the URL, then the failover URL) before it is marked failed"},
		{"webhook-backoff", "duration", "ROOMSD_WEBHOOK_BACKOFF", "2s", "wait after the first failed attempt; it doubles after each (up to 15m), with 20% jitter"},
		{"kick-ban", "duration", "ROOMSD_KICK_BAN", "10m", "how long a kicked participant's client token (with the refresh token it came with, and the tokens refreshed from it) and meeting link cannot join the room again; 0: they can at once"},
		{"node-id", "name", "ROOMSD_NODE_ID", "", "this server's name among those sharing its database, stable across restarts (a restart takes back what its previous run left unfinished); empty: the host name and the data directory, so set it when two servers on one host share a data directory"},
		{"node-lease", "duration", "ROOMSD_NODE_LEASE", "5s", "on PostgreSQL, where several roomsd nodes may share the database: how long a node's live sessions stay its own without a heartbeat (renewed every quarter of it); a node silent for longer is taken for dead, and another node ends its sessions so that their participants can rejoin through it (at least 1s)"},
		{"webhook-retention", "duration", "ROOMSD_WEBHOOK_RETENTION", "168h", "how long delivered and failed webhook events stay listed in GET /v2/webhook_deliveries before they are deleted (pending ones never are); 0 keeps them forever"},
		{"log-level", "level", "ROOMSD_LOG_LEVEL", "info", "log level: debug (adds one line per request), info, warn or error"},
		{"log-format", "text|json", "ROOMSD_LOG_FORMAT", "text", "log format: text or json"},
		{"shutdown-timeout", "duration", "ROOMSD_SHUTDOWN_TIMEOUT", "15s", "how long in-flight requests may run after SIGINT/SIGTERM"},
		{"metrics", "on|off", "ROOMSD_METRICS", "on", "serve Prometheus metrics at /metrics on the listen address: on or off"},
		{"metrics-token", "secret", "ROOMSD_METRICS_TOKEN", "", "bearer token that /metrics requires ('Authorization: Bearer <token>'); empty: /metrics is public, like /healthz and /readyz"},
		{"tls-cert", "file", "ROOMSD_TLS_CERT", "", "PEM certificate (with its chain) for HTTPS on the listen address; read again when the file changes, or on SIGHUP, without dropping meetings"},
		{"tls-key", "file", "ROOMSD_TLS_KEY", "", "PEM private key of ROOMSD_TLS_CERT"},
		{"acme-domains", "list", "ROOMSD_ACME_DOMAINS", "", "comma-separated domain names (rooms.example.com) to get HTTPS certificates for automatically from an ACME CA (Let's Encrypt), renewed by themselves; kept under the data directory; instead of ROOMSD_TLS_CERT/KEY (ROOMSD_ACME_DOMAIN, for one, works too)"},
		{"acme-email", "email", "ROOMSD_ACME_EMAIL", "", "contact address given to the ACME CA (expiry warnings)"},
		{"acme-directory", "url", "ROOMSD_ACME_DIRECTORY", "", "ACME directory URL; empty: Let's Encrypt (https://acme-v02.api.letsencrypt.org/directory)"},
		{"acme-ca", "file", "ROOMSD_ACME_CA", "", "PEM file of root certificates to trust when talking to the ACME directory, besides the system's (a private ACME CA)"},
		{"http-addr", "host:port", "ROOMSD_HTTP_ADDR", "", "with HTTPS: a plain-HTTP listener that redirects to HTTPS and answers ACME HTTP-01 challenges; empty: :80 with ACME, none otherwise; off: none"},
		{"limit-tokens", "rate", "ROOMSD_LIMIT_TOKENS", "100/s:500", "how fast each API key, and each client address, may have client tokens minted (generate_join_client_token, refresh_client_token, opening a meeting link): N/s, N/m or N/h, with :B for bursts of up to B; off for no limit; over it, 429 with Retry-After"},
		{"limit-writes", "rate", "ROOMSD_LIMIT_WRITES", "100/s:500", "how fast each API key, and each client address, may make other changes through the REST API (POST, PATCH, DELETE); reads are not limited"},
		{"limit-connects", "rate", "ROOMSD_LIMIT_CONNECTS", "20/s:100", "how fast each client address may open signaling connections (joins and resumes)"},
		{"max-sockets", "number", "ROOMSD_MAX_SOCKETS", "10000", "signaling connections this server holds at once; past it, 503 with Retry-After (0: no cap)"},
		{"max-participants", "number", "ROOMSD_MAX_PARTICIPANTS", "1000", "participants this server's media holds at once, in all rooms; past it, joins are refused as unavailable (0: no cap)"},
		{"trusted-proxies", "list", "ROOMSD_TRUSTED_PROXIES", "", "comma-separated addresses or CIDR blocks (10.0.0.0/8) of reverse proxies whose X-Forwarded-For names the client, for the per-address limits; empty: the connection's peer is the client"},
		{"debug-addr", "host:port", "ROOMSD_DEBUG_ADDR", "", "host:port of a second listener serving Go's profiler (/debug/pprof/) WITHOUT authentication, e.g. 127.0.0.1:6060; keep it off the network; empty: off"},
		{"data-dir", "dir", "ROOMSD_DATA_DIR", "", "directory for recordings and compositions, created on start and checked writable; empty: roomsd-data beside the SQLite file, or in the working directory with PostgreSQL"},
		{"public-url", "url", "ROOMSD_PUBLIC_URL", "", "the server's address as clients reach it (https://rooms.example.com), used in download links; empty: http:// and the listen address"},
		{"download-url-ttl", "duration", "ROOMSD_DOWNLOAD_URL_TTL", "1h", "how long a signed download link (download_url of a recording or composition, as shown by the API or a webhook) stays valid"},
		{"compose-workers", "number", "ROOMSD_COMPOSE_WORKERS", "1", "how many compositions this server renders at once, each with an ffmpeg process (Debian package ffmpeg); 0: this server renders none"},
	}
}

// PrintSettings writes every setting: its flag, the kind of its value,
// what it does, its environment variable and its default, once.
func PrintSettings(out io.Writer) {
	for _, s := range settings() {
		def := s.def
		if def == "" {
			def = "empty"
		}
		fmt.Fprintf(out, "  --%s %s\n", s.flag, s.kind)
		fmt.Fprintf(out, "      %s\n      (%s; default: %s)\n", s.usage, s.env, def)
	}
}

// Load parses args (without the program and command names) over the
// environment read through getenv. Usage and errors go to out.
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("roomsd serve", flag.ContinueOnError)
	fs.SetOutput(out)
	vals := map[string]*string{}
	for _, s := range settings() {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		} else if s.env == "ROOMSD_ACME_DOMAINS" && getenv("ROOMSD_ACME_DOMAIN") != "" {
			def = getenv("ROOMSD_ACME_DOMAIN") // the singular, for one domain
		}
		vals[s.flag] = fs.String(s.flag, def, s.usage)
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: roomsd serve [flags]\n\nRuns the roomsd server (REST API, signaling, media, webhooks) until SIGINT or SIGTERM.\n"+
			"Each flag can also be set by its ROOMSD_* environment variable; a flag wins.\n\nFlags:\n")
		PrintSettings(out)
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	r := reader{vals: vals}
	c := Config{
		Addr:             r.str("addr"),
		DB:               r.str("db"),
		LogFormat:        r.str("log-format"),
		TokenKey:         r.str("token-key"),
		APIKeys:          r.list("api-keys"),
		CORSOrigins:      r.list("cors-origins"),
		ListCache:        r.onOff("list-cache"),
		RTCUDPPort:       r.number("rtc-udp-port", 0, 65535, "a port number"),
		RTCPublicIP:      r.str("rtc-public-ip"),
		RTCICEServers:    r.list("rtc-ice-servers"),
		RTCLoopback:      r.onOff("rtc-loopback"),
		RTCTCP:           r.onOff("rtc-tcp"),
		TURN:             r.onOff("turn"),
		TURNPort:         r.number("turn-port", 0, 65535, "a port number"),
		TURNTLSPort:      r.number("turn-tls-port", 0, 65535, "a port number"),
		TURNHost:         r.str("turn-host"),
		EmptyTimeout:     r.duration("empty-timeout", false, "30s"),
		ReconnectGrace:   r.duration("reconnect-grace", false, "30s"),
		WebhookSecret:    r.str("webhook-secret"),
		WebhookTimeout:   r.duration("webhook-timeout", true, "10s"),
		WebhookBackoff:   r.duration("webhook-backoff", true, "2s"),
		WebhookRetention: r.duration("webhook-retention", false, "168h"),
		NodeID:           r.str("node-id"),
		NodeLease:        r.duration("node-lease", true, "5s"),
		KickBan:          r.duration("kick-ban", false, "10m"),
		WebhookAttempts:  r.number("webhook-attempts", 1, math.MaxInt, "a positive number"),
		ShutdownTimeout:  r.duration("shutdown-timeout", false, "15s"),
		DebugAddr:        r.str("debug-addr"),
		Metrics:          r.onOff("metrics"),
		MetricsToken:     r.str("metrics-token"),
		LimitTokens:      r.rate("limit-tokens"),
		LimitWrites:      r.rate("limit-writes"),
		LimitConnects:    r.rate("limit-connects"),
		MaxSockets:       r.number("max-sockets", 0, math.MaxInt32, "a number, 0 or more"),
		MaxParticipants:  r.number("max-participants", 0, math.MaxInt32, "a number, 0 or more"),
		TrustedProxies:   r.prefixes("trusted-proxies"),
		TLSCert:          r.str("tls-cert"),
		TLSKey:           r.str("tls-key"),
		ACMEDomains:      r.list("acme-domains"),
		ACMEEmail:        r.str("acme-email"),
		ACMEDirectory:    r.str("acme-directory"),
		ACMECA:           r.str("acme-ca"),
		HTTPAddr:         r.str("http-addr"),
		DataDir:          r.str("data-dir"),
		PublicURL:        strings.TrimRight(r.str("public-url"), "/"),
		DownloadTTL:      r.duration("download-url-ttl", true, "1h"),
		ComposeWorkers:   r.number("compose-workers", 0, maxComposeWorkers, fmt.Sprintf("a number from 0 to %d", maxComposeWorkers)),
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.str("log-level"))); err != nil {
		r.fail("log-level", "is not one of debug, info, warn, error")
	}
	if c.NodeLease > 0 && c.NodeLease < time.Second {
		r.fail("node-lease", "is shorter than 1s; heartbeats would load the database")
	}
	switch {
	case c.HTTPAddr == "off":
		c.HTTPAddr = ""
	case c.HTTPAddr == "" && len(c.ACMEDomains) > 0:
		c.HTTPAddr = ":80"
	}
	if c.RTCPublicIP != "" && net.ParseIP(c.RTCPublicIP) == nil {
		r.fail("rtc-public-ip", "is not an IP address")
	}
	if r.err != nil {
		return c, r.err
	}
	return c, c.Validate()
}

// reader reads settings by flag name and keeps the first error, which
// names the variable and the flag: ROOMSD_X_Y/--x-y: "value" is not ....
type reader struct {
	vals map[string]*string
	err  error
}

func (r *reader) str(name string) string { return *r.vals[name] }

func (r *reader) fail(name, what string) {
	if r.err == nil {
		env := "ROOMSD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		r.err = fmt.Errorf("%s/--%s: %q %s", env, name, r.str(name), what)
	}
}

// list splits a comma-separated setting, dropping blanks.
func (r *reader) list(name string) []string {
	var out []string
	for _, v := range strings.Split(r.str(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// rate reads a rate limit (limit.ParseRate).
func (r *reader) rate(name string) limit.Rate {
	rt, err := limit.ParseRate(r.str(name))
	if err != nil {
		r.fail(name, err.Error())
	}
	return rt
}

// prefixes reads a list of addresses and CIDR blocks.
func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range r.list(name) {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				r.fail(name, "has "+strconv.Quote(v)+", which is neither an address nor a CIDR block")
				return nil
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

func (r *reader) onOff(name string) bool {
	switch r.str(name) {
	case "on":
		return true
	case "off":
	default:
		r.fail(name, "is not on or off")
	}
	return false
}

func (r *reader) number(name string, lo, hi int, what string) int {
	n, err := strconv.Atoi(r.str(name))
	if err != nil || n < lo || n > hi {
		r.fail(name, "is not "+what)
	}
	return n
}

// duration reads a non-negative duration, or with positive a duration
// above zero; example goes into the error.
func (r *reader) duration(name string, positive bool, example string) time.Duration {
	d, err := time.ParseDuration(r.str(name))
	switch {
	case positive && (err != nil || d <= 0):
		r.fail(name, "is not a positive duration such as "+example)
	case err != nil || d < 0:
		r.fail(name, "is not a duration such as "+example)
	}
	return d
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("ROOMSD_ADDR/--addr: %q is not host:port, e.g. 127.0.0.1:8080", c.Addr)
	}
	if c.DB == "" {
		return errors.New("ROOMSD_DB/--db: empty; give a SQLite file path such as ./roomsd.db")
	}
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			return fmt.Errorf("ROOMSD_DEBUG_ADDR/--debug-addr: %q is not host:port, e.g. 127.0.0.1:6060", c.DebugAddr)
		}
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return fmt.Errorf("ROOMSD_HTTP_ADDR/--http-addr: %q is not host:port, e.g. :80", c.HTTPAddr)
		}
		if !c.TLS() {
			return errors.New("ROOMSD_HTTP_ADDR/--http-addr: a plain-HTTP listener beside HTTPS needs HTTPS: set ROOMSD_TLS_CERT and ROOMSD_TLS_KEY, or ROOMSD_ACME_DOMAINS")
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("ROOMSD_TLS_CERT/--tls-cert and ROOMSD_TLS_KEY/--tls-key go together: give both")
	}
	if c.TLSCert != "" && len(c.ACMEDomains) > 0 {
		return errors.New("ROOMSD_TLS_CERT and ROOMSD_ACME_DOMAINS: give a certificate or ACME domains, not both")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("ROOMSD_LOG_FORMAT/--log-format: %q is not text or json", c.LogFormat)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("ROOMSD_PUBLIC_URL/--public-url: %q is not an http(s) address such as https://rooms.example.com", c.PublicURL)
		}
	}
	if _, err := cors.New(c.CORSOrigins); err != nil {
		return fmt.Errorf("ROOMSD_CORS_ORIGINS/--cors-origins: %w", err)
	}
	return nil
}

// TLS reports whether the listen address serves HTTPS.
func (c Config) TLS() bool { return c.TLSCert != "" || len(c.ACMEDomains) > 0 }

// IsPostgres reports whether DB names a PostgreSQL database.
func (c Config) IsPostgres() bool {
	return strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://")
}
