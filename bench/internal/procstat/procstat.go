// Package procstat reads CPU time from /proc for the load generators of bench/: the whole
// machine's busy time, a process's utime+stime, and a wait for an idle machine.
package procstat

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const ClockTicks = 100

// MachineBusy sums the non-idle fields of the aggregate "cpu" line of /proc/stat, in clock ticks.
func MachineBusy() (int64, error) {
	busy, _, err := CPUTimes(nil)
	return busy, err
}

// CPUTimes reads /proc/stat: the busy ticks (user, nice, system, irq, softirq) and the steal
// ticks (time the hypervisor ran something else while the CPU had work) summed over the given
// CPUs' lines, or of the aggregate "cpu" line when cpus is empty.
func CPUTimes(cpus []int) (busy, steal int64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseCPUTimes(data, cpus)
}

func parseCPUTimes(data []byte, cpus []int) (busy, steal int64, err error) {
	want := map[string]bool{}
	for _, c := range cpus {
		want["cpu"+strconv.Itoa(c)] = true
	}
	if len(cpus) == 0 {
		want["cpu"] = true
	}
	found := 0
	for _, line := range bytes.Split(data, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 || !want[string(f[0])] {
			continue
		}
		if len(f) < 9 {
			return 0, 0, fmt.Errorf("/proc/stat: short line %q", line)
		}
		for i, v := range f[1:] {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/stat %q: %w", f[0], err)
			}
			// user nice system idle iowait irq softirq steal guest guest_nice; guest time is
			// already in user.
			switch {
			case i == 7:
				steal += n
			case i == 3 || i == 4 || i >= 8:
			default:
				busy += n
			}
		}
		found++
	}
	if found != len(want) {
		return 0, 0, fmt.Errorf("/proc/stat: %d of the lines %v", found, cpus)
	}
	return busy, steal, nil
}

// AllowedCPUs are the CPUs a process may run on (Cpus_allowed_list of /proc/<pid>/status: "0",
// "0-1", "0,2-3").
func AllowedCPUs(pid string) ([]int, error) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return nil, err
	}
	return parseAllowedCPUs(string(data))
}

func parseAllowedCPUs(status string) ([]int, error) {
	for _, line := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(line, "Cpus_allowed_list:")
		if !ok {
			continue
		}
		var out []int
		for _, part := range strings.Split(strings.TrimSpace(v), ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				return nil, fmt.Errorf("Cpus_allowed_list %q", v)
			}
			b := a
			if isRange {
				if b, err = strconv.Atoi(hi); err != nil || b < a {
					return nil, fmt.Errorf("Cpus_allowed_list %q", v)
				}
			}
			for c := a; c <= b; c++ {
				out = append(out, c)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("no Cpus_allowed_list")
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
// measured process (when its pid is known) and the steal on the CPUs it may run on, and this
// process.
type Snap struct {
	At        time.Time
	busy      int64
	steal     int64
	proc      int64
	procSteal int64 // steal on procCPUs
	procCPUs  []int
	self      int64
	hasProc   bool
}

// TakeSnap reads the CPU times now; pid ≤ 0: no measured process.
func TakeSnap(pid int) (Snap, error) {
	s := Snap{At: time.Now()}
	var err error
	if s.busy, s.steal, err = CPUTimes(nil); err != nil {
		return s, err
	}
	if s.self, err = ProcTicks("self"); err != nil {
		return s, err
	}
	if pid > 0 {
		if s.proc, err = ProcTicks(strconv.Itoa(pid)); err != nil {
			return s, err
		}
		if s.procCPUs, err = AllowedCPUs(strconv.Itoa(pid)); err != nil {
			return s, err
		}
		if _, s.procSteal, err = CPUTimes(s.procCPUs); err != nil {
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
	// Steal: time the hypervisor ran something else while this machine's CPUs had work (not in
	// any process's CPU time; it slows what runs and scatters the figures).
	Steal float64 `json:"steal_cpu_pct"`
	// ServerSteal: the steal on the CPUs the measured process may run on (its affinity at both
	// snapshots; omitted when that changed between them). A load generator's own CPU can be
	// stolen from without slowing the measured process, so this, not Steal, is what qualifies a
	// measured figure.
	ServerSteal float64 `json:"server_steal_cpu_pct,omitempty"`
	ServerCPUs  []int   `json:"server_cpus,omitempty"`
}

// Between is the CPU used from a to b (nil when b is not after a).
func Between(a, b Snap) *Usage {
	secs := b.At.Sub(a.At).Seconds()
	if secs <= 0 {
		return nil
	}
	pct := func(ticks int64) float64 { return round1(float64(ticks) / ClockTicks / secs * 100) }
	u := &Usage{Loader: pct(b.self - a.self), Machine: pct(b.busy - a.busy), Steal: pct(b.steal - a.steal)}
	if a.hasProc && b.hasProc {
		u.Server = pct(b.proc - a.proc)
		if slices.Equal(a.procCPUs, b.procCPUs) {
			u.ServerSteal, u.ServerCPUs = pct(b.procSteal-a.procSteal), a.procCPUs
		}
	}
	u.Other = round1(max(u.Machine-u.Server-u.Loader, 0))
	return u
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
