package httpx_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/roomsd/roomsd/internal/httpx"
)

func TestClientAddr(t *testing.T) {
	trusting := httpx.ClientAddr{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}}
	for _, tc := range []struct {
		name, remote, xff string
		c                 httpx.ClientAddr
		want              string
	}{
		{"no proxies trusted: the peer, whatever it claims", "10.1.2.3:5000", "203.0.113.9", httpx.ClientAddr{}, "10.1.2.3"},
		{"a trusted proxy: the address it names", "10.1.2.3:5000", "203.0.113.9", trusting, "203.0.113.9"},
		{"a chain of trusted proxies", "127.0.0.1:5000", "203.0.113.9, 10.9.9.9", trusting, "203.0.113.9"},
		{"a client's own X-Forwarded-For is not believed past the first untrusted hop", "10.1.2.3:5000", "198.51.100.1, 203.0.113.9", trusting, "203.0.113.9"},
		{"an untrusted peer's header is ignored", "203.0.113.7:5000", "198.51.100.1", trusting, "203.0.113.7"},
		{"an unreadable hop stops the walk", "10.1.2.3:5000", "garbage", trusting, "10.1.2.3"},
		{"IPv6 peers are grouped by /64", "[2001:db8:1:2:3:4:5:6]:5000", "", trusting, "2001:db8:1:2::/64"},
		{"an IPv4-mapped IPv6 peer is its IPv4 address", "[::ffff:198.51.100.4]:5000", "", trusting, "198.51.100.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := tc.c.Key(r); got != tc.want {
				t.Errorf("Key = %q, want %q", got, tc.want)
			}
		})
	}
}
