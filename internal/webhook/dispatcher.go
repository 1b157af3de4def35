package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// Config tunes delivery. Zero fields take the documented defaults.
type Config struct {
	// DefaultTimeout applies when a room's webhook_timeout_secs is null or 0.
	DefaultTimeout time.Duration // 10s
	// MaxAttempts is how many attempts (primary, then failover) an event
	// gets before it is marked failed.
	MaxAttempts int // 12
	// BaseBackoff doubles after each failed attempt, up to MaxBackoff, with
	// up to 20% of random jitter either way.
	BaseBackoff time.Duration // 2s
	MaxBackoff  time.Duration // 15m
	// PollInterval is the backstop for wake-ups after commits.
	PollInterval time.Duration // 1s
	// Concurrency bounds deliveries in flight; PerHost bounds them per
	// destination host, so a slow receiver holds up only itself.
	Concurrency int // 32
	PerHost     int // 4
	// MaxResponseBytes of a receiver's answer are read, the rest dropped.
	MaxResponseBytes int64 // 64 KiB
	// Node names this dispatcher's server among those sharing the
	// database: the attempts it claims carry it, and at start it releases
	// what an earlier run of the same node had claimed (default "").
	Node string
	// Retention is how long delivered and failed events are kept (for
	// GET /v2/webhook_deliveries) before they are deleted; 0 keeps them
	// forever. Pending events are never deleted.
	Retention time.Duration
	// PruneEvery is how often old events are deleted (default 1h).
	PruneEvery time.Duration
	// SignURL, if set, turns a stored download_url into the link sent:
	// signed afresh at each attempt, so a retried event's link is valid.
	SignURL func(string) string
}

func (c *Config) defaults() {
	orDefault(&c.DefaultTimeout, 10*time.Second)
	orDefault(&c.MaxAttempts, 12)
	orDefault(&c.BaseBackoff, 2*time.Second)
	orDefault(&c.MaxBackoff, 15*time.Minute)
	orDefault(&c.PollInterval, time.Second)
	orDefault(&c.PruneEvery, time.Hour)
	orDefault(&c.Concurrency, 32)
	orDefault(&c.PerHost, 4)
	orDefault(&c.MaxResponseBytes, 64<<10)
}

// orDefault sets a zero field to its default.
func orDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// Dispatcher delivers the outbox. Start it once; Stop waits for the
// attempts in flight.
type Dispatcher struct {
	store  store.Store
	signer *Signer
	cfg    Config
	log    *slog.Logger
	client *http.Client
	now    func() time.Time

	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	all    chan struct{} // global concurrency slots
	wg     sync.WaitGroup
	mu     sync.Mutex
	busy   map[string]bool          // rooms with an attempt in flight
	hosts  map[string]chan struct{} // per-host slots
	stopMu sync.Once
	counts counts
}

// New returns a dispatcher over st.
func New(st store.Store, signer *Signer, cfg Config, log *slog.Logger) *Dispatcher {
	cfg.defaults()
	d := &Dispatcher{store: st, signer: signer, cfg: cfg, log: log, now: time.Now,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		all: make(chan struct{}, cfg.Concurrency), busy: map[string]bool{}, hosts: map[string]chan struct{}{}}
	d.client = &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: cfg.PerHost,
			IdleConnTimeout:     60 * time.Second,
			TLSHandshakeTimeout: 5 * time.Second,
		},
		// A redirect is an answer, not a delivery: it is not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d
}

// Notify wakes the dispatcher after a commit that may have added events.
// It never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Start runs the delivery loop until Stop.
func (d *Dispatcher) Start() {
	go d.loop()
}

// Stop ends the loop and waits for the attempts in flight to finish (each
// is bounded by its timeout). Pending events stay in the outbox for the
// next start.
func (d *Dispatcher) Stop() {
	d.stopMu.Do(func() { close(d.stop) })
	<-d.done
	d.wg.Wait()
}

// Flush makes every event due now get its attempt before it returns (or
// ctx ends): a server that stops sends the events of its last moments,
// such as the ends of its sessions, instead of leaving them for its next
// start. An attempt that fails leaves its event for later, as always.
func (d *Dispatcher) Flush(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	inFlight := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.busy) > 0
	}
	for {
		d.Notify()
		// Idle when nothing was in flight before and after the read and
		// nothing was due: an attempt under way holds its event (not due
		// while claimed), and the room's next event comes due after it.
		busy := inFlight()
		due, err := d.store.DueDeliveries(ctx, d.now(), 1)
		if err != nil {
			return
		}
		if !busy && len(due) == 0 && !inFlight() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Dispatcher) loop() {
	defer close(d.done)
	tick := time.NewTicker(d.cfg.PollInterval)
	defer tick.Stop()
	prune := time.NewTicker(d.cfg.PruneEvery)
	defer prune.Stop()
	d.releaseOwn()
	d.prune()
	for {
		d.dispatchDue()
		select {
		case <-d.stop:
			return
		case <-d.wake:
		case <-tick.C:
		case <-prune.C:
			d.prune()
		}
	}
}

// releaseOwn makes due again the attempts an earlier run of this node
// claimed and never finished (it was killed mid-attempt): they are sent
// again now, not when their lease runs out.
func (d *Dispatcher) releaseOwn() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := d.store.ReleaseDeliveries(ctx, d.cfg.Node, d.now())
	if err != nil {
		d.log.Error("webhook outbox: release the attempts of an earlier run", "err", err)
		return
	}
	if n > 0 {
		d.log.Info("webhook attempts cut short by the last stop are due again", "events", n)
	}
}

// pruneBatch bounds one delete, so that pruning a large backlog never
// holds the database's writer for long.
const pruneBatch = 1000

// prune deletes the events over (delivered or failed) for longer than
// Retention, in batches.
func (d *Dispatcher) prune() {
	if d.cfg.Retention <= 0 {
		return
	}
	before := d.now().Add(-d.cfg.Retention)
	total := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := d.store.PruneDeliveries(ctx, before, pruneBatch)
		cancel()
		if err != nil {
			d.log.Error("webhook outbox prune failed", "err", err)
			return
		}
		total += n
		if n < pruneBatch {
			break
		}
		select {
		case <-d.stop:
			return
		default:
		}
	}
	if total > 0 {
		d.log.Info("pruned old webhook events", "events", total, "created_before", before)
	}
}

// dispatchDue starts an attempt for the head of every room's queue that
// is due and not already in flight.
func (d *Dispatcher) dispatchDue() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	due, err := d.store.DueDeliveries(ctx, d.now(), dueBatch)
	cancel()
	if err != nil {
		d.log.Error("webhook outbox read failed", "err", err)
		return
	}
	for _, del := range due {
		d.mu.Lock()
		if d.busy[del.Event.RoomID] {
			d.mu.Unlock()
			continue
		}
		d.mu.Unlock()
		// A host already at its limit is skipped, not waited for, so a
		// slow receiver holds up only its own rooms.
		slot := d.hostSlot(del.URL)
		select {
		case slot <- struct{}{}:
		default:
			continue
		}
		select {
		case d.all <- struct{}{}:
		case <-d.stop:
			<-slot
			return
		}
		d.mu.Lock()
		d.busy[del.Event.RoomID] = true
		d.mu.Unlock()
		d.wg.Add(1)
		go func(del domain.Delivery) {
			defer d.wg.Done()
			d.drainRoom(del)
			<-slot
			<-d.all
			d.release(del.Event.RoomID)
			d.Notify() // the room may have more, or others may be waiting
		}(del)
	}
}

// dueBatch is how many queue heads one pass reads; rooms whose host is
// at its limit are skipped, so the batch is well over the concurrency.
const dueBatch = 1000

// streak bounds how many events of one room an attempt goroutine sends in
// a row before it gives its host slot back to other rooms.
const streak = 64

// drainRoom delivers del and then, while they go through and are due, the
// room's next events, keeping the host slot: a backlog drains without a
// pass over every waiting room per event.
func (d *Dispatcher) drainRoom(del domain.Delivery) {
	for i := 0; i < streak; i++ {
		if !d.deliver(del) {
			return
		}
		select {
		case <-d.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		next, ok, err := d.store.NextDelivery(ctx, del.Event.RoomID, d.now())
		cancel()
		if err != nil || !ok || next.URL != del.URL {
			return // another host's slot is not ours to use
		}
		del = next
	}
}

func (d *Dispatcher) release(roomID string) {
	d.mu.Lock()
	delete(d.busy, roomID)
	d.mu.Unlock()
}

// hostSlot bounds concurrent requests to one host.
func (d *Dispatcher) hostSlot(rawURL string) chan struct{} {
	host := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		host = u.Host
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.hosts[host]
	if s == nil {
		s = make(chan struct{}, d.cfg.PerHost)
		d.hosts[host] = s
	}
	return s
}

// deliver makes one attempt: the primary URL, then the failover URL if
// the primary fails, and records the outcome. It reports whether the
// event was delivered.
func (d *Dispatcher) deliver(del domain.Delivery) bool {
	// The list this came from may predate an attempt that has finished
	// since; only a delivery still in the state we read is attempted.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	now := d.now()
	ok, err := d.store.ClaimDelivery(ctx, del.Seq, del.Attempts, d.cfg.Node, now, now.Add(d.lease(del)))
	cancel()
	if err != nil {
		d.log.Error("webhook claim failed", "event_id", del.Event.ID, "err", err)
		return false
	}
	if !ok {
		return false
	}
	attempt := del.Attempts + 1
	status, err := d.post(del, attempt, del.URL)
	to := del.URL
	if err != nil && del.FailoverURL != "" {
		d.log.Warn("webhook failed; trying the failover URL", "event_id", del.Event.ID, "url", redactURL(del.URL), "err", err)
		status, err = d.post(del, attempt, del.FailoverURL)
		to = del.FailoverURL
	}
	now = d.now()
	del.Attempts, del.UpdatedAt, del.LastStatus = attempt, now, status
	switch {
	case err == nil:
		d.counts.delivered.Add(1)
		del.Status, del.DeliveredTo, del.DeliveredAt, del.LastError = domain.DeliveryDelivered, to, &now, ""
		d.log.Info("webhook delivered", "event_id", del.Event.ID, "event_type", del.Event.Type, "url", redactURL(to), "attempt", attempt)
	case attempt >= d.cfg.MaxAttempts || errors.Is(err, errPermanent):
		d.counts.failed.Add(1)
		del.Status, del.LastError = domain.DeliveryFailed, err.Error()
		d.log.Error("webhook failed for good", "event_id", del.Event.ID, "event_type", del.Event.Type, "url", redactURL(to), "attempts", attempt, "err", err)
	default:
		d.counts.retried.Add(1)
		del.LastError, del.NextAttemptAt = err.Error(), now.Add(d.backoff(attempt))
		d.log.Warn("webhook failed; will retry", "event_id", del.Event.ID, "url", redactURL(to), "attempt", attempt, "next_attempt_at", del.NextAttemptAt, "err", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.store.UpdateDelivery(ctx, del); err != nil {
		// The event stays pending and is tried again: at least once.
		d.log.Error("webhook outcome not recorded", "event_id", del.Event.ID, "err", err)
		return false
	}
	return del.Status == domain.DeliveryDelivered
}

var errPermanent = errors.New("not deliverable")

// lease is how long a claimed attempt holds its delivery: both requests
// (the URL, then the failover URL) at their timeout, and a minute more.
// A dispatcher that dies mid-attempt leaves the delivery to be retried,
// by any process, once it has passed.
func (d *Dispatcher) lease(del domain.Delivery) time.Duration {
	timeout := d.cfg.DefaultTimeout
	if del.TimeoutSecs != nil && *del.TimeoutSecs > 0 {
		timeout = time.Duration(*del.TimeoutSecs) * time.Second
	}
	return 2*timeout + time.Minute
}

// backoff is BaseBackoff·2^(attempt-1), capped, with ±20% jitter.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	b := d.cfg.BaseBackoff
	for i := 1; i < attempt && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(b))
	return b + jitter
}

// post sends one signed request and reports the status code and why it
// did not count as delivered. The error is logged and stored, so the URL
// in it is redacted.
func (d *Dispatcher) post(del domain.Delivery, attempt int, to string) (int, error) {
	u, err := url.Parse(to)
	if err != nil {
		return 0, fmt.Errorf("%w: the URL cannot be parsed", errPermanent)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, fmt.Errorf("%w: %q is not an http(s) URL", errPermanent, redactURL(to))
	}
	ev := del.Event
	if d.cfg.SignURL != nil && ev.DownloadURL != "" {
		ev.DownloadURL = d.cfg.SignURL(ev.DownloadURL)
	}
	body, err := Body(ev, attempt, to)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errPermanent, err)
	}
	timeout := d.cfg.DefaultTimeout
	if del.TimeoutSecs != nil && *del.TimeoutSecs > 0 {
		timeout = time.Duration(*del.TimeoutSecs) * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errPermanent, redactErr(err, to))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "roomsd-webhooks/1")
	for k, v := range d.signer.Headers(del.Event.ID, body, d.now()) {
		req.Header.Set(k, v)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("no answer within %v", timeout)
		}
		return 0, redactErr(err, to)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, d.cfg.MaxResponseBytes))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// unparseableURL stands in a log or an error for a URL that cannot be
// parsed, and so cannot be shown without risk of showing its secrets.
const unparseableURL = "(unparseable URL)"

// redactURL returns raw with what may hold a receiver's secret removed: the
// user name and password, the query string and the fragment. The scheme,
// host and path remain, enough to tell which receiver is meant. Every URL
// the dispatcher logs or records in an error goes through it.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return unparseableURL
	}
	u.User = nil
	u.Opaque = "" // "https:user:pass@host" parses with everything after the scheme opaque
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// redactErr returns err with the URL that net/http puts in the text of a
// *url.Error (the request's URL, query string and all) replaced by the
// redacted form of to. net/http returns that *url.Error itself, not
// wrapped, so nothing around it is lost.
func redactErr(err error, to string) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	r := *ue
	r.URL = redactURL(to)
	return &r
}
