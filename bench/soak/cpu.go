package main

import (
	"strconv"
	"sync"
	"time"

	"github.com/miksilo/miksilo/bench/internal/procstat"
)

// cpuWatch records, in 20 ms windows, what happened on the server's CPUs besides the server:
// the time the hypervisor ran something else on them (steal, /proc/stat) and the time other
// processes of this machine used them (the CPUs' busy time minus the server's own CPU time). A
// gap during which the server's CPU was stolen for most of it is the host's, not the server's:
// a media server on a dedicated CPU does not see it. /proc/stat counts in USER_HZ ticks
// (10 ms on Linux), so a window holds 0–2 ticks and only sums over a gap mean something.
type cpuWatch struct {
	pid  string
	cpus []int // the server's CPUs (its affinity)

	mu    sync.Mutex
	start time.Time
	steal []time.Duration // per window
	other []time.Duration
}

const cpuWindow = 20 * time.Millisecond

// newCPUWatch starts watching until stop is closed; nil (and no error) when the server's pid is
// not known.
func newCPUWatch(pid int, stop <-chan struct{}) (*cpuWatch, error) {
	if pid <= 0 {
		return nil, nil
	}
	cpus, err := procstat.AllowedCPUs(strconv.Itoa(pid))
	if err != nil {
		return nil, err
	}
	w := &cpuWatch{pid: strconv.Itoa(pid), cpus: cpus, start: time.Now()}
	prev, err := w.read()
	if err != nil {
		return nil, err
	}
	go func() {
		t := time.NewTicker(cpuWindow)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				cur, err := w.read()
				if err != nil {
					return // the server is gone
				}
				w.add(now, prev, cur)
				prev = cur
			}
		}
	}()
	return w, nil
}

// cpuTicks are cumulative counters: the server CPUs' busy and steal ticks, the server's own.
type cpuTicks struct {
	at                  time.Time
	busy, steal, server int64
}

func (w *cpuWatch) read() (cpuTicks, error) {
	t := cpuTicks{at: time.Now()}
	var err error
	if t.busy, t.steal, err = procstat.CPUTimes(w.cpus); err != nil {
		return t, err
	}
	t.server, err = procstat.ProcTicks(w.pid)
	return t, err
}

func (w *cpuWatch) add(now time.Time, prev, cur cpuTicks) {
	tick := time.Second / procstat.ClockTicks
	steal := time.Duration(cur.steal-prev.steal) * tick
	// Tick-sampled busy time against the server's precise (scaled) time: a window's figure can
	// be a tick off either way; only sums over many windows mean something.
	other := time.Duration((cur.busy-prev.busy)-(cur.server-prev.server)) * tick
	i := int(prev.at.Sub(w.start) / cpuWindow)
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.steal) <= i {
		w.steal = append(w.steal, 0)
		w.other = append(w.other, 0)
	}
	w.steal[i] += steal
	w.other[i] += other
}

// during sums the steal and the other processes' time on the server's CPUs in the windows
// overlapping [from, to] (at most one window more on each side than the interval).
func (w *cpuWatch) during(from, to time.Time) (steal, other time.Duration) {
	if w == nil {
		return 0, 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	a, b := int(from.Sub(w.start)/cpuWindow), int(to.Sub(w.start)/cpuWindow)
	for i := max(a, 0); i <= b && i < len(w.steal); i++ {
		steal += w.steal[i]
		other += w.other[i]
	}
	return steal, max(other, 0)
}

// share is the steal and the other processes' time as percentages of the server's CPUs over
// [from, to].
func (w *cpuWatch) share(from, to time.Time) (stealPct, otherPct float64) {
	if w == nil || !to.After(from) {
		return 0, 0
	}
	steal, other := w.during(from, to)
	capacity := float64(to.Sub(from)) * float64(len(w.cpus))
	return 100 * float64(steal) / capacity, 100 * float64(other) / capacity
}
