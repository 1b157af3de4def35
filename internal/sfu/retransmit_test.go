package sfu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// subscribeRTX binds a down-track whose subscriber negotiated an RTX
// stream (SSRC 6000, payload type 121) and has an estimator of its own.
func (b *bench) subscribeRTX(tb testing.TB, estimate int) (*downTrack, *sink) {
	tb.Helper()
	d := newDownTrack(b.t, &Conn{p: &Participant{id: "sub"}, bwe: newBWE(estimate)}, Settings{})
	w := &sink{keep: true}
	if _, err := d.Bind(binding{ssrc: 5000, w: w, codec: b.t.codec, pt: 120, rtx: 6000}); err != nil {
		tb.Fatal(err)
	}
	d.setMaxQuality(qualityHigh)
	b.t.addDown(d)
	return d, w
}

// A packet a subscriber missed is sent again exactly as it was first sent
// to that subscriber (its sequence number, timestamp, marker, and VP8
// picture id and TL0PICIDX as rewritten after a layer switch), on its RTX
// stream with the original sequence number in front; padding is answered
// with padding. The packets come from the layer's one history, shared by
// all subscribers.
func TestRetransmissionOnRTX(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeVideo, qualityLow, qualityHigh)
	d, w := b.subscribeRTX(t, 10_000_000)
	d.apply(Settings{Height: 180})
	d.reselect()
	lowSeq, highSeq := uint16(65530), uint16(300) // the low layer wraps
	lowPic, highPic := uint16(32765), uint16(9)
	lowTS, highTS := uint32(4_294_960_000), uint32(7_000_000)
	frame := func(q int, key bool) {
		b.now = b.now.Add(33 * time.Millisecond)
		if q == qualityLow {
			p := vp8Packet(100, lowSeq, lowTS, lowPic, uint8(lowPic), key, 180)
			lowTS += 3000
			p.Marker = true
			b.send(qualityLow, p, 0)
			lowSeq++
			lowPic = (lowPic + 1) & 0x7fff
			return
		}
		b.send(qualityHigh, vp8Packet(102, highSeq, highTS, highPic, uint8(highPic), key, 720), 0)
		highTS += 3000
		highSeq++
		highPic++
	}
	frame(qualityLow, true)
	for range 10 {
		frame(qualityLow, false)
	}
	d.pad(2)
	d.apply(Settings{Height: 720})
	d.reselect()
	frame(qualityHigh, true)
	for range 10 {
		frame(qualityHigh, false)
	}
	first := append([]rtp.Packet(nil), w.got...)
	if len(first) != 24 {
		t.Fatalf("%d packets sent, want 11 low, 2 padding, 11 high", len(first))
	}
	for i := 1; i < len(first); i++ {
		if first[i].SequenceNumber != first[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, first[i].SequenceNumber, first[i-1].SequenceNumber)
		}
	}
	if first[13].Payload[2]&0x7f == 9 {
		t.Fatal("the high layer's picture ids were not rewritten: the test would not show their retransmission")
	}

	var asked []uint16
	for _, p := range first {
		asked = append(asked, p.SequenceNumber)
	}
	c := d.retransmit(asked, b.now)
	if c.sent != len(first) || c.missing != 0 {
		t.Fatalf("retransmitted %+v, want all %d", c, len(first))
	}
	resent := w.got[len(first):]
	for i, r := range resent {
		o := first[i]
		if r.SSRC != 6000 || r.PayloadType != 121 {
			t.Fatalf("retransmission %d on ssrc %d pt %d, want the RTX stream 6000/121", i, r.SSRC, r.PayloadType)
		}
		if i > 0 && r.SequenceNumber != resent[i-1].SequenceNumber+1 {
			t.Fatalf("RTX sequence %d after %d", r.SequenceNumber, resent[i-1].SequenceNumber)
		}
		if osn := binary.BigEndian.Uint16(r.Payload); osn != o.SequenceNumber {
			t.Fatalf("retransmission %d carries sequence %d, want %d", i, osn, o.SequenceNumber)
		}
		if r.Timestamp != o.Timestamp || r.Marker != o.Marker || r.Padding != o.Padding || !bytes.Equal(r.Payload[2:], o.Payload) {
			t.Fatalf("retransmission %d differs from what was sent:\n got %+v %x\nwant %+v %x", i, r.Header, r.Payload[2:], o.Header, o.Payload)
		}
	}

	// Asked again at once (the first copy is still on its way): not resent.
	if c := d.retransmit(asked[:3], b.now.Add(resendGap/2)); c.sent != 0 || c.early != 3 {
		t.Errorf("asked again at once: %+v, want 3 too early", c)
	}
	if c := d.retransmit(asked[:3], b.now.Add(resendGap)); c.sent != 3 {
		t.Errorf("asked again later: %+v, want 3 resent", c)
	}
	// Never sent, or sent too long ago to be kept.
	if c := d.retransmit([]uint16{asked[0] - 1, asked[len(asked)-1] + 1}, b.now); c.missing != 2 {
		t.Errorf("asked for packets never sent: %+v, want 2 missing", c)
	}
	for range videoHistory {
		frame(qualityHigh, false)
	}
	if c := d.retransmit(asked[20:21], b.now.Add(time.Second)); c.missing != 1 {
		t.Errorf("asked for a packet %d packets old: %+v, want it gone", videoHistory, c)
	}
}

// Without an RTX stream (audio), a missed packet is sent again on the
// media stream under its own sequence number.
func TestRetransmissionInBand(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeAudio, qualityHigh)
	d, w := b.subscribe(t, Settings{}, true)
	for seq := uint16(0); seq < 20; seq++ {
		b.send(qualityHigh, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 900 + seq, Timestamp: uint32(seq) * 960, SSRC: 1},
			Payload: []byte{byte(seq), 2, 3}}, 20*time.Millisecond)
	}
	c := d.retransmit([]uint16{w.got[4].SequenceNumber, w.got[17].SequenceNumber}, b.now)
	if c.sent != 2 || len(w.got) != 22 {
		t.Fatalf("retransmitted %+v, %d packets in all; want 2 resent", c, len(w.got))
	}
	for i, o := range []rtp.Packet{w.got[4], w.got[17]} {
		r := w.got[20+i]
		if r.SSRC != o.SSRC || r.PayloadType != o.PayloadType || r.SequenceNumber != o.SequenceNumber ||
			r.Timestamp != o.Timestamp || !bytes.Equal(r.Payload, o.Payload) {
			t.Errorf("resent %+v %x, want a copy of %+v %x", r.Header, r.Payload, o.Header, o.Payload)
		}
	}
}

// Retransmissions are paid from the subscriber's budget: one whose
// downlink is small gets the few that fit, not every packet it asks for.
func TestRetransmissionWithinBudget(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeVideo, qualityHigh)
	d, w := b.subscribeRTX(t, 200_000) // 30 kbit/s for retransmissions: 3,750 bytes in a burst
	for i := range 40 {
		p := vp8Packet(102, uint16(i), uint32(i)*3000, uint16(i), uint8(i), i == 0, 720)
		p.Payload = append(p.Payload, make([]byte, 1000)...)
		b.send(qualityHigh, p, 33*time.Millisecond)
	}
	var asked []uint16
	for _, p := range w.got {
		asked = append(asked, p.SequenceNumber)
	}
	c := d.retransmit(asked, b.now)
	if c.sent < 2 || c.sent > 4 || c.overBudget != len(asked)-c.sent {
		t.Errorf("retransmitted %+v of %d asked, want the 3 or so that fit", c, len(asked))
	}
}

// The forwarding loop still allocates nothing with the history and the
// log of what was sent.
func BenchmarkRetransmitTen(b *testing.B) {
	be := newBench(webrtc.RTPCodecTypeVideo, qualityHigh)
	d, _ := be.subscribeRTX(b, 10_000_000)
	for i := range 100 {
		be.send(qualityHigh, vp8Packet(102, uint16(i), uint32(i)*3000, uint16(i), uint8(i), i == 0, 720), 33*time.Millisecond)
	}
	seqs := make([]uint16, 10)
	b.ReportAllocs()
	now := be.now
	for i := 0; b.Loop(); i++ {
		for j := range seqs {
			seqs[j] = uint16(50 + j)
		}
		now = now.Add(resendGap)
		d.retransmit(seqs, now)
	}
}

// The round trip is read from receiver reports, and a packet is resent at
// most once per round trip, and at most maxResends times.
func TestResendOncePerRoundTrip(t *testing.T) {
	p := &Conn{p: &Participant{id: "sub"}}
	if got := p.resendAfter(); got != resendGap {
		t.Fatalf("before any report: %v, want %v", got, resendGap)
	}
	now := time.Now()
	// The server's report left 300 ms ago; the receiver held it 100 ms.
	p.noteRTT([]rtcp.ReceptionReport{{SSRC: 5000, LastSenderReport: ntpMiddle(now.Add(-300 * time.Millisecond)), Delay: 6554}}, now)
	if got := p.resendAfter(); got < 195*time.Millisecond || got > 205*time.Millisecond {
		t.Fatalf("round trip %v, want 200 ms", got)
	}

	b := newBench(webrtc.RTPCodecTypeAudio, qualityHigh)
	d, w := b.subscribe(t, Settings{}, true)
	d.sub = p
	for seq := uint16(0); seq < 5; seq++ {
		b.send(qualityHigh, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 1},
			Payload: []byte{1}}, 20*time.Millisecond)
	}
	seq := w.got[2].SequenceNumber
	for i, want := range []int{1, 0, 1, 1, 0} { // at 0, 150, 210, 420 and 630 ms
		at := b.now.Add([]time.Duration{0, 150, 210, 420, 630}[i] * time.Millisecond)
		if c := d.retransmit([]uint16{seq}, at); c.sent != want {
			t.Errorf("request %d: %+v, want %d resent", i, c, want)
		}
	}
}

// A NACK's pairs are read in full, and no more than maxNacked sequence
// numbers are taken from one request, however many pairs it holds.
func TestNackedSeqs(t *testing.T) {
	got := nackedSeqs(nil, []rtcp.NackPair{{PacketID: 10, LostPackets: 0b101}, {PacketID: 40}})
	if want := []uint16{10, 11, 13, 40}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sequence numbers %v, want %v", got, want)
	}
	var many []rtcp.NackPair
	for i := range 100 {
		many = append(many, rtcp.NackPair{PacketID: uint16(i * 17), LostPackets: 0xffff})
	}
	if got := nackedSeqs(nil, many); len(got) != maxNacked {
		t.Errorf("%d sequence numbers from 100 full pairs, want the %d cap", len(got), maxNacked)
	}
}
