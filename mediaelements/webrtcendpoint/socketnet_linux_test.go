package webrtcendpoint

import (
	"errors"
	"log/slog"
	"net"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"github.com/pion/ice/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/ipv4"
)

// TestSocketNetBuffersAndDrops: ICE's UDP sockets opened through a
// socketNet get the configured buffers, and what the kernel drops on them
// is counted while they are open and after they close.
func TestSocketNetBuffersAndDrops(t *testing.T) {
	const size = 96 << 10
	socks := newSocketSet()
	n := testSocketNet(t, -1, size, socks)
	u, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, ok := u.(*udpSocket); !ok {
		t.Fatalf("ListenUDP returned %T, not a counted socket", u)
	}
	if rcv, snd := sockBufs(t, u); rcv != min(size, rmemMax(t)) || snd < size/2 {
		t.Fatalf("buffers %d/%d, asked for %d (rmem_max %d)", rcv, snd, size, rmemMax(t))
	}
	if socks.open() != 1 || socks.drops() != 0 {
		t.Fatalf("%d sockets counted, %d drops before any traffic", socks.open(), socks.drops())
	}
	flood(t, u.LocalAddr()) // nobody reads
	live := socks.drops()
	if live == 0 || live >= 1000 {
		t.Fatalf("drops %d on the open socket after overflowing it", live)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	_ = u.Close() // twice: counted once
	if got := socks.drops(); got != live || socks.open() != 0 {
		t.Fatalf("after closing: %d drops (want %d), %d sockets counted", got, live, socks.open())
	}
	// The read path pion takes on such a socket works.
	v, err := n.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	w2, err := net.Dial("udp4", v.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if _, err := w2.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// And the one pion's mDNS takes (x/net's ipv4.PacketConn needs the
	// socket underneath: "invalid connection" if the wrapper hid it).
	if err := ipv4.NewPacketConn(v).SetMulticastTTL(1); err != nil {
		t.Fatalf("multicast option on a wrapped socket: %v", err)
	}
	buf := make([]byte, 16)
	if k, from, err := v.(ice.AddrPortReaderWriter).ReadFromAddrPort(buf); err != nil || k != 1 || from.Port() != uint16(w2.LocalAddr().(*net.UDPAddr).Port) {
		t.Fatalf("ReadFromAddrPort: %d bytes from %v, %v", k, from, err)
	}
}

// TestEndpointSocketBuffers: an endpoint's ICE sockets get
// webrtc.udp_endpoint_buffer, the engine counts them while the endpoint
// lives and none after its release, and the drops are a metric.
func TestEndpointSocketBuffers(t *testing.T) {
	const size = 128 << 10
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, Settings{LoopbackOnly: true, UDPEndpointBuffer: size, Registerer: reg})
	pl := e.pipeline()
	ep := e.endpoint(pl, nil)
	p := newPeer(t)
	defer p.close()
	p.addMedia()
	e.negotiate(ep, p)
	p.awaitConnected()

	o, ok := e.store.Get(ep)
	if !ok {
		t.Fatal("endpoint gone")
	}
	g := o.(*Endpoint).eng
	g.socks.mu.Lock()
	var socks []*udpSocket
	for u := range g.socks.live {
		socks = append(socks, u)
	}
	g.socks.mu.Unlock()
	if len(socks) == 0 {
		t.Fatal("the endpoint's ICE sockets are not counted")
	}
	for _, u := range socks {
		if rcv, snd := sockBufs(t, u); rcv != min(size, rmemMax(t)) || snd < size/2 {
			t.Errorf("socket %v: buffers %d/%d, want %d (rmem_max %d)", u.LocalAddr(), rcv, snd, size, rmemMax(t))
		}
	}
	// The metric reads the engine's count (not asserted 0: a starved test
	// machine may really drop).
	if got, after := metricValue(t, reg, "miksilo_webrtc_udp_endpoint_drops_total"), g.socks.drops(); got > float64(after) {
		t.Errorf("metric %v ahead of the engine's count %d", got, after)
	}
	if err := e.store.Release(e.call(), ep); err != nil {
		t.Fatal(err)
	}
	if n := g.socks.open(); n != 0 {
		t.Fatalf("%d sockets still counted after the endpoint's release", n)
	}
}

// TestSocketNetListsInterfacesAfresh: a socketNet made before an address
// existed lists it at the next gathering. In a network namespace of its
// own (this thread only), lo has no address until it is brought up.
func TestSocketNetListsInterfacesAfresh(t *testing.T) {
	skip := make(chan error, 1)
	go func() {
		defer close(skip)
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			skip <- err
			return
		}
		n := testSocketNet(t, -1, 0, nil)
		if hasLoopbackAddr(t, n) {
			t.Error("lo has an address before it is up")
			return
		}
		if err := linkUp("lo"); err != nil {
			t.Errorf("bring lo up: %v", err)
			return
		}
		if !hasLoopbackAddr(t, n) {
			t.Error("127.0.0.1 not listed after lo came up: the interface list is frozen")
		}
	}()
	if err := <-skip; err != nil {
		t.Skipf("no network namespace of its own (%v): needs CAP_SYS_ADMIN", err)
	}
}

func hasLoopbackAddr(t *testing.T, n *socketNet) bool {
	ifs, err := n.Interfaces()
	if err != nil {
		t.Error(err)
		return false
	}
	for _, ifc := range ifs {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(net.IPv4(127, 0, 0, 1)) {
				return true
			}
		}
	}
	return false
}

// linkUp sets IFF_UP on an interface (SIOCSIFFLAGS).
func linkUp(name string) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var req struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(req.name[:], name)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&req))); e != 0 {
		return e
	}
	req.flags |= syscall.IFF_UP
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&req))); e != 0 {
		return e
	}
	return nil
}

// metricValue is a counter's value in reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal(errors.New(name + " not registered"))
	return 0
}

// testSocketNet is a socketNet logging nowhere.
func testSocketNet(t *testing.T, tos, buf int, socks *socketSet) *socketNet {
	t.Helper()
	n, err := newSocketNet(tos, buf, true, socks, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
