package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP miksilo_objects Objects.
# TYPE miksilo_objects gauge
miksilo_objects{type="MediaPipeline"} 1
miksilo_objects{type="Composite"} 2
go_goroutines 37
miksilo_composite_frame_interval_seconds_bucket{le="0.1"} 95
miksilo_composite_frame_interval_seconds_bucket{le="+Inf"} 100
miksilo_composite_frame_interval_seconds_count 100
miksilo_gstreamer_objects{kind="pipeline"} 2
`))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{
		"miksilo_objects": 3, `miksilo_objects{type="Composite"}`: 2, "go_goroutines": 37,
		`miksilo_composite_frame_interval_seconds_bucket{le="0.1"}`: 95, "miksilo_composite_frame_interval_seconds_count": 100,
		`miksilo_gstreamer_objects{kind="pipeline"}`: 2,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if _, err := parseMetrics(strings.NewReader("broken{le=\"1\" 3\n")); err == nil {
		t.Error("a line without a closing brace parsed")
	}
	if _, err := parseMetrics(strings.NewReader("x notanumber\n")); err == nil {
		t.Error("a non-number value parsed")
	}
}

func TestParseStatus(t *testing.T) {
	rss, threads := parseStatus("Name:\tmiksilo\nVmRSS:\t  123456 kB\nThreads:\t42\n")
	if rss != 123456 || threads != 42 {
		t.Fatalf("rss %d threads %d", rss, threads)
	}
}

func TestLeaks(t *testing.T) {
	ref := sample{Objects: 4, Sessions: 1, Goroutines: 40, Threads: 19, FDs: 25, GstPipes: 2, GstElems: 24, CInUseKiB: 45 << 10}
	same := ref
	same.CInUseKiB += tolCHeapMiB << 10
	same.CFreeKiB = 1 << 20 // kept free memory is not a leak
	same.Goroutines += tolGoroutines
	same.Threads += tolThreads
	same.FDs += tolFDs
	same.RSSKiB = 1 << 30 // RSS is not a leak check of its own here (the slope is)
	if l := leaks("x", ref, same); len(l) != 0 {
		t.Errorf("within the tolerances: %v", l)
	}
	bad := ref
	bad.Objects++
	bad.GstElems += 9
	bad.FDs += tolFDs + 1
	bad.CInUseKiB += (tolCHeapMiB + 1) << 10
	l := leaks("after", ref, bad)
	if len(l) != 4 {
		t.Fatalf("leaks = %v, want objects, GStreamer elements, file descriptors and C heap", l)
	}
	for i, want := range []string{"after: objects 5, was 4", "GStreamer elements 33, was 24", "file descriptors 29, was 25", "C heap in use (MiB) 50, was 45"} {
		if !strings.Contains(l[i], want) {
			t.Errorf("leak %d = %q, want it to say %q", i, l[i], want)
		}
	}
}

func TestRSSSlope(t *testing.T) {
	var ss []sample
	for i := 0; i <= 10; i++ { // 2 MiB a minute from t = 60 s on, flat before
		kib := int64(100 << 10)
		if i >= 6 {
			kib += int64(i-6) * (2 << 10) / 6 // 10 s apart: 1/6 of 2 MiB each
		}
		ss = append(ss, sample{T: float64(i * 10), RSSKiB: kib})
	}
	if s := rssSlope(ss, 60); math.Abs(s-2) > 0.05 {
		t.Errorf("slope %v MiB/min, want 2", s)
	}
	if s := rssSlope(ss, 95); !math.IsNaN(s) {
		t.Errorf("slope of two samples = %v, want NaN", s)
	}
}

func TestGapStats(t *testing.T) {
	g := gapStats{limit: 100 * time.Millisecond, clock: 90000}
	t0 := time.Now()
	g.note(0, t0, false, false) // before measuring: only the start
	g.setMeasure(true)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	g.note(3000, at(33), false, false)
	g.note(3000, at(40), false, false) // the same frame's next packet
	g.note(6000, at(66), false, false)
	g.note(9000, at(190), false, true)  // 124 ms: over the limit, a key frame
	g.note(6000, at(223), false, false) // backwards
	if g.units != 4 || g.over != 1 || g.backward != 1 {
		t.Fatalf("units %d over %d backward %d", g.units, g.over, g.backward)
	}
	if g.max != 124*time.Millisecond {
		t.Errorf("max %v", g.max)
	}
	if len(g.events) != 1 || g.events[0].GapMS != 124 || g.events[0].TSStepMS != 33.3 || !g.events[0].Key {
		t.Errorf("events %+v", g.events)
	}
	if p := g.percentile(0.5); p != 40*time.Millisecond {
		t.Errorf("p50 %v, want the 30–40 ms bucket's edge", p)
	}
	if p := g.percentile(1); p != 130*time.Millisecond {
		t.Errorf("p100 %v", p)
	}
	if len(g.worst) != 4 || g.worst[0] != 124*time.Millisecond {
		t.Errorf("worst %v", g.worst)
	}
	// Audio counts every packet.
	a := gapStats{limit: 100 * time.Millisecond, measure: true}
	a.note(0, t0, true, false)
	a.note(0, at(20), true, false)
	if a.units != 1 {
		t.Errorf("audio units %d", a.units)
	}
}

func TestIsVP8Keyframe(t *testing.T) {
	pay := &codecs.VP8Payloader{EnablePictureID: true}
	key := append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}, make([]byte, 50)...) // frame tag P bit 0
	delta := append([]byte{0x11, 0x02, 0x00}, make([]byte, 50)...)
	for _, tc := range []struct {
		frame []byte
		want  bool
	}{{key, true}, {delta, false}} {
		pkts := pay.Payload(1200, tc.frame)
		if got := isVP8Keyframe(pkts[0]); got != tc.want {
			t.Errorf("first packet of %x…: key %v, want %v", tc.frame[:3], got, tc.want)
		}
	}
	small := pay.Payload(20, key) // a later packet of a key frame is not its start
	var p rtp.Packet
	p.Payload = small[1]
	if isVP8Keyframe(p.Payload) {
		t.Error("a continuation packet counted as a key frame start")
	}
}

func passing() *report {
	return &report{Joins: 120, VideoFrames: 7000, AudioPackets: 12000, GapLimitMS: 100, DurationSec: 240,
		VideoMaxGapMS: 70, AudioMaxGapMS: 60, Slots: 4, Seed: 1, Leaves: map[string]int{leaveStopMedia: 30}}
}

func TestVerdict(t *testing.T) {
	if v, ok := verdict(passing()); !ok || !strings.HasPrefix(v, "pass: 120 joins") {
		t.Errorf("verdict %q %v", v, ok)
	}
	for name, spoil := range map[string]func(r *report){
		"leak":      func(r *report) { r.Leaks = []string{"objects"} },
		"video gap": func(r *report) { r.VideoGapsOver = 1; r.VideoMaxGapMS = 130 },
		"video gaps, some the machine's": func(r *report) {
			r.VideoGapsOver, r.VideoGapsMachine = 3, 2
		},
		"audio gaps, some the machine's": func(r *report) {
			r.AudioGapsOver, r.AudioGapsMachine = 1, 0
		},
		"audio gap": func(r *report) { r.AudioGapsOver = 2 },
		"backwards": func(r *report) { r.VideoBackward = 1 },
		"join":      func(r *report) { r.JoinFailures = 1 },
		"error":     func(r *report) { r.ErrorEvents = []string{"{}"} },
		"no churn":  func(r *report) { r.Joins = 0 },
		"no audio":  func(r *report) { r.AudioPackets = 0 },
	} {
		r := passing()
		spoil(r)
		if v, ok := verdict(r); ok || !strings.HasPrefix(v, "FAIL") {
			t.Errorf("%s: verdict %q %v", name, v, ok)
		}
	}
}

// TestVerdictMachineGaps: gaps the machine accounts for are reported, not failed.
func TestVerdictMachineGaps(t *testing.T) {
	r := passing()
	r.VideoGapsOver, r.VideoGapsMachine, r.AudioGapsOver, r.AudioGapsMachine = 3, 3, 1, 1
	v, ok := verdict(r)
	if !ok || !strings.Contains(v, "4 gap(s) over 100 ms (3 video, 1 audio) while the hypervisor") {
		t.Errorf("verdict %q %v", v, ok)
	}
}

// TestAttribute: a gap is the machine's when the stolen time or the load generator's lateness
// covers its excess over the limit, and the server's otherwise.
func TestAttribute(t *testing.T) {
	start := time.Unix(1000, 0)
	w := &cpuWatch{cpus: []int{0}, start: start}
	// 20 ms windows; the gap from 1.0 s to 1.2 s has 60 ms stolen in it, the one from 3.0 s to
	// 3.2 s 20 ms, the one from 5.0 s to 5.3 s none.
	w.steal = make([]time.Duration, 300)
	w.other = make([]time.Duration, 300)
	w.steal[55], w.steal[56], w.steal[57] = 20*time.Millisecond, 20*time.Millisecond, 20*time.Millisecond
	w.steal[155] = 20 * time.Millisecond
	w.other[155] = 10 * time.Millisecond
	w.other[156] = -10 * time.Millisecond // a window a tick off: sums, not windows, count
	at := func(sec float64) time.Time { return start.Add(time.Duration(sec * float64(time.Second))) }
	evs := []gapEvent{
		{At: at(1.2), GapMS: 150},             // excess 50, stolen 60: steal
		{At: at(3.2), GapMS: 150},             // excess 50, stolen 20: the server's
		{At: at(5.3), GapMS: 120, SelfMS: 30}, // excess 20, the load generator 30 ms late
		{At: at(5.3), GapMS: 300, SelfMS: 30}, // excess 200: the server's
	}
	if n, _ := attribute(evs, nil, 100*time.Millisecond, w); n != 2 {
		t.Errorf("%d gaps the machine's, want 2: %+v", n, evs)
	}
	for i, want := range []string{"steal", "", "load generator", ""} {
		if evs[i].Cause != want {
			t.Errorf("gap %d: cause %q, want %q", i, evs[i].Cause, want)
		}
	}
	if evs[0].StealMS != 60 || evs[1].StealMS != 20 || evs[1].OtherMS != 0 {
		t.Errorf("stolen %v / %v ms, other %v ms", evs[0].StealMS, evs[1].StealMS, evs[1].OtherMS)
	}
	if st, ot := w.share(start, at(6)); math.Abs(st-80.0/60) > 0.01 || ot != 0 {
		t.Errorf("share %.3f %% stolen, %.3f %% other", st, ot)
	}
	// Without a watch only the load generator's lateness counts.
	evs = []gapEvent{{At: at(1.2), GapMS: 150}, {At: at(5.3), GapMS: 120, SelfMS: 30}}
	if _, n := attribute(nil, evs, 100*time.Millisecond, nil); n != 1 || evs[0].Cause != "" {
		t.Errorf("without a watch: %d, %+v", n, evs)
	}
}

// TestAttributeStall: one stream's gaps within one stall (gaps of either stream overlapping) are
// judged together, so the steal of the first covers what the second still owes; gaps that are not
// in one stall are not.
func TestAttributeStall(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(sec float64) time.Time { return start.Add(time.Duration(sec * float64(time.Second))) }
	watch := func() *cpuWatch {
		w := &cpuWatch{cpus: []int{0}, start: start, steal: make([]time.Duration, 100), other: make([]time.Duration, 100)}
		for i := 52; i <= 64; i++ { // 1.04–1.30 s: 260 ms stolen in audio gap 1
			w.steal[i] = 20 * time.Millisecond
		}
		for i := 72; i <= 77; i++ { // 1.44–1.56 s: 120 ms in audio gap 2
			w.steal[i] = 20 * time.Millisecond
		}
		return w
	}
	audio := func() []gapEvent {
		return []gapEvent{
			{At: at(1.33), GapMS: 310}, // from 1.02 s: excess 210, 260 stolen
			{At: at(1.63), GapMS: 250}, // from 1.38 s: excess 150, 120 stolen; together 360 ≤ 380
		}
	}
	t.Run("one stall", func(t *testing.T) {
		video := []gapEvent{{At: at(1.40), GapMS: 400}} // from 1.00 s, over both audio gaps
		aud := audio()
		v, a := attribute(video, aud, 100*time.Millisecond, watch())
		if a != 2 || aud[0].Cause != "steal" || aud[1].Cause != "steal (stall)" {
			t.Errorf("audio: %d the machine's, %+v", a, aud)
		}
		// The video gap alone: excess 300, 260 stolen within it; a single gap is not pooled.
		if v != 0 || video[0].Cause != "" {
			t.Errorf("video: %d the machine's, %+v", v, video)
		}
	})
	t.Run("two stalls", func(t *testing.T) {
		aud := audio()
		if _, a := attribute(nil, aud, 100*time.Millisecond, watch()); a != 1 || aud[1].Cause != "" {
			t.Errorf("audio gaps 50 ms apart with nothing over the interval: %d the machine's, %+v", a, aud)
		}
	})
	t.Run("not covered together", func(t *testing.T) {
		video := []gapEvent{{At: at(1.40), GapMS: 400}}
		aud := audio()
		aud[1].GapMS = 300 // from 1.33 s (touching gap 1): excess 200; together 410 > 380
		aud[1].At = at(1.63)
		if _, a := attribute(video, aud, 100*time.Millisecond, watch()); a != 1 || aud[1].Cause != "" {
			t.Errorf("audio: %d the machine's, %+v", a, aud)
		}
	})
}

// TestCPUWatchSelf watches this test's own process spinning on its CPUs: its time must not
// count as other processes'.
func TestCPUWatchSelf(t *testing.T) {
	stop := make(chan struct{})
	w, err := newCPUWatch(os.Getpid(), stop)
	if err != nil {
		close(stop)
		t.Skipf("cannot watch: %v", err)
	}
	t0 := time.Now()
	for time.Since(t0) < 300*time.Millisecond {
	}
	time.Sleep(2 * cpuWindow)
	close(stop)
	steal, other := w.during(t0, time.Now())
	w.mu.Lock()
	n := len(w.steal)
	w.mu.Unlock()
	if n < 10 {
		t.Fatalf("%d windows recorded in 340 ms", n)
	}
	t.Logf("stolen %v, other %v over %d windows", steal, other, n)
	if steal < 0 || other < 0 {
		t.Errorf("negative figures: %v %v", steal, other)
	}
}

func TestRenderDoc(t *testing.T) {
	dir := t.TempDir()
	r := passing()
	r.Verdict, r.Pass = verdict(r)
	r.Samples = []sample{{T: 6}, {T: 100, RSSKiB: 150 << 10}, {T: 200}}
	r.Leaks = []string{"after: a | b"}
	r.VideoGapEvents = []gapEvent{{AtSec: 12.5, GapMS: 130, TSStepMS: 33.3, SelfMS: 4, Key: true, StealMS: 40, OtherMS: 10, Cause: "steal"}}
	r.VideoGapsOver, r.VideoGapsMachine, r.ServerCPUStealPct = 1, 1, 2.5
	r.Samples[1].CInUseKiB, r.Samples[1].CFreeKiB = 30<<10, 12<<10
	r.ServerIntervals, r.ServerIntervalsOver = 7000, 1
	res := filepath.Join(dir, "soak.json")
	b, err := jsonBytes(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(res, b, 0o644); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "bench.md")
	if err := os.WriteFile(doc, []byte("# B\n\n<!-- BEGIN soak -->\nold\n<!-- END soak -->\ntail\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := renderDoc(renderConfig{results: res, doc: doc, command: "make soak", rev: "abc"}); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(doc)
	s := string(out)
	for _, want := range []string{"## Soak: a Composite through 4 minutes", "**pass: 120 joins", "revision abc", "| leaves: stop-media | 30 |",
		"mid-churn (t = 100 s) | 150.0 | 0.0 | 30.0 / 12.0 |", "- after: a \\| b", "tail\n",
		"| video | 12.5 | 130.0 | 33.3 | yes | 4.0 | 40 | 10 | steal |", "| 1 / 0 |", "| 2.5 % / 0.0 % |", "| 1 of 7000 |"} {
		if !strings.Contains(s, want) {
			t.Errorf("document lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "old") {
		t.Error("the old section is still there")
	}
}
