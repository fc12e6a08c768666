package sendbatch

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// pair is a batching sender and a plain receiver on IPv4 loopback.
func pair(t *testing.T) (*Conn, *net.UDPConn, netip.AddrPort) {
	t.Helper()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	_ = rx.SetReadBuffer(1 << 20)
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return NewConn(tx), rx, rx.LocalAddr().(*net.UDPAddr).AddrPort()
}

// read returns the next datagram, or "" when none comes within d.
func read(t *testing.T, rx *net.UDPConn, d time.Duration) string {
	t.Helper()
	_ = rx.SetReadDeadline(time.Now().Add(d))
	b := make([]byte, 2048)
	n, _, err := rx.ReadFromUDPAddrPort(b)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return ""
		}
		t.Fatal(err)
	}
	return string(b[:n])
}

func expect(t *testing.T, rx *net.UDPConn, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := read(t, rx, 2*time.Second); got != w {
			t.Fatalf("received %q, want %q", got, w)
		}
	}
}

func expectNothing(t *testing.T, rx *net.UDPConn) {
	t.Helper()
	if got := read(t, rx, 50*time.Millisecond); got != "" {
		t.Fatalf("received %q while it should be queued", got)
	}
}

func write(t *testing.T, c *Conn, to netip.AddrPort, s string) {
	t.Helper()
	if n, err := c.WriteToAddrPort([]byte(s), to); n != len(s) || err != nil {
		t.Fatalf("write %q: %d, %v", s, n, err)
	}
}

func TestWithoutHoldSendsAtOnce(t *testing.T) {
	c, rx, to := pair(t)
	calls, _, _ := Stats()
	write(t, c, to, "a")
	expect(t, rx, "a")
	if now, _, _ := Stats(); now != calls {
		t.Errorf("a write without a hold used sendmmsg (%d calls)", now-calls)
	}
}

// A direct Conn (batching switched off) writes at once, holds or not.
func TestDirectConnNeverQueues(t *testing.T) {
	c, rx, to := pair(t)
	d := NewDirectConn(c.UDPConn)
	calls, _, _ := Stats()
	release := Hold()
	defer release()
	if _, err := d.WriteToAddrPort([]byte("now"), to); err != nil {
		t.Fatal(err)
	}
	expect(t, rx, "now")
	if now, _, _ := Stats(); now != calls {
		t.Errorf("a direct Conn used sendmmsg")
	}
}

func TestHoldSendsTheBurstOnRelease(t *testing.T) {
	c, rx, to := pair(t)
	calls, datagrams, _ := Stats()
	release := Hold()
	if !Holding() {
		t.Fatal("Holding() false inside a hold")
	}
	buf := []byte("p0")
	for i := range 5 {
		buf[1] = byte('0' + i)
		if n, err := c.WriteToAddrPort(buf, to); n != 2 || err != nil {
			t.Fatalf("queued write: %d, %v", n, err)
		}
	}
	buf[1] = 'x' // the queue holds copies
	expectNothing(t, rx)
	release()
	if Holding() {
		t.Fatal("Holding() true after the release")
	}
	expect(t, rx, "p0", "p1", "p2", "p3", "p4")
	nc, nd, _ := Stats()
	if nc-calls != 1 || nd-datagrams != 5 {
		t.Errorf("the burst took %d sendmmsg calls for %d datagrams, want 1 for 5", nc-calls, nd-datagrams)
	}
}

func TestFullQueueLeavesBeforeRelease(t *testing.T) {
	c, rx, to := pair(t)
	release := Hold()
	defer func() {
		if release != nil {
			release()
		}
	}()
	for i := range MaxBatch + 3 {
		write(t, c, to, fmt.Sprint(i))
	}
	for i := range MaxBatch {
		expect(t, rx, fmt.Sprint(i))
	}
	expectNothing(t, rx)
	release()
	release = nil
	expect(t, rx, fmt.Sprint(MaxBatch), fmt.Sprint(MaxBatch+1), fmt.Sprint(MaxBatch+2))
}

// A release sends what was queued even while another hold stays open.
func TestOverlappingHolds(t *testing.T) {
	c, rx, to := pair(t)
	releaseA := Hold()
	releaseB := Hold()
	write(t, c, to, "x")
	releaseA()
	expect(t, rx, "x")
	write(t, c, to, "y")
	expectNothing(t, rx)
	releaseB()
	expect(t, rx, "y")
}

// A write when no hold is open goes behind what the socket still has
// queued (a release that has not sent yet).
func TestDirectWriteKeepsOrder(t *testing.T) {
	c, rx, to := pair(t)
	release := Hold()
	write(t, c, to, "first")
	// The moment between a release's bookkeeping and its sending.
	mu.Lock()
	holds.Add(-1)
	waiting = nil
	c.listed = false
	mu.Unlock()
	write(t, c, to, "second")
	expect(t, rx, "first", "second")
	mu.Lock()
	holds.Add(1) // for release's decrement
	mu.Unlock()
	release()
}

func TestWriteToNetAddr(t *testing.T) {
	c, rx, to := pair(t)
	release := Hold()
	if _, err := c.WriteTo([]byte("via WriteTo"), net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDPAddrPort([]byte("via WriteToUDPAddrPort"), to); err != nil {
		t.Fatal(err)
	}
	expectNothing(t, rx)
	release()
	expect(t, rx, "via WriteTo", "via WriteToUDPAddrPort")
}

// A datagram the kernel refuses is counted and dropped; the rest of the
// burst is still sent.
func TestFailedDatagramIsSkipped(t *testing.T) {
	c, rx, to := pair(t)
	_, _, errs := Stats()
	release := Hold()
	write(t, c, to, "before")
	write(t, c, netip.MustParseAddrPort("[::1]:9"), "to IPv6 from an IPv4 socket")
	write(t, c, to, "after")
	release()
	expect(t, rx, "before", "after")
	if _, _, now := Stats(); now-errs != 1 {
		t.Errorf("%d failed datagrams counted, want 1", now-errs)
	}
}

// A dual-stack socket sends a burst to IPv4 and IPv6 destinations.
func TestDualStack(t *testing.T) {
	tx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skip("no IPv6:", err)
	}
	defer tx.Close()
	rx6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer rx6.Close()
	_, rx4, to4 := pair(t)
	c := NewConn(tx)
	release := Hold()
	write(t, c, to4, "v4")
	write(t, c, rx6.LocalAddr().(*net.UDPAddr).AddrPort(), "v6")
	release()
	expect(t, rx4, "v4")
	expect(t, rx6, "v6")
}

// Once its buffers have grown, queueing and sending a burst allocates
// nothing per datagram.
func TestBurstAllocatesNothingPerDatagram(t *testing.T) {
	c, rx, to := pair(t)
	go func() { // drain
		b := make([]byte, 2048)
		for {
			if _, _, err := rx.ReadFromUDPAddrPort(b); err != nil {
				return
			}
		}
	}()
	payload := make([]byte, 1200)
	burst := func() {
		release := Hold()
		for range 7 {
			if _, err := c.WriteToAddrPort(payload, to); err != nil {
				t.Fatal(err)
			}
		}
		release()
	}
	burst()
	// Hold's release closure is a static function; the waiting list is
	// rebuilt once per release (one small slice).
	allocs := testing.AllocsPerRun(100, burst)
	t.Logf("%.1f allocations per burst", allocs)
	if allocs > 2 {
		t.Errorf("%.1f allocations per burst of 7 datagrams", allocs)
	}
}

// Many goroutines writing with and without holds: every datagram arrives
// once (run with -race).
func TestConcurrentWriters(t *testing.T) {
	c, rx, to := pair(t)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var release func()
				if (w+i)%3 != 0 {
					release = Hold()
				}
				if _, err := c.WriteToAddrPort(fmt.Appendf(nil, "%d/%d", w, i), to); err != nil {
					t.Error(err)
				}
				if release != nil {
					release()
				}
			}
		}()
	}
	seen := map[string]bool{}
	for len(seen) < writers*each {
		got := read(t, rx, 2*time.Second)
		if got == "" {
			t.Fatalf("%d of %d datagrams arrived", len(seen), writers*each)
		}
		if seen[got] {
			t.Fatalf("%q arrived twice", got)
		}
		seen[got] = true
	}
	wg.Wait()
	if Holding() {
		t.Fatal("a hold is left open")
	}
}
