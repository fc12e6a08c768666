// Package procstat reads CPU time from /proc for the load generators of bench/: the whole
// machine's busy time, a process's utime+stime, and a wait for an idle machine.
package procstat

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// ClockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const ClockTicks = 100

// MachineBusy sums the non-idle fields of the aggregate "cpu" line of /proc/stat, in clock ticks.
func MachineBusy() (int64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, err
		}
		// user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return busy, nil
}

// ProcTicks returns utime+stime of /proc/<pid>/stat (pid may be "self"), all threads included.
func ProcTicks(pid string) (int64, error) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields are counted after its closing paren.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: no command name", pid)
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: too few fields", pid)
	}
	var sum int64
	for _, v := range f[11:13] { // fields 14 and 15: utime, stime
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// WaitForIdle samples machine CPU use over 1 s windows until it is below pct (percent of one CPU)
// or limit has passed; it returns the last sample and whether the machine was idle.
func WaitForIdle(limit time.Duration, pct float64) (float64, bool) {
	deadline := time.Now().Add(limit)
	for {
		a, err := MachineBusy()
		if err != nil {
			return 0, true // no /proc: nothing to wait for
		}
		t0 := time.Now()
		time.Sleep(time.Second)
		b, err := MachineBusy()
		if err != nil {
			return 0, true
		}
		last := float64(b-a) / ClockTicks / time.Since(t0).Seconds() * 100
		if last < pct {
			return last, true
		}
		if time.Now().After(deadline) {
			return last, false
		}
	}
}

// Snap is CPU time in clock ticks at one instant: the whole machine (busy, all CPUs), one
// measured process (when its pid is known) and this process.
type Snap struct {
	At      time.Time
	busy    int64
	proc    int64
	self    int64
	hasProc bool
}

// TakeSnap reads the CPU times now; pid ≤ 0: no measured process.
func TakeSnap(pid int) (Snap, error) {
	s := Snap{At: time.Now()}
	var err error
	if s.busy, err = MachineBusy(); err != nil {
		return s, err
	}
	if s.self, err = ProcTicks("self"); err != nil {
		return s, err
	}
	if pid > 0 {
		if s.proc, err = ProcTicks(strconv.Itoa(pid)); err != nil {
			return s, err
		}
		s.hasProc = true
	}
	return s, nil
}

// Usage is the share of one CPU used between two snapshots, in percent (200 = two CPUs busy).
type Usage struct {
	Server  float64 `json:"server_cpu_pct,omitempty"` // the measured process
	Loader  float64 `json:"loader_cpu_pct"`           // this process
	Machine float64 `json:"machine_cpu_pct"`
	Other   float64 `json:"other_cpu_pct"` // machine − server − loader: load not ours
}

// Between is the CPU used from a to b (nil when b is not after a).
func Between(a, b Snap) *Usage {
	secs := b.At.Sub(a.At).Seconds()
	if secs <= 0 {
		return nil
	}
	pct := func(ticks int64) float64 { return round1(float64(ticks) / ClockTicks / secs * 100) }
	u := &Usage{Loader: pct(b.self - a.self), Machine: pct(b.busy - a.busy)}
	if a.hasProc && b.hasProc {
		u.Server = pct(b.proc - a.proc)
	}
	u.Other = round1(max(u.Machine-u.Server-u.Loader, 0))
	return u
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
