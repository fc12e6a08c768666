package webrtcendpoint

import (
	"net"
	"sync"
	"syscall"
	"testing"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
)

// tosNet is a test peer's network: it records the IPv4 TOS byte of every
// datagram its UDP sockets receive.
type tosNet struct {
	*stdnet.Net
	mu  sync.Mutex
	tos map[int]int // TOS byte → datagrams
}

func newTOSNet(t *testing.T) *tosNet {
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	return &tosNet{Net: n, tos: map[int]int{}}
}

func (n *tosNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_RECVTOS, 1)
	}); err != nil || serr != nil {
		_ = c.Close()
		return nil, errorsJoin(err, serr)
	}
	return &tosConn{UDPConn: c, raw: c, net: n}, nil
}

func (n *tosNet) seen() map[int]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[int]int{}
	for k, v := range n.tos {
		out[k] = v
	}
	return out
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// tosConn reads with ReadMsgUDP to see the TOS control message. It embeds
// the interface, not *net.UDPConn, so that pion uses its ReadFrom.
type tosConn struct {
	transport.UDPConn
	raw *net.UDPConn
	net *tosNet
}

func (c *tosConn) ReadFrom(b []byte) (int, net.Addr, error) {
	oob := make([]byte, 64)
	n, oobn, _, addr, err := c.raw.ReadMsgUDP(b, oob)
	if err != nil {
		return n, nil, err
	}
	if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_TOS && len(m.Data) > 0 {
				c.net.mu.Lock()
				c.net.tos[int(m.Data[0])]++
				c.net.mu.Unlock()
			}
		}
	}
	return n, addr, nil
}

// qosDscp marks what the endpoint sends: a peer reads the TOS byte of the
// datagrams it receives from the endpoint.
func TestQoSDSCPMarksPackets(t *testing.T) {
	for _, c := range []struct {
		name   string
		server string // webrtc.qos_dscp
		mux    bool
		qos    string // the endpoint's qosDscp
		want   int    // TOS byte
	}{
		{"endpoint EF", "", false, "EF", 46 << 2},
		{"endpoint AF41 over the server's CS1", "CS1", false, "AF41", 34 << 2},
		{"server default", "AF41", false, "NO_VALUE", 34 << 2},
		{"endpoint NO_DSCP over the server's default", "AF41", false, "NO_DSCP", 0},
		{"none", "", false, "NO_VALUE", 0},
		{"UDP mux carries the server's value", "CS1", true, "NO_VALUE", 8 << 2},
		{"UDP mux ignores the endpoint's value", "", true, "EF", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Settings{LoopbackOnly: true, DSCP: c.server}
			if c.mux {
				s.UDPMuxPort = freeUDPPort(t)
			}
			e := newEnvWith(t, s)
			ep := e.endpoint(e.pipeline(), map[string]any{"qosDscp": c.qos})
			e.connect(ep, ep)
			tn := newTOSNet(t)
			se := loopbackSettings()
			se.SetNet(tn)
			peer := newPeerWith(t, se)
			peer.addMedia()
			e.negotiate(ep, peer)
			peer.send()
			peer.awaitRx("media back", wait, gotMedia(10, 10))
			seen := tn.seen()
			if len(seen) != 1 || seen[c.want] == 0 {
				t.Fatalf("TOS bytes received (value: datagrams) %v, want all %d", seen, c.want)
			}
		})
	}
}

// getTOS reads a socket's IPv4 TOS byte.
func getTOS(t *testing.T, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var tos int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		tos, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return tos
}

// The sockets pion opens through a socketNet, and the connections accepted
// on the ICE-TCP port, carry the TOS byte.
func TestMarkingSockets(t *testing.T) {
	n := testSocketNet(t, 46<<2, 0, nil)
	u, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if got := getTOS(t, u.(syscall.Conn)); got != 46<<2 {
		t.Errorf("ListenUDP socket TOS %d, want %d", got, 46<<2)
	}
	d, err := n.DialUDP("udp4", nil, u.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := getTOS(t, d.(syscall.Conn)); got != 46<<2 {
		t.Errorf("DialUDP socket TOS %d, want %d", got, 46<<2)
	}
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := markingListener{Listener: raw, tos: 34 << 2}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := n.DialTCP("tcp4", nil, raw.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := getTOS(t, c.(syscall.Conn)); got != 46<<2 {
		t.Errorf("DialTCP socket TOS %d, want %d", got, 46<<2)
	}
	a, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer a.Close()
	if got := getTOS(t, a.(syscall.Conn)); got != 34<<2 {
		t.Errorf("accepted ICE-TCP connection TOS %d, want %d", got, 34<<2)
	}
}
