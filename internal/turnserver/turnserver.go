// Package turnserver is roomsd's embedded TURN server (pion/turn): for
// participants whose network lets through neither UDP to the media port
// nor TCP to it, media is relayed over TURN (UDP, TCP, or TLS with the
// HTTPS certificate). It is no open relay: a relay reaches this node's
// media address and nothing else, and only UDP relays exist (no TCP
// allocations). Credentials are the usual time-limited ones (the TURN
// REST scheme: user "expiry:name", password the HMAC-SHA1 of it under a
// secret), minted per participant and handed out when it joins.
package turnserver

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v5"

	"github.com/roomsd/roomsd/internal/pionlog"
)

// Config says where the server listens and what its relays may reach.
type Config struct {
	// UDP, TCP and TLS are the listeners (any may be nil, not all).
	UDP net.PacketConn
	TCP net.Listener
	TLS net.Listener
	// RelayIP is the address relays are announced at (the node's public
	// media address); RelayBind is where their sockets are bound.
	RelayIP   net.IP
	RelayBind string
	// Peer is the only address relays may send to and receive from: the
	// node's media address (IP and port).
	Peer *net.UDPAddr
	// Secret keys the credentials; Realm names the server in them.
	Secret []byte
	Realm  string
	Log    *slog.Logger
}

// Server is a running TURN server.
type Server struct {
	s      *turn.Server
	secret []byte
}

// New starts the server on the listeners given.
func New(c Config) (*Server, error) {
	if len(c.Secret) == 0 || c.Peer == nil || c.RelayIP == nil {
		return nil, errors.New("turnserver: a secret, the media address and the relay address are required")
	}
	gen := &relayGenerator{ip: c.RelayIP, bind: c.RelayBind, peer: c.Peer}
	allow := func(_ net.Addr, peer net.IP) bool { return peer.Equal(c.Peer.IP) }
	sc := turn.ServerConfig{Realm: c.Realm, LoggerFactory: pionlog.Factory{Log: c.Log}, AuthHandler: authHandler(c.Secret)}
	if c.UDP != nil {
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: c.UDP, RelayAddressGenerator: gen, PermissionHandler: allow})
	}
	for _, ln := range []net.Listener{c.TCP, c.TLS} {
		if ln != nil {
			sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen, PermissionHandler: allow})
		}
	}
	s, err := turn.NewServer(sc)
	if err != nil {
		return nil, fmt.Errorf("turnserver: %w", err)
	}
	return &Server{s: s, secret: c.Secret}, nil
}

// Credentials mints a username and password for name (a participant id)
// that the server accepts until ttl from now.
func (s *Server) Credentials(name string, ttl time.Duration) (username, password string) {
	username = strconv.FormatInt(time.Now().Add(ttl).Unix(), 10) + ":" + name
	return username, sign(s.secret, username)
}

// Close stops the server and its relays.
func (s *Server) Close() error { return s.s.Close() }

func sign(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// authHandler accepts usernames "expiry:name" not yet expired, with the
// password their HMAC gives.
func authHandler(secret []byte) turn.AuthHandler {
	return func(ra *turn.RequestAttributes) (string, []byte, bool) {
		expiry, _, ok := strings.Cut(ra.Username, ":")
		t, err := strconv.ParseInt(expiry, 10, 64)
		if !ok || err != nil || time.Now().Unix() > t {
			return "", nil, false
		}
		return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, sign(secret, ra.Username)), true
	}
}

// relayGenerator allocates UDP relays whose sockets talk to the media
// address only, and refuses TCP allocations.
type relayGenerator struct {
	ip   net.IP
	bind string
	peer *net.UDPAddr
}

func (g *relayGenerator) Validate() error { return nil }

func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, err := net.ListenPacket(conf.Network, net.JoinHostPort(g.bind, strconv.Itoa(conf.RequestedPort)))
	if err != nil {
		return nil, nil, err
	}
	addr, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok {
		conn.Close()
		return nil, nil, errors.New("turnserver: a relay that is not UDP")
	}
	return &peerOnly{PacketConn: conn, peer: g.peer}, &net.UDPAddr{IP: g.ip, Port: addr.Port}, nil
}

var errNoTCPRelay = errors.New("turnserver: TCP relays are not offered")

func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCPRelay
}

// peerOnly is a relay socket that sends to, and takes packets from, the
// media address alone (its port too: the permission the TURN protocol
// grants is for an IP, and the host may have other services on it).
type peerOnly struct {
	net.PacketConn
	peer *net.UDPAddr
}

var errNotPeer = errors.New("turnserver: this relay reaches the media server only")

func (p *peerOnly) WriteTo(b []byte, to net.Addr) (int, error) {
	if u, ok := to.(*net.UDPAddr); !ok || !u.IP.Equal(p.peer.IP) || u.Port != p.peer.Port {
		return 0, errNotPeer
	}
	return p.PacketConn.WriteTo(b, to)
}

func (p *peerOnly) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := p.PacketConn.ReadFrom(b)
		if err != nil {
			return n, from, err
		}
		if u, ok := from.(*net.UDPAddr); ok && u.IP.Equal(p.peer.IP) && u.Port == p.peer.Port {
			return n, from, nil
		}
	}
}
