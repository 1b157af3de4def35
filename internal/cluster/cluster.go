// Package cluster makes a roomsd server one node among those sharing a
// database. It registers the node and renews its heartbeat; it takes over
// the sessions of nodes that stopped renewing theirs; and it runs the
// node's reconciler, which applies to the media held here the changes
// any node commits (a kick, mute, end or delete served by another node),
// heard through the store's notifications at once, and looked over
// periodically for what a notification may have missed. A server alone
// on its database (no lease) runs the reconciler only.
package cluster

import (
	"context"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
)

// opTimeout bounds one database step of the loops.
const opTimeout = 10 * time.Second

// Config is what a node needs.
type Config struct {
	Store store.Store
	Rooms *rooms.Service
	// Node is this node: its id, URL and media address.
	Node domain.Node
	// Lease is how long a node's sessions stay its own without a
	// heartbeat; the heartbeat is renewed every quarter of it. 0: this
	// server is alone on its database (no heartbeat, no takeover).
	Lease time.Duration
	// Sweep is how often every live room is looked over (default 5 s).
	Sweep time.Duration
	// RetryLeaves records the leaves that failed to be recorded; it says
	// how many are left.
	RetryLeaves func(ctx context.Context) int
	Log         *slog.Logger
}

// Node runs the loops of one node.
type Node struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	started bool
	mu      sync.Mutex
	// steadySince is when the heartbeat last started to succeed (at
	// start, or after failures); zero while it fails.
	steadySince time.Time
	// peers are the hosts (host[:port]) of the other live nodes.
	peers   []string
	changed map[string]bool // rooms to reconcile
	ends    map[string]bool // rooms whose empty session failed to end
	sweep   bool            // a sweep of every live room is due
	wake    chan struct{}
}

// New returns a node; Start runs it.
func New(cfg Config) *Node {
	if cfg.Sweep <= 0 {
		cfg.Sweep = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Node{cfg: cfg, ctx: ctx, cancel: cancel, changed: map[string]bool{}, ends: map[string]bool{},
		wake: make(chan struct{}, 1)}
}

// Start registers the node (in a cluster) and starts its loops.
func (n *Node) Start(ctx context.Context) error {
	n.started = true
	if n.cfg.Lease > 0 {
		n.cfg.Node.StartedAt = time.Now()
		if err := n.heartbeat(ctx); err != nil {
			return err
		}
		n.steadySince = time.Now()
		n.refreshPeers(ctx)
		n.cfg.Log.Info("node registered", "node_id", n.cfg.Node.ID, "url", n.cfg.Node.URL, "lease", n.cfg.Lease)
		n.spawn(n.beat)
	}
	n.spawn(n.listen)
	n.spawn(n.reconcile)
	return nil
}

func (n *Node) spawn(fn func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn()
	}()
}

// Close stops the loops. In a cluster the node's heartbeat is set in the
// past, so that the other nodes take over its sessions at once rather
// than after the lease.
func (n *Node) Close() {
	n.cancel()
	n.wg.Wait()
	if n.started && n.cfg.Lease > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		gone := n.cfg.Node
		gone.HeartbeatAt = time.UnixMicro(0)
		if err := n.cfg.Store.Heartbeat(ctx, gone); err != nil {
			n.cfg.Log.Warn("node: expire own heartbeat at stop", "err", err)
		}
	}
}

// Changed asks the reconciler to look at a room (its media here may need
// a change committed elsewhere).
func (n *Node) Changed(roomID string) {
	n.mu.Lock()
	n.changed[roomID] = true
	n.mu.Unlock()
	n.poke()
}

// EndWhenEmpty asks the reconciler to end the room's session, which is
// this node's and empty, because ending it failed: it is tried on every
// sweep until it works or someone is back in the room.
func (n *Node) EndWhenEmpty(roomID string) {
	n.mu.Lock()
	n.ends[roomID] = true
	n.mu.Unlock()
}

func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Node) heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	n.cfg.Node.HeartbeatAt = time.Now()
	return n.cfg.Store.Heartbeat(ctx, n.cfg.Node)
}

// beat renews the heartbeat every quarter of the lease.
func (n *Node) beat() {
	t := time.NewTicker(n.cfg.Lease / 4)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		err := n.heartbeat(n.ctx)
		n.mu.Lock()
		switch {
		case err != nil:
			n.steadySince = time.Time{}
		case n.steadySince.IsZero():
			n.steadySince = time.Now()
		}
		n.mu.Unlock()
		if err == nil {
			n.refreshPeers(n.ctx)
		}
		switch {
		case err != nil && n.ctx.Err() == nil && !failing:
			n.cfg.Log.Error("node: heartbeat failed; past the lease, other nodes take this node's sessions over", "err", err)
			failing = true
		case err == nil && failing:
			n.cfg.Log.Info("node: heartbeat renewed again")
			failing = false
		}
	}
}

// listen hears of room changes from every node; after each (re)start of
// the listener, every live room is looked over, for what was missed
// while it was not listening.
func (n *Node) listen() {
	backoff := time.Second
	for {
		err := n.cfg.Store.Listen(n.ctx, func() {
			backoff = time.Second
			n.mu.Lock()
			n.sweep = true
			n.mu.Unlock()
			n.poke()
		}, n.Changed)
		if n.ctx.Err() != nil {
			return
		}
		n.cfg.Log.Warn("node: listening for room changes failed; listening again", "err", err, "in", backoff)
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// reconcile is the one goroutine that changes this node's media for
// changes made elsewhere: one at a time, so that of two changes of a room
// (a mute, then an unmute), the later read is applied last.
func (n *Node) reconcile() {
	t := time.NewTicker(n.cfg.Sweep)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.mu.Lock()
			n.sweep = true
			n.mu.Unlock()
		case <-n.wake:
		}
		n.mu.Lock()
		changed, sweep := n.changed, n.sweep
		n.changed, n.sweep = map[string]bool{}, false
		n.mu.Unlock()
		if sweep {
			n.sweepAll()
			for _, id := range n.cfg.Rooms.LiveRooms() {
				changed[id] = true
			}
		}
		for id := range changed {
			ctx, cancel := context.WithTimeout(n.ctx, opTimeout)
			if err := n.cfg.Rooms.ReconcileRoom(ctx, id); err != nil && n.ctx.Err() == nil {
				n.cfg.Log.Warn("node: reconcile room; tried again at the next sweep", "room_id", id, "err", err)
			}
			cancel()
		}
	}
}

// sweepAll takes over lost nodes' sessions and retries what failed.
func (n *Node) sweepAll() {
	ctx, cancel := context.WithTimeout(n.ctx, opTimeout)
	defer cancel()
	// Takeovers wait until this node's own heartbeat has held for a whole
	// lease: after the database was out of reach for everyone (or at this
	// node's start), the other nodes get the time to renew theirs first.
	n.mu.Lock()
	steady := !n.steadySince.IsZero() && time.Since(n.steadySince) >= n.cfg.Lease
	n.mu.Unlock()
	if steady && n.cfg.Lease > 0 {
		if ended, err := n.cfg.Rooms.EndLostSessions(ctx); err != nil && n.ctx.Err() == nil {
			n.cfg.Log.Warn("node: end the sessions of lost nodes", "err", err)
		} else if ended > 0 {
			n.cfg.Log.Info("ended the sessions of lost nodes", "sessions", ended)
		}
	}
	if n.cfg.Lease > 0 {
		n.forgetGone(ctx)
	}
	if n.cfg.RetryLeaves != nil {
		n.cfg.RetryLeaves(ctx)
	}
	n.mu.Lock()
	var ends []string
	for id := range n.ends {
		ends = append(ends, id)
	}
	n.mu.Unlock()
	for _, id := range ends {
		err := n.cfg.Rooms.EndIdleSession(ctx, id)
		if err != nil {
			continue
		}
		n.mu.Lock()
		delete(n.ends, id)
		n.mu.Unlock()
	}
}

// forgetAfter is how long a silent node stays registered (shown in the
// nodes table) once none of its sessions is active.
const forgetAfter = 24 * time.Hour

// forgetGone removes the registrations of nodes silent for forgetAfter
// whose sessions have all ended, so that nodes with passing names (a
// container's) do not pile up.
func (n *Node) forgetGone(ctx context.Context) {
	nodes, err := n.cfg.Store.Nodes(ctx)
	if err != nil {
		return
	}
	active := true
	for _, o := range nodes {
		if o.ID == n.cfg.Node.ID || o.Alive(time.Now(), forgetAfter) {
			continue
		}
		id := o.ID
		_, live, err := n.cfg.Store.ListSessions(ctx, store.SessionFilter{Active: &active, NodeID: &id}, store.Page{Number: 1, Size: 1})
		if err != nil || live > 0 {
			continue
		}
		if gone, err := n.cfg.Store.ForgetNode(ctx, o.ID, o.HeartbeatAt); err == nil && gone {
			n.cfg.Log.Info("node: forgot a node silent for a day", "node_id", o.ID, "last_heartbeat", o.HeartbeatAt)
		}
	}
}

// refreshPeers reads which other nodes are alive.
func (n *Node) refreshPeers(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	nodes, err := n.cfg.Store.Nodes(ctx)
	if err != nil {
		return // the last list stands
	}
	var hosts []string
	now := time.Now()
	for _, o := range nodes {
		if o.ID == n.cfg.Node.ID || !o.Alive(now, n.cfg.Lease) {
			continue
		}
		if u, err := url.Parse(o.URL); err == nil && u.Host != "" {
			hosts = append(hosts, u.Host)
		}
	}
	n.mu.Lock()
	n.peers = hosts
	n.mu.Unlock()
}

// Peers returns the hosts (host[:port]) of the other live nodes, as of
// the last heartbeat: where a join may be redirected.
func (n *Node) Peers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peers
}

// SetURL sets the base URL the node registers (before Start).
func (n *Node) SetURL(url string) { n.cfg.Node.URL = url }
