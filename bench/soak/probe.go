package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// sample is the server's footprint at one moment: what /proc says of the process and what its
// /metrics say of the Go runtime and the Kurento object model.
type sample struct {
	T         float64 `json:"t"` // seconds since the soak started
	RSSKiB    int64   `json:"rss_kib"`
	GoHeapKiB int64   `json:"go_heap_kib"` // go_memstats_heap_inuse_bytes: RSS minus this is mostly C (GStreamer, libvpx)
	// The C allocator (miksilo_c_heap_bytes): what GStreamer, GLib, libvpx and libopus hold
	// (in use), and what malloc keeps of what they freed (free). RSS − Go's share − C in use is
	// the allocator's retention, not a leak.
	CInUseKiB  int64 `json:"c_in_use_kib"`
	CFreeKiB   int64 `json:"c_free_kib"`
	Threads    int   `json:"threads"`
	FDs        int   `json:"fds"`
	Goroutines int   `json:"goroutines"`
	Objects    int   `json:"objects"`       // sum of miksilo_objects over all types
	Sessions   int   `json:"sessions"`      // miksilo_sessions
	Inputs     int   `json:"inputs"`        // miksilo_composite_inputs
	GstPipes   int   `json:"gst_pipelines"` // miksilo_gstreamer_objects{kind="pipeline"}
	GstElems   int   `json:"gst_elements"`  // miksilo_gstreamer_objects{kind="element"}
	// The server's own count of output frame intervals (all Composites): total and over 100 ms.
	Intervals     int64 `json:"frame_intervals"`
	IntervalsOver int64 `json:"frame_intervals_over_100ms"`
}

// probe samples one server process.
type probe struct {
	pid     int
	metrics string // http://addr/metrics
	client  *http.Client
	start   time.Time
}

func (p *probe) take(ctx context.Context) (sample, error) {
	s := sample{T: round1(time.Since(p.start).Seconds())}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metrics, nil)
	if err != nil {
		return s, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return s, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("metrics: %s", resp.Status)
	}
	m, err := parseMetrics(resp.Body)
	if err != nil {
		return s, fmt.Errorf("metrics: %w", err)
	}
	s.Goroutines = int(m["go_goroutines"])
	s.GoHeapKiB = int64(m["go_memstats_heap_inuse_bytes"] / 1024)
	s.CInUseKiB = int64(m[`miksilo_c_heap_bytes{state="in_use"}`] / 1024)
	s.CFreeKiB = int64(m[`miksilo_c_heap_bytes{state="free"}`] / 1024)
	s.Objects = int(m["miksilo_objects"])
	s.Sessions = int(m["miksilo_sessions"])
	s.Inputs = int(m["miksilo_composite_inputs"])
	s.GstPipes = int(m[`miksilo_gstreamer_objects{kind="pipeline"}`])
	s.GstElems = int(m[`miksilo_gstreamer_objects{kind="element"}`])
	s.Intervals = int64(m["miksilo_composite_frame_interval_seconds_count"])
	s.IntervalsOver = s.Intervals - int64(m[`miksilo_composite_frame_interval_seconds_bucket{le="0.1"}`])
	// /proc after the scrape, so that every sample counts the scrape's keep-alive connection.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return s, fmt.Errorf("server process: %w", err)
	}
	s.RSSKiB, s.Threads = parseStatus(string(status))
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	if err != nil {
		return s, fmt.Errorf("server process: %w", err)
	}
	s.FDs = len(fds)
	return s, nil
}

// parseStatus reads VmRSS (KiB) and Threads from /proc/PID/status.
func parseStatus(status string) (rssKiB int64, threads int) {
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rssKiB, _ = strconv.ParseInt(f[0], 10, 64)
		case "Threads":
			threads, _ = strconv.Atoi(f[0])
		}
	}
	return rssKiB, threads
}

// parseMetrics reads the Prometheus text format: each series under its full name with labels
// (miksilo_objects{type="MediaPipeline"}) and each name summed over its label sets
// (miksilo_objects).
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, series := line, "", ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
			rest = line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			j := strings.LastIndexByte(rest, '}')
			if j < 0 {
				return nil, fmt.Errorf("malformed line %q", line)
			}
			series = name + rest[:j+1]
			rest = rest[j+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		out[name] += v
		if series != "" {
			out[series] = v
		}
	}
	return out, sc.Err()
}

// Tolerances of the leak checks. Objects must come back exactly; goroutines, threads and file
// descriptors may differ by what a server keeps for reasons other than the released objects
// (an idle HTTP keep-alive connection, a GLib thread-pool thread that has not timed out yet).
const (
	tolGoroutines = 5
	tolThreads    = 3
	tolFDs        = 3
	// The C allocator's bytes in use (MiB): GStreamer and its plugins keep a few caches of
	// their own after first use.
	tolCHeapMiB = 4
	// RSS growth over the churn phase (least-squares slope of the samples after the first
	// minute), beyond which memory is reported as leaking.
	maxRSSSlopeMiBPerMin = 1.0
)

// leaks compares a sample taken after some objects were released with the reference taken
// before they were created, and returns what did not come back (empty: nothing leaked).
func leaks(what string, ref, got sample) []string {
	var out []string
	check := func(name string, r, g, tol int) {
		if g > r+tol {
			out = append(out, fmt.Sprintf("%s: %s %d, was %d (tolerance %d)", what, name, g, r, tol))
		}
	}
	check("objects", ref.Objects, got.Objects, 0)
	check("sessions", ref.Sessions, got.Sessions, 0)
	check("composite inputs", ref.Inputs, got.Inputs, 0)
	check("GStreamer pipelines", ref.GstPipes, got.GstPipes, 0)
	check("GStreamer elements", ref.GstElems, got.GstElems, 0)
	check("goroutines", ref.Goroutines, got.Goroutines, tolGoroutines)
	check("threads", ref.Threads, got.Threads, tolThreads)
	check("file descriptors", ref.FDs, got.FDs, tolFDs)
	check("C heap in use (MiB)", int(ref.CInUseKiB>>10), int(got.CInUseKiB>>10), tolCHeapMiB)
	return out
}

// rssSlope is the least-squares slope of RSS over time, MiB per minute, of the samples taken
// from `from` seconds on (NaN with fewer than three of them).
func rssSlope(samples []sample, from float64) float64 {
	return slope(samples, from, func(s sample) float64 { return float64(s.RSSKiB) / 1024 })
}

// cInUseSlope: the same for the C allocator's bytes in use.
func cInUseSlope(samples []sample, from float64) float64 {
	return slope(samples, from, func(s sample) float64 { return float64(s.CInUseKiB) / 1024 })
}

// slope is the least-squares slope of y(sample), per minute, of the samples taken from `from`
// seconds on (NaN with fewer than three of them).
func slope(samples []sample, from float64, y func(sample) float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, s := range samples {
		if s.T < from {
			continue
		}
		x, y := s.T/60, y(s)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	if n < 3 {
		return math.NaN()
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / d
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
