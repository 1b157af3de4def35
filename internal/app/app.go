// Package app is the composition root: it opens the store, settles the API
// keys, builds the services and the HTTP server, and owns start and stop.
// Only cmd/roomsd imports it.
package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomsd/roomsd/internal/api"
	"github.com/roomsd/roomsd/internal/auth"
	"github.com/roomsd/roomsd/internal/blob"
	"github.com/roomsd/roomsd/internal/cluster"
	"github.com/roomsd/roomsd/internal/compose"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/cors"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/download"
	"github.com/roomsd/roomsd/internal/health"
	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/janus"
	"github.com/roomsd/roomsd/internal/limit"
	"github.com/roomsd/roomsd/internal/metrics"
	"github.com/roomsd/roomsd/internal/mix"
	"github.com/roomsd/roomsd/internal/participants"
	"github.com/roomsd/roomsd/internal/recording"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/sfu"
	"github.com/roomsd/roomsd/internal/signal"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/postgres"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/tlsconf"
	"github.com/roomsd/roomsd/internal/token"
	"github.com/roomsd/roomsd/internal/turnserver"
	"github.com/roomsd/roomsd/internal/web"
	"github.com/roomsd/roomsd/internal/webhook"
)

// App is a configured, not yet serving, roomsd.
type App struct {
	cfg          config.Config
	log          *slog.Logger
	store        store.Store
	handler      http.Handler
	udp          net.PacketConn
	tcp          net.Listener       // nil: no ICE-TCP
	relay        *turnserver.Server // nil: no TURN
	media        *sfu.Manager
	participants *participants.Service
	rooms        *rooms.Service
	hooks        *webhook.Dispatcher
	recorder     *recording.Service
	mixer        *mix.Mixer
	composer     *compose.Pool
	node         *cluster.Node
	files        *blob.Dir
	links        *download.Signer
	certs        *tlsconf.Server // nil: plain HTTP
	// closing is set once shutdown begins: /readyz says not ready.
	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Options carries what the process provides besides configuration.
type Options struct {
	// Stdout receives the one-time message with a newly created API key.
	Stdout io.Writer
	Logger *slog.Logger
	// RoomOptions tune the rooms service (tests pass a clock).
	RoomOptions []rooms.Option
}

// New opens the database, migrates it and prepares the API. Close the App
// (or let Serve return) to release the database.
func New(ctx context.Context, cfg config.Config, opts Options) (_ *App, err error) {
	policy, err := cors.New(cfg.CORSOrigins)
	if err != nil {
		return nil, fmt.Errorf("ROOMSD_CORS_ORIGINS: %w", err)
	}
	sqliteOpts := []sqlite.Option{sqlite.WithLogger(opts.Logger)}
	if !cfg.ListCache {
		sqliteOpts = append(sqliteOpts, sqlite.WithoutListCache())
	}
	st, err := openStore(ctx, cfg, sqliteOpts...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	keys, err := keyring(ctx, cfg, st, opts.Stdout)
	if err != nil {
		return nil, err
	}
	signer, err := tokenSigner(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	hookSigner, err := webhookSigner(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	files, err := blob.OpenDir(dataDir(cfg))
	if err != nil {
		return nil, fmt.Errorf("%w (set ROOMSD_DATA_DIR to a writable directory)", err)
	}
	links, err := downloadSigner(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	certs, err := tlsconf.New(tlsconf.Config{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, ACMEDomains: cfg.ACMEDomains,
		ACMEEmail: cfg.ACMEEmail, ACMEDirectory: cfg.ACMEDirectory, ACMECAFile: cfg.ACMECA,
		CacheDir: filepath.Join(files.Root(), "acme"), Log: opts.Logger})
	if err != nil {
		return nil, err
	}
	node := nodeID(cfg, files)
	hooks := webhook.New(st, hookSigner, webhook.Config{DefaultTimeout: cfg.WebhookTimeout, MaxAttempts: cfg.WebhookAttempts,
		BaseBackoff: cfg.WebhookBackoff, Retention: cfg.WebhookRetention, SignURL: links.Sign, Node: node}, opts.Logger)
	udp, tcp, err := listenMedia(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			udp.Close()
			if tcp != nil {
				tcp.Close()
			}
		}
	}()
	relay, turnURLs, err := startTURN(ctx, cfg, st, certs, udp.LocalAddr().(*net.UDPAddr).Port, opts.Logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && relay != nil {
			relay.Close()
		}
	}()
	iceServers := parseICEServers(cfg.RTCICEServers)
	var (
		svc      *rooms.Service
		recorder *recording.Service
		composer *compose.Pool
		members  *cluster.Node
		mixer    *mix.Mixer
	)
	media, err := sfu.NewManager(sfu.Config{
		OnPublish: func(t sfu.PublishedTrack) {
			recorder.Published(t)
			mixer.Published(t)
		},
		UDP: udp, TCP: tcp, PublicIP: cfg.RTCPublicIP, ICEServers: iceServers, Loopback: cfg.RTCLoopback,
		EmptyTimeout: cfg.EmptyTimeout,
		OnEmpty: func(roomID string) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := svc.EndRoomSession(ctx, roomID, domain.ReasonEmpty); err != nil {
				opts.Logger.Error("end empty session; it is tried again", "room_id", roomID, "err", err)
				members.EndWhenEmpty(roomID)
			}
		},
	}, opts.Logger)
	if err != nil {
		return nil, err
	}
	mixer = mix.New(media, opts.Logger)
	recorderHook := &recordingToggle{}
	// On PostgreSQL several nodes may share the database: each holds the
	// sessions it opened for as long as it renews its heartbeat.
	var lease time.Duration
	if cfg.IsPostgres() {
		lease = cfg.NodeLease
	}
	svc = rooms.New(st, append([]rooms.Option{rooms.WithLogger(opts.Logger), rooms.WithKickBan(cfg.KickBan), rooms.WithSigner(signer), rooms.WithMedia(media), rooms.WithNode(node), rooms.WithNodeLease(lease),
		rooms.WithEventNotifier(hooks.Notify), rooms.WithFiles(files), rooms.WithRecorder(recorderHook),
		rooms.WithCompositionNotifier(func() { composer.Notify() })}, opts.RoomOptions...)...)
	n, err := svc.EndStaleSessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("end sessions left active by the last run: %w", err)
	}
	if n > 0 {
		opts.Logger.Info("ended sessions left active by the last run", "sessions", n)
	}
	recorder = recording.New(recording.Config{Media: media, Rooms: svc, Files: files, Log: opts.Logger,
		URL: func(id string) string { return links.URL(download.Recordings, id) }})
	recorderHook.s = recorder
	done, failed, err := recorder.Recover(ctx)
	if err != nil {
		return nil, fmt.Errorf("settle recordings left unfinished by the last run: %w", err)
	}
	if done+failed > 0 {
		opts.Logger.Info("settled recordings left unfinished by the last run", "completed", done, "failed", failed)
	}
	// Compositions render once the recordings they use are settled; a
	// job the last run left enqueued, or processing under a lease that
	// has passed, is picked up again.
	composer = compose.New(compose.Config{Rooms: svc, Files: files, Workers: cfg.ComposeWorkers, Log: opts.Logger,
		URL: func(id string) string { return links.URL(download.Compositions, id) }})
	people := participants.New(svc, media, opts.Logger, cfg.MaxParticipants)
	// The sweep (reconcile every live room, take over lost nodes) runs
	// every lease; alone on its database, every 5 s.
	members = cluster.New(cluster.Config{Store: st, Rooms: svc, Lease: lease, Sweep: lease, RetryLeaves: people.RetryLeaves, Log: opts.Logger,
		Node: domain.Node{ID: node, MediaAddr: mediaAddr(cfg, udp)}})
	clients := httpx.ClientAddr{Trusted: cfg.TrustedProxies}
	connects := limit.NewKeyed(cfg.LimitConnects) // both signaling fronts
	sigOpts := []signal.Option{signal.WithLimits(connects, clients, cfg.MaxSockets)}
	if relay != nil {
		// Each participant gets TURN credentials of its own, for a day
		// (a meeting's relay renews its allocation with them).
		sigOpts = append(sigOpts, signal.WithICEServers(func(participantID string) []webrtc.ICEServer {
			user, pass := relay.Credentials(participantID, 24*time.Hour)
			return []webrtc.ICEServer{{URLs: turnURLs, Username: user, Credential: pass}}
		}))
	}
	sig := signal.New(svc, people, media, opts.Logger, cfg.ReconnectGrace, iceServers, sigOpts...)
	a := &App{cfg: cfg, log: opts.Logger, store: st, udp: udp, tcp: tcp, media: media, certs: certs, relay: relay,
		participants: people, rooms: svc, hooks: hooks, recorder: recorder, mixer: mixer, composer: composer, files: files, links: links,
		node: members}
	mux := http.NewServeMux()
	mux.Handle("GET /v2/rooms/{room_id}/connect", sig)
	// The Janus API of the @telnyx/video browser SDK, where it looks for
	// it: wss://<host>/<room id>/janus.
	front := janus.New(svc, people, media, mixer, opts.Logger, janus.WithLimits(connects, clients, cfg.MaxSockets))
	mux.Handle("GET /{room_id}/janus", front)
	// For orchestrators and monitoring: public, cheap.
	mux.Handle("GET /healthz", health.Alive())
	mux.Handle("GET /readyz", health.Ready(
		health.Check{Name: "database", Fn: st.Ready},
		health.Check{Name: "media", Fn: a.mediaReady},
	))
	var handler http.Handler = httpx.RouteOf(mux, mux)
	if cfg.Metrics {
		m := metrics.New(metrics.Sources{Media: media.Stats, Signal: sig.Stats, Janus: front.Stats, Tokens: svc.TokenStats, Webhooks: hooks.Stats,
			Pending: hooks.Pending}, cfg.MetricsToken, opts.Logger)
		mux.Handle("GET /metrics", m.Handler())
		handler = m.Instrument(handler)
	}
	// The meeting page (/ and /join) and its script and style are public;
	// every other path is the REST API's, with its API key and JSON errors.
	page := web.New(web.WithPeers(members.Peers))
	for _, p := range web.Paths {
		mux.Handle("GET "+p, page)
	}
	mux.Handle("/", api.New(svc, keys, opts.Logger, api.WithWebhookPublicKey(hookSigner.PublicKey()), api.WithPublicURL(PublicURL(cfg)),
		api.WithDownloads(links, files), api.WithLimits(api.Limits{Tokens: limit.NewKeyed(cfg.LimitTokens), Writes: limit.NewKeyed(cfg.LimitWrites),
			Client: clients})))
	hooks.Start()
	composer.Start()
	if certs != nil {
		handler = hsts(handler)
	}
	a.handler = httpx.Guard(policy.Wrap(handler))
	return a, nil
}

// hsts tells browsers to come back over HTTPS only, for a year: the
// listener serves nothing else.
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		next.ServeHTTP(w, r)
	})
}

// ReloadTLS reads the certificate files again (SIGHUP). Meetings go on:
// only new connections see the new certificate.
func (a *App) ReloadTLS() error {
	if a.certs == nil {
		return nil
	}
	return a.certs.Reload()
}

// mediaReady reports whether the media server takes participants: it
// does from New, which binds its port or fails, until shutdown begins.
func (a *App) mediaReady(context.Context) error {
	if a.closing.Load() {
		return errors.New("the server is shutting down")
	}
	return nil
}

// listenMedia binds the media port: UDP, and (ROOMSD_RTC_TCP) TCP on the
// same port number for ICE over TCP. Port 0 picks a number free for both.
func listenMedia(cfg config.Config) (net.PacketConn, net.Listener, error) {
	host := ""
	if cfg.RTCLoopback {
		host = "127.0.0.1"
	}
	udp, tcp, err := listenBoth(host, cfg.RTCUDPPort, cfg.RTCTCP)
	switch {
	case errors.Is(err, errTCPPort):
		return nil, nil, fmt.Errorf("media %w (free it, or set ROOMSD_RTC_TCP=off)", err)
	case err != nil:
		return nil, nil, fmt.Errorf("media %w (set ROOMSD_RTC_UDP_PORT to a free port)", err)
	}
	// Every participant's media arrives on this one socket: ask for a
	// large receive buffer (the kernel caps it at net.core.rmem_max).
	if uc, ok := udp.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(8 << 20)
		_ = uc.SetWriteBuffer(8 << 20)
	}
	return udp, tcp, nil
}

// errTCPPort marks listenBoth's failure to take the TCP port.
var errTCPPort = errors.New("TCP port")

// listenBoth binds a UDP port and, with tcp, the TCP port of the same
// number; port 0 picks a number free for both.
func listenBoth(host string, port int, tcp bool) (net.PacketConn, net.Listener, error) {
	for attempt := 0; ; attempt++ {
		addr := net.JoinHostPort(host, fmt.Sprint(port))
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("UDP port %s: %w", addr, err)
		}
		if !tcp {
			return udp, nil, nil
		}
		tcpAddr := net.JoinHostPort(host, fmt.Sprint(udp.LocalAddr().(*net.UDPAddr).Port))
		ln, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			return udp, ln, nil
		}
		udp.Close()
		if port != 0 || attempt == 20 {
			return nil, nil, fmt.Errorf("%w %s: %w", errTCPPort, tcpAddr, err)
		}
		// The number picked for UDP is taken for TCP: pick another.
	}
}

// startTURN starts the embedded TURN server when cfg asks for it, and
// returns it with the URLs participants are given.
func startTURN(ctx context.Context, cfg config.Config, st store.Store, certs *tlsconf.Server, mediaPort int, log *slog.Logger) (*turnserver.Server, []string, error) {
	if !cfg.TURN {
		return nil, nil, nil
	}
	bind, relayIP := "", net.ParseIP(cfg.RTCPublicIP)
	if cfg.RTCLoopback {
		bind, relayIP = "127.0.0.1", net.IPv4(127, 0, 0, 1)
	}
	if relayIP == nil {
		return nil, nil, errors.New("ROOMSD_TURN: the embedded TURN server needs ROOMSD_RTC_PUBLIC_IP, the address its relays are announced at")
	}
	host := cfg.TURNHost
	switch {
	case host != "":
	case len(cfg.ACMEDomains) > 0:
		host = cfg.ACMEDomains[0]
	default:
		host = relayIP.String()
	}
	key, err := storedKey(ctx, st, "turn")
	if err != nil {
		return nil, nil, err
	}
	udp, tcp, err := listenBoth(bind, cfg.TURNPort, true)
	if err != nil {
		return nil, nil, fmt.Errorf("TURN %w (set ROOMSD_TURN_PORT to a free port)", err)
	}
	port := udp.LocalAddr().(*net.UDPAddr).Port
	urls := []string{fmt.Sprintf("turn:%s?transport=udp", net.JoinHostPort(host, fmt.Sprint(port))),
		fmt.Sprintf("turn:%s?transport=tcp", net.JoinHostPort(host, fmt.Sprint(port)))}
	var tlsLn net.Listener
	if certs != nil && cfg.TURNTLSPort != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(bind, fmt.Sprint(cfg.TURNTLSPort)))
		if err != nil {
			udp.Close()
			tcp.Close()
			return nil, nil, fmt.Errorf("TURN TLS port %d: %w (set ROOMSD_TURN_TLS_PORT to a free port, or 0)", cfg.TURNTLSPort, err)
		}
		tlsLn = tls.NewListener(ln, certs.TLSConfig())
		urls = append(urls, fmt.Sprintf("turns:%s?transport=tcp", net.JoinHostPort(host, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))))
	}
	s, err := turnserver.New(turnserver.Config{UDP: udp, TCP: tcp, TLS: tlsLn, RelayIP: relayIP, RelayBind: bind,
		Peer: &net.UDPAddr{IP: relayIP, Port: mediaPort}, Secret: key.Seed(), Realm: "roomsd", Log: log})
	if err != nil {
		udp.Close()
		tcp.Close()
		if tlsLn != nil {
			tlsLn.Close()
		}
		return nil, nil, err
	}
	log.Info("TURN server listening", "urls", urls)
	return s, urls, nil
}

// mediaAddr is the address the node's media is reached at, as the node
// registry shows it.
func mediaAddr(cfg config.Config, udp net.PacketConn) string {
	addr := udp.LocalAddr().(*net.UDPAddr)
	if cfg.RTCPublicIP != "" {
		return net.JoinHostPort(cfg.RTCPublicIP, fmt.Sprint(addr.Port))
	}
	return addr.String()
}

// StartNode starts the node's work among those sharing the database:
// its registration with url (its base URL as clients reach it, where
// joins for its rooms are sent) and heartbeat on PostgreSQL, and the
// reconciler of its media with the database. Serve calls it; a test that
// serves Handler itself calls it once listening.
func (a *App) StartNode(ctx context.Context, url string) error {
	a.node.SetURL(url)
	if err := a.node.Start(ctx); err != nil {
		return fmt.Errorf("register this node in the database: %w", err)
	}
	return nil
}

// recordingToggle passes changes of enable_recording on to the recorder,
// which is built after the rooms service it serves.
type recordingToggle struct{ s *recording.Service }

func (t *recordingToggle) SetRecording(roomID string, on bool) { t.s.SetRecording(roomID, on) }

func (t *recordingToggle) Ensure(roomID string, on bool) { t.s.Ensure(roomID, on) }

// nodeID names this server among those sharing the database:
// ROOMSD_NODE_ID, or the host name and the data directory, which stay
// the same across restarts.
func nodeID(cfg config.Config, files *blob.Dir) string {
	if cfg.NodeID != "" {
		return cfg.NodeID
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return host + ":" + files.Root()
}

// dataDir is where recordings and compositions are kept: ROOMSD_DATA_DIR,
// or roomsd-data beside the SQLite file (in the working directory with
// PostgreSQL).
func dataDir(cfg config.Config) string {
	if cfg.DataDir != "" {
		return cfg.DataDir
	}
	if cfg.IsPostgres() {
		return "roomsd-data"
	}
	return filepath.Join(filepath.Dir(cfg.DB), "roomsd-data")
}

// PublicURL is how clients reach the server: ROOMSD_PUBLIC_URL, or the
// first ACME domain (on the listen port unless it is 443), or http:// (or
// https:// with a certificate) and the listen address (127.0.0.1 for an
// address that names no host).
func PublicURL(cfg config.Config) string {
	if cfg.PublicURL != "" {
		return cfg.PublicURL
	}
	scheme := "http://"
	if cfg.TLS() {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return scheme + cfg.Addr
	}
	if len(cfg.ACMEDomains) > 0 {
		if port == "443" {
			return scheme + cfg.ACMEDomains[0]
		}
		return scheme + net.JoinHostPort(cfg.ACMEDomains[0], port)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + net.JoinHostPort(host, port)
}

// downloadSigner is the signer of download links, keyed by a secret kept
// in the database (created on first start), so every node of a cluster
// signs alike.
func downloadSigner(ctx context.Context, cfg config.Config, st store.Store) (*download.Signer, error) {
	key, err := storedKey(ctx, st, "download")
	if err != nil {
		return nil, err
	}
	ttl := cfg.DownloadTTL
	if ttl == 0 {
		ttl = time.Hour
	}
	s, err := download.New(key.Seed(), PublicURL(cfg), ttl)
	if err != nil {
		return nil, fmt.Errorf("ROOMSD_PUBLIC_URL: %w", err)
	}
	return s, nil
}

// Links signs download links as the API shows them (tests build links of
// their own, an expired one say).
func (a *App) Links() *download.Signer { return a.links }

// Files is where recordings and compositions are kept.
func (a *App) Files() *blob.Dir { return a.files }

// openStore opens the database cfg names: PostgreSQL for a postgres:// or
// postgresql:// URL (opts, which tune the SQLite store, do not apply),
// a SQLite file otherwise.
func openStore(ctx context.Context, cfg config.Config, opts ...sqlite.Option) (store.Store, error) {
	if cfg.IsPostgres() {
		st, err := postgres.Open(ctx, cfg.DB)
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", redacted(cfg.DB), err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, cfg.DB, opts...)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", cfg.DB, err)
	}
	return st, nil
}

// redacted is a database URL without its password, fit for a message.
func redacted(db string) string {
	u, err := url.Parse(db)
	if err != nil {
		return "(an unparsable PostgreSQL URL)"
	}
	return u.Redacted()
}

// parseICEServers reads STUN/TURN URLs; turn:user:pass@host:port carries
// TURN credentials.
func parseICEServers(urls []string) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, u := range urls {
		s := webrtc.ICEServer{URLs: []string{u}}
		if scheme, rest, ok := strings.Cut(u, ":"); ok && strings.HasPrefix(scheme, "turn") {
			if creds, host, ok := strings.Cut(rest, "@"); ok {
				user, pass, _ := strings.Cut(creds, ":")
				s = webrtc.ICEServer{URLs: []string{scheme + ":" + host}, Username: user, Credential: pass}
			}
		}
		out = append(out, s)
	}
	return out
}

// MediaParticipants lists who is connected to a room's media right now.
func (a *App) MediaParticipants(roomID string) []string { return a.media.Participants(roomID) }

// MediaAddr is the UDP address that carries WebRTC media.
func (a *App) MediaAddr() net.Addr { return a.udp.LocalAddr() }

// keyring settles which API keys are accepted. Configured keys win; with
// none configured, the keys stored in the database are used, and on the
// very first start one is created and shown once.
func keyring(ctx context.Context, cfg config.Config, st store.Store, stdout io.Writer) (*auth.Keyring, error) {
	if len(cfg.APIKeys) > 0 {
		return auth.NewKeyring(cfg.APIKeys, nil), nil
	}
	hashes, err := st.APIKeyHashes(ctx)
	if err != nil {
		return nil, fmt.Errorf("read API keys: %w", err)
	}
	if len(hashes) > 0 {
		return auth.NewKeyring(nil, hashes), nil
	}
	key, err := auth.NewKey()
	if err != nil {
		return nil, fmt.Errorf("create API key: %w", err)
	}
	if err := st.InsertAPIKeyHash(ctx, auth.Hash(key), time.Now()); err != nil {
		return nil, fmt.Errorf("store API key: %w", err)
	}
	fmt.Fprintf(stdout, `
roomsd created an API key for this database. It is shown only this once; keep it:

    %s

Use it as a bearer token, e.g.
    curl -H "Authorization: Bearer %s" http://%s/v2/rooms
or with the Telnyx SDKs:
    export TELNYX_BASE_URL=http://%s/v2 TELNYX_API_KEY=%s

`, key, key, cfg.Addr, cfg.Addr, key)
	return auth.NewKeyring(nil, [][]byte{auth.Hash(key)}), nil
}

// tokenSigner settles the key that signs client tokens: ROOMSD_TOKEN_KEY
// when given, else the one stored in the database, created on first start.
func tokenSigner(ctx context.Context, cfg config.Config, st store.Store) (*token.Signer, error) {
	if cfg.TokenKey != "" {
		key, err := token.ParseSeed(cfg.TokenKey)
		if err != nil {
			return nil, fmt.Errorf("ROOMSD_TOKEN_KEY: %w", err)
		}
		return token.NewSigner(key, nil), nil
	}
	key, err := storedKey(ctx, st, "token")
	if err != nil {
		return nil, err
	}
	return token.NewSigner(key, nil), nil
}

// Handler is the full HTTP handler, for tests that serve it themselves.
func (a *App) Handler() http.Handler { return a.handler }

// Close disconnects everyone (telling them the server is shutting down),
// ends this server's sessions, sends their webhooks (for up to the
// shutdown timeout), lets webhook attempts in flight finish, and releases
// the media port and the database.
func (a *App) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.close() })
	return a.closeErr
}

func (a *App) close() error {
	a.closing.Store(true)
	a.media.Close(domain.ReasonShutdown)
	a.mixer.Close()
	// The tracks ended with their participants: recordings finish their
	// files and rows before the database closes.
	a.recorder.Close()
	// Renders in progress stop; their compositions go back to the queue.
	a.composer.Close()
	a.participants.Wait()
	// The sessions this server held end now, not at its next start.
	grace := a.cfg.ShutdownTimeout
	if grace <= 0 {
		grace = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if n, err := a.rooms.EndOwnSessions(ctx, domain.ReasonShutdown); err != nil {
		a.log.Error("end this server's sessions at shutdown; the next start ends them", "err", err)
	} else if n > 0 {
		a.log.Info("ended this server's sessions at shutdown", "sessions", n)
	}
	a.hooks.Flush(ctx)
	a.node.Close()
	a.hooks.Stop()
	if a.relay != nil {
		a.relay.Close()
	}
	a.udp.Close()
	if a.tcp != nil {
		a.tcp.Close()
	}
	return a.store.Close()
}

// webhookSigner loads (or creates, on first start) the Ed25519 key that
// signs webhooks, and reads the Standard Webhooks secret if configured.
func webhookSigner(ctx context.Context, cfg config.Config, st store.Store) (*webhook.Signer, error) {
	var secret []byte
	if cfg.WebhookSecret != "" {
		var err error
		if secret, err = webhook.ParseSecret(cfg.WebhookSecret); err != nil {
			return nil, fmt.Errorf("ROOMSD_WEBHOOK_SECRET: %w", err)
		}
	}
	key, err := storedKey(ctx, st, "webhook")
	if err != nil {
		return nil, err
	}
	return webhook.NewSigner(key, secret), nil
}

// storedKey returns the Ed25519 key kept for a purpose, creating it the
// first time.
func storedKey(ctx context.Context, st store.Store, purpose string) (ed25519.PrivateKey, error) {
	seed, err := st.SigningKeySeed(ctx, purpose)
	if errors.Is(err, domain.ErrNotFound) {
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("create %s signing key: %w", purpose, err)
		}
		key := ed25519.NewKeyFromSeed(seed)
		if err := st.InsertSigningKeySeed(ctx, purpose, token.NewSigner(key, nil).KeyID(), seed, time.Now()); err != nil {
			return nil, fmt.Errorf("store %s signing key: %w", purpose, err)
		}
		// Read it back: a server that started at the same moment may have
		// stored its own first, and every server must sign with one key.
		if seed, err = st.SigningKeySeed(ctx, purpose); err != nil {
			return nil, fmt.Errorf("read %s signing key: %w", purpose, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s signing key: %w", purpose, err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("the stored %s signing key is %d bytes, want %d; the database is damaged", purpose, len(seed), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// profiler serves Go's runtime profiles (net/http/pprof) on a mux of its
// own, for ROOMSD_DEBUG_ADDR.
func profiler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// HTTPServer is the configured http.Server of this App: its handler,
// timeouts and header limit. Requests' contexts derive from ctx without
// its cancellation. Serve it on a listener wrapped by httpx.Listener, as
// Serve does, so that net/http's own error answers are JSON too.
func (a *App) HTTPServer(ctx context.Context) *http.Server {
	return &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    httpx.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// Serve answers HTTP on ln until ctx is cancelled, then lets in-flight
// requests finish (up to the shutdown timeout) and closes the database.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := a.HTTPServer(ctx)
	scheme := "http://"
	if a.certs != nil {
		scheme = "https://"
		// TLS inside the JSON rewriting of net/http's own answers (see
		// httpx.Listener).
		ln = tls.NewListener(ln, a.certs.TLSConfig())
	}
	url := a.cfg.PublicURL
	if url == "" {
		url = scheme + ln.Addr().String()
		if len(a.cfg.ACMEDomains) > 0 {
			url = PublicURL(a.cfg)
		}
	}
	if err := a.StartNode(ctx, url); err != nil {
		a.Close()
		return err
	}
	if a.cfg.HTTPAddr != "" {
		hln, err := net.Listen("tcp", a.cfg.HTTPAddr)
		if err != nil {
			a.Close()
			return fmt.Errorf("plain-HTTP listener on %s: %w (set ROOMSD_HTTP_ADDR to a free address, or off)", a.cfg.HTTPAddr, err)
		}
		hsrv := a.redirectServer(url)
		go hsrv.Serve(httpx.Listener(hln))
		defer hsrv.Close()
		a.log.Info("redirecting plain HTTP to HTTPS", "addr", hln.Addr().String(), "acme_http_01", len(a.cfg.ACMEDomains) > 0)
	}
	a.log.Info("roomsd listening", "url", scheme+ln.Addr().String()+"/v2", "meeting_page", url+"/",
		"db", DatabaseName(a.cfg), "media_udp", a.udp.LocalAddr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(httpx.Listener(ln)) }()
	if a.cfg.DebugAddr != "" {
		dbg, err := net.Listen("tcp", a.cfg.DebugAddr)
		if err != nil {
			srv.Close()
			<-errc
			a.Close()
			return fmt.Errorf("debug listener on %s: %w (set ROOMSD_DEBUG_ADDR to a free address, or empty)", a.cfg.DebugAddr, err)
		}
		// A CPU profile or trace runs for the seconds it asks for (at
		// most a few minutes here); the other timeouts are as usual.
		dsrv := &http.Server{Handler: profiler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
		go dsrv.Serve(dbg)
		defer dsrv.Close()
		a.log.Warn("profiler listening without authentication", "url", "http://"+dbg.Addr().String()+"/debug/pprof/")
	}

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		a.log.Info("shutting down", "grace", a.cfg.ShutdownTimeout)
		a.closing.Store(true)
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		serveErr = srv.Shutdown(sctx)
		cancel()
		if serveErr != nil {
			srv.Close()
		}
		<-errc
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	// Participants are disconnected after the API has drained, so that
	// their leaves are recorded before the database closes.
	if err := a.Close(); err != nil {
		serveErr = errors.Join(serveErr, fmt.Errorf("close database: %w", err))
	}
	a.log.Info("stopped")
	return serveErr
}

// redirectServer serves the plain-HTTP listener beside HTTPS: ACME
// HTTP-01 challenges, and a permanent redirect to the same path at base
// (the public HTTPS address) for everything else.
func (a *App) redirectServer(base string) *http.Server {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, base+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
	return &http.Server{Handler: httpx.Guard(a.certs.HTTPHandler(redirect)), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: httpx.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
}

// Keys are the public halves of the server's signing keys.
type Keys struct {
	// WebhookPublicKey verifies telnyx-signature-ed25519 (base64, 32 bytes).
	WebhookPublicKey string
	// TokenKeyID is the kid of the key that signs client tokens.
	TokenKeyID string
}

// ErrNoDatabase is returned by LoadKeys for a database no server has
// started on.
var ErrNoDatabase = errors.New("no roomsd database there")

// LoadKeys opens the database a server has started on and returns the
// public keys (creating a key the database lacks). It creates no
// database: one that does not exist yet is ErrNoDatabase. It starts
// nothing else.
func LoadKeys(ctx context.Context, cfg config.Config) (Keys, error) {
	if cfg.IsPostgres() {
		ok, err := postgres.Initialized(ctx, cfg.DB)
		if err != nil {
			return Keys{}, fmt.Errorf("open database %s: %w", redacted(cfg.DB), err)
		}
		if !ok {
			return Keys{}, fmt.Errorf("%s: %w (no roomsd tables); start the server on it once", redacted(cfg.DB), ErrNoDatabase)
		}
	} else if _, err := os.Stat(cfg.DB); errors.Is(err, os.ErrNotExist) {
		return Keys{}, fmt.Errorf("%s: %w (no such file); start the server on it once, or give the server's database", cfg.DB, ErrNoDatabase)
	}
	st, err := openStore(ctx, cfg, sqlite.WithoutListCache())
	if err != nil {
		return Keys{}, err
	}
	defer st.Close()
	hooks, err := webhookSigner(ctx, config.Config{}, st)
	if err != nil {
		return Keys{}, err
	}
	tokens, err := tokenSigner(ctx, cfg, st)
	if err != nil {
		return Keys{}, err
	}
	return Keys{WebhookPublicKey: hooks.PublicKey(), TokenKeyID: tokens.KeyID()}, nil
}

// DatabaseName is how a message names cfg's database: the SQLite path, or
// the PostgreSQL URL without its password.
func DatabaseName(cfg config.Config) string {
	if cfg.IsPostgres() {
		return redacted(cfg.DB)
	}
	return cfg.DB
}
