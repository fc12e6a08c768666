// Package sendbatch sends the UDP datagrams of a burst of media writes
// with one sendmmsg(2) per socket instead of one sendto(2) each.
//
// A media server's output comes in bursts: an encoded frame leaves as a
// handful of RTP packets for each receiver, written one by one through
// pion's layers (interceptors, SRTP, ICE), each write ending in a system
// call. A goroutine about to write a burst calls Hold; datagrams written
// through a Conn while any hold is open are queued (copied) and leave
// together, in order, with one sendmmsg per socket when a hold is released,
// or as soon as a socket has MaxBatch of them. Writes while no hold is open
// go out at once, behind whatever the socket still has queued.
//
// Holds are process-wide (pion's write path carries no context to scope them
// by): a datagram another goroutine writes while a hold is open waits for
// that hold's release. Hold only around a short burst of writes that do not
// wait for anything else (one receiver's packets of one frame); every
// release flushes every queue, so nothing waits for the last of overlapping
// holds.
package sendbatch

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// MaxBatch is the most datagrams a socket queues before it sends them
// without waiting for the hold's release.
const MaxBatch = 64

var (
	holds atomic.Int32 // open holds; changed under mu

	mu      sync.Mutex
	waiting []*Conn // sockets with queued datagrams (Conn.listed)

	stats struct {
		calls, datagrams, errors atomic.Uint64
	}
)

// Hold opens a hold; the returned function releases it (call it once) and
// sends what the sockets queued.
func Hold() (release func()) {
	mu.Lock()
	holds.Add(1)
	mu.Unlock()
	return releaseHold
}

func releaseHold() {
	mu.Lock()
	holds.Add(-1)
	qs := waiting
	waiting = nil
	for _, c := range qs {
		c.listed = false
	}
	mu.Unlock()
	for _, c := range qs {
		c.qmu.Lock()
		c.flushLocked()
		c.qmu.Unlock()
	}
}

// Holding reports whether a hold is open.
func Holding() bool { return holds.Load() > 0 }

// Stats are counters since the process began: sendmmsg calls, the datagrams
// they sent and the datagrams that failed.
func Stats() (calls, datagrams, errors uint64) {
	return stats.calls.Load(), stats.datagrams.Load(), stats.errors.Load()
}

// Conn is a UDP socket whose writes are queued while a hold is open. It
// implements pion's allocation-free ice.AddrPortReaderWriter and
// net.PacketConn's WriteTo; everything else is the *net.UDPConn's.
type Conn struct {
	*net.UDPConn
	pc *ipv4.PacketConn // sendmmsg; takes IPv6 destinations too (the socket's family decides)

	direct bool // never queue (NewDirectConn)
	listed bool // in waiting; under mu

	qmu   sync.Mutex // the queue; held while it is sent, so the socket's order is kept
	msgs  []ipv4.Message
	bufs  [][]byte // reused copies, one per queued message
	iov   [][]byte // bufs[i] again: message i's Buffers is iov[i:i+1], no slice allocated per datagram
	addrs []net.UDPAddr
}

// NewConn wraps c.
func NewConn(c *net.UDPConn) *Conn {
	return &Conn{UDPConn: c, pc: ipv4.NewPacketConn(c)}
}

// NewDirectConn wraps c without batching: every write is its own system
// call, holds or not (batching switched off).
func NewDirectConn(c *net.UDPConn) *Conn {
	return &Conn{UDPConn: c, direct: true}
}

// ReadFromAddrPort is ice.AddrPortReaderWriter's read.
func (c *Conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromUDPAddrPort(b)
}

// WriteTo implements net.PacketConn.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if a, ok := addr.(*net.UDPAddr); ok {
		return c.WriteToAddrPort(b, a.AddrPort())
	}
	return c.UDPConn.WriteTo(b, addr) // its error
}

// WriteToUDPAddrPort is WriteToAddrPort.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.WriteToAddrPort(b, addr)
}

// WriteToAddrPort sends b to addr, or queues a copy while a hold is open
// (then it reports len(b) and no error: a datagram the later sendmmsg
// fails to send is counted in Stats, and lost as a failed sendto's is).
func (c *Conn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.direct {
		return c.UDPConn.WriteToUDPAddrPort(b, addr)
	}
	if holds.Load() > 0 {
		mu.Lock()
		if holds.Load() > 0 { // holds changes under mu: a release flushes after this
			c.qmu.Lock()
			c.queueLocked(b, addr)
			full := len(c.msgs) >= MaxBatch
			if !c.listed && !full {
				c.listed = true
				waiting = append(waiting, c)
			}
			mu.Unlock()
			if full {
				c.flushLocked()
			}
			c.qmu.Unlock()
			return len(b), nil
		}
		mu.Unlock()
	}
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if len(c.msgs) > 0 {
		c.flushLocked() // queued before: they leave first
	}
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

func (c *Conn) queueLocked(b []byte, addr netip.AddrPort) {
	i := len(c.msgs)
	if i == len(c.bufs) {
		c.bufs = append(c.bufs, nil)
		c.iov = append(c.iov, nil)
		c.addrs = append(c.addrs, net.UDPAddr{})
	}
	c.bufs[i] = append(c.bufs[i][:0], b...)
	c.iov[i] = c.bufs[i]
	a := &c.addrs[i]
	if ip := addr.Addr(); a.Port != int(addr.Port()) || a.Zone != ip.Zone() || !a.IP.Equal(ip.AsSlice()) {
		*a = net.UDPAddr{IP: ip.AsSlice(), Port: int(addr.Port()), Zone: ip.Zone()}
	}
	c.msgs = append(c.msgs, ipv4.Message{Buffers: c.iov[i : i+1 : i+1], Addr: a})
}

// flushLocked sends the queue, under qmu.
func (c *Conn) flushLocked() {
	ms := c.msgs
	for len(ms) > 0 {
		n, _ := c.pc.WriteBatch(ms, 0)
		if n > 0 {
			stats.calls.Add(1)
			stats.datagrams.Add(uint64(n))
			ms = ms[min(n, len(ms)):]
			continue
		}
		// sendmmsg fails only when its first datagram fails (a partial
		// send returns the count): that one is dropped, as a failed
		// sendto's would be, and the rest are tried again.
		stats.errors.Add(1)
		ms = ms[1:]
	}
	clear(c.msgs)
	c.msgs = c.msgs[:0]
}
