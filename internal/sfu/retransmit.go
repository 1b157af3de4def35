package sfu

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Retransmission. A subscriber that misses a packet asks for it again
// (a NACK, RFC 4585). Each published layer keeps its recent packets once,
// for all its subscribers (history); each down-track keeps, per sequence
// number it sent, only where the packet came from and how it was
// rewritten (forwarded). A NACK is answered by copying the packet out of
// the layer's history, rewriting it as it was first sent, and sending it
// on the subscriber's RTX stream (RFC 4588) if it negotiated one, else
// again on the media stream.

// histMTU is the largest payload a history slot keeps.
const histMTU = 1500

// History sizes, in packets: over two seconds of camera video (a keyframe
// of a 1.5 Mbit/s layer alone can be 60 packets) and of audio.
const (
	videoHistory = 512
	audioHistory = 128
)

// A packet is resent to a subscriber at most once per round trip: a
// receiver that asks again before the first copy could have reached it
// (receivers ask every 100 ms or so) does not get a second. Until the
// subscriber's reports give the round trip, resendGap stands for it.
//
// A packet is resent to one subscriber at most maxResends times: one that
// keeps asking for a packet (a receiver that does not see what comes back
// on the RTX stream as the packet it asked for) does not eat the budget.
const (
	maxResends   = 3
	resendGap    = 100 * time.Millisecond
	resendGapMin = 20 * time.Millisecond
	resendGapMax = time.Second
)

// ntpEpoch is the NTP time (seconds since 1900) of the Unix epoch.
const ntpEpoch = 2_208_988_800

// ntpMiddle is the middle 32 bits of the NTP time of t, the unit of the
// "last sender report" and "delay since" fields of receiver reports
// (1/65536 s).
func ntpMiddle(t time.Time) uint32 {
	sec := uint64(t.Unix()) + ntpEpoch
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint32(sec<<16 | frac>>16)
}

// noteRTT takes the round trip from a subscriber's receiver reports on
// what the server sent (RFC 3550 section 6.4.1: now, less the time of the
// sender report the receiver last had, less how long it held it).
func (p *Conn) noteRTT(reports []rtcp.ReceptionReport, now time.Time) {
	for _, r := range reports {
		if r.LastSenderReport == 0 {
			continue
		}
		units := ntpMiddle(now) - r.LastSenderReport - r.Delay
		rtt := time.Duration(uint64(units) * uint64(time.Second) >> 16)
		if rtt <= 0 || rtt > 10*time.Second {
			continue // clocks or report out of step
		}
		if old := p.rtt.Load(); old > 0 {
			rtt = (7*time.Duration(old) + rtt) / 8
		}
		p.rtt.Store(int64(rtt))
	}
}

// resendAfter is the least time between two retransmissions of a packet.
func (p *Conn) resendAfter() time.Duration {
	rtt := time.Duration(p.rtt.Load())
	if rtt == 0 {
		return resendGap
	}
	return min(max(rtt, resendGapMin), resendGapMax)
}

// history is one layer's recent packets: written by the layer's read
// loop, read by the subscribers' RTCP readers.
type history struct {
	mu    sync.RWMutex
	slots []histSlot
	buf   []byte // len(slots) payloads of histMTU bytes
}

type histSlot struct {
	seq    uint16
	n      int // payload length
	marker bool
	ok     bool
}

func newHistory(n int) *history {
	return &history{slots: make([]histSlot, n), buf: make([]byte, n*histMTU)}
}

// put keeps a packet with media in it (padding is not kept: it is
// answered with padding).
func (h *history) put(p *rtp.Packet) {
	if len(p.Payload) == 0 || len(p.Payload) > histMTU {
		return
	}
	i := int(p.SequenceNumber) % len(h.slots)
	h.mu.Lock()
	h.slots[i] = histSlot{seq: p.SequenceNumber, n: len(p.Payload), marker: p.Marker, ok: true}
	copy(h.buf[i*histMTU:], p.Payload)
	h.mu.Unlock()
}

// get copies the payload of packet seq into dst; false if it is no longer
// kept.
func (h *history) get(seq uint16, dst []byte) (n int, marker, ok bool) {
	i := int(seq) % len(h.slots)
	h.mu.RLock()
	defer h.mu.RUnlock()
	s := h.slots[i]
	if !s.ok || s.seq != seq || len(dst) < s.n {
		return 0, false, false
	}
	return copy(dst, h.buf[i*histMTU:i*histMTU+s.n]), s.marker, true
}

// forwarded is what a down-track sent under one of its sequence numbers:
// the source packet and how it was rewritten, or padding (l nil).
type forwarded struct {
	l      *layer
	src    uint16 // the source sequence number
	out    uint16 // the sequence number sent
	ts     uint32 // the timestamp sent
	picOff uint16 // the VP8 rewrites applied
	tl0Off uint8
	ok     bool
	resent int64 // when last retransmitted, unix ns
	times  uint8 // how many times retransmitted
}

// keptPackets is how many recent packets a layer's history, and a
// down-track's log of what it sent, keep for a track of this kind.
func keptPackets(kind webrtc.RTPCodecType) int {
	if kind == webrtc.RTPCodecTypeVideo {
		return videoHistory
	}
	return audioHistory
}

// noteSentLocked records what was sent under sequence number out. d.mu is
// held.
func (d *downTrack) noteSentLocked(l *layer, src, out uint16, ts uint32) {
	e := &d.sent[int(out)%len(d.sent)]
	*e = forwarded{l: l, src: src, out: out, ts: ts, picOff: d.picOff, tl0Off: d.tl0Off, ok: true}
}

// resendCounts is what a retransmission request came to.
// (early: resent too recently or too often already).
type resendCounts struct {
	sent, missing, early, overBudget int
}

// retransmit answers a subscriber's request for packets it missed (its
// output sequence numbers).
func (d *downTrack) retransmit(seqs []uint16, now time.Time) resendCounts {
	var c resendCounts
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		return c
	}
	gap := int64(d.sub.resendAfter())
	b := d.t.batch
	b.begin()
	defer b.end()
	for _, seq := range seqs {
		e := &d.sent[int(seq)%len(d.sent)]
		if !e.ok || e.out != seq {
			c.missing++
			continue
		}
		if now.UnixNano()-e.resent < gap || e.times >= maxResends {
			c.early++
			continue
		}
		// The payload goes after the two bytes RTX puts before it.
		buf := d.rtxBuf[2:]
		n, marker := 0, false
		if e.l != nil {
			var ok bool
			if n, marker, ok = e.l.hist.get(e.src, buf); !ok {
				c.missing++
				continue
			}
			if e.picOff != 0 || e.tl0Off != 0 {
				if v, ok := parseVP8(buf[:n]); ok {
					v.shift(buf, e.picOff, e.tl0Off)
				}
			}
		}
		var paddingSize byte
		if e.l == nil {
			paddingSize = paddingBytes
		}
		payload := buf[:n]
		var h *rtp.Header
		if d.rtxSSRC != 0 {
			binary.BigEndian.PutUint16(d.rtxBuf, seq)
			payload = d.rtxBuf[:n+2]
			h = d.headerLocked(d.rtxSSRC, d.rtxPT, d.rtxSeq, e.ts, marker, e.l == nil, paddingSize)
		} else {
			h = d.headerLocked(d.ssrc, d.pt, seq, e.ts, marker, e.l == nil, paddingSize)
		}
		size := h.MarshalSize() + len(payload) + int(h.PaddingSize)
		if d.sub.bwe != nil && !d.sub.bwe.allowRetransmit(size) {
			c.overBudget++
			continue
		}
		if _, err := d.w.WriteRTP(h, payload); err != nil {
			break
		}
		if d.rtxSSRC != 0 {
			d.rtxSeq++
		}
		e.resent = now.UnixNano()
		e.times++
		c.sent++
	}
	return c
}
