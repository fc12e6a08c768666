package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miksilo/miksilo/bench/internal/procstat"
)

// ---------------------------------------------------------------------------------------------
// Per-viewer reception during the measurement window.

const seqWindow = 1 << 17 // packets one window can track (≈ 10 min at 2 Mb/s)

// viewerStats is one viewer's reception during the window. The viewer's reader goroutine updates it;
// the window is opened and closed by the run through setOpen.
type viewerStats struct {
	mu       sync.Mutex
	open     bool
	started  bool  // a packet arrived since the window opened
	lastExt  int64 // newest extended sequence number
	haveLast bool
	first    int64 // extended sequence number of the window's first packet
	highest  int64
	unique   int64 // distinct sequence numbers received in the window
	dups     int64
	payload  int64
	seen     []uint64 // bitset over extended sequence numbers − first
	anyMedia bool     // any packet at all (window or not)
	firstAt  time.Time
	delay    delayTracker
}

// delayTracker follows how late frames arrive compared with their RTP timestamps: the arrival time
// of a frame's first packet minus its timestamp, relative to the smallest such value seen. A server
// that keeps up holds it near 0 (plus pacing of large frames); one falling behind makes it grow by
// the backlog it queues.
type delayTracker struct {
	started bool
	lastTS  uint32
	tsExt   int64 // extended timestamp of the newest frame, from the first one
	minRel  int64
	recent  [64]struct{ at, lag int64 } // ring of the newest frames: arrival, delay (ns)
	n       int
}

func (d *delayTracker) frame(ts uint32, now int64) {
	if !d.started {
		d.started, d.lastTS, d.minRel = true, ts, now
	} else {
		step := int32(ts - d.lastTS)
		if step <= 0 {
			return // not a new frame
		}
		d.tsExt += int64(step)
		d.lastTS = ts
	}
	rel := now - d.tsExt*int64(time.Second)/90000
	d.minRel = min(d.minRel, rel)
	d.recent[d.n%len(d.recent)] = struct{ at, lag int64 }{now, rel - d.minRel}
	d.n++
}

// current is the smallest delay of the frames that arrived in the last second (large frames are
// paced, so single frames run late even without a backlog); -1 without any.
func (d *delayTracker) current(now int64) time.Duration {
	best := int64(-1)
	for i := 0; i < min(d.n, len(d.recent)); i++ {
		if r := d.recent[i]; now-r.at <= int64(time.Second) && (best < 0 || r.lag < best) {
			best = r.lag
		}
	}
	return time.Duration(best)
}

// lag is the viewer's current delay (see delayTracker.current).
func (v *viewerStats) lag(now time.Time) time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.delay.current(now.UnixNano())
}

func (v *viewerStats) setOpen(open bool) {
	v.mu.Lock()
	v.open = open
	if open {
		v.started, v.unique, v.dups, v.payload = false, 0, 0, 0
		if v.seen == nil {
			v.seen = make([]uint64, seqWindow/64)
		} else {
			clear(v.seen)
		}
	}
	v.mu.Unlock()
}

// packet records one RTP packet: its sequence number, timestamp and payload size (padding excluded).
func (v *viewerStats) packet(seq uint16, ts uint32, payload int) {
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.anyMedia {
		v.anyMedia, v.firstAt = true, now
	}
	v.delay.frame(ts, now.UnixNano())
	// Extend the 16-bit sequence number from the newest one seen; a packet behind it (a late
	// retransmission) extends to a smaller number.
	if !v.haveLast {
		v.lastExt, v.haveLast = int64(seq), true
	}
	ext := v.lastExt + int64(int16(seq-uint16(v.lastExt)))
	v.lastExt = max(v.lastExt, ext)
	if !v.open {
		return
	}
	if !v.started {
		v.started, v.first, v.highest = true, ext, ext
	}
	off := ext - v.first
	if off < 0 || off >= seqWindow {
		return // before the window's first packet, or beyond what is tracked
	}
	if v.seen[off/64]&(1<<(off%64)) != 0 {
		v.dups++
		return
	}
	v.seen[off/64] |= 1 << (off % 64)
	v.unique++
	v.payload += int64(payload)
	v.highest = max(v.highest, ext)
}

// window returns what the viewer got in the window: distinct packets, packets expected from the
// sequence range seen, payload bytes.
func (v *viewerStats) window() (received, expected, payload int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.started {
		return 0, 0, 0
	}
	return v.unique, v.highest - v.first + 1, v.payload
}

// ---------------------------------------------------------------------------------------------
// CPU time (as bench/cpload does it) and memory, from /proc.

type cpuSnap struct {
	at     time.Time
	busy   int64
	server int64
	self   int64
	others map[int]int64 // every other process: pid → ticks
}

func takeCPUSnap(serverPID int) cpuSnap {
	s := cpuSnap{at: time.Now(), others: map[int]int64{}}
	s.busy, _ = procstat.MachineBusy()
	s.self, _ = procstat.ProcTicks("self")
	if serverPID > 0 {
		s.server, _ = procstat.ProcTicks(strconv.Itoa(serverPID))
	}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == serverPID {
			continue
		}
		if t, err := procstat.ProcTicks(e.Name()); err == nil {
			s.others[pid] = t
		}
	}
	return s
}

// cpuUsage is CPU used between two snapshots, in percent of one CPU.
type cpuUsage struct {
	Server  float64 `json:"server_cpu_pct"`
	Loader  float64 `json:"loader_cpu_pct"`
	Machine float64 `json:"machine_cpu_pct"`
	// Other is the CPU time of every other process (kernel threads included): another workload
	// when it is not near 0. Processes that ended during the window are missed.
	Other float64 `json:"other_cpu_pct"`
	// Unattributed is the machine's busy time that no process accounts for (interrupt handling,
	// accounting differences between /proc/stat and /proc/PID/stat); it grows with the load.
	Unattributed float64 `json:"unattributed_cpu_pct"`
}

func usageBetween(a, b cpuSnap) cpuUsage {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return cpuUsage{}
	}
	pct := func(t int64) float64 { return round1(float64(t) / procstat.ClockTicks / secs * 100) }
	var other int64
	for pid, t := range b.others {
		other += t - a.others[pid] // a process born in the window counts from 0
	}
	u := cpuUsage{Server: pct(b.server - a.server), Loader: pct(b.self - a.self), Machine: pct(b.busy - a.busy), Other: pct(other)}
	u.Unattributed = round1(max(u.Machine-u.Server-u.Loader-u.Other, 0))
	return u
}

// rssKB is VmRSS of a process in KiB (0 when unknown).
func rssKB(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// ---------------------------------------------------------------------------------------------
// UDP receive-queue drops per process: /proc/net/udp's drops column for the sockets a process
// holds. The network namespace is private to the benchmark, so every socket listed is ours.

// udpDrops returns the drops counted on the UDP sockets of each pid.
func udpDrops(pids ...int) []int64 {
	byInode := map[string]int64{}
	for _, name := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		lines := strings.Split(string(data), "\n")
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) < 13 {
				continue
			}
			n, _ := strconv.ParseInt(f[12], 10, 64)
			byInode[f[9]] = n
		}
	}
	out := make([]int64, len(pids))
	for i, pid := range pids {
		if pid <= 0 {
			continue
		}
		fds, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/fd/*")
		for _, fd := range fds {
			target, err := os.Readlink(fd)
			if err != nil {
				continue
			}
			if inode, ok := strings.CutPrefix(target, "socket:["); ok {
				out[i] += byInode[strings.TrimSuffix(inode, "]")]
			}
		}
	}
	return out
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
