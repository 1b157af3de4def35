package sfu

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// DataConn is a connection that carries data channels only, on the media
// server's port: a chat, set up by a front end before (and apart from)
// its participant's media. The server offers; the client opens the
// channels.
type DataConn struct {
	pc        *webrtc.PeerConnection
	connected atomic.Bool
	once      sync.Once
	done      chan struct{}

	mu    sync.Mutex
	early []webrtc.ICECandidateInit // candidates before the answer
}

// NewDataConn opens a data connection; onChannel receives each data
// channel the client opens on it. It closes itself if it does not connect
// within the media server's ConnectTimeout.
func (m *Manager) NewDataConn(onChannel func(*webrtc.DataChannel)) (*DataConn, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	pc, err := m.api.NewPeerConnection(webrtc.Configuration{ICEServers: m.cfg.ICEServers})
	if err != nil {
		return nil, fmt.Errorf("sfu: peer connection: %w", err)
	}
	m.takeEstimator(pc.ID()) // no media: no estimate
	d := &DataConn{pc: pc, done: make(chan struct{})}
	pc.OnDataChannel(onChannel)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			d.connected.Store(true)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			d.Close()
		}
	})
	time.AfterFunc(m.cfg.ConnectTimeout, func() {
		if !d.connected.Load() {
			d.Close()
		}
	})
	// A channel of our own, never announced to the client, is what makes
	// pion offer a data section.
	id, neg := uint16(1023), true
	if _, err := pc.CreateDataChannel("roomsd", &webrtc.DataChannelInit{Negotiated: &neg, ID: &id}); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("sfu: data section: %w", err)
	}
	return d, nil
}

// Offer returns the server's offer once it holds every server candidate.
func (d *DataConn) Offer(ctx context.Context) (string, error) {
	gathered, err := setOffer(d.pc)
	if err != nil {
		return "", err
	}
	return complete(ctx, d.pc, gathered, d.done)
}

// Accept applies the client's answer, and the candidates that came
// before it.
func (d *DataConn) Accept(answer string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return err
	}
	for _, c := range d.early {
		_ = d.pc.AddICECandidate(c)
	}
	d.early = nil
	return nil
}

// AddCandidate adds a remote ICE candidate (held until the answer).
func (d *DataConn) AddCandidate(c webrtc.ICECandidateInit) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pc.RemoteDescription() == nil {
		if len(d.early) < 64 {
			d.early = append(d.early, c)
		}
		return nil
	}
	return d.pc.AddICECandidate(c)
}

// Close closes the connection. Safe to call more than once.
func (d *DataConn) Close() {
	d.once.Do(func() {
		close(d.done)
		go func() { _ = d.pc.Close() }() // from pion's own callbacks too
	})
}
