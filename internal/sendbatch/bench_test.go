package sendbatch

import (
	"net"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkBurst sends bursts of 1200-byte datagrams over loopback to a
// receiver on another CPU:
// one sendto per datagram (the baseline) against one sendmmsg per burst,
// in the same run. Besides time per burst it reports the sending thread's
// CPU time per datagram (getrusage RUSAGE_THREAD; on loopback that
// includes the receiving side's network stack and its wake-up, which run
// in the sender's system call). Sender and receiver run on threads of
// their own, pinned to CPUs 0 and 1. scripts/bench-sendbatch.sh runs it.
func BenchmarkBurst(b *testing.B) {
	for _, n := range []int{7, 32} {
		for _, held := range []bool{false, true} {
			name := "sendto"
			if held {
				name = "sendmmsg"
			}
			b.Run(name+"/"+strconv.Itoa(n), func(b *testing.B) { benchBurst(b, n, held) })
		}
	}
}

func benchBurst(b *testing.B, n int, held bool) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	c, to := NewConn(tx), rx.LocalAddr().(*net.UDPAddr).AddrPort()
	// At most 16 bursts in flight (~130 KB at 7 datagrams, under the
	// receive buffer): the sender rarely waits, so its own wake-ups do not
	// swamp what is measured; the receiver drains faster than the sender
	// writes, so it sleeps and is woken as a viewer is.
	inflight := make(chan struct{}, 16*7/n+1)
	go func() {
		runtime.LockOSThread() // the receiver on CPU 1 (a viewer elsewhere), the sender on CPU 0
		pin(1)
		buf := make([]byte, 2048)
		for count := 0; ; {
			if _, _, err := rx.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			if count++; count == n {
				count = 0
				<-inflight
			}
		}
	}()
	runtime.LockOSThread() // the thread whose CPU time is measured
	defer runtime.UnlockOSThread()
	pin(0)
	payload := make([]byte, 1200)
	cpu0 := threadCPU(b)
	b.ResetTimer()
	for range b.N {
		select {
		case inflight <- struct{}{}:
		case <-time.After(2 * time.Second):
			b.Fatal("bursts do not arrive whole (loopback drops?)")
		}
		var release func()
		if held {
			release = Hold()
		}
		for range n {
			if _, err := c.WriteToAddrPort(payload, to); err != nil {
				b.Fatal(err)
			}
		}
		if held {
			release()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(threadCPU(b)-cpu0)/float64(b.N*n), "sender-cpu-ns/datagram")
}

// pin keeps the calling (locked) thread on one CPU, when there are two.
func pin(cpu int) {
	if runtime.NumCPU() < 2 {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	_ = unix.SchedSetaffinity(0, &set)
}

func threadCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
