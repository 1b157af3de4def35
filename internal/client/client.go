// Package client is a roomsd participant written with pion: it joins a
// room through the signaling socket with a client token, publishes a
// synthetic tone and test pattern, receives everyone else and counts what
// arrives. The integration tests and `roomsd bot` are built on it.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/roomsd/roomsd/internal/rtpcodec"
	"github.com/roomsd/roomsd/internal/signal"
)

// Options tune a client.
type Options struct {
	// Context is stored on the participant (a name, say).
	Context string
	// Audio and Video say what to publish.
	Audio, Video bool
	// Loopback pins ICE to 127.0.0.1, for tests and bots on the server's
	// own machine.
	Loopback bool
	// HTTPClient dials the signaling socket (default http.DefaultClient).
	HTTPClient *http.Client
	// Video is what video to publish when Video is set: VideoPattern
	// (the default: a cheap 320x240 test pattern at 15 fps, about 110
	// kbit/s) or a camera-like clip at 30 fps: VideoLow (320x180, 150
	// kbit/s), VideoMedium (640x360, 500 kbit/s) or VideoHigh (1280x720,
	// 1.5 Mbit/s).
	VideoClip VideoClip
	// Simulcast publishes video as three encodings (rids q, h, f: the
	// low, medium and high clips at once), as the meeting page does.
	Simulcast bool
	// Delay holds every packet the client receives for this long, to
	// try a distant link (all media then goes through one UDP socket).
	Delay time.Duration
	// SendLoss drops this share (0 to 1) of the media packets the
	// client sends, at random, as a lossy uplink would; the server's
	// requests to resend are answered (and may be lost again).
	SendLoss float64
	// H264 publishes video as H.264 (constrained baseline, packetization
	// mode 1) instead of VP8, without simulcast: a synthetic stream of
	// the right shape (parameter sets and an IDR slice for a keyframe,
	// then non-IDR slices), not a picture.
	H264 bool
	// TCPOnly connects media over ICE-TCP alone, as a participant whose
	// UDP is blocked must; TCP offers TCP candidates besides UDP ones, as
	// browsers do.
	TCPOnly, TCP bool
	// RelayOnly connects media through the TURN servers the server gave
	// in its joined message, and no other way.
	RelayOnly bool
}

// TrackStats counts what arrived from one remote track.
type TrackStats struct {
	Participant string    `json:"participant_id"`
	Kind        string    `json:"kind"`
	Codec       string    `json:"codec,omitempty"` // the MIME type, e.g. video/VP8
	Packets     int64     `json:"packets"`
	Bytes       int64     `json:"bytes"`
	Keyframes   int64     `json:"keyframes,omitempty"`
	First       time.Time `json:"-"`
	FirstKey    time.Time `json:"-"`
	// Width and Height are the size of the last keyframe received (VP8).
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Frames counts frames begun (video); Freezes counts gaps of more
	// than FreezeGap between two frames; LongestGap is the longest.
	Frames     int64         `json:"frames,omitempty"`
	Freezes    int64         `json:"freezes,omitempty"`
	LongestGap time.Duration `json:"longest_gap_ns,omitempty"`
	// Last is when the last packet arrived.
	Last time.Time `json:"-"`
	// Sizes lists each change in the size of the keyframes received (the
	// layer the server sends), the first one included.
	Sizes []SizeChange `json:"-"`
	// Expected is how many packets the RTP sequence numbers say were
	// sent from the first one received to the highest one: Expected
	// minus Packets were lost.
	Expected int64 `json:"expected"`
	// Duplicates counts second copies of a packet, which Packets does
	// not count.
	Duplicates int64 `json:"duplicates,omitempty"`
}

// copy is a copy of s that shares nothing with it.
func (s *TrackStats) copy() TrackStats {
	cp := *s
	cp.Sizes = append([]SizeChange(nil), s.Sizes...)
	return cp
}

// SizeChange is a keyframe of a new size.
type SizeChange struct {
	At            time.Time
	Width, Height int
}

// FreezeGap is the gap between two video frames that counts as a freeze.
const FreezeGap = 500 * time.Millisecond

// Client is one connected participant.
type Client struct {
	ParticipantID string
	SessionID     string

	ws *websocket.Conn
	pc *webrtc.PeerConnection
	// iceServers came in the joined message (STUN, TURN).
	iceServers []webrtc.ICEServer
	wmu        sync.Mutex
	events     chan signal.Message
	stop       chan struct{}
	done       chan struct{}
	stopped    sync.Once
	sent       atomic.Int64
	udp        net.PacketConn // the delaying socket, if any
	silent     atomic.Bool    // the audio says it is silence (level 127)
	sendErr    atomic.Int64   // frames whose sending failed (see lenient)

	connected  chan struct{} // closed once media is connected
	failed     chan struct{} // closed if ICE or DTLS fails
	iceStarted chan struct{} // closed once ICE has left its "new" state
	connOnce   sync.Once
	failOnce   sync.Once
	iceOnce    sync.Once

	mu           sync.Mutex
	stats        map[string]*TrackStats // stream+kind → stats
	candidates   []webrtc.ICECandidateInit
	err          error
	closeErr     error // why the signaling connection ended
	firstSendErr error // the first failed frame (see lenient)
}

// ConnectURL turns a server base URL (http://host:port) into the
// signaling URL of a room.
func ConnectURL(server, roomID string) string {
	u := strings.TrimSuffix(server, "/")
	u = strings.TrimSuffix(u, "/v2")
	u = strings.Replace(u, "http", "ws", 1)
	return u + "/v2/rooms/" + roomID + "/connect"
}

// maxRedirects bounds the redirects a join follows.
const maxRedirects = 3

// Join connects to url (see ConnectURL) with a client token and returns
// once the server has admitted the participant; media connects in the
// background (see WaitConnected). A redirect (the room's live session is
// on another node of a cluster) is followed.
func Join(ctx context.Context, url, token string, opts Options) (*Client, error) {
	for range maxRedirects {
		c, to, err := join(ctx, url, token, opts)
		if to == "" {
			return c, err
		}
		url = to
	}
	return nil, fmt.Errorf("client: more than %d redirects; the servers disagree on who serves the room", maxRedirects)
}

// join makes one attempt: a client, or the URL the server redirects to.
func join(ctx context.Context, url, token string, opts Options) (*Client, string, error) {
	c, err := dialJoin(ctx, url, token, opts)
	var r *redirectError
	if errors.As(err, &r) {
		return nil, r.url, nil
	}
	return c, "", err
}

type redirectError struct{ url string }

func (e *redirectError) Error() string { return "redirected to " + e.url }

// RetryAfter says how long a 429 answer asks the client to wait (its
// Retry-After, in seconds, 1 s if absent); ok is false for any other
// answer.
func RetryAfter(resp *http.Response) (wait time.Duration, ok bool) {
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		secs = 1
	}
	return time.Duration(secs) * time.Second, true
}

func dialJoin(ctx context.Context, url, token string, opts Options) (*Client, error) {
	var ws *websocket.Conn
	for {
		conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: opts.HTTPClient})
		if err == nil {
			ws = conn
			break
		}
		// Over the server's connection rate: wait as long as it says
		// (within ctx), and dial again.
		if wait, ok := RetryAfter(resp); ok {
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
			}
		}
		return nil, fmt.Errorf("client: dial %s: %w", url, err)
	}
	ws.SetReadLimit(1 << 20)
	c := &Client{ws: ws, events: make(chan signal.Message, 1024), stop: make(chan struct{}), done: make(chan struct{}),
		connected: make(chan struct{}), failed: make(chan struct{}), iceStarted: make(chan struct{}), stats: map[string]*TrackStats{}}
	if err := c.write(ctx, signal.Message{Type: signal.TypeJoin, Token: token, Context: opts.Context}); err != nil {
		ws.CloseNow()
		return nil, err
	}
	first, err := c.read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	if first.Type == signal.TypeRedirect && first.URL != "" {
		ws.CloseNow()
		return nil, &redirectError{url: first.URL}
	}
	if first.Type != signal.TypeJoined {
		ws.CloseNow()
		return nil, &JoinError{Code: first.Code, Message: first.Message}
	}
	c.ParticipantID, c.SessionID = first.ParticipantID, first.SessionID
	c.iceServers = first.ICEServers
	if err := c.setup(ctx, opts); err != nil {
		ws.CloseNow()
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

// JoinError is the server's refusal of a join.
type JoinError struct{ Code, Message string }

func (e *JoinError) Error() string { return "join refused: " + e.Code + ": " + e.Message }

// nacksPerPacket is how many times the client asks for one lost packet.
const nacksPerPacket = 5

func newAPI(loopback, tcpOnly, tcp bool, delay time.Duration, loss float64) (*webrtc.API, net.PacketConn, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, nil, err
	}
	// Lost audio is asked for again too, as it is for video.
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeAudio)
	reg := &interceptor.Registry{}
	if loss > 0 {
		reg.Add(sendLossFactory{rate: loss}) // the lowest: the network
	}
	// Added first, so that it sits below the NACK responder (see rtx.go).
	reg.Add(repairedRIDFactory{})
	// pion's NACK generator does not see the packets that come back on
	// the RTX stream and would ask for them again and again while they
	// are in its window: a few requests per packet (100 ms apart) are
	// enough for a round trip of a few hundred milliseconds.
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(m, reg,
		webrtc.WithNackGeneratorOptions(nack.GeneratorMaxNacksPerPacket(nacksPerPacket))); err != nil {
		return nil, nil, err
	}
	// Say how loud each audio packet is (RFC 6464), as browsers do.
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, err
	}
	se := webrtc.SettingEngine{}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	se.LoggerFactory = lf
	if loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	switch {
	case tcpOnly:
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	case tcp:
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	}
	var conn net.PacketConn
	if delay > 0 {
		addr := "0.0.0.0:0"
		if loopback {
			addr = "127.0.0.1:0"
		}
		udp, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return nil, nil, err
		}
		conn = newDelayConn(udp, delay)
		se.SetICEUDPMux(webrtc.NewICEUDPMux(lf.NewLogger("mux"), conn))
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), conn, nil
}

// setup builds the PeerConnection, starts publishing and sends the first
// offer.
func (c *Client) setup(ctx context.Context, opts Options) error {
	api, conn, err := newAPI(opts.Loopback, opts.TCPOnly, opts.TCP, opts.Delay, opts.SendLoss)
	if err != nil {
		return err
	}
	c.udp = conn
	conf := webrtc.Configuration{ICEServers: c.iceServers}
	if opts.RelayOnly {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return err
	}
	c.pc = pc
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			c.connOnce.Do(func() { close(c.connected) })
		case webrtc.PeerConnectionStateFailed:
			c.failOnce.Do(func() { close(c.failed) })
		}
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s != webrtc.ICEConnectionStateNew {
			c.iceOnce.Do(func() { close(c.iceStarted) })
		}
	})
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			init := cand.ToJSON()
			c.send(signal.Message{Type: signal.TypeCandidate, Candidate: &init})
		}
	})
	pc.OnTrack(c.receive)
	// A data channel keeps the first offer valid when nothing is published.
	if _, err := pc.CreateDataChannel("roomsd", nil); err != nil {
		return err
	}
	if opts.Audio {
		a, err := newAudioTrack("audio", "roomsd-bot", &c.silent)
		if err != nil {
			return err
		}
		tr, err := pc.AddTransceiverFromTrack(a.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		a.transceiver = tr
		go drainRTCP(tr.Sender(), nil)
		go c.run(func() error { return sendAudio(lenient{a, c}, &c.sent, c.stop) })
	}
	if opts.Video {
		if err := c.publishVideo(pc, opts); err != nil {
			return err
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	return c.write(ctx, signal.Message{Type: signal.TypeOffer, SDP: pc.LocalDescription().SDP})
}

// addSendTrack adds a send-only track of the given codec to pc.
func addSendTrack(pc *webrtc.PeerConnection, codec webrtc.RTPCodecCapability, id string) (*webrtc.TrackLocalStaticSample, *webrtc.RTPSender, error) {
	t, err := webrtc.NewTrackLocalStaticSample(codec, id, "roomsd-bot")
	if err != nil {
		return nil, nil, err
	}
	tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, nil, err
	}
	return t, tr.Sender(), nil
}

// publishVideo adds the video track: one clip, or three as simulcast.
func (c *Client) publishVideo(pc *webrtc.PeerConnection, opts Options) error {
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	if opts.H264 {
		h264 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
		t, sender, err := addSendTrack(pc, h264, "video")
		if err != nil {
			return err
		}
		keyframe := &atomic.Bool{}
		go drainRTCP(sender, keyframe)
		go c.run(func() error { return sendH264(lenient{t, c}, keyframe, c.stop) })
		return nil
	}
	if !opts.Simulcast {
		t, sender, err := addSendTrack(pc, vp8, "video")
		if err != nil {
			return err
		}
		keyframe := &atomic.Bool{}
		go drainRTCP(sender, keyframe)
		clip := opts.VideoClip.clip()
		go c.run(func() error { return sendVideo(lenient{t, c}, clip, keyframe, c.stop) })
		return nil
	}
	var tr *webrtc.RTPTransceiver
	for i, rid := range []string{"q", "h", "f"} {
		e, err := newEncoding(vp8, "video", "roomsd-bot", rid)
		if err != nil {
			return err
		}
		if i == 0 {
			if tr, err = pc.AddTransceiverFromTrack(e.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
				return err
			}
		} else if err := tr.Sender().AddEncoding(e.track); err != nil {
			return err
		}
		e.mu.Lock()
		e.transceiver = tr
		e.mu.Unlock()
		keyframe := &atomic.Bool{}
		go drainSimulcastRTCP(tr.Sender(), rid, keyframe)
		clip := VideoClip(int(VideoLow) + i).clip()
		go c.run(func() error { return sendVideo(lenient{e, c}, clip, keyframe, c.stop) })
	}
	return nil
}

// drainSimulcastRTCP is drainRTCP for one encoding of a simulcast sender.
func drainSimulcastRTCP(s *webrtc.RTPSender, rid string, keyframe *atomic.Bool) {
	for {
		pkts, _, err := s.ReadSimulcastRTCP(rid)
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				keyframe.Store(true)
			}
		}
	}
}

// drainRTCP reads a sender's RTCP (which drives the interceptors) and
// notes keyframe requests.
func drainRTCP(s *webrtc.RTPSender, keyframe *atomic.Bool) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if keyframe != nil {
					keyframe.Store(true)
				}
			}
		}
	}
}

// lenient keeps a sender going through a failed write, as a camera or a
// microphone would: the failure is counted (SendErrors, with the first
// error) and the next frame is sent. Only a closed track ends it.
type lenient struct {
	w sampleWriter
	c *Client
}

func (l lenient) WriteSample(s media.Sample) error {
	err := l.w.WriteSample(s)
	if err == nil || errors.Is(err, io.ErrClosedPipe) {
		return err
	}
	if l.c.sendErr.Add(1) == 1 {
		l.c.mu.Lock()
		l.c.firstSendErr = err
		l.c.mu.Unlock()
	}
	return nil
}

// SendErrors reports how many frames could not be sent, and the first
// error.
func (c *Client) SendErrors() (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendErr.Load(), c.firstSendErr
}

func (c *Client) run(fn func() error) {
	if err := fn(); err != nil {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
}

// receive counts one remote track's packets. Like a browser, it asks for
// a keyframe every half second until a video track delivers one.
func (c *Client) receive(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	key := remote.StreamID() + "/" + remote.Kind().String()
	c.mu.Lock()
	st := c.stats[key]
	if st == nil {
		st = &TrackStats{Participant: remote.StreamID(), Kind: remote.Kind().String()}
		c.stats[key] = st
	}
	st.Codec = remote.Codec().MimeType
	c.mu.Unlock()
	video := remote.Kind() == webrtc.RTPCodecTypeVideo
	h264 := strings.EqualFold(st.Codec, webrtc.MimeTypeH264)
	var gotKey atomic.Bool
	if video {
		go func() {
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for !gotKey.Load() {
				c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(remote.SSRC())}})
				select {
				case <-t.C:
				case <-c.stop:
					return
				}
			}
		}()
	}
	var vp8 codecs.VP8Packet
	var base, highest int64 // extended sequence numbers
	var seen [2048]bool     // which of the latest sequence numbers arrived
	var lastTS uint32
	var lastFrame time.Time
	for {
		pkt, _, err := remote.ReadRTP()
		if err != nil {
			return
		}
		keyframe := false
		var width, height int
		if h264 {
			keyframe = rtpcodec.H264Keyframe(pkt.Payload)
			if keyframe {
				gotKey.Store(true)
			}
		} else if video {
			if payload, err := vp8.Unmarshal(pkt.Payload); err == nil && vp8.S == 1 && vp8.PID == 0 && len(payload) > 0 && payload[0]&1 == 0 {
				keyframe = true
				gotKey.Store(true)
				if len(payload) >= 10 && payload[3] == 0x9d && payload[4] == 0x01 && payload[5] == 0x2a {
					width = int(payload[6]) | int(payload[7]&0x3f)<<8
					height = int(payload[8]) | int(payload[9]&0x3f)<<8
				}
			}
		}
		now := time.Now()
		c.mu.Lock()
		ext := int64(pkt.SequenceNumber)
		if st.Packets == 0 {
			st.First = now
			base, highest = ext, ext
		} else {
			ext = highest + int64(int16(pkt.SequenceNumber-uint16(highest)))
			for ; highest < ext; highest++ {
				seen[(highest+1)%int64(len(seen))] = false
			}
		}
		if ext < base || highest-ext >= int64(len(seen)) || seen[ext%int64(len(seen))] {
			// A second copy (a retransmission that crossed the first),
			// or too old to tell.
			st.Duplicates++
			c.mu.Unlock()
			continue
		}
		seen[ext%int64(len(seen))] = true
		st.Expected = highest - base + 1
		st.Packets++
		st.Bytes += int64(len(pkt.Payload))
		st.Last = now
		if video && (st.Frames == 0 || pkt.Timestamp != lastTS) {
			if st.Frames > 0 {
				gap := now.Sub(lastFrame)
				st.LongestGap = max(st.LongestGap, gap)
				if gap > FreezeGap {
					st.Freezes++
				}
			}
			st.Frames++
			lastTS, lastFrame = pkt.Timestamp, now
		}
		if keyframe {
			if st.Keyframes == 0 {
				st.FirstKey = now
			}
			st.Keyframes++
			if height > 0 && (width != st.Width || height != st.Height) {
				st.Width, st.Height = width, height
				st.Sizes = append(st.Sizes, SizeChange{At: now, Width: width, Height: height})
			}
		}
		c.mu.Unlock()
	}
}

// Stats returns what arrived so far, by remote participant and kind.
func (c *Client) Stats() []TrackStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TrackStats, 0, len(c.stats))
	for _, s := range c.stats {
		out = append(out, s.copy())
	}
	return out
}

// Received returns the stats of one remote participant's track kind.
func (c *Client) Received(participantID, kind string) TrackStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.stats[participantID+"/"+kind]; s != nil {
		return s.copy()
	}
	return TrackStats{Participant: participantID, Kind: kind}
}

// SentAudio is how many audio packets this client has published.
func (c *Client) SentAudio() int64 { return c.sent.Load() }

// Events delivers every server message other than negotiation.
func (c *Client) Events() <-chan signal.Message { return c.events }

// Done is closed when the signaling connection ends.
func (c *Client) Done() <-chan struct{} { return c.done }

// SetSilent makes the client's audio say it is silent (audio level 127,
// as a quiet microphone's would) or speaking (level 20 dBov).
func (c *Client) SetSilent(silent bool) { c.silent.Store(silent) }

// MediaFailed is closed if the media connection fails (ICE or DTLS),
// before or after it connected.
func (c *Client) MediaFailed() <-chan struct{} { return c.failed }

// Connected reports whether media is flowing (ICE and DTLS are up).
func (c *Client) Connected() bool {
	return c.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
}

// WaitConnected waits until media is connected (ICE and DTLS are up). It
// returns ErrTimeout when ctx ends first, and an error when the connection
// fails or the signaling connection closes.
func (c *Client) WaitConnected(ctx context.Context) error {
	select {
	case <-c.connected:
		return nil
	default:
	}
	select {
	case <-c.connected:
		return nil
	case <-c.failed:
		return errors.New("client: media connection failed (ICE or DTLS)")
	case <-c.done:
		return errors.New("client: signaling connection closed before media connected")
	case <-ctx.Done():
		return fmt.Errorf("%w waiting for media to connect", ErrTimeout)
	}
}

// ICEServers are the STUN and TURN servers the joined message gave.
func (c *Client) ICEServers() []webrtc.ICEServer { return c.iceServers }

// CloseErr returns the error that ended the signaling connection (a
// websocket.CloseError when the server closed it), once Done is closed.
func (c *Client) CloseErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// Err returns the first error of a media sender, if any.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) write(ctx context.Context, m signal.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// send writes m with a timeout, from callbacks that have no context.
func (c *Client) send(m signal.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.write(ctx, m)
}

// SetTrackSettings tells the server how this client shows a remote video
// (see track_settings in docs/signaling.md).
func (c *Client) SetTrackSettings(ctx context.Context, trackID string, visible bool, width, height int, quality string) error {
	return c.write(ctx, signal.Message{Type: signal.TypeTrackSettings, TrackID: trackID, Visible: &visible, Width: width,
		Height: height, Quality: quality})
}

// Send writes a raw protocol message (tests use it for bad input).
func (c *Client) Send(ctx context.Context, m signal.Message) error { return c.write(ctx, m) }

func (c *Client) read(ctx context.Context) (signal.Message, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return signal.Message{}, err
	}
	var m signal.Message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("client: bad server message: %w", err)
	}
	return m, nil
}

// readLoop answers the server's offers and candidates and passes every
// other message to Events.
func (c *Client) readLoop() {
	defer close(c.done)
	defer close(c.events)
	defer c.shutdown()
	for {
		m, err := c.read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.closeErr = err
			c.mu.Unlock()
			return
		}
		switch m.Type {
		case signal.TypeOffer:
			if err := c.answer(m.SDP); err != nil {
				c.fail(err)
			}
		case signal.TypeAnswer:
			if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				c.fail(err)
			}
			c.flushCandidates()
		case signal.TypeCandidate:
			if m.Candidate != nil {
				c.addCandidate(*m.Candidate)
			}
		default:
			select {
			case c.events <- m:
			default: // nobody is listening; drop rather than stall media
			}
		}
	}
}

// iceStartWait bounds the wait for ICE to start before a server offer is
// applied (see answer).
const iceStartWait = 10 * time.Second

func (c *Client) answer(sdp string) error {
	// pion starts ICE from the first remote description in the
	// background; an offer applied before it has would look like an ICE
	// restart (the remote credentials not yet recorded), and the client
	// would restart its own ICE with credentials the server never sees.
	if c.pc.RemoteDescription() != nil {
		t := time.NewTimer(iceStartWait)
		select {
		case <-c.iceStarted:
		case <-c.stop:
		case <-t.C:
		}
		t.Stop()
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	c.flushCandidates()
	ans, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := c.pc.SetLocalDescription(ans); err != nil {
		return err
	}
	c.send(signal.Message{Type: signal.TypeAnswer, SDP: c.pc.LocalDescription().SDP})
	return nil
}

func (c *Client) addCandidate(cand webrtc.ICECandidateInit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pc.RemoteDescription() == nil {
		c.candidates = append(c.candidates, cand)
		return
	}
	_ = c.pc.AddICECandidate(cand)
}

func (c *Client) flushCandidates() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cand := range c.candidates {
		_ = c.pc.AddICECandidate(cand)
	}
	c.candidates = nil
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *Client) shutdown() {
	c.stopped.Do(func() {
		close(c.stop)
		// pion's close can wait a long time: a bot relayed over TURN on
		// TLS never got past it once, on a loaded machine. A leaving
		// client does not wait for it past closeWait.
		closed := make(chan struct{})
		go func() {
			c.pc.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(closeWait):
		}
		if c.udp != nil {
			c.udp.Close()
		}
	})
}

// closeWait bounds how long Close waits for the PeerConnection to close.
const closeWait = 5 * time.Second

// Leave says goodbye and waits (until ctx ends) for the server to close.
func (c *Client) Leave(ctx context.Context) error {
	if err := c.write(ctx, signal.Message{Type: signal.TypeLeave}); err != nil {
		c.Close()
		return err
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	}
}

// Close drops the connection without a goodbye, as a crash would.
func (c *Client) Close() {
	c.ws.CloseNow()
	c.shutdown()
}

// ErrTimeout is returned by the Wait helpers when their deadline passes.
var ErrTimeout = errors.New("client: timed out")
