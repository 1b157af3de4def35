package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// link is a bottleneck in the test's own time: packets leave the sender
// when stamped, queue behind one another at rate bits/s, and are dropped
// when the queue would hold more than limit of delay (a tbf, as on a
// weak link). Every 50 ms it reports what arrived, as a receiver's TWCC
// feedback would.
type link struct {
	rate     float64
	limit    time.Duration
	free     time.Duration // when the link is next free, from start
	pending  []arrival
	reported uint16
	started  bool
}

type arrival struct {
	seq uint16
	at  time.Duration // -1: dropped
}

// send stamps a packet of size bytes at time now (from start) and puts it
// on the link.
func (l *link) send(b *bwe, now time.Duration, size int, start time.Time) {
	h := &rtp.Header{Version: 2, SSRC: 1, Extensions: make([]rtp.Extension, 0, 1)}
	b.mu.Lock()
	seq := b.next
	b.mu.Unlock()
	// The estimator's clock is the wall clock; the test's is its own: make
	// stamp see now by setting the sent time afterwards.
	b.stamp(h, size-12, 3, false)
	b.mu.Lock()
	b.sent[seq%sentRing].at = start.Add(now)
	b.mu.Unlock()
	begin := max(now, l.free)
	if begin-now > l.limit {
		l.pending = append(l.pending, arrival{seq: seq, at: -1})
		return
	}
	l.free = begin + time.Duration(float64(size*8)/l.rate*float64(time.Second))
	l.pending = append(l.pending, arrival{seq: seq, at: l.free})
}

// feedback reports every pending packet that has arrived or was dropped
// by now, in one TWCC report.
func (l *link) feedback(b *bwe, now time.Duration, start time.Time) {
	var done []arrival
	keep := l.pending[:0]
	for _, a := range l.pending {
		if a.at <= now {
			done = append(done, a)
		} else {
			keep = append(keep, a)
		}
	}
	l.pending = keep
	if len(done) == 0 {
		return
	}
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: done[0].seq, PacketStatusCount: uint16(len(done))}
	ref := time.Duration(0)
	for _, a := range done {
		if a.at >= 0 {
			ref = a.at
			break
		}
	}
	ref = ref / (64 * time.Millisecond) * (64 * time.Millisecond)
	fb.ReferenceTime = uint32(ref / (64 * time.Millisecond))
	last := ref
	var syms []uint16
	for _, a := range done {
		if a.at < 0 {
			syms = append(syms, rtcp.TypeTCCPacketNotReceived)
			continue
		}
		syms = append(syms, rtcp.TypeTCCPacketReceivedLargeDelta)
		fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: int64((a.at - last) / time.Microsecond)})
		last = a.at
	}
	fb.PacketChunks = append(fb.PacketChunks, &rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: syms})
	b.onFeedback(fb, start.Add(now))
}

// run sends at rate bits/s (1,200-byte packets) over the link for d,
// starting at from, and returns when it ends.
func (l *link) run(b *bwe, start time.Time, from, d time.Duration, rate func() float64) time.Duration {
	now := from
	next := from
	for now < from+d {
		for next <= now {
			l.send(b, next, 1200, start)
			next += time.Duration(1200 * 8 / rate() * float64(time.Second))
		}
		now += 10 * time.Millisecond
		if now%(50*time.Millisecond) == 0 {
			l.feedback(b, now, start)
		}
	}
	return now
}

// A sender that pushes twice what the link carries sees the estimate
// fall to what it delivers, not far below; on a clear link sending
// little, the estimate stays; a probe that the link carries raises it.
func TestEstimatorFollowsTheLink(t *testing.T) {
	start := time.Now()
	b := newBWE(1_000_000)
	l := &link{rate: 400_000, limit: 200 * time.Millisecond}
	now := l.run(b, start, 0, 5*time.Second, func() float64 { return 800_000 })
	est := b.estimate()
	if est > 400_000 || est < 200_000 {
		t.Errorf("pushing 800 kbit/s through 400: estimate %d, want 200k to 400k", est)
	}
	if !b.congestedEver() {
		t.Error("no congestion seen")
	}

	// The link widens; the sender sends what the estimate allows, and
	// a probe at 1 Mbit/s finds it carried.
	l.rate = 5_000_000
	now = l.run(b, start, now, 3*time.Second, func() float64 { return float64(b.estimate()) * 0.8 })
	before := b.estimate()
	probeStart := start.Add(now)
	now = l.run(b, start, now, 750*time.Millisecond, func() float64 { return 1_000_000 })
	_ = now
	if !b.proved(probeStart, 1_000_000) {
		t.Fatalf("a probe the link carried was not taken (estimate %d)", b.estimate())
	}
	if got := b.estimate(); got < 900_000 || got <= before {
		t.Errorf("after a 1 Mbit/s probe on a 5 Mbit/s link: estimate %d (before %d)", got, before)
	}
}

// A probe the link cannot carry fails, and leaves the estimate where the
// link is.
func TestProbeBeyondTheLinkFails(t *testing.T) {
	start := time.Now()
	b := newBWE(300_000)
	l := &link{rate: 400_000, limit: 200 * time.Millisecond}
	now := l.run(b, start, 0, 3*time.Second, func() float64 { return 250_000 })
	probeStart := start.Add(now)
	l.run(b, start, now, 750*time.Millisecond, func() float64 { return 900_000 })
	if b.proved(probeStart, 900_000) {
		t.Fatalf("a 900 kbit/s probe over a 400 kbit/s link succeeded (estimate %d)", b.estimate())
	}
	if est := b.estimate(); est > 450_000 {
		t.Errorf("estimate %d after the failed probe, want at most the link", est)
	}
}

// Retransmissions may use a share of the estimate, and no more.
func TestRetransmissionsAreCapped(t *testing.T) {
	b := newBWE(1_000_000)
	sent := 0
	for range 1000 {
		if b.allowRetransmit(1200) {
			sent++
		}
	}
	// The bucket holds rtxBurst of rtxShare of the estimate: a second of
	// 150 kbit/s is 18,750 bytes, 15 packets of 1,200.
	if sent < 14 || sent > 16 {
		t.Errorf("%d of 1000 retransmissions sent at once, want the 15 or so the budget allows", sent)
	}
}

// Feedback in run-length chunks (as browsers send for a run of packets)
// is read like status vectors.
func TestRunLengthFeedback(t *testing.T) {
	b := newBWE(500_000)
	for range 96 {
		b.stamp(&rtp.Header{Version: 2, SSRC: 1}, 1000, 3, false)
	}
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: 0, PacketStatusCount: 96, ReferenceTime: 1,
		PacketChunks: []rtcp.PacketStatusChunk{
			&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 72},
			&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 24},
		}}
	for range 72 {
		fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000})
	}
	b.onFeedback(fb, time.Now())
	if b.ackedN != 72 {
		t.Errorf("%d packets acknowledged, want 72", b.ackedN)
	}
	if b.loss != 0.25 {
		t.Errorf("loss %.2f after 24 of 96 missing, want 0.25", b.loss)
	}
}

// The allocator gives audio first, then every video its lowest layer,
// then climbs by priority; it pauses a video that does not fit.
func TestAllot(t *testing.T) {
	video := func(want, now, priority int) demand {
		return demand{want: want, now: now, priority: priority, cost: [numQualities]int{150_000, 500_000, 1_500_000}}
	}
	audio := demand{audio: true, cost: [numQualities]int{0, 0, 50_000}}
	// Retransmissions taking a passing share do not pause a video that
	// is on its lowest layer.
	if got := allot(60_000, 200_000, []demand{audio, video(qualityHigh, qualityLow, 1)}, true); got[1] != qualityLow {
		t.Errorf("a retransmission burst paused the video: %v", got)
	}
	for _, c := range []struct {
		name    string
		budget  int
		ds      []demand
		allowUp bool
		want    []int
	}{
		{"a weak link gets the low layer", 400_000, []demand{audio, video(qualityHigh, qualityNone, 1)}, true, []int{qualityHigh, qualityLow}},
		{"a fast link gets what the window wants", 3_000_000, []demand{audio, video(qualityHigh, qualityNone, 1)}, true, []int{qualityHigh, qualityHigh}},
		{"the window caps it", 3_000_000, []demand{audio, video(qualityMedium, qualityNone, 1)}, true, []int{qualityHigh, qualityMedium}},
		{"too little for video: audio only", 100_000, []demand{audio, video(qualityHigh, qualityNone, 1)}, true, []int{qualityHigh, qualityNone}},
		{"a video on its low layer keeps it through a dip", 140_000, []demand{audio, video(qualityHigh, qualityLow, 1)}, true, []int{qualityHigh, qualityLow}},
		{"the larger window climbs first", 1_000_000, []demand{audio, video(qualityHigh, qualityNone, 100), video(qualityHigh, qualityNone, 1000)}, true,
			[]int{qualityHigh, qualityLow, qualityMedium}},
		{"hidden: nothing too", 3_000_000, []demand{audio, video(qualityNone, qualityLow, 1)}, true, []int{qualityHigh, qualityNone}},
		{"no climb without a probe", 3_000_000, []demand{audio, video(qualityHigh, qualityLow, 1)}, false, []int{qualityHigh, qualityLow}},
		{"hidden: nothing", 3_000_000, []demand{audio, video(qualityNone, qualityNone, 1)}, true, []int{qualityHigh, qualityNone}},
	} {
		got := allot(c.budget, c.budget, c.ds, c.allowUp)
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: allotted %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}

// A probe happens only while a video gets less than it wants and what
// the videos want does not fit; it aims at the want with headroom, at most
// a step above what is sent.
func TestProbeTarget(t *testing.T) {
	audio := demand{audio: true, cost: [numQualities]int{0, 0, 50_000}}
	video := demand{want: qualityHigh, now: qualityLow, cost: [numQualities]int{150_000, 500_000, 1_500_000}}
	ds := []demand{audio, video}
	// Everything it wants: no probe, however small the budget looks.
	if got := probeTarget(ds, []int{qualityHigh, qualityHigh}, 300_000, 300_000, 1_550_000, 1.5); got != 0 {
		t.Errorf("every video at its want: probe to %d, want none", got)
	}
	// Below its want on a small budget: a step above what is sent.
	if got := probeTarget(ds, []int{qualityHigh, qualityLow}, 300_000, 300_000, 200_000, 1.5); got != 450_000 {
		t.Errorf("low layer on 300k: probe to %d, want 1.5 × 300k", got)
	}
	// A big step is capped by what the videos want, with headroom.
	if got := probeTarget(ds, []int{qualityHigh, qualityLow}, 1_000_000, 1_000_000, 200_000, 3); got != int(1_550_000*probeHeadroom) {
		t.Errorf("probe to %d, want the want with headroom", got)
	}
	// The want fits the budget: the allocator climbs without a probe.
	if got := probeTarget(ds, []int{qualityHigh, qualityLow}, 2_000_000, 2_000_000, 200_000, 1.5); got != 0 {
		t.Errorf("want fits: probe to %d, want none", got)
	}
}

// A loss rate read from a few packets is not congestion: 4 of the first
// 25 lost (as 5 % random loss often does early on) leaves the estimate;
// 16 % of a hundred is congestion.
func TestLossNeedsPackets(t *testing.T) {
	b := newBWE(500_000)
	report := func(n, lost int) {
		b.mu.Lock()
		base := b.next
		b.mu.Unlock()
		for range n {
			b.stamp(&rtp.Header{Version: 2, SSRC: 1}, 1000, 3, false)
		}
		fb := &rtcp.TransportLayerCC{BaseSequenceNumber: base, PacketStatusCount: uint16(n), ReferenceTime: 1,
			PacketChunks: []rtcp.PacketStatusChunk{
				&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: uint16(n - lost)},
				&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: uint16(lost)},
			}}
		for range n - lost {
			fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000})
		}
		b.onFeedback(fb, time.Now())
	}
	report(25, 4)
	if b.congestedEver() || b.estimate() < 500_000 {
		t.Fatalf("4 of 25 lost: congestion %v, estimate %d; want neither", b.congestedEver(), b.estimate())
	}
	report(75, 12)
	if !b.congestedEver() || b.estimate() >= 500_000 {
		t.Fatalf("16 of 100 lost: congestion %v, estimate %d; want a cut", b.congestedEver(), b.estimate())
	}
}
