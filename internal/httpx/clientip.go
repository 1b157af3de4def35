package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr finds who sent a request: the connection's peer, or, when
// that peer is one of the trusted proxies, the address it names in
// X-Forwarded-For (the rightmost that is not itself a trusted proxy).
type ClientAddr struct {
	Trusted []netip.Prefix
}

// Of returns r's client address ("" if it cannot be read).
func (c ClientAddr) Of(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	addr = addr.Unmap()
	if !c.trusted(addr) {
		return addr
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return addr // a hop we cannot read: the last proxy is who we know
			}
			hop = hop.Unmap()
			if !c.trusted(hop) {
				return hop
			}
			addr = hop
		}
	}
	return addr
}

// Key is the client address as a rate-limit key: an IPv4 address, or
// the /64 an IPv6 address is in (one host usually holds a whole /64).
func (c ClientAddr) Key(r *http.Request) string {
	addr := c.Of(r)
	if !addr.IsValid() {
		return "unknown"
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func (c ClientAddr) trusted(a netip.Addr) bool {
	for _, p := range c.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
