package client

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// A retransmission of a simulcast encoding names the encoding with
// repaired-rtp-stream-id, not rid; the encoding's own packets keep rid.
func TestRetransmissionNamesTheRepairedStream(t *testing.T) {
	info := &interceptor.StreamInfo{SSRC: 1, SSRCRetransmission: 2, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{
		{URI: sdp.SDESRTPStreamIDURI, ID: 10}, {URI: sdp.SDESRepairRTPStreamIDURI, ID: 11}}}
	var got []rtp.Header
	w := (&repairedRID{}).BindLocalStream(info, interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
		got = append(got, *h)
		return len(p), nil
	}))
	for _, ssrc := range []uint32{1, 2} {
		h := &rtp.Header{Version: 2, SSRC: ssrc}
		if err := h.SetExtension(10, []byte("f")); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(h, []byte{0, 1, 2}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if rid := got[0].GetExtension(10); string(rid) != "f" || got[0].GetExtension(11) != nil {
		t.Errorf("the encoding's packet: rid %q rrid %q, want rid f", rid, got[0].GetExtension(11))
	}
	if rid, rrid := got[1].GetExtension(10), got[1].GetExtension(11); rid != nil || string(rrid) != "f" {
		t.Errorf("the retransmission: rid %q rrid %q, want rrid f and no rid", rid, rrid)
	}
}
