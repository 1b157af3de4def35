package sfu

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receive reads n datagrams (each read has a generous deadline: the
// datagrams were sent before it is called).
func receive(t *testing.T, c *net.UDPConn, n int) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 2000)
	for range n {
		if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		k, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", len(got), err)
		}
		got = append(got, string(buf[:k]))
	}
	return got
}

// Datagrams written while a batch is open are held, in order, and sent
// together when it closes; outside a batch they go at once; a batch that
// fills up is sent without waiting for its end; nothing is lost or
// reordered per destination.
func TestBatchConn(t *testing.T) {
	c := newBatchConn(listenUDP(t))
	a, b := listenUDP(t), listenUDP(t)
	toA, toB := a.LocalAddr().(*net.UDPAddr).AddrPort(), b.LocalAddr().(*net.UDPAddr).AddrPort()

	if _, err := c.WriteToAddrPort([]byte("direct"), toA); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, a, 1); got[0] != "direct" {
		t.Fatalf("got %q", got)
	}

	c.begin()
	buf := []byte("a1")
	c.WriteToAddrPort(buf, toA)
	copy(buf, "zz") // the caller reuses its buffer at once, as pion does
	c.WriteToAddrPort([]byte("b1"), toB)
	// A v4-mapped address (as a dual-stack socket reports) reaches the
	// same receiver.
	c.WriteToAddrPort([]byte("a2"), netip.AddrPortFrom(netip.AddrFrom16(toA.Addr().As16()), toA.Port()))
	c.mu.Lock()
	held := len(c.queue.msgs)
	c.mu.Unlock()
	if held != 3 {
		t.Fatalf("%d datagrams held in the open batch, want 3", held)
	}
	c.end()
	if got := receive(t, a, 2); got[0] != "a1" || got[1] != "a2" {
		t.Fatalf("receiver a got %q, want a1 a2", got)
	}
	if got := receive(t, b, 1); got[0] != "b1" {
		t.Fatalf("receiver b got %q", got)
	}

	// More than a batch holds: sent as it fills, the rest at the end.
	c.begin()
	for i := range maxBatch + 5 {
		c.WriteToAddrPort(fmt.Appendf(nil, "%d", i), toB)
	}
	c.mu.Lock()
	held = len(c.queue.msgs)
	c.mu.Unlock()
	if held != 5 {
		t.Fatalf("%d datagrams held after %d writes, want the 5 past a full batch", held, maxBatch+5)
	}
	c.end()
	for i, s := range receive(t, b, maxBatch+5) {
		if s != fmt.Sprint(i) {
			t.Fatalf("datagram %d is %q", i, s)
		}
	}
}

// Queuing a datagram allocates nothing.
func TestBatchConnDoesNotAllocate(t *testing.T) {
	c := newBatchConn(listenUDP(t))
	to := listenUDP(t).LocalAddr().(*net.UDPAddr).AddrPort()
	payload := make([]byte, 1200)
	c.begin()
	c.WriteToAddrPort(payload, to)
	c.end() // the free list now has a batch
	allocs := testing.AllocsPerRun(100, func() {
		c.begin()
		for range 10 {
			c.WriteToAddrPort(payload, to)
		}
		c.mu.Lock()
		c.open--
		c.queue.msgs = c.queue.msgs[:0] // dropped, not sent: only queuing is measured
		c.mu.Unlock()
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per batch of 10, want 0", allocs)
	}
}
