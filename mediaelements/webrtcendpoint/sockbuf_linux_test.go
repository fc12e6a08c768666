package webrtcendpoint

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// rmemMax is net.core.rmem_max (the cap of SO_RCVBUF).
func rmemMax(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no /proc/sys/net/core/rmem_max")
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSocketBuffersAndDrops: the sizes read back are what the kernel
// granted (capped at rmem_max), and datagrams that overflow a socket's
// receive buffer are counted by socketDrops.
func TestSocketBuffersAndDrops(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const small = 64 << 10
	rcv, snd, err := setSocketBuffers(c, small)
	if err != nil {
		t.Fatal(err)
	}
	if want := min(small, rmemMax(t)); rcv != want || snd < small/2 {
		t.Fatalf("buffers %d/%d after asking for %d (rmem_max %d)", rcv, snd, small, rmemMax(t))
	}
	if d, ok := socketDrops(c); !ok || d != 0 {
		t.Fatalf("drops %d, %v before any traffic", d, ok)
	}
	flood(t, c.LocalAddr()) // nobody reads
	if d, ok := socketDrops(c); !ok || d == 0 || d >= 1000 {
		t.Fatalf("drops %d, %v after overflowing the buffer", d, ok)
	}
}

// TestUDPMuxBuffer: the UDP mux socket gets webrtc.udp_mux_buffer (a
// warning names the sysctl when the kernel caps it) and its drops are a
// metric that survives the socket's closing and reopening.
func TestUDPMuxBuffer(t *testing.T) {
	// Within net.core.rmem_max, and beyond it (the kernel caps it; a warning).
	for _, want := range []int{64 << 10, 4 * rmemMax(t)} {
		var logs bytes.Buffer
		reg := prometheus.NewRegistry()
		g := newEngine(Settings{LoopbackOnly: true, UDPMuxPort: freeUDPPort(t), UDPMuxBuffer: want,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)), Registerer: reg})
		if _, err := g.acquire(overrides{}); err != nil {
			t.Fatal(err)
		}
		rcv, snd := sockBufs(t, g.muxConn)
		capped := rmemMax(t) < want
		if !capped && (rcv < want || snd < want) {
			t.Fatalf("mux socket buffers %d/%d, want %d", rcv, snd, want)
		}
		if capped && rcv != rmemMax(t) {
			t.Fatalf("mux socket receive buffer %d, want rmem_max %d", rcv, rmemMax(t))
		}
		if capped != strings.Contains(logs.String(), "net.core.rmem_max") {
			t.Fatalf("rmem_max %d, buffer %d: log %q", rmemMax(t), want, logs.String())
		}
		if got := dropsMetric(t, reg); got != 0 {
			t.Fatalf("drops %v on a fresh socket", got)
		}
		// Drops of a closed socket stay counted.
		g.mu.Lock()
		g.drops = 7
		g.mu.Unlock()
		g.release()
		if g.muxConn != nil {
			t.Fatal("mux socket kept after the last release")
		}
		if got := dropsMetric(t, reg); got != 7 {
			t.Fatalf("drops %v after closing, want 7", got)
		}
		if _, err := g.acquire(overrides{}); err != nil {
			t.Fatal(err)
		}
		if got := dropsMetric(t, reg); got != 7 {
			t.Fatalf("drops %v after reopening, want 7", got)
		}
		g.release()
	}
}

// flood sends 1000 datagrams of 1200 bytes to addr, far more than a
// socket buffer of ~100 kB holds when nobody reads.
func flood(t *testing.T, addr net.Addr) {
	t.Helper()
	w, err := net.Dial("udp4", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	payload := make([]byte, 1200)
	for range 1000 {
		_, _ = w.Write(payload)
	}
}

// sockBufs reads SO_RCVBUF and SO_SNDBUF, halved like setSocketBuffers.
func sockBufs(t *testing.T, c net.PacketConn) (rcv, snd int) {
	t.Helper()
	if c == nil {
		t.Fatal("no mux socket")
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) {
		rcv, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		snd, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	}); err != nil {
		t.Fatal(err)
	}
	return rcv / 2, snd / 2
}

// dropsMetric is the value of miksilo_webrtc_udp_mux_drops_total in reg.
func dropsMetric(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return metricValue(t, reg, "miksilo_webrtc_udp_mux_drops_total")
}
