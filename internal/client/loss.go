package client

import (
	"math/rand/v2"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// sendLoss drops a random share of the media packets the client sends, as
// a lossy uplink would: below the NACK responder, so that what the server
// asks for again is resent (and may be lost again).
type sendLoss struct {
	interceptor.NoOp
	rate float64
}

type sendLossFactory struct{ rate float64 }

func (f sendLossFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &sendLoss{rate: f.rate}, nil
}

func (l *sendLoss) BindLocalStream(_ *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if rand.Float64() < l.rate {
			return len(payload), nil // lost on the way
		}
		return writer.Write(h, payload, a)
	})
}
