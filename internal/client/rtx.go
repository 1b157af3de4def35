package client

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// repairedRID makes the client's retransmissions of a simulcast encoding
// look as a browser's do. pion's NACK responder resends a packet on the
// encoding's RTX stream with the packet's own header extensions, the rid
// included; a receiver that sees that rid on the RTX stream's SSRC takes
// it for the encoding moving to that SSRC (pion's does, and the encoding
// then goes silent there). RFC 8852 says a retransmission names its
// encoding with repaired-rtp-stream-id instead, which is what this does
// below the responder.
type repairedRID struct{ interceptor.NoOp }

type repairedRIDFactory struct{}

func (repairedRIDFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &repairedRID{}, nil
}

func (*repairedRID) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	var ridID, rridID uint8
	for _, e := range info.RTPHeaderExtensions {
		switch e.URI {
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		case sdp.SDESRepairRTPStreamIDURI:
			rridID = uint8(e.ID)
		}
	}
	rtx := info.SSRCRetransmission
	if rtx == 0 || ridID == 0 {
		return writer
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == rtx {
			if rid := h.GetExtension(ridID); rid != nil {
				v := append([]byte(nil), rid...)
				_ = h.DelExtension(ridID)
				if rridID != 0 {
					_ = h.SetExtension(rridID, v)
				}
			}
		}
		return writer.Write(h, payload, a)
	})
}
