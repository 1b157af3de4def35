package sfu

import (
	"slices"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
)

// Stats is what the media server holds now and what it has done since it
// started, for metrics.
type Stats struct {
	Rooms        int
	Participants int
	// PublishedTracks are the tracks participants send; Subscriptions
	// are the tracks forwarded to participants (one per subscriber).
	PublishedTracks int
	Subscriptions   int
	// Connections counts connected participants by the kind of their
	// media path: the remote candidate's type (host, srflx, prflx,
	// relay) and the transport (udp, tcp), as "relay/udp".
	Connections map[string]int

	// ForwardedPackets and ForwardedBytes are the RTP packets (and their
	// payload and header bytes) sent to subscribers, retransmissions and
	// padding aside.
	ForwardedPackets uint64
	ForwardedBytes   uint64
	// NACKedPackets are the packets subscribers asked for again;
	// Retransmitted those sent again.
	NACKedPackets uint64
	Retransmitted uint64
	// KeyframeRequests are the picture-loss requests sent to publishers.
	KeyframeRequests uint64
}

// counters are the media server's running counts.
type counters struct {
	packets, bytes, nacked, resent, keyframes atomic.Uint64
}

// Stats reports what the media server holds now and has done.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	s := Stats{Rooms: len(m.rooms), Participants: len(m.participants), Connections: map[string]int{}}
	all := make([]*Participant, 0, len(m.participants))
	for _, p := range m.participants {
		all = append(all, p)
	}
	m.mu.Unlock()
	for _, p := range all {
		p.mu.Lock()
		s.PublishedTracks += len(p.tracks)
		conns := slices.Clone(p.conns)
		for _, c := range conns {
			s.Subscriptions += len(c.subs)
		}
		p.mu.Unlock()
		for _, c := range conns {
			if kind, _ := c.path.Load().(string); kind != "" && c.connected.Load() {
				s.Connections[kind]++
			}
		}
	}
	s.ForwardedPackets = m.counts.packets.Load()
	s.ForwardedBytes = m.counts.bytes.Load()
	s.NACKedPackets = m.counts.nacked.Load()
	s.Retransmitted = m.counts.resent.Load()
	s.KeyframeRequests = m.counts.keyframes.Load()
	return s
}

// notePath records the kind of the participant's selected media path.
func (p *Conn) notePath() {
	sctp := p.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil || pair.Local == nil {
		return
	}
	proto := "udp"
	if pair.Local.Protocol == webrtc.ICEProtocolTCP {
		proto = "tcp"
	}
	p.path.Store(pair.Remote.Typ.String() + "/" + proto)
}
