package webrtcendpoint

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"

	"github.com/miksilo/miksilo/internal/sendbatch"
)

// socketNet is the network layer (transport.Net) through which pion opens
// every socket of an endpoint that is not one of the shared ones (the UDP
// mux, the ICE-TCP port): ICE host and server-reflexive UDP sockets, mDNS,
// TURN connections. It wraps the standard one to
//   - mark what the sockets send with a DSCP code point (qosDscp,
//     webrtc.qos_dscp; dscp.go);
//   - size the receive and send buffers of ICE's UDP sockets
//     (webrtc.udp_endpoint_buffer): Linux's default, 208 KiB, overflows on
//     a key-frame burst of a high-resolution publisher when the reader is
//     late (a collection, a busy CPU), and the kernel drops the rest;
//   - count those drops (SO_MEMINFO) for miksilo_webrtc_udp_endpoint_drops_total;
//   - list the host's interfaces afresh at each gathering. stdnet.Net
//     lists them once, when created, and pion creates one per ICE agent
//     when given none; a socketNet serves every endpoint of an API for the
//     server's life, so a frozen list would miss addresses that came later
//     (a container's network attached after start, DHCP).
type socketNet struct {
	mu  sync.Mutex
	std *stdnet.Net // its interface list is read and refreshed under mu

	tos   int  // IP TOS byte (dscp << 2); -1: no marking
	buf   int  // bytes; 0: the system's default
	batch bool // writes leave in batches during sendbatch holds
	socks *socketSet
	log   *slog.Logger
}

func newSocketNet(tos, buf int, batch bool, socks *socketSet, log *slog.Logger) (*socketNet, error) {
	std, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	if socks == nil {
		socks = newSocketSet()
	}
	return &socketNet{std: std, tos: tos, buf: buf, batch: batch, socks: socks, log: log}, nil
}

var (
	_ transport.Net            = (*socketNet)(nil)
	_ ice.AddrPortReaderWriter = (*udpSocket)(nil) // pion's allocation-free path
)

// Interfaces implements transport.Net: the host's interfaces now (the
// last list, when they cannot be read again).
func (n *socketNet) Interfaces() ([]*transport.Interface, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.std.UpdateInterfaces(); err != nil {
		n.log.Warn("cannot list network interfaces; gathering on the last list", "err", err)
	}
	return n.std.Interfaces()
}

// InterfaceByIndex implements transport.Net (from the last listing).
func (n *socketNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.std.InterfaceByIndex(index)
}

// InterfaceByName implements transport.Net (from the last listing).
func (n *socketNet) InterfaceByName(name string) (*transport.Interface, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.std.InterfaceByName(name)
}

func (n *socketNet) mark(c any) {
	if n.tos < 0 {
		return
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	if err := setTOS(sc, n.tos); err != nil {
		n.log.Debug("cannot set DSCP on a WebRTC socket", "err", err)
	}
}

// adopt marks, sizes and counts a UDP socket pion will use for ICE.
func (n *socketNet) adopt(c *net.UDPConn) *udpSocket {
	n.mark(c)
	if n.buf > 0 {
		rcv, snd, err := setSocketBuffers(c, n.buf)
		n.socks.reportSize(n.log, n.buf, rcv, snd, err)
	}
	return n.socks.add(c, n.batch)
}

// ListenPacket implements transport.Net (server-reflexive gathering).
func (n *socketNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.std.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return n.wrap(c), nil
}

// ListenUDP implements transport.Net (ICE host candidates, mDNS).
func (n *socketNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.std.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return n.wrap(c).(transport.UDPConn), nil // c, or the *udpSocket over it
}

// wrap adopts a UDP socket; anything else is only marked.
func (n *socketNet) wrap(c net.PacketConn) net.PacketConn {
	if u, ok := c.(*net.UDPConn); ok {
		return n.adopt(u)
	}
	n.mark(c)
	return c
}

// DialUDP implements transport.Net (TURN over UDP).
func (n *socketNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.std.DialUDP(network, laddr, raddr)
	if err == nil {
		n.mark(c)
	}
	return c, err
}

// DialTCP implements transport.Net (TURN over TCP/TLS).
func (n *socketNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	c, err := n.std.DialTCP(network, laddr, raddr)
	if err == nil {
		n.mark(c)
	}
	return c, err
}

// Dial implements transport.Net.
func (n *socketNet) Dial(network, address string) (net.Conn, error) {
	c, err := n.std.Dial(network, address)
	if err == nil {
		n.mark(c)
	}
	return c, err
}

// ListenTCP implements transport.Net.
func (n *socketNet) ListenTCP(network string, laddr *net.TCPAddr) (transport.TCPListener, error) {
	return n.std.ListenTCP(network, laddr)
}

// ResolveIPAddr implements transport.Net.
func (n *socketNet) ResolveIPAddr(network, address string) (*net.IPAddr, error) {
	return n.std.ResolveIPAddr(network, address)
}

// ResolveUDPAddr implements transport.Net.
func (n *socketNet) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	return n.std.ResolveUDPAddr(network, address)
}

// ResolveTCPAddr implements transport.Net.
func (n *socketNet) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	return n.std.ResolveTCPAddr(network, address)
}

// CreateDialer implements transport.Net.
func (n *socketNet) CreateDialer(d *net.Dialer) transport.Dialer { return n.std.CreateDialer(d) }

// CreateListenConfig implements transport.Net.
func (n *socketNet) CreateListenConfig(c *net.ListenConfig) transport.ListenConfig {
	return n.std.CreateListenConfig(c)
}

// udpSocket is an endpoint's UDP socket whose drops are counted when it
// closes and whose writes leave in batches during a sendbatch hold (the
// Composite's frames). It keeps pion's allocation-free read/write path (ice's
// AddrPortReaderWriter, which sendbatch.Conn implements).
type udpSocket struct {
	*sendbatch.Conn
	set  *socketSet
	once sync.Once
}

// Close counts the socket's drops, then closes it.
func (c *udpSocket) Close() error {
	c.once.Do(func() { c.set.retire(c) })
	return c.UDPConn.Close()
}

// socketSet counts the kernel's drops over the endpoints' UDP sockets,
// open and closed (one per engine; every socketNet of its APIs shares it).
type socketSet struct {
	mu      sync.Mutex
	live    map[*udpSocket]struct{}
	retired uint64 // drops of sockets already closed
	sized   bool   // the granted buffer size was logged
}

func newSocketSet() *socketSet { return &socketSet{live: map[*udpSocket]struct{}{}} }

func (s *socketSet) add(c *net.UDPConn, batch bool) *udpSocket {
	conn := sendbatch.NewDirectConn(c)
	if batch {
		conn = sendbatch.NewConn(c)
	}
	u := &udpSocket{Conn: conn, set: s}
	s.mu.Lock()
	s.live[u] = struct{}{}
	s.mu.Unlock()
	return u
}

// retire moves a closing socket's drops to the closed ones' sum; read
// under mu, so that a concurrent drops() counts them once.
func (s *socketSet) retire(u *udpSocket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := socketDrops(u.UDPConn); ok {
		s.retired += n
	}
	delete(s.live, u)
}

// drops is the total since the engine began: closed sockets' and the open
// ones' current counts.
func (s *socketSet) drops() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.retired
	for u := range s.live {
		if n, ok := socketDrops(u.UDPConn); ok {
			d += n
		}
	}
	return d
}

// open is the number of sockets being counted.
func (s *socketSet) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// reportSize logs, once per engine, what the kernel granted for the
// endpoints' sockets: a warning with the sysctl line when it capped them.
func (s *socketSet) reportSize(log *slog.Logger, asked, rcv, snd int, err error) {
	s.mu.Lock()
	first := !s.sized
	s.sized = true
	s.mu.Unlock()
	if !first {
		return
	}
	switch {
	case err != nil:
		log.Warn("cannot size WebRTC endpoints' UDP socket buffers (webrtc.udp_endpoint_buffer)", "err", err)
	case rcv == 0 && snd == 0:
		// Not readable back on this system.
	case rcv < asked || snd < asked:
		log.Warn("the kernel caps WebRTC endpoints' UDP socket buffers below webrtc.udp_endpoint_buffer: key-frame bursts may be dropped "+
			"(miksilo_webrtc_udp_endpoint_drops_total); raise net.core.rmem_max and net.core.wmem_max to at least the setting",
			"asked", asked, "receive", rcv, "send", snd, "sysctl", fmt.Sprintf("sysctl -w net.core.rmem_max=%d net.core.wmem_max=%d", asked, asked))
	default:
		log.Info("WebRTC endpoints' UDP socket buffers", "receive", rcv, "send", snd)
	}
}
