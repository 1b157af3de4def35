package sfu

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// Bandwidth estimation of one subscriber's downlink, from transport-wide
// congestion control feedback (TWCC): every packet sent to the subscriber
// carries a transport-wide sequence number; the subscriber reports which
// arrived and when; from that the estimator learns the rate the link
// delivers, the loss, and whether a queue is building up on the way
// (one-way delay growing above its minimum). It keeps an estimate that
// falls to a little below the delivered rate when the link is congested,
// creeps up while it is not, and jumps to a rate a probe showed the link
// carries. It runs as a pion interceptor on each PeerConnection, which
// numbers outgoing packets and reads the feedback.
//
// The thresholds: a queue of more than queueCongested (smoothed) or a
// loss of more than lossCongested (over lossWindow) means congestion;
// below queueClear and lossClear the link is clear. Loss alone is a weak
// sign: radio links lose a few percent at random without any queue, and
// an estimate that fell on every lost packet would starve them; nor is a
// loss rate read from a few dozen packets (5 % random loss is 12 % of 40
// packets often enough), so the loss counts from lossMinPackets on. A cut
// happens at most once per cutEvery.
const (
	queueCongested = 60 * time.Millisecond
	queueClear     = 20 * time.Millisecond
	lossCongested  = 0.12
	lossClear      = 0.10
	lossWindow     = time.Second
	lossMinPackets = 80
	cutFactor      = 0.85
	cutMost        = 0.3
	cutEvery       = time.Second
	growPerSecond  = 0.05 // while clear, and up to growCeiling × delivered
	growCeiling    = 1.5
	rateWindow     = 500 * time.Millisecond
	rtxShare       = 0.15
	probeDelivered = 0.8
	rtxBurst       = time.Second
	baseDelayReset = 10 * time.Second

	sentRing = 1 << 12 // packets remembered until their feedback; divides 65536
	ackRing  = 1 << 10 // acknowledged packets kept for the delivered rate
)

type sentPacket struct {
	at    time.Time
	size  int
	seq   uint16
	valid bool
	// rtx marks a retransmission: it counts in the delivered rate when it
	// arrives, but not as loss when reported missing (receivers, pion's
	// among them, may drop a repair packet before their feedback sees it).
	rtx bool
}

type ackedPacket struct {
	arrival time.Duration // in the subscriber's clock
	size    int
}

// bwe is one PeerConnection's estimator. Safe for concurrent use.
type bwe struct {
	mu   sync.Mutex
	next uint16
	sent [sentRing]sentPacket
	ext  [sentRing][2]byte // the extension payloads, one per sequence number in flight

	start      time.Time // the local epoch of delay samples
	est        int
	feedback   bool
	numbered   bool // a stream negotiated the transport-wide sequence number
	lastCut    time.Time
	lastGrow   time.Time
	congestion time.Time // the last time the link was seen congested

	queue        float64 // smoothed queueing delay, ms
	queuedBefore bool    // the last report saw a queue
	loss         float64 // loss fraction over about lossWindow
	lossSure     bool    // loss is read from lossMinPackets or more
	lossCur      [2]int  // lost, reported in the current half window
	lossPrev     [2]int
	lossSince    time.Time
	base         float64 // minimum one-way delay seen (ms, arbitrary offset)
	baseNext     float64 // the minimum since baseSince, to replace base
	baseSince    time.Time
	haveBase     bool
	acked        [ackRing]ackedPacket
	ackedN       int
	ackedHead    int
	rtxBytes     int
	rtxSince     time.Time
	rtxRate      int
	rtxTokens    float64 // bytes of retransmission allowed now
	rtxRefill    time.Time
}

func newBWE(initial int) *bwe {
	now := time.Now()
	return &bwe{start: now, est: initial, lastGrow: now, rtxSince: now, rtxRefill: now,
		rtxTokens: float64(initial) * rtxShare / 8 * rtxBurst.Seconds()}
}

// allowRetransmit reports whether a retransmission of size bytes fits the
// budget, and takes it from the budget if so: retransmissions may use up
// to rtxShare of the estimate (a subscriber asking for more than its link
// can carry would otherwise be sent a storm of retransmissions that
// starves everything).
func (b *bwe) allowRetransmit(size int) bool {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	rate := float64(b.est) * rtxShare / 8 // bytes/s
	b.rtxTokens = min(b.rtxTokens+now.Sub(b.rtxRefill).Seconds()*rate, rate*rtxBurst.Seconds())
	b.rtxRefill = now
	if b.rtxTokens < float64(size) {
		return false
	}
	b.rtxTokens -= float64(size)
	b.rtxBytes += size
	return true
}

// stamp gives an outgoing packet its transport-wide sequence number
// (header extension id) and remembers its size and send time. rtx says it
// is a retransmission, whose loss is not a sign of congestion of its own.
func (b *bwe) stamp(h *rtp.Header, payloadLen int, id uint8, rtx bool) {
	now := time.Now()
	size := h.MarshalSize() + payloadLen + 4 // the extension is added below
	if h.Padding {
		size += int(h.PaddingSize)
	}
	b.mu.Lock()
	seq := b.next
	b.next++
	slot := &b.ext[seq%sentRing]
	binary.BigEndian.PutUint16(slot[:], seq)
	b.sent[seq%sentRing] = sentPacket{at: now, size: size, seq: seq, valid: true, rtx: rtx}
	b.mu.Unlock()
	// The slot is not reused for another sequence number until sentRing
	// packets later, long after this one has been written.
	_ = h.SetExtension(id, slot[:])
}

// estimate is the estimated downlink, bits/s.
func (b *bwe) estimate() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.est
}

// inUse reports whether the subscriber negotiated transport-wide
// feedback on what it receives (so the estimate applies), or has sent
// some.
func (b *bwe) inUse() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.feedback || b.numbered
}

// retransmitRate is the rate of retransmissions (RTX), bits/s, over the
// last second or so.
func (b *bwe) retransmitRate(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el := now.Sub(b.rtxSince); el >= time.Second {
		b.rtxRate = int(float64(b.rtxBytes*8) / el.Seconds())
		b.rtxBytes, b.rtxSince = 0, now
	}
	return b.rtxRate
}

// congestedEver reports whether the link has been seen congested at all.
func (b *bwe) congestedEver() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.congestion.IsZero()
}

// congestedSince reports whether the link was seen congested at or after t.
func (b *bwe) congestedSince(t time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.congestion.Before(t)
}

// proved raises the estimate to what a probe showed the link delivers,
// and reports whether it did: the link must have been clear of congestion
// since start and have delivered more than the estimate; having delivered
// probeDelivered of the target counts as the target.
func (b *bwe) proved(start time.Time, target int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.congestion.Before(start) {
		return false
	}
	r := b.deliveredLocked()
	if float64(r) >= float64(target)*probeDelivered {
		r = target // the window still holds some of the time before the probe
	}
	r = min(r, target)
	if r <= b.est {
		return false
	}
	b.est = r
	return true
}

// deliveredLocked is the rate the subscriber received over the last
// rateWindow of arrivals, bits/s; 0 if too little is known.
func (b *bwe) deliveredLocked() int {
	if b.ackedN < 2 {
		return 0
	}
	newest := b.acked[(b.ackedHead-1+ackRing)%ackRing].arrival
	bytes := 0
	oldest := newest
	for i := 1; i <= b.ackedN; i++ {
		a := b.acked[(b.ackedHead-i+ackRing)%ackRing]
		if newest-a.arrival > rateWindow {
			break
		}
		bytes += a.size
		oldest = a.arrival
	}
	span := newest - oldest
	if span < rateWindow/4 {
		return 0
	}
	return int(float64(bytes*8) / span.Seconds())
}

// onFeedback takes one transport-wide feedback report.
func (b *bwe) onFeedback(fb *rtcp.TransportLayerCC, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.feedback = true
	arrival := time.Duration(fb.ReferenceTime) * 64 * time.Millisecond
	seq := fb.BaseSequenceNumber
	left := int(fb.PacketStatusCount)
	deltas := fb.RecvDeltas
	var received, lost int
	var queueSum float64
	status := func(sym uint16) {
		if left <= 0 {
			return
		}
		left--
		s := &b.sent[seq%sentRing]
		mine := s.valid && s.seq == seq
		switch sym {
		case rtcp.TypeTCCPacketReceivedSmallDelta, rtcp.TypeTCCPacketReceivedLargeDelta:
			if len(deltas) > 0 {
				arrival += time.Duration(deltas[0].Delta) * time.Microsecond
				deltas = deltas[1:]
			}
			if mine && !s.rtx {
				owd := float64(arrival)/1e6 - float64(s.at.Sub(b.start))/1e6
				if !b.haveBase || owd < b.base {
					b.base, b.haveBase = owd, true
				}
				if b.baseSince.IsZero() || owd < b.baseNext {
					b.baseNext = owd
				}
				queueSum += owd - b.base
				received++
			}
			if mine {
				b.acked[b.ackedHead] = ackedPacket{arrival: arrival, size: s.size}
				b.ackedHead = (b.ackedHead + 1) % ackRing
				b.ackedN = min(b.ackedN+1, ackRing)
				s.valid = false
			}
		case rtcp.TypeTCCPacketNotReceived:
			if mine && !s.rtx {
				lost++
				s.valid = false
			}
		}
		seq++
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range c.RunLength {
				status(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, sym := range c.SymbolList {
				status(sym)
			}
		}
	}
	// The minimum delay is taken over a sliding span, so that a route
	// that got longer is not read as a queue for ever.
	if b.baseSince.IsZero() {
		b.baseSince = now
	} else if now.Sub(b.baseSince) > baseDelayReset {
		b.base, b.baseSince = b.baseNext, now
		b.baseNext = b.base
	}
	if received > 0 {
		b.queue = 0.7*b.queue + 0.3*(queueSum/float64(received))
	}
	// Loss over the last second or so, in two halves: one report of a
	// few packets says little, and random loss is not congestion.
	if now.Sub(b.lossSince) > lossWindow/2 {
		b.lossPrev, b.lossCur, b.lossSince = b.lossCur, [2]int{}, now
	}
	b.lossCur[0] += lost
	b.lossCur[1] += received + lost
	if n := b.lossCur[1] + b.lossPrev[1]; n > 0 {
		b.loss = float64(b.lossCur[0]+b.lossPrev[0]) / float64(n)
		b.lossSure = n >= lossMinPackets
	}
	b.update(now)
}

// update moves the estimate after a report; b.mu is held.
func (b *bwe) update(now time.Time) {
	queue := time.Duration(b.queue * float64(time.Millisecond))
	delivered := b.deliveredLocked()
	// A queue counts when two reports in a row see it: one late report
	// (a stalled receiver, a busy machine) is not a congested link.
	queued := queue > queueCongested && b.queuedBefore
	b.queuedBefore = queue > queueCongested
	switch {
	case queued || b.lossSure && b.loss > lossCongested:
		b.congestion = now
		if now.Sub(b.lastCut) >= cutEvery {
			b.lastCut = now
			// Down to a little below what the link delivers: a link that
			// stays congested (the sender slow to follow) does not drive
			// the estimate lower and lower.
			cut := float64(b.est) * cutFactor
			if delivered > 0 {
				cut = min(float64(b.est), float64(delivered)*cutFactor)
			}
			// One cut takes at most cutMost off: a rate read in a burst
			// after a stall can be far below the link's.
			cut = max(cut, float64(b.est)*(1-cutMost))
			b.est = max(minEstimate, int(cut))
		}
		b.lastGrow = now
	case queue < queueClear && (b.loss < lossClear || !b.lossSure):
		el := now.Sub(b.lastGrow).Seconds()
		b.lastGrow = now
		grown := int(float64(b.est) * (1 + growPerSecond*min(el, 1)))
		if delivered > 0 {
			grown = min(grown, max(b.est, int(float64(delivered)*growCeiling)))
		}
		b.est = min(max(b.est, grown), maxEstimate)
	default:
		b.lastGrow = now
	}
}

// bweInterceptor numbers one PeerConnection's outgoing packets and feeds
// its estimator the subscriber's feedback.
type bweInterceptor struct {
	interceptor.NoOp
	b *bwe
}

// bweFactory makes one bweInterceptor per PeerConnection and hands its
// estimator to onNew, by PeerConnection id.
type bweFactory struct {
	onNew func(pcID string, b *bwe)
}

func (f bweFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	b := newBWE(initialEstimate)
	f.onNew(id, b)
	return &bweInterceptor{b: b}, nil
}

func (i *bweInterceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return writer // not negotiated: no feedback will come
	}
	i.b.mu.Lock()
	i.b.numbered = true
	i.b.mu.Unlock()
	rtx := info.SSRCRetransmission
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		i.b.stamp(h, len(payload), id, rtx != 0 && h.SSRC == rtx)
		return writer.Write(h, payload, a)
	})
}

func (i *bweInterceptor) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(buf []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(buf, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = interceptor.Attributes{}
		}
		pkts, err := a.GetRTCPPackets(buf[:n])
		if err != nil {
			return n, a, nil // not ours to refuse
		}
		now := time.Now()
		for _, p := range pkts {
			if fb, ok := p.(*rtcp.TransportLayerCC); ok {
				i.b.onFeedback(fb, now)
			}
		}
		return n, a, nil
	})
}
