// Command roomsd-webhookload measures webhook throughput in process, on a
// real SQLite file: how fast room operations append events to the outbox,
// and how fast the real webhook.Dispatcher delivers them to local
// receivers (outbox reads, claims, signing, HTTP and outcome updates
// included).
//
//	roomsd-webhookload -events 5000 -rooms 50
//	roomsd-webhookload -events 5000 -rooms 50 -hosts 10 -delay 5ms
//
// Three phases, each on a fresh database in -dir:
//
//   - append: rooms.Service Join/Leave/EndSession with no dispatcher
//     running, until -events events are in the outbox (a cycle per room is
//     join, join, leave, leave, end: 6 events in 5 operations).
//   - drain: the dispatcher starts on that full outbox and delivers it.
//   - live: the same operations while the dispatcher runs and is woken by
//     each commit, as in roomsd; reports the time from an event's
//     occurred_at to its arrival at the receiver.
//
// Receivers are httptest servers on 127.0.0.1 (-hosts of them, rooms
// spread round-robin), answering 200 after -delay. Signing uses Ed25519
// and a Standard Webhooks secret, as roomsd does with ROOMSD_WEBHOOK_SECRET.
// Dispatcher logs are formatted at info level and discarded.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/webhook"
)

type options struct {
	events, rooms, hosts, workers int
	delay, deadline               time.Duration
	dir                           string
}

func main() {
	var o options
	flag.IntVar(&o.events, "events", 5000, "events to append and deliver in each phase")
	flag.IntVar(&o.rooms, "rooms", 50, "rooms the events are spread over")
	flag.IntVar(&o.hosts, "hosts", 1, "receivers (distinct host:port); rooms are spread over them round-robin")
	flag.IntVar(&o.workers, "workers", 1, "goroutines making room operations (each owns rooms)")
	flag.DurationVar(&o.delay, "delay", 0, "how long each receiver takes to answer")
	flag.DurationVar(&o.deadline, "deadline", 90*time.Second, "give up on a phase after this long")
	flag.StringVar(&o.dir, "dir", "", "directory for the databases (default: a new temp directory, removed at the end)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "roomsd-webhookload:", err)
		os.Exit(1)
	}
}

// receivers count arrivals and record each event's delay from occurred_at.
type receivers struct {
	servers []*httptest.Server
	got     atomic.Int64
	mu      sync.Mutex
	lat     []time.Duration
}

func newReceivers(n int, delay time.Duration) *receivers {
	r := &receivers{}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var env struct {
			Data struct {
				OccurredAt time.Time `json:"occurred_at"`
			} `json:"data"`
		}
		body, _ := io.ReadAll(req.Body)
		json.Unmarshal(body, &env)
		lat := time.Since(env.Data.OccurredAt)
		if delay > 0 {
			time.Sleep(delay)
		}
		r.mu.Lock()
		r.lat = append(r.lat, lat)
		r.mu.Unlock()
		r.got.Add(1)
	})
	for i := 0; i < n; i++ {
		r.servers = append(r.servers, httptest.NewServer(h))
	}
	return r
}

func (r *receivers) close() {
	for _, s := range r.servers {
		s.Close()
	}
}

func (r *receivers) reset() {
	r.mu.Lock()
	r.lat = nil
	r.mu.Unlock()
	r.got.Store(0)
}

func (r *receivers) latencies() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.lat)
	slices.Sort(out)
	return out
}

// env is one fresh database with its rooms.
type env struct {
	st    *sqlite.Store
	svc   *rooms.Service
	rooms []string
}

func newEnv(ctx context.Context, path string, o options, rx *receivers, notify func()) (*env, error) {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	var ropts []rooms.Option
	if notify != nil {
		ropts = append(ropts, rooms.WithEventNotifier(notify))
	}
	e := &env{st: st, svc: rooms.New(st, ropts...)}
	for i := 0; i < o.rooms; i++ {
		u := rx.servers[i%len(rx.servers)].URL + "/hook"
		r, err := e.svc.CreateRoom(ctx, rooms.RoomChanges{WebhookEventURL: rooms.Some(&u)})
		if err != nil {
			st.Close()
			return nil, err
		}
		e.rooms = append(e.rooms, r.ID)
	}
	return e, nil
}

// appendEvents runs session cycles (join, join, leave, leave, end: 6
// events, 5 operations) over the rooms until n events are in the outbox.
// Each worker owns every workers-th room, so no two work on one session.
// It returns the operations made.
func (e *env) appendEvents(ctx context.Context, n, workers int) (int, error) {
	const perCycle = 6
	cycles := (n + perCycle - 1) / perCycle
	var ops atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for c := 0; c < cycles; c++ {
				if c%len(e.rooms)%workers != w {
					continue // another worker's room
				}
				room := e.rooms[c%len(e.rooms)]
				a, err := e.svc.Join(ctx, room, "a") // session.started, participant.joined
				var b domain.Participant
				if err == nil {
					b, err = e.svc.Join(ctx, room, "b")
				}
				if err == nil {
					_, err = e.svc.Leave(ctx, a.ID, domain.ReasonLeft)
				}
				if err == nil {
					_, err = e.svc.Leave(ctx, b.ID, domain.ReasonLeft)
				}
				if err == nil {
					_, _, err = e.svc.EndSession(ctx, a.SessionID, domain.ReasonAPI) // session.ended
				}
				if err != nil {
					errs <- err
					return
				}
				ops.Add(5)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	return int(ops.Load()), <-errs
}

func (e *env) count(ctx context.Context, status string) (int, error) {
	var f store.DeliveryFilter
	if status != "" {
		f.Status = &status
	}
	_, total, err := e.st.ListDeliveries(ctx, f, store.Page{Number: 1, Size: 1})
	return total, err
}

func newDispatcher(st store.Store) *webhook.Dispatcher {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 32)
	rand.Read(secret)
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return webhook.New(st, webhook.NewSigner(key, secret), webhook.Config{}, log)
}

// waitDelivered polls until the receivers got want requests and the
// outbox has nothing pending; it returns both moments.
func waitDelivered(ctx context.Context, e *env, rx *receivers, want int, start time.Time, deadline time.Duration) (received, recorded time.Duration, err error) {
	for rx.got.Load() < int64(want) {
		if time.Since(start) > deadline {
			return 0, 0, fmt.Errorf("only %d of %d events received after %v", rx.got.Load(), want, deadline)
		}
		time.Sleep(2 * time.Millisecond)
	}
	received = time.Since(start)
	for {
		n, err := e.count(ctx, domain.DeliveryPending)
		if err != nil {
			return 0, 0, err
		}
		if n == 0 {
			break
		}
		if time.Since(start) > deadline {
			return 0, 0, fmt.Errorf("%d events still pending after %v", n, deadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return received, time.Since(start), nil
}

func perSec(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func run(o options) error {
	if o.events < 1 || o.rooms < 1 || o.hosts < 1 || o.workers < 1 {
		return fmt.Errorf("-events, -rooms, -hosts and -workers must be at least 1")
	}
	ctx := context.Background()
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "roomsd-webhookload-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rx := newReceivers(o.hosts, o.delay)
	defer rx.close()
	fmt.Printf("roomsd-webhookload: %d events, %d rooms, %d receiver host(s), answer delay %v, %d worker(s); %s, %d CPUs, %s\n",
		o.events, o.rooms, o.hosts, o.delay, o.workers, runtime.Version(), runtime.NumCPU(), loadavg())

	// append, then drain.
	e, err := newEnv(ctx, filepath.Join(dir, "drain.db"), o, rx, nil)
	if err != nil {
		return err
	}
	defer e.st.Close()
	start := time.Now()
	ops, err := e.appendEvents(ctx, o.events, o.workers)
	if err != nil {
		return err
	}
	el := time.Since(start)
	n, err := e.count(ctx, "")
	if err != nil {
		return err
	}
	fmt.Printf("append: %d events from %d room operations in %v: %.0f events/s, %.0f operations/s\n",
		n, ops, el.Round(time.Millisecond), perSec(n, el), perSec(ops, el))

	d := newDispatcher(e.st)
	start = time.Now()
	d.Start()
	received, recorded, err := waitDelivered(ctx, e, rx, n, start, o.deadline)
	d.Stop()
	if err != nil {
		return err
	}
	fmt.Printf("drain:  %d events delivered in %v (%.0f events/s); all recorded delivered after %v (%.0f events/s)\n",
		n, received.Round(time.Millisecond), perSec(n, received), recorded.Round(time.Millisecond), perSec(n, recorded))

	// live: appends while the dispatcher delivers.
	rx.reset()
	var live *env
	d2 := (*webhook.Dispatcher)(nil)
	live, err = newEnv(ctx, filepath.Join(dir, "live.db"), o, rx, func() { d2.Notify() })
	if err != nil {
		return err
	}
	defer live.st.Close()
	d2 = newDispatcher(live.st)
	d2.Start()
	start = time.Now()
	ops, err = live.appendEvents(ctx, o.events, o.workers)
	if err != nil {
		d2.Stop()
		return err
	}
	appended := time.Since(start)
	n, err = live.count(ctx, "")
	if err != nil {
		d2.Stop()
		return err
	}
	received, recorded, err = waitDelivered(ctx, live, rx, n, start, o.deadline)
	d2.Stop()
	if err != nil {
		return err
	}
	lat := rx.latencies()
	fmt.Printf("live:   %d events appended in %v (%.0f events/s) while delivering; all received after %v (%.0f events/s), recorded after %v\n",
		n, appended.Round(time.Millisecond), perSec(n, appended), received.Round(time.Millisecond), perSec(n, received), recorded.Round(time.Millisecond))
	fmt.Printf("live:   occurred_at to arrival: p50 %v, p95 %v, p99 %v, max %v\n",
		pct(lat, 0.50).Round(time.Microsecond), pct(lat, 0.95).Round(time.Microsecond), pct(lat, 0.99).Round(time.Microsecond),
		lat[len(lat)-1].Round(time.Microsecond))
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(b) < 14 {
		return "load average unknown"
	}
	return "load average " + string(b[:14])
}
