// Command wakecost measures what a thread's sleep and wake-up costs in CPU
// time on this machine, the price event-driven media code pays per packet
// burst: on a VM a wake from idle can cost tens of microseconds of the
// woken process's CPU time, far more than the work a packet needs.
//
// It reports, as CPU time charged to this process (getrusage) per cycle:
//
//	syscall      a bare system call (getppid), for scale
//	sleep-wake   a thread pinned to one CPU sleeping 1 ms (nanosleep) and
//	             waking: the CPU goes idle and is woken by a timer
//	handoff-same two threads pinned to the same CPU passing a token through
//	             two eventfds (each cycle: two wake-ups, no idle CPU)
//	handoff-idle the same with a 1 ms sleep per cycle (each wake-up of the
//	             first thread is from an idle CPU)
//	handoff-cross the two threads on different CPUs (every wake-up crosses
//	             CPUs: an inter-processor interrupt)
//
// Usage: go run ./bench/wakecost [-n 20000] [-cpu 0] [-cpu2 1] [-line]
// (-line: one sentence instead of the table; scripts/bench-composite.sh puts
// it into the Composite section of docs/benchmarks.md).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	n := flag.Int("n", 20000, "cycles per measurement (sleeping ones use n/10)")
	cpu := flag.Int("cpu", 0, "CPU to pin to")
	cpu2 := flag.Int("cpu2", 1, "second CPU, for the cross-CPU hand-off (-1: skip)")
	line := flag.Bool("line", false, "print one sentence with the figures instead of the table")
	flag.Parse()
	runtime.GOMAXPROCS(4) // both pinned threads keep a P while blocked in raw syscalls

	if !*line {
		fmt.Printf("%-14s %10s %12s %14s\n", "case", "cycles", "wall µs/cyc", "CPU µs/cycle")
	}
	perCycle := map[string]float64{}
	report := func(name string, cycles int, f func()) {
		var a, b unix.Rusage
		_ = unix.Getrusage(unix.RUSAGE_SELF, &a)
		t0 := time.Now()
		f()
		wall := time.Since(t0)
		_ = unix.Getrusage(unix.RUSAGE_SELF, &b)
		cpu := (tv(b.Utime) + tv(b.Stime)) - (tv(a.Utime) + tv(a.Stime))
		perCycle[name] = float64(cpu.Nanoseconds()) / 1e3 / float64(cycles)
		if *line {
			return
		}
		fmt.Printf("%-14s %10d %12.1f %14.1f\n", name, cycles,
			float64(wall.Microseconds())/float64(cycles), float64(cpu.Nanoseconds())/1e3/float64(cycles))
	}
	onCPU(*cpu, func() {
		report("syscall", *n*10, func() {
			for range *n * 10 {
				unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
			}
		})
		ts := unix.Timespec{Nsec: int64(time.Millisecond)}
		report("sleep-wake", *n/10, func() {
			for range *n / 10 {
				unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
			}
		})
	})
	report("handoff-same", *n, func() { pingPong(*cpu, *cpu, *n, 0) })
	report("handoff-idle", *n/10, func() { pingPong(*cpu, *cpu, *n/10, time.Millisecond) })
	if *cpu2 >= 0 && *cpu2 != *cpu && *cpu2 < runtime.NumCPU() {
		report("handoff-cross", *n, func() { pingPong(*cpu, *cpu2, *n, 0) })
	}
	if *line {
		fmt.Printf("CPU time per event (bench/wakecost, CPU %d): a system call %.1f µs, a thread's sleep and wake-up from an idle CPU %.0f µs, a hand-off between two threads on one CPU %.1f µs",
			*cpu, perCycle["syscall"], perCycle["sleep-wake"], perCycle["handoff-same"]/2)
		if v, ok := perCycle["handoff-cross"]; ok {
			fmt.Printf(", across CPUs %.0f µs", v/2)
		}
		fmt.Println()
	}
}

func tv(t unix.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}

// onCPU runs f on a locked OS thread pinned to cpu.
func onCPU(cpu int, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pin(cpu)
		f()
	}()
	<-done
}

func pin(cpu int) {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		fmt.Fprintln(os.Stderr, "wakecost: sched_setaffinity:", err)
		os.Exit(1)
	}
}

// pingPong passes a token n times between a thread on cpuA and one on cpuB
// through two blocking eventfds; the first thread sleeps gap per cycle.
func pingPong(cpuA, cpuB, n int, gap time.Duration) {
	a2b, err1 := unix.Eventfd(0, unix.EFD_CLOEXEC)
	b2a, err2 := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "wakecost: eventfd:", err1, err2)
		os.Exit(1)
	}
	defer unix.Close(a2b)
	defer unix.Close(b2a)
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	buf := make([]byte, 8)
	// Raw syscalls: the Go scheduler stays out of the measured path.
	rd := func(fd int) { unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), 8) }
	wr := func(fd int) { unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&one[0])), 8) }
	go onCPU(cpuB, func() {
		for range n {
			rd(a2b)
			wr(b2a)
		}
	})
	ts := unix.Timespec{Nsec: gap.Nanoseconds()}
	onCPU(cpuA, func() {
		for range n {
			wr(a2b)
			rd(b2a)
			if gap > 0 {
				unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
			}
		}
	})
}
