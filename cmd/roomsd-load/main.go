// Command roomsd-load is a small HTTP load generator for roomsd's list
// endpoint. It measures requests per second and latency percentiles of a
// few GET /v2/rooms requests against a running roomsd on the loopback
// interface and, with -baseline, of a server that answers every request
// with a fixed 20-room page (roomsd's own page 1) encoded afresh by the
// list's own JSON writer: the ceiling of HTTP plus JSON on the same
// machine, measured in the same run.
//
// The baseline server runs in a process of its own (this program started
// again with -serve-baseline), as roomsd does, so that both pay the same
// cost of a server process beside the load generator; ratios are taken
// against it. It is also measured inside the load generator's own process
// ("baseline-inproc", the ceiling of earlier runs), where client and
// server share one Go runtime and the ceiling comes out higher.
//
//	roomsd-load -seed-db ./bench.db -seed-rooms 1000000   # fill a database, then exit
//	roomsd-load -url http://127.0.0.1:8080/v2 -key KEY -baseline
//
// The scenario list+writes is the list scenario while one more connection
// PATCHes a room of page 1 every -write-every (max_participants toggled
// between 10 and 11), so that every write empties roomsd's list cache.
//
// It only ever connects to loopback addresses and stops by itself: each
// scenario runs for -duration or -max-requests, whichever comes first.
// See scripts/loadtest.sh for a complete run.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomsd/roomsd/internal/api"
	"github.com/roomsd/roomsd/internal/store/sqlite/seed"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "roomsd-load:", err)
		os.Exit(1)
	}
}

type config struct {
	url         string
	key         string
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	maxRequests int
	baseline    bool
	scenarios   string
	seedAPI     int
	writeEvery  time.Duration
	rounds      int
}

func run() error {
	var c config
	var seedDB string
	var seedRooms int
	flag.StringVar(&c.url, "url", "", "roomsd API base URL on a loopback address, e.g. http://127.0.0.1:8080/v2")
	flag.StringVar(&c.key, "key", os.Getenv("ROOMSD_LOAD_KEY"), "API key (env ROOMSD_LOAD_KEY)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measuring time per scenario")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured warm-up per scenario")
	flag.IntVar(&c.concurrency, "concurrency", 16, "concurrent keep-alive connections")
	flag.IntVar(&c.maxRequests, "max-requests", 2_000_000, "stop a scenario after this many measured requests")
	flag.BoolVar(&c.baseline, "baseline", false, "also measure the fixed-page baseline server, in a process of its own and in this one")
	var serveBaseline string
	flag.StringVar(&serveBaseline, "serve-baseline", "", "serve the list page in this file as the baseline on 127.0.0.1, print its URL, and exit when standard input closes (used by -baseline)")
	flag.StringVar(&c.scenarios, "scenarios", "list,date,deep,unique_name,include_sessions,page250", "comma-separated roomsd scenarios (also: list+writes)")
	flag.DurationVar(&c.writeEvery, "write-every", 10*time.Millisecond, "list+writes: interval between PATCHes of one room (1ms to 1s)")
	flag.IntVar(&c.rounds, "rounds", 1, "measure the scenarios this many times, taking turns, so that a machine that speeds up or slows down affects all of them alike; figures are summed over rounds, ratios also given per round")
	flag.IntVar(&c.seedAPI, "seed", 0, "create this many rooms through POST /v2/rooms before measuring (at most 100000)")
	flag.StringVar(&seedDB, "seed-db", "", "seed this SQLite file directly (roomsd must not be running on it), then exit")
	flag.IntVar(&seedRooms, "seed-rooms", 10_000, "rooms to write with -seed-db")
	flag.Parse()

	if serveBaseline != "" {
		return serveBaselineUntilEOF(serveBaseline)
	}
	if seedDB != "" {
		st, err := seed.Rooms(context.Background(), seedDB, seedRooms)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "seeded %s: %d rooms, %d sessions, %d participants in %v\n",
			seedDB, st.Rooms, st.Sessions, st.Participants, st.Elapsed.Round(time.Millisecond))
		return nil
	}
	if c.concurrency < 1 || c.concurrency > 1024 {
		return errors.New("-concurrency must be from 1 to 1024")
	}
	if c.duration <= 0 || c.duration > 10*time.Minute {
		return errors.New("-duration must be positive and at most 10m")
	}
	if c.writeEvery < time.Millisecond || c.writeEvery > time.Second {
		return errors.New("-write-every must be from 1ms to 1s")
	}
	if c.rounds < 1 || c.rounds > 20 {
		return errors.New("-rounds must be from 1 to 20")
	}
	if c.seedAPI < 0 || c.seedAPI > 100_000 {
		return errors.New("-seed must be from 0 to 100000; use -seed-db for more")
	}
	if c.url == "" && !c.baseline {
		return errors.New("give -url (a running roomsd) and/or -baseline")
	}
	client := newClient(c.concurrency)

	var targets []scenario
	var basePage []byte
	if c.url != "" {
		base, err := loopbackURL(c.url)
		if err != nil {
			return err
		}
		r := &roomsd{client: client, base: base, key: c.key, writeEvery: c.writeEvery}
		if c.seedAPI > 0 {
			if err := r.seed(c.seedAPI, c.concurrency); err != nil {
				return err
			}
		}
		if targets, basePage, err = r.scenarios(strings.Split(c.scenarios, ",")); err != nil {
			return err
		}
	}
	if c.baseline {
		if basePage == nil {
			basePage = syntheticPage()
		}
		inproc, stopInproc, err := startBaseline(basePage)
		if err != nil {
			return err
		}
		defer stopInproc()
		own, stopOwn, err := startBaselineProcess(basePage)
		if err != nil {
			return err
		}
		defer stopOwn()
		targets = append([]scenario{{name: "baseline", url: own}, {name: "baseline-inproc", url: inproc}}, targets...)
	}

	fmt.Printf("# roomsd-load: %d connections, %v per scenario after %v warm-up, GOMAXPROCS=%d, %s\n",
		c.concurrency, c.duration, c.warmup, runtime.GOMAXPROCS(0), runtime.Version())
	rounds := make([][]result, c.rounds)
	for r := range rounds {
		for _, s := range targets {
			if c.rounds > 1 {
				s.name = fmt.Sprintf("%s [%d/%d]", s.name, r+1, c.rounds)
			}
			res, err := measure(client, s, c)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			res.name = targets[len(rounds[r])].name
			rounds[r] = append(rounds[r], res)
		}
	}
	results := sumRounds(rounds)
	fmt.Printf("%-18s %9s %10s %9s %9s %9s %9s %7s %8s %8s\n", "scenario", "requests", "req/s", "p50", "p90", "p99", "max", "errors", "bytes", "writes/s")
	var ceiling, ceilingInproc float64
	for _, r := range results {
		switch r.name {
		case "baseline":
			ceiling = r.rps
		case "baseline-inproc":
			ceilingInproc = r.rps
		}
		wps := "-"
		if r.writer {
			wps = fmt.Sprintf("%.0f", r.wps)
		}
		fmt.Printf("%-18s %9d %10.0f %9s %9s %9s %9s %7d %8d %8s\n", r.name, r.n, r.rps,
			fmtDur(r.pct(50)), fmtDur(r.pct(90)), fmtDur(r.pct(99)), fmtDur(r.pct(100)), r.errors, r.bytes, wps)
	}
	if ceiling > 0 {
		for i, r := range results {
			if strings.HasPrefix(r.name, "baseline") {
				continue
			}
			var each []string
			if len(rounds) > 1 {
				for _, round := range rounds {
					each = append(each, fmt.Sprintf("%.2f", round[i].rps/round[0].rps))
				}
				each[0] = "; rounds " + each[0]
			}
			fmt.Printf("ratio %-12s %.2f of baseline%s (%.2f of baseline-inproc)\n", r.name, r.rps/ceiling,
				strings.Join(each, " "), r.rps/ceilingInproc)
		}
	}
	for _, r := range results {
		if r.errors > 0 {
			return fmt.Errorf("%s: %d failed requests (first: %v)", r.name, r.errors, r.firstErr)
		}
		if r.writeErrors > 0 {
			return fmt.Errorf("%s: %d failed writes (first: %v)", r.name, r.writeErrors, r.firstWriteErr)
		}
	}
	return nil
}

// newClient is a keep-alive HTTP/1.1 client that dials loopback only.
func newClient(conns int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("refusing to connect to %s: not a loopback address", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// loopbackURL checks that raw is an http URL on a loopback IP address and
// returns it without a trailing slash.
func loopbackURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	ip := net.ParseIP(u.Hostname())
	if u.Scheme != "http" || ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("-url %q: only http:// URLs on a loopback IP address (127.0.0.1, ::1) are allowed", raw)
	}
	return strings.TrimSuffix(raw, "/"), nil
}

type scenario struct {
	name string
	url  string
	key  string
	// write, when set, is called every writeEvery by one more goroutine
	// for as long as the scenario runs.
	write      func(i int) error
	writeEvery time.Duration
}

type result struct {
	name     string
	n        int
	rps      float64
	lat      []time.Duration // sorted
	errors   int
	firstErr error
	bytes    int

	elapsed time.Duration

	writer        bool
	writes        int     // completed writes while measuring
	wps           float64 // of them per second
	writeErrors   int
	firstWriteErr error
}

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
}

// measure runs one scenario: a warm-up, then c.duration (or c.maxRequests
// requests) of closed-loop load from c.concurrency workers.
func measure(client *http.Client, s scenario, c config) (result, error) {
	req, err := http.NewRequest(http.MethodGet, s.url, nil)
	if err != nil {
		return result{}, err
	}
	if s.key != "" {
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	// One request first: fail fast on a wrong URL or key.
	n, err := do(client, req)
	if err != nil {
		return result{}, err
	}
	res := result{name: s.name, bytes: n}

	var (
		count    atomic.Int64
		measured atomic.Bool
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
	)
	lats := make([][]time.Duration, c.concurrency)
	var (
		writes      atomic.Int64
		writerDone  = make(chan struct{})
		stopWriter  = make(chan struct{})
		writeErrors int
		firstWErr   error
	)
	if s.write != nil {
		res.writer = true
		go func() {
			defer close(writerDone)
			tick := time.NewTicker(s.writeEvery)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stopWriter:
					return
				case <-tick.C:
				}
				if err := s.write(i); err != nil {
					if writeErrors == 0 {
						firstWErr = err
					}
					writeErrors++
					continue
				}
				if measured.Load() {
					writes.Add(1)
				}
			}
		}()
	} else {
		close(writerDone)
	}
	for w := range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<14)
			for !stop.Load() {
				t0 := time.Now()
				_, err := do(client, req)
				d := time.Since(t0)
				if !measured.Load() {
					continue
				}
				if count.Add(1) > int64(c.maxRequests) {
					stop.Store(true)
					break
				}
				if err != nil {
					mu.Lock()
					if res.errors == 0 {
						res.firstErr = err
					}
					res.errors++
					mu.Unlock()
					continue
				}
				local = append(local, d)
			}
			lats[w] = local
		}()
	}
	time.Sleep(c.warmup)
	measured.Store(true)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	deadline := time.NewTimer(c.duration)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case <-tick.C:
			el := time.Since(start)
			fmt.Fprintf(os.Stderr, "  %-18s %4.0fs %9d req %8.0f req/s\n", s.name, el.Seconds(), count.Load(), float64(count.Load())/el.Seconds())
		case <-deadline.C:
			break loop
		case <-done:
			break loop
		}
	}
	elapsed := time.Since(start)
	stop.Store(true)
	tick.Stop()
	<-done
	close(stopWriter)
	<-writerDone
	res.writes = int(writes.Load())
	res.wps = float64(res.writes) / elapsed.Seconds()
	res.writeErrors, res.firstWriteErr = writeErrors, firstWErr
	for _, l := range lats {
		res.lat = append(res.lat, l...)
	}
	slices.Sort(res.lat)
	res.n = len(res.lat) + res.errors
	res.rps = float64(res.n) / elapsed.Seconds()
	res.elapsed = elapsed
	return res, nil
}

// sumRounds adds up each scenario's results over the rounds: requests,
// errors, writes and measuring time are summed, latencies pooled.
func sumRounds(rounds [][]result) []result {
	sum := slices.Clone(rounds[0])
	for _, round := range rounds[1:] {
		for i, r := range round {
			t := &sum[i]
			t.n += r.n
			t.errors += r.errors
			if t.firstErr == nil {
				t.firstErr = r.firstErr
			}
			t.lat = append(t.lat, r.lat...)
			t.elapsed += r.elapsed
			t.writes += r.writes
			t.writeErrors += r.writeErrors
			if t.firstWriteErr == nil {
				t.firstWriteErr = r.firstWriteErr
			}
		}
	}
	for i := range sum {
		t := &sum[i]
		slices.Sort(t.lat)
		t.rps = float64(t.n) / t.elapsed.Seconds()
		t.wps = float64(t.writes) / t.elapsed.Seconds()
	}
	return sum
}

// do sends req, reads the whole body and checks for 200 OK.
func do(client *http.Client, req *http.Request) (int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d", req.URL, resp.StatusCode)
	}
	return int(n), nil
}

// roomsd talks to the server under test.
type roomsd struct {
	client     *http.Client
	base       string
	key        string
	writeEvery time.Duration
	writer     *http.Client // its own connection, for list+writes
}

// patchRoom sets max_participants of room id to 10 or 11 by the parity
// of i: every call changes the room and commits.
func (r *roomsd) patchRoom(id string, i int) error {
	return r.send(r.writer, http.MethodPatch, "/rooms/"+url.PathEscape(id),
		fmt.Sprintf(`{"max_participants":%d}`, 10+i%2), http.StatusOK)
}

// send makes one request with a JSON body through c and checks that it
// answers with status want.
func (r *roomsd) send(c *http.Client, method, path, body string, want int) error {
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	return nil
}

func (r *roomsd) get(path string, v any) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, r.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	return body, json.Unmarshal(body, v)
}

// scenarios builds the requests to measure from what the database holds:
// the date filter is the creation day of the middle room, the deep page is
// page 5,000 (or the middle page of a smaller list). It also returns page
// 1 as roomsd sent it, for the baseline to serve.
func (r *roomsd) scenarios(names []string) ([]scenario, []byte, error) {
	var first listJSON
	page1, err := r.get("/rooms", &first)
	if err != nil {
		return nil, nil, err
	}
	total := first.Meta.TotalResults
	if total == 0 {
		return nil, nil, errors.New("roomsd holds no rooms; seed it first (-seed or -seed-db)")
	}
	var mid listJSON
	if _, err := r.get(fmt.Sprintf("/rooms?page[size]=1&page[number]=%d", total/2+1), &mid); err != nil {
		return nil, nil, err
	}
	if len(mid.Data) == 0 {
		return nil, nil, errors.New("empty middle page")
	}
	m := mid.Data[0]
	deep := 5000
	if deep*20 > total {
		deep = max(total/20/2, 1)
	}
	fmt.Printf("# roomsd at %s: %d rooms; date filter day %s; deep page %d\n", r.base, total, m.CreatedAt[:len(time.DateOnly)], deep)
	all := map[string]string{
		"list":             "/rooms",
		"page250":          "/rooms?page[size]=250",
		"date":             "/rooms?filter[date_created_at][eq]=" + m.CreatedAt[:len(time.DateOnly)],
		"deep":             "/rooms?page[number]=" + strconv.Itoa(deep),
		"include_sessions": "/rooms?include_sessions=true",
	}
	if m.UniqueName != nil {
		all["unique_name"] = "/rooms?filter[unique_name]=" + url.QueryEscape(*m.UniqueName)
	}
	var out []scenario
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if n == "list+writes" {
			if r.writer == nil {
				r.writer = newClient(1)
			}
			id := first.Data[0].ID
			out = append(out, scenario{name: n, url: r.base + all["list"], key: r.key,
				write: func(i int) error { return r.patchRoom(id, i) }, writeEvery: r.writeEvery})
			continue
		}
		p, ok := all[n]
		if !ok {
			if n == "unique_name" {
				fmt.Fprintln(os.Stderr, "skipping unique_name: the middle room has no unique_name")
				continue
			}
			return nil, nil, fmt.Errorf("unknown scenario %q", n)
		}
		out = append(out, scenario{name: n, url: r.base + p, key: r.key})
	}
	return out, page1, nil
}

// seed creates n rooms through the API.
func (r *roomsd) seed(n, workers int) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	prefix := fmt.Sprintf("load-%d-", time.Now().UnixNano())
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				body := fmt.Sprintf(`{"unique_name":%q,"max_participants":%d}`, prefix+strconv.FormatInt(i, 10), 2+i%49)
				if err := r.send(r.client, http.MethodPost, "/rooms", body, http.StatusCreated); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Fprintf(os.Stderr, "created %d rooms through the API in %v\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// listJSON is what the load tool reads of a list response: enough to
// build its scenarios. The baseline serves roomsd's own bytes through
// api.FixedListHandler, so no copy of the response types lives here.
type listJSON struct {
	Data []struct {
		ID         string  `json:"id"`
		UniqueName *string `json:"unique_name"`
		CreatedAt  string  `json:"created_at"`
	} `json:"data"`
	Meta struct {
		TotalResults int `json:"total_results"`
	} `json:"meta"`
}

// syntheticPage is 20 rooms like the seeded ones, in roomsd's list shape,
// for -baseline without -url.
func syntheticPage() []byte {
	rooms := make([]map[string]any, 20)
	t := time.Date(2025, 12, 31, 12, 0, 0, 123456000, time.UTC)
	const layout = "2006-01-02T15:04:05.000000Z"
	for i := range rooms {
		r := map[string]any{
			"id": fmt.Sprintf("019b7a3c-%04x-7abc-8def-0123456789ab", i), "max_participants": 2 + i%49,
			"unique_name": seed.Name(999_999 - i), "created_at": t.Add(-time.Duration(i) * time.Minute).Format(layout),
			"updated_at": t.Add(-time.Duration(i) * time.Second).Format(layout), "active_session_id": nil,
			"enable_recording": i%3 == 0, "webhook_event_failover_url": "", "webhook_timeout_secs": nil,
			"webhook_event_url": nil, "record_type": "room",
		}
		if i%2 == 0 {
			r["webhook_event_url"], r["webhook_timeout_secs"] = fmt.Sprintf("http://127.0.0.1:9/rooms/%d", 999_999-i), 10
		}
		rooms[i] = r
	}
	b, _ := json.Marshal(map[string]any{"data": rooms,
		"meta": map[string]int{"page_number": 1, "page_size": 20, "total_pages": 50_000, "total_results": 1_000_000}})
	return b
}

// startBaseline serves page through api.FixedListHandler on a free
// loopback port in this process.
func startBaseline(page []byte) (url string, stop func(), err error) {
	handler, err := api.FixedListHandler(page)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/v2/rooms", func() { srv.Close() }, nil
}

// startBaselineProcess runs this program again with -serve-baseline and
// returns the URL it serves on. stop closes its standard input, which
// ends it, and waits for it.
func startBaselineProcess(page []byte) (url string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp("", "roomsd-baseline-*.json")
	if err != nil {
		return "", nil, err
	}
	defer os.Remove(f.Name()) // the child has read it once it prints its URL
	if _, err := f.Write(page); err != nil {
		f.Close()
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "-serve-baseline", f.Name())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { in.Close(); cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("baseline process: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// serveBaselineUntilEOF is the -serve-baseline process.
func serveBaselineUntilEOF(pageFile string) error {
	page, err := os.ReadFile(pageFile)
	if err != nil {
		return err
	}
	url, stop, err := startBaseline(page)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Println(url)
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}
