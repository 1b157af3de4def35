package sfu

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
)

// Sending in batches. Every participant's media goes through one UDP
// socket (pion's UDP mux). Forwarding one packet to 49 subscribers would
// be 49 sendto system calls; instead, the forwarding loop opens a batch,
// writes the packet to every down-track (pion encrypts each copy and
// hands it to the socket, here), and closes the batch, which sends every
// datagram queued meanwhile in one sendmmsg. Writes made while no batch
// is open (ICE, DTLS, RTCP) go out at once.

// maxBatch is the most datagrams one sendmmsg carries.
const maxBatch = 64

// batchConn wraps the media socket. It is safe for concurrent use: batches
// opened by several forwarding loops at once share one queue, which the
// last to close (or a full queue) sends.
type batchConn struct {
	conn *net.UDPConn
	out  *ipv4.PacketConn // sendmmsg on Linux; a loop of sendmsg elsewhere

	mu    sync.Mutex
	open  int
	queue *batch
	free  []*batch
}

// batch is a queue of datagrams, its buffers and addresses reused.
type batch struct {
	msgs  []ipv4.Message
	bufs  [maxBatch][1500]byte
	addrs [maxBatch]net.UDPAddr
	ips   [maxBatch][16]byte
	vecs  [maxBatch][1][]byte
}

func newBatchConn(conn *net.UDPConn) *batchConn {
	return &batchConn{conn: conn, out: ipv4.NewPacketConn(conn), queue: newBatch()}
}

func newBatch() *batch {
	return &batch{msgs: make([]ipv4.Message, 0, maxBatch)}
}

// begin opens a batch: writes are queued until end.
func (c *batchConn) begin() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.open++
	c.mu.Unlock()
}

// end closes a batch and sends what is queued.
func (c *batchConn) end() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.open--
	q := c.takeLocked()
	c.mu.Unlock()
	c.send(q)
}

// takeLocked returns the queue if it holds anything, and starts a new
// one. c.mu is held.
func (c *batchConn) takeLocked() *batch {
	q := c.queue
	if len(q.msgs) == 0 {
		return nil
	}
	if n := len(c.free); n > 0 {
		c.queue, c.free = c.free[n-1], c.free[:n-1]
	} else {
		c.queue = newBatch()
	}
	return q
}

// send writes a batch's datagrams and returns it to the free list. A
// datagram the kernel refuses is dropped, as a failed sendto would be.
func (c *batchConn) send(q *batch) {
	if q == nil {
		return
	}
	msgs := q.msgs
	for len(msgs) > 0 {
		n, err := c.out.WriteBatch(msgs, 0)
		if err != nil && n <= 0 {
			n = 1 // skip the datagram that failed
		}
		msgs = msgs[n:]
	}
	q.msgs = q.msgs[:0]
	c.mu.Lock()
	c.free = append(c.free, q)
	c.mu.Unlock()
}

// WriteToAddrPort queues a datagram while a batch is open, and sends it
// at once otherwise. pion's ICE mux writes through it.
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	c.mu.Lock()
	if c.open == 0 || len(b) > len(c.queue.bufs[0]) {
		c.mu.Unlock()
		return c.conn.WriteToUDPAddrPort(b, addr)
	}
	q := c.queue
	i := len(q.msgs)
	n := copy(q.bufs[i][:], b)
	ip := addr.Addr().Unmap()
	a := &q.addrs[i]
	if ip.Is4() {
		v4 := ip.As4()
		a.IP = q.ips[i][:copy(q.ips[i][:], v4[:])]
	} else {
		v6 := ip.As16()
		a.IP = q.ips[i][:copy(q.ips[i][:], v6[:])]
	}
	a.Port = int(addr.Port())
	a.Zone = ip.Zone()
	q.vecs[i][0] = q.bufs[i][:n]
	q.msgs = append(q.msgs, ipv4.Message{Buffers: q.vecs[i][:], Addr: a})
	var full *batch
	if len(q.msgs) == maxBatch {
		full = c.takeLocked()
	}
	c.mu.Unlock()
	c.send(full)
	return len(b), nil
}

// ReadFromAddrPort reads from the socket.
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.conn.ReadFromUDPAddrPort(b)
}

// WriteTo writes through the batch like WriteToAddrPort.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.conn.WriteTo(b, addr)
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// ReadFrom, Close, LocalAddr and the deadlines are the socket's.
func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) { return c.conn.ReadFrom(b) }
func (c *batchConn) Close() error                             { return c.conn.Close() }
func (c *batchConn) LocalAddr() net.Addr                      { return c.conn.LocalAddr() }
func (c *batchConn) SetDeadline(t time.Time) error            { return c.conn.SetDeadline(t) }
func (c *batchConn) SetReadDeadline(t time.Time) error        { return c.conn.SetReadDeadline(t) }
func (c *batchConn) SetWriteDeadline(t time.Time) error       { return c.conn.SetWriteDeadline(t) }
