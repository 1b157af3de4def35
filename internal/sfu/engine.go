// Package sfu is roomsd's selective forwarding unit: one pion
// PeerConnection per participant, every published track forwarded to every
// other participant of the room, RTCP handled by pion's interceptors, and
// picture-loss requests relayed to the publisher. It knows nothing of
// HTTP, JSON or the database: it reports what happens as Events to the
// caller that joined the participant, and takes orders (disconnect, mute,
// close a room) from the rooms service through the Manager.
package sfu

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Config says how the media server reaches the network.
type Config struct {
	// UDP carries all ICE traffic (pion's UDP mux), one port for every
	// participant. The caller owns it and closes it after the Manager.
	UDP net.PacketConn
	// PublicIP, when set, is advertised instead of the host's own
	// addresses (1:1 NAT).
	PublicIP string
	// ICEServers are STUN/TURN URLs offered to participants.
	ICEServers []webrtc.ICEServer
	// Loopback includes 127.0.0.1 candidates and only them: for tests and
	// for trying roomsd on one machine.
	Loopback bool
	// EmptyTimeout is how long a room stays empty before OnEmpty runs.
	EmptyTimeout time.Duration
	// OnEmpty runs when a room has had nobody in it for EmptyTimeout.
	OnEmpty func(roomID string)
	// ConnectTimeout is how long a participant may take to connect its
	// media before it is dropped (default 30s).
	ConnectTimeout time.Duration
	// KeyframeInterval is the least time between two keyframe requests
	// relayed to one publisher track (default 500ms).
	KeyframeInterval time.Duration
}

func newAPI(cfg Config) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("sfu: codecs: %w", err)
	}
	reg := &interceptor.Registry{}
	// Each outgoing stream keeps packets for retransmission on NACK. 256 of
	// them (pion's default is 1,024) cover over a second of camera video at
	// a quarter of the memory per subscriber.
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(m, reg,
		webrtc.WithNackResponderOptions(nack.ResponderSize(256))); err != nil {
		return nil, fmt.Errorf("sfu: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	// pion's own logging is quiet: what matters is reported through
	// roomsd's log by the callers.
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	se.LoggerFactory = lf
	se.SetICEUDPMux(webrtc.NewICEUDPMux(lf.NewLogger("mux"), cfg.UDP))
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	if cfg.PublicIP != "" {
		se.SetNAT1To1IPs([]string{cfg.PublicIP}, webrtc.ICECandidateTypeHost)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}
