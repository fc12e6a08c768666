package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuSnap is CPU time in clock ticks at one instant: the whole machine (busy, all CPUs), the server
// process (when its pid is known) and this process.
type cpuSnap struct {
	at      time.Time
	busy    int64
	server  int64
	self    int64
	hasProc bool
}

// cpuUsage is the share of one CPU used during the measured window, in percent (200 = two CPUs).
type cpuUsage struct {
	Server  float64 `json:"server_cpu_pct,omitempty"`
	Loader  float64 `json:"loader_cpu_pct"`
	Machine float64 `json:"machine_cpu_pct"`
	Other   float64 `json:"other_cpu_pct"` // machine − server − loader: load not ours
}

func takeCPUSnap(serverPID int) (cpuSnap, error) {
	s := cpuSnap{at: time.Now()}
	var err error
	if s.busy, err = machineBusy(); err != nil {
		return s, err
	}
	if s.self, err = procTicks("self"); err != nil {
		return s, err
	}
	if serverPID > 0 {
		if s.server, err = procTicks(strconv.Itoa(serverPID)); err != nil {
			return s, err
		}
		s.hasProc = true
	}
	return s, nil
}

func usageBetween(a, b cpuSnap) *cpuUsage {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return nil
	}
	pct := func(ticks int64) float64 { return round1(float64(ticks) / clockTicks / secs * 100) }
	u := &cpuUsage{Loader: pct(b.self - a.self), Machine: pct(b.busy - a.busy)}
	if a.hasProc && b.hasProc {
		u.Server = pct(b.server - a.server)
	}
	u.Other = round1(max(u.Machine-u.Server-u.Loader, 0))
	return u
}

// machineBusy sums the non-idle fields of the aggregate "cpu" line of /proc/stat.
func machineBusy() (int64, error) {
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

// procTicks returns utime+stime of /proc/<pid>/stat.
func procTicks(pid string) (int64, error) {
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

// sampleCPU snapshots CPU time at from and at to and sends the usage in between (nil when /proc
// is unreadable or ctx ends first).
func sampleCPU(ctx context.Context, serverPID int, from, to time.Time) <-chan *cpuUsage {
	out := make(chan *cpuUsage, 1)
	go func() {
		defer close(out)
		wait := func(t time.Time) bool {
			timer := time.NewTimer(time.Until(t))
			defer timer.Stop()
			select {
			case <-timer.C:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if !wait(from) {
			return
		}
		a, err := takeCPUSnap(serverPID)
		if err != nil || !wait(to) {
			return
		}
		b, err := takeCPUSnap(serverPID)
		if err != nil {
			return
		}
		out <- usageBetween(a, b)
	}()
	return out
}

// waitForIdle samples machine CPU use over 1 s windows until it is below pct (percent of one CPU) or
// limit has passed; it returns the last sample.
func waitForIdle(limit time.Duration, pct float64) (float64, bool) {
	deadline := time.Now().Add(limit)
	last := -1.0
	for {
		a, err := machineBusy()
		if err != nil {
			return 0, true // no /proc: nothing to wait for
		}
		t0 := time.Now()
		time.Sleep(time.Second)
		b, err := machineBusy()
		if err != nil {
			return 0, true
		}
		last = float64(b-a) / clockTicks / time.Since(t0).Seconds() * 100
		if last < pct {
			return last, true
		}
		if time.Now().After(deadline) {
			return last, false
		}
	}
}
