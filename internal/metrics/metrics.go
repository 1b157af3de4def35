// Package metrics exposes roomsd's numbers to Prometheus: HTTP requests
// by route and status with their latency, and what the media server,
// signaling, tokens and webhooks report, read when scraped. It reads the
// other packages' stats; none of them imports it.
package metrics

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/janus"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/sfu"
	"github.com/roomsd/roomsd/internal/signal"
	"github.com/roomsd/roomsd/internal/webhook"
)

// Sources are where the numbers come from, each read at every scrape.
// A nil source is left out.
type Sources struct {
	Media    func() sfu.Stats
	Signal   func() signal.Stats
	Janus    func() janus.Stats
	Tokens   func() rooms.TokenStats
	Webhooks func() webhook.Stats
	// Pending counts the webhook events waiting, from the database.
	Pending func(ctx context.Context) (int, error)
}

// Metrics is one registry of roomsd's metrics.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	token    string
	log      *slog.Logger
}

// New registers roomsd's metrics, the Go runtime's and the process's.
// token, if not empty, is the bearer token /metrics requires.
func New(src Sources, token string, log *slog.Logger) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), token: token, log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roomsd_http_requests_total",
			Help: "HTTP requests answered, by route pattern (\"other\": matched by no route) and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roomsd_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern (signaling sockets, which last a meeting, are left out).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.requests, m.latency, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &sourced{src: src, log: log})
	return m
}

// Instrument counts and times every request next serves, by the route
// pattern the muxes on its way note (httpx.RouteOf).
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, route := httpx.WithRouteSlot(r)
		sw := &httpx.StatusWriter{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(sw, r)
		name := *route
		if name == "" || name == "/" {
			name = "other"
		}
		code := sw.Status
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		if code != http.StatusSwitchingProtocols {
			m.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}
	})
}

// Handler serves the metrics in Prometheus's text format, to holders of
// the token when one is set.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{m.log}, Timeout: 10 * time.Second})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.token != "" {
			scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(m.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="roomsd metrics"`)
				httpx.WriteError(w, &httpx.Error{Status: http.StatusUnauthorized, Code: httpx.CodeAuthFailed, Title: "Authentication failed",
					Detail: "Send the metrics token (ROOMSD_METRICS_TOKEN) as 'Authorization: Bearer <token>'."})
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics", "err", fmt.Sprint(v...)) }

// sourced reads the sources at each scrape.
type sourced struct {
	src Sources
	log *slog.Logger
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descSessions     = desc("roomsd_sessions", "Room sessions with participants connected to this node's media server.")
	descParticipants = desc("roomsd_participants", "Participants connected (or connecting) to this node's media server.")
	descPublished    = desc("roomsd_tracks_published", "Tracks participants send to this node.")
	descSubscribed   = desc("roomsd_tracks_subscribed", "Tracks this node forwards to participants, one per subscriber.")
	descConnections  = desc("roomsd_media_connections", "Connected participants by the kind of their media path: remote ICE candidate type (host, srflx, prflx, relay) and transport.", "candidate", "transport")
	descPackets      = desc("roomsd_forwarded_packets_total", "RTP packets forwarded to subscribers.")
	descBytes        = desc("roomsd_forwarded_bytes_total", "RTP bytes (header and payload) forwarded to subscribers.")
	descNACKed       = desc("roomsd_nacked_packets_total", "Packets subscribers asked for again (NACK).")
	descResent       = desc("roomsd_retransmitted_packets_total", "Packets sent again in answer to NACKs.")
	descKeyframes    = desc("roomsd_keyframe_requests_total", "Keyframe requests (PLI) sent to publishers.")
	descSockets      = desc("roomsd_signaling_sockets", "Signaling WebSocket connections open now.")
	descRefused      = desc("roomsd_joins_refused_total", "Joins refused, by reason (the signaling error code).", "reason")
	descJanusSockets = desc("roomsd_janus_sockets", "Janus WebSocket connections (the @telnyx/video SDK) open now.")
	descJanusRefused = desc("roomsd_janus_refused_total", "Janus sessions and joins refused, by reason.", "reason")
	descMinted       = desc("roomsd_tokens_minted_total", "Client tokens minted: by the API (generate_join_client_token), by refresh, by opening a meeting link.", "via")
	descTokRefused   = desc("roomsd_tokens_refused_total", "Client tokens and meeting links refused (expired, forged, for another room, revoked), by what they were presented for.", "kind")
	descQueue        = desc("roomsd_webhook_queue_depth", "Webhook events waiting to be delivered (by any node sharing the database).")
	descAttempts     = desc("roomsd_webhook_attempts_total", "Webhook delivery attempts by this node, by outcome.", "outcome")
)

func (s *sourced) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descParticipants, descPublished, descSubscribed, descConnections, descPackets,
		descBytes, descNACKed, descResent, descKeyframes, descSockets, descRefused, descJanusSockets, descJanusRefused, descMinted, descTokRefused, descQueue, descAttempts} {
		ch <- d
	}
}

func (s *sourced) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if s.src.Media != nil {
		st := s.src.Media()
		gauge(descSessions, float64(st.Rooms))
		gauge(descParticipants, float64(st.Participants))
		gauge(descPublished, float64(st.PublishedTracks))
		gauge(descSubscribed, float64(st.Subscriptions))
		for _, kind := range []string{"host/udp", "srflx/udp", "prflx/udp", "relay/udp", "host/tcp", "srflx/tcp", "prflx/tcp", "relay/tcp"} {
			cand, transport, _ := strings.Cut(kind, "/")
			gauge(descConnections, float64(st.Connections[kind]), cand, transport)
		}
		counter(descPackets, st.ForwardedPackets)
		counter(descBytes, st.ForwardedBytes)
		counter(descNACKed, st.NACKedPackets)
		counter(descResent, st.Retransmitted)
		counter(descKeyframes, st.KeyframeRequests)
	}
	if s.src.Signal != nil {
		st := s.src.Signal()
		gauge(descSockets, float64(st.Sockets))
		for _, reason := range []string{signal.CodeUnauthorized, signal.CodeRoomFull, signal.CodeKicked, signal.CodeNotFound, signal.CodeUnavailable,
			signal.RefusedRateLimited, signal.RefusedServerFull} {
			counter(descRefused, st.Refused[reason], reason)
		}
	}
	if s.src.Janus != nil {
		st := s.src.Janus()
		gauge(descJanusSockets, float64(st.Sockets))
		for _, reason := range janus.RefusedReasons() {
			counter(descJanusRefused, st.Refused[reason], reason)
		}
	}
	if s.src.Tokens != nil {
		st := s.src.Tokens()
		counter(descMinted, st.Issued, "api")
		counter(descMinted, st.Refreshed, "refresh")
		counter(descMinted, st.Link, "link")
		counter(descTokRefused, st.RefusedJoin, "join")
		counter(descTokRefused, st.RefusedRefresh, "refresh")
		counter(descTokRefused, st.RefusedLink, "link")
	}
	if s.src.Webhooks != nil {
		st := s.src.Webhooks()
		counter(descAttempts, st.Delivered, "delivered")
		counter(descAttempts, st.Retried, "retried")
		counter(descAttempts, st.Failed, "failed")
	}
	if s.src.Pending != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if n, err := s.src.Pending(ctx); err != nil {
			s.log.Warn("metrics: count pending webhook events", "err", err)
		} else {
			gauge(descQueue, float64(n))
		}
	}
}
