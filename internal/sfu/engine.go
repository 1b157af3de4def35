// Package sfu is roomsd's selective forwarding unit: one pion
// PeerConnection per participant; each published track forwarded, through
// a down-track per subscriber, to the participants of the room that
// receive it (every other one, or those that subscribe: the policy of the
// signaling protocol); taps for what is not a participant; congestion
// control, retransmission and keyframe requests. It knows nothing of
// HTTP, JSON or the database: it reports what happens as Events to the
// caller that joined the participant, and takes orders (disconnect, mute,
// close a room) from the rooms service through the Manager.
package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/roomsd/roomsd/internal/pionlog"
)

// Config says how the media server reaches the network.
type Config struct {
	// UDP carries all ICE traffic (pion's UDP mux), one port for every
	// participant. The caller owns it and closes it after the Manager.
	UDP net.PacketConn
	// TCP, when set, carries ICE over TCP (pion's TCP mux: passive
	// candidates on its port) for participants whose UDP is blocked.
	// The caller owns it and closes it after the Manager.
	TCP net.Listener
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
	// OnPublish, if set, hears of every track published in any room (a
	// recorder opens a Tap on it; the tap's queue closes when the track
	// ends). It runs on the media server's goroutine that received the
	// track, outside any lock, and must not block for long.
	OnPublish func(PublishedTrack)
}

// PublishedTrack names a track that was just published.
type PublishedTrack struct {
	RoomID, SessionID, ParticipantID, TrackID string
	Kind                                      webrtc.RTPCodecType
	Codec                                     webrtc.RTPCodecCapability
	// Stream names the publisher's connection that carries the track
	// (ConnOptions.Stream; "" for the main connection).
	Stream string
}

// forwardedCodecs are the codecs the SFU negotiates: Opus for audio, VP8
// and constrained-baseline H.264 (with RTX) for video. Only these are
// offered to subscribers, so every m-line of a server offer lists a
// handful of codecs, not pion's whole default set.
func forwardedCodecs() []struct {
	kind  webrtc.RTPCodecType
	codec webrtc.RTPCodecParameters
} {
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	video := func(mime, fmtp string, pt uint8) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000,
			SDPFmtpLine: fmtp, RTCPFeedback: fb}, PayloadType: webrtc.PayloadType(pt)}
	}
	rtx := func(apt, pt uint8) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000,
			SDPFmtpLine: fmt.Sprintf("apt=%d", apt)}, PayloadType: webrtc.PayloadType(pt)}
	}
	type kc = struct {
		kind  webrtc.RTPCodecType
		codec webrtc.RTPCodecParameters
	}
	a, v := webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo
	return []kc{
		{a, webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000,
			Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}}}, PayloadType: 111}},
		{v, video(webrtc.MimeTypeVP8, "", 96)}, {v, rtx(96, 97)},
		{v, video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 106)}, {v, rtx(106, 107)},
		{v, video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 102)}, {v, rtx(102, 103)},
	}
}

// Congestion control: each subscriber's downlink is estimated from the
// transport-wide feedback (TWCC) the subscriber sends (bwe.go), and the
// estimate starts here.
const (
	initialEstimate = 400_000
	minEstimate     = 50_000
	maxEstimate     = 20_000_000
)

// newAPI builds the WebRTC API on the media socket conn. onEstimator receives each PeerConnection's
// bandwidth estimator, by PeerConnection id, as it is created.
func newAPI(cfg Config, conn net.PacketConn, log *slog.Logger, onEstimator func(pcID string, b *bwe)) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range forwardedCodecs() {
		if err := m.RegisterCodec(c.codec, c.kind); err != nil {
			return nil, fmt.Errorf("sfu: codec %s: %w", c.codec.MimeType, err)
		}
	}
	// Publishers say how loud each audio packet is (RFC 6464): the
	// active-speaker detection reads it.
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("sfu: audio level: %w", err)
	}
	lf := pionlog.Factory{Log: log}
	// Interceptors wrap each outgoing stream in the order they are added,
	// the last outermost, so a packet a down-track writes (retransmissions
	// too) passes the estimator (which gives it its transport-wide
	// sequence number and notes its size and send time) and the sender
	// reports.
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, fmt.Errorf("sfu: interceptors: %w", err)
	}
	// No statistics interceptor: the server never reads pion's getStats,
	// and it would cost work on every packet to every subscriber.
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, fmt.Errorf("sfu: interceptors: %w", err)
	}
	// Feedback on what publishers send us, for their own estimators.
	if err := webrtc.ConfigureTWCCSender(m, reg); err != nil {
		return nil, fmt.Errorf("sfu: interceptors: %w", err)
	}
	// Our own estimator numbers what we send and reads the subscriber's
	// feedback on it (bwe.go).
	reg.Add(bweFactory{onNew: onEstimator})
	// Packets lost on a publisher's uplink are asked for again (NACK).
	// Those lost on a subscriber's downlink are resent by the down-tracks
	// from one history per published layer (retransmit.go), not by an
	// interceptor keeping a copy of every packet for every subscriber.
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, fmt.Errorf("sfu: interceptors: %w", err)
	}
	reg.Add(gen)
	se := webrtc.SettingEngine{}
	// pion's own lines go through roomsd's logger: its warnings and
	// errors at those levels, the rest at debug.
	se.LoggerFactory = lf
	se.SetICEUDPMux(webrtc.NewICEUDPMux(lf.NewLogger("mux"), conn))
	// A server has nothing to find or announce by multicast DNS; without
	// this, every participant's ICE agent opens sockets of its own for it.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCP != nil {
		se.SetICETCPMux(webrtc.NewICETCPMux(lf.NewLogger("tcpmux"), cfg.TCP, 16))
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	if cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
		if cfg.TCP != nil {
			networks = append(networks, webrtc.NetworkTypeTCP4)
		}
	}
	se.SetNetworkTypes(networks)
	if cfg.PublicIP != "" {
		se.SetNAT1To1IPs([]string{cfg.PublicIP}, webrtc.ICECandidateTypeHost)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}
