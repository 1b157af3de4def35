package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomsd/roomsd/internal/signal"
	"github.com/roomsd/roomsd/internal/testutil"
)

// TestClusterFigures measures, on one machine, joins per second through
// one node and through two, and the time from a REST kick served by one
// node to the socket's close on the other (against a kick served by the
// node holding the participant). It runs only with ROOMSD_CLUSTER_BENCH=1
// (scripts/clusterbench.sh) and prints its figures.
func TestClusterFigures(t *testing.T) {
	if os.Getenv("ROOMSD_CLUSTER_BENCH") == "" {
		t.Skip("a measurement: run scripts/clusterbench.sh")
	}
	const rooms, perRoom = 40, 5
	// The nodes are measured, not their limits against abuse: every
	// participant comes from 127.0.0.1.
	a, b := cluster(t, map[string]string{"ROOMSD_LOG_LEVEL": "info", "ROOMSD_LIMIT_TOKENS": "off", "ROOMSD_LIMIT_CONNECTS": "off",
		"ROOMSD_MAX_PARTICIPANTS": "0"})
	for _, run := range []struct {
		name  string
		nodes []*testutil.Process
		// spread: each participant enters through the next node (half
		// are redirected); else a room's participants all enter through
		// one node, rooms alternating (as a room-aware balancer would).
		spread bool
	}{{"one node", []*testutil.Process{a}, false}, {"two nodes, rooms alternating", []*testutil.Process{a, b}, false},
		{"two nodes, round robin per join (half redirected)", []*testutil.Process{a, b}, true}} {
		ids := make([]string, rooms)
		for i := range ids {
			ids[i] = createRoom(t, a, map[string]any{})
		}
		rate := joinRate(t, run.nodes, ids, perRoom, run.spread)
		fmt.Printf("joins, %s: %d joins in %d rooms at %.0f joins/s\n", run.name, rooms*perRoom, rooms, rate)
	}
	for _, via := range []struct {
		name string
		p    *testutil.Process
	}{{"same node (b holds, kick on b)", b}, {"other node (b holds, kick on a)", a}} {
		var lat []time.Duration
		for range 40 {
			id := createRoom(t, b, map[string]any{})
			held := join(t, b, id, "held", false)
			start := time.Now()
			via.p.Call(t, http.MethodPost, "/v2/room_sessions/"+held.SessionID+"/actions/kick",
				map[string]any{"participants": []string{held.ParticipantID}}, nil)
			closedWith(t, held)
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		fmt.Printf("kick → socket closed, %s: p50 %v p95 %v max %v (n=%d)\n", via.name,
			lat[len(lat)/2].Round(100*time.Microsecond), lat[len(lat)*95/100].Round(100*time.Microsecond),
			lat[len(lat)-1].Round(100*time.Microsecond), len(lat))
	}
}

// joinRate joins perRoom participants to each room at once, through
// the nodes as spread says, over the
// signaling socket only (admission and the server's media join; the
// clients set up no media), and returns joins per second.
func joinRate(t *testing.T, nodes []*testutil.Process, rooms []string, perRoom int, spread bool) float64 {
	t.Helper()
	type job struct {
		via         *testutil.Process
		room, token string
	}
	var jobs []job
	for i, room := range rooms {
		for j := range perRoom {
			via := nodes[i%len(nodes)]
			if spread {
				via = nodes[(i+j)%len(nodes)]
			}
			jobs = append(jobs, job{via, room, token(t, via, room)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		socks []*websocket.Conn
		errs  []error
	)
	start := time.Now()
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, err := rawJoin(ctx, signal.ConnectURL(j.via.Root, j.room), j.token)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			socks = append(socks, ws)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, ws := range socks {
		ws.CloseNow()
	}
	if len(errs) > 0 {
		t.Fatalf("%d joins failed: %v", len(errs), errs[0])
	}
	return float64(len(jobs)) / elapsed.Seconds()
}

// rawJoin sends join and waits for joined, following a redirect.
func rawJoin(ctx context.Context, url, token string) (*websocket.Conn, error) {
	ws, _, _, err := rawJoinMessage(ctx, url, signal.Message{Type: signal.TypeJoin, Token: token})
	return ws, err
}

// rawJoinMessage sends join (or a resume) and waits for joined, following
// redirects; it returns the socket, the joined message and how many
// redirects it followed.
func rawJoinMessage(ctx context.Context, url string, join signal.Message) (*websocket.Conn, signal.Message, int, error) {
	for hops := range 3 {
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			return nil, signal.Message{}, hops, err
		}
		b, _ := json.Marshal(join)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			return nil, signal.Message{}, hops, err
		}
		_, raw, err := ws.Read(ctx)
		if err != nil {
			return nil, signal.Message{}, hops, err
		}
		var m signal.Message
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, signal.Message{}, hops, err
		}
		switch m.Type {
		case signal.TypeJoined:
			return ws, m, hops, nil
		case signal.TypeRedirect:
			ws.CloseNow()
			url = m.URL
		default:
			ws.CloseNow()
			return nil, m, hops, fmt.Errorf("join: %+v", m)
		}
	}
	return nil, signal.Message{}, 3, fmt.Errorf("join: too many redirects")
}
