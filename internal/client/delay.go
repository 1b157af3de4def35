package client

import (
	"net"
	"sync"
	"time"
)

// delayConn holds every datagram it receives for a fixed time before
// handing it on, as a distant link would: the client's WebRTC stack reads
// from it. Sending is not delayed. All datagrams wait the same time, so
// their order is kept.
type delayConn struct {
	net.PacketConn
	delay time.Duration
	ch    chan datagram
	once  sync.Once
}

type datagram struct {
	b    []byte
	addr net.Addr
	at   time.Time
}

func newDelayConn(c net.PacketConn, delay time.Duration) *delayConn {
	d := &delayConn{PacketConn: c, delay: delay, ch: make(chan datagram, 8192)}
	go d.read()
	return d
}

func (d *delayConn) read() {
	defer close(d.ch)
	for {
		buf := make([]byte, 1500)
		n, addr, err := d.PacketConn.ReadFrom(buf)
		if err != nil {
			return
		}
		select {
		case d.ch <- datagram{b: buf[:n], addr: addr, at: time.Now().Add(d.delay)}:
		default: // a full queue drops, like a full router buffer
		}
	}
}

func (d *delayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	g, ok := <-d.ch
	if !ok {
		return 0, nil, net.ErrClosed
	}
	if wait := time.Until(g.at); wait > 0 {
		time.Sleep(wait)
	}
	return copy(p, g.b), g.addr, nil
}

func (d *delayConn) Close() error {
	var err error
	d.once.Do(func() { err = d.PacketConn.Close() })
	return err
}
