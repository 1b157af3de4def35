package sfu

import (
	"cmp"
	"slices"
	"time"

	"github.com/pion/webrtc/v4"
)

// Allocation: every allocateEvery, each subscriber's estimated downlink
// (bwe.go, from the TWCC feedback the subscriber sends) is divided among
// the tracks it receives. Audio is always sent. Each visible video first
// gets its lowest layer, in priority order (the dominant speaker, then
// larger windows),
// as long as the budget lasts; a video that does not fit is paused rather
// than let it starve the audio. What remains lifts videos toward the layer
// their window asks for, again in priority order. A layer above the one a
// video has now must fit with upgradeHeadroom to spare, so that an
// estimate hovering at a layer's bitrate does not flap between two
// layers. As the estimate grows, videos climb back.
const (
	allocateEvery   = 250 * time.Millisecond
	upgradeHeadroom = 1.15
	keepLowest      = 0.5
	unlimited       = int(^uint(0) >> 1)
)

// defaultCost is what a layer is assumed to cost before it has been
// measured: the bitrates the meeting page asks of its encodings.
var defaultCost = [numQualities]int{150_000, 500_000, 1_500_000}

const defaultAudioCost = 50_000

// demand is one track a subscriber receives, as the allocator sees it.
type demand struct {
	audio    bool
	want     int // the layer the subscriber's settings ask for; qualityNone: nothing
	now      int // the layer allotted last time (qualityNone: none)
	cost     [numQualities]int
	priority int // larger first
}

// allot divides budget (bits/s) among demands and returns the best layer
// each may have (qualityNone: paused). Audio is always allotted. Without
// allowUp no video goes above the layer it has now (but one that has
// none may get its lowest): only a probe that showed the link can carry
// more lets videos climb. keep (at least budget) is what a video already
// on its lowest layer is measured against: the estimate before what
// retransmissions take, which pass.
func allot(budget, keep int, ds []demand, allowUp bool) []int {
	out := make([]int, len(ds))
	left := budget
	leftKeep := max(keep, budget)
	var video []int
	for i, d := range ds {
		out[i] = qualityNone
		switch {
		case d.audio:
			out[i] = qualityHigh
			left -= d.cost[qualityHigh]
			leftKeep -= d.cost[qualityHigh]
		case d.want != qualityNone:
			video = append(video, i)
		}
	}
	slices.SortStableFunc(video, func(a, b int) int { return cmp.Compare(ds[b].priority, ds[a].priority) })
	need := func(d demand, q int) int {
		c := d.cost[q]
		if q > d.now {
			c = int(float64(c) * upgradeHeadroom)
		}
		return c
	}
	// The lowest layer of each, while it fits. A video already on it
	// keeps it while the budget has keepLowest of its cost: an estimate
	// that dips a little does not cut the picture.
	for _, i := range video {
		d := ds[i]
		low := lowest(d)
		if low == qualityNone {
			continue
		}
		c, room := need(d, low), left
		if d.now == low {
			c, room = int(float64(c)*keepLowest), leftKeep
		}
		if c <= room {
			out[i] = low
			left -= min(d.cost[low], left)
			leftKeep -= d.cost[low]
		}
	}
	// Then up, one video at a time, toward what it wants.
	for _, i := range video {
		d := ds[i]
		if out[i] == qualityNone {
			continue
		}
		top := d.want
		if !allowUp {
			top = min(top, max(d.now, out[i]))
		}
		for q := out[i] + 1; q <= top; q++ {
			if d.cost[q] == 0 {
				continue // not sent
			}
			extra := need(d, q) - d.cost[out[i]]
			if extra > left {
				break
			}
			left -= d.cost[q] - d.cost[out[i]]
			out[i] = q
		}
	}
	return out
}

// wanted is what the demands cost if every video got the layer it wants
// (or the best one below it being sent), audio included.
func wanted(ds []demand) int {
	return total(ds, func(d demand) int {
		for q := d.want; q >= 0; q-- {
			if d.cost[q] > 0 {
				return d.cost[q]
			}
		}
		return 0
	})
}

// lowestTotal is what the lowest layer of every wanted video costs (with
// the headroom of a layer not yet sent), audio included.
func lowestTotal(ds []demand) int {
	return total(ds, func(d demand) int {
		if q := lowest(d); q != qualityNone {
			return int(float64(d.cost[q]) * upgradeHeadroom)
		}
		return 0
	})
}

// total adds up the audio and, for every video that wants something,
// what video says it costs.
func total(ds []demand, video func(demand) int) int {
	sum := 0
	for _, d := range ds {
		switch {
		case d.audio:
			sum += d.cost[qualityHigh]
		case d.want != qualityNone:
			sum += video(d)
		}
	}
	return sum
}

// allotted is what an allocation costs.
func allotted(ds []demand, out []int) int {
	total := 0
	for i, q := range out {
		if q != qualityNone {
			total += ds[i].cost[q]
		}
	}
	return total
}

// lowest is the lowest layer being sent of a demand, or qualityNone.
func lowest(d demand) int {
	for q := range numQualities {
		if d.cost[q] > 0 {
			return q
		}
	}
	return qualityNone
}

// allocateLoop runs the participant's allocation until it leaves.
func (c *Conn) allocateLoop() {
	tick := time.NewTicker(allocateEvery)
	defer tick.Stop()
	pr := &prober{backoff: probeBackoff, step: probeMinStep}
	defer pr.stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-tick.C:
			c.allocate(pr, now)
		}
	}
}

// Probing: the estimate creeps up by some 5 % a second while the link is
// clear, so a subscriber whose link got better would wait tens of seconds
// for its videos to climb. Instead, when the videos want more than the
// estimate allows, the server probes: for probeFor it adds padding to what
// it sends, up to the rate the upgrade needs, but at most a step above
// what it sends or estimates now: probeMinStep times, growing by a third
// after each success up to probeMaxStep, back to probeMinStep after a
// failure. If the link delivered more than the estimate without
// congestion, the estimate rises to what it delivered, and the videos
// climb to it. A fall of the estimate by
// estimateDrop or more (congestion: after a failed probe, after a climb
// the link could not carry, or because the link got worse) holds every
// climb and probe for a backoff that doubles with each fall, from
// probeBackoff to probeBackoffMax, and starts over after a probe succeeds.
// Retransmissions are paid from the same budget: their rate is taken off
// the estimate before the videos get theirs.
const (
	probeFor        = 500 * time.Millisecond
	probeEvery      = 10 * time.Millisecond
	probeMinStep    = 1.5
	probeMaxStep    = 3.0
	probeBackoff    = 2 * time.Second
	probeBackoffMax = 3 * time.Second
	probeHeadroom   = 1.25 // a probe aims this far above what the videos want
	estimateDrop    = 0.9
	paddingBytes    = 255
)

// prober is one participant's probing state, used by its allocateLoop
// alone.
type prober struct {
	lastEst int
	hold    time.Time // no climb and no probe before
	backoff time.Duration
	started time.Time // the probe under way began
	until   time.Time // and ends (zero: none)
	target  int
	step    float64 // how far above what is sent the next probe goes
	cancel  chan struct{}
}

func (pr *prober) stop() {
	if pr.cancel != nil {
		close(pr.cancel)
		pr.cancel = nil
	}
	pr.until = time.Time{}
}

// allocate divides the participant's budget among the tracks it receives,
// caps each down-track's layer accordingly, and probes for more when the
// videos want it.
func (c *Conn) allocate(pr *prober, now time.Time) {
	c.p.mu.Lock()
	downs := make([]*downTrack, 0, len(c.subs))
	for _, sub := range c.subs {
		downs = append(downs, sub.down)
	}
	c.p.mu.Unlock()
	p := c
	ds := make([]demand, len(downs))
	for i, d := range downs {
		ds[i] = d.demand()
	}
	if p.bwe == nil || !p.bwe.inUse() {
		// A client that takes no transport-wide feedback is not limited.
		for i, q := range allot(unlimited, unlimited, ds, true) {
			downs[i].setMaxQuality(q)
		}
		return
	}
	if !pr.until.IsZero() && !now.Before(pr.until) {
		pr.stop()
		ok := p.bwe.proved(pr.started, pr.target)
		c.p.m.log.Debug("probe ended", "participant_id", c.p.id, "target", pr.target, "carried", ok, "estimate", p.bwe.estimate())
		if ok {
			pr.backoff = probeBackoff
			pr.step = min(pr.step*4/3, probeMaxStep)
		} else {
			pr.step = probeMinStep
		}
	}
	est := p.bwe.estimate()
	if pr.lastEst > 0 && float64(est) < float64(pr.lastEst)*estimateDrop {
		c.p.m.log.Debug("estimate fell", "participant_id", c.p.id, "from", pr.lastEst, "to", est, "probing", !pr.until.IsZero())
		pr.stop() // a probe under way failed
		// The falls of one congestion come in a row: they are one event.
		if !now.Before(pr.hold) {
			pr.hold = now.Add(pr.backoff)
			pr.backoff = min(pr.backoff*2, probeBackoffMax)
		}
		pr.step = probeMinStep
	}
	pr.lastEst = est
	budget := max(minEstimate, est-p.bwe.retransmitRate(now))
	if !p.bwe.congestedEver() {
		// Until the link shows a limit, every video gets at least its
		// lowest layer, even a single-layer one above the first guess:
		// if the link cannot carry it, congestion says so, and a video
		// that has started can carry the probes that bring it back.
		budget = max(budget, lowestTotal(ds))
	}
	climb := pr.until.IsZero() && !now.Before(pr.hold)
	out := allot(budget, est, ds, climb)
	for i, q := range out {
		if downs[i].setMaxQuality(q) {
			c.p.m.log.Debug("layer cap", "participant_id", c.p.id, "track", downs[i].t.id, "quality", q, "budget", budget, "estimate", est)
		}
	}
	if !climb {
		return
	}
	sending := allotted(ds, out) + p.bwe.retransmitRate(now)
	target := probeTarget(ds, out, budget, est, sending, pr.step)
	if target == 0 {
		return
	}
	// The padding goes on a video the subscriber has been receiving,
	// forwarding or paused: its numbering goes on through the padding.
	var pad *downTrack
	for i, d := range downs {
		if !ds[i].audio && d.started() && (pad == nil || out[i] != qualityNone) {
			pad = d
		}
	}
	if pad == nil {
		return
	}
	pr.target, pr.started, pr.until, pr.cancel = target, now, now.Add(probeFor), make(chan struct{})
	c.p.m.log.Debug("probe", "participant_id", c.p.id, "target", target, "sending", sending, "estimate", est)
	go pad.probe(target-sending, pr.cancel, pr.until, p.bwe)
}

// probeTarget is the rate (bits/s) a probe should reach, or 0 for no
// probe: only when a video gets less than it wants and what the videos
// want does not fit the budget; then the want with probeHeadroom, but no
// more than step times what is sent (or estimated) now.
func probeTarget(ds []demand, out []int, budget, est, sending int, step float64) int {
	below := false // a video gets less than it wants
	for i, d := range ds {
		if !d.audio && d.want != qualityNone && out[i] < d.want {
			below = true
		}
	}
	want := int(float64(wanted(ds)) * probeHeadroom)
	if !below || float64(want) <= float64(budget)*probeHeadroom/upgradeHeadroom {
		return 0 // every video has what it wants, or it fits
	}
	target := min(want, int(float64(max(sending, est, minEstimate))*step))
	if target <= sending {
		return 0
	}
	return target
}

// demand describes what the down-track asks of the budget.
func (d *downTrack) demand() demand {
	out := demand{audio: d.t.kind == webrtc.RTPCodecTypeAudio, want: qualityNone}
	costs := d.t.costs()
	if out.audio {
		out.cost[qualityHigh] = defaultAudioCost
		for _, c := range costs {
			if c > 0 {
				out.cost[qualityHigh] = c
			}
		}
		return out
	}
	out.cost = costs
	d.mu.Lock()
	visible, w, h, pin, now := d.visible && !d.gated.Load(), d.width, d.height, d.pin, d.maxQ
	d.mu.Unlock()
	out.now = now
	if !visible {
		return out
	}
	switch {
	case pin != qualityNone:
		out.want = d.t.pick(pin, 0, 0)
	default:
		out.want = d.t.pick(qualityHigh, w, h)
	}
	out.priority = 1
	if w > 0 && h > 0 {
		out.priority = w * h
	} else {
		out.priority = 1 << 30 // size unknown: as large as can be
	}
	if room := d.sub.p.room; room != nil && d.t.owner.id == room.dominantSpeaker() {
		out.priority = 1 << 40 // the dominant speaker first
	}
	return out
}

// setMaxQuality caps the layer the down-track may forward (qualityNone:
// pause it) and chooses again if the cap changed; it reports whether it
// did.
func (d *downTrack) setMaxQuality(q int) bool {
	d.mu.Lock()
	changed := d.maxQ != q
	d.maxQ = q
	d.mu.Unlock()
	if changed {
		d.reselect()
	}
	return changed
}

// costs is what each layer of the track costs now, bits/s: its measured
// bitrate, or (video) its default cost if it has not been measured; 0 for
// a layer not being sent (and audio not yet measured).
func (t *track) costs() [numQualities]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out [numQualities]int
	live := t.liveLocked()
	for q, l := range t.layers {
		if !live[q] {
			continue
		}
		c := int(l.rate.Load())
		if c == 0 && t.kind == webrtc.RTPCodecTypeVideo {
			c = defaultCost[q]
		}
		out[q] = c
	}
	return out
}
