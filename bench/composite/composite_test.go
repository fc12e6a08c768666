package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miksilo/miksilo/internal/gst"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStampRoundTrip(t *testing.T) {
	buf := make([]byte, inW*inH*3/2)
	for _, tc := range []struct{ input, frame int }{{0, 0}, {1, 1}, {2, 511}, {3, 1023}, {3, 149}} {
		t.Run(fmt.Sprintf("input%d/frame%d", tc.input, tc.frame), func(t *testing.T) {
			newPicture(tc.input).frame(tc.frame, buf)
			in, f, ok := readStamp(buf, inW, inH, inW, gridRegions(inW, inH, 1, 1)[0])
			if !ok || in != tc.input || f != tc.frame {
				t.Fatalf("read (%d, %d, %v), want (%d, %d, true)", in, f, ok, tc.input, tc.frame)
			}
		})
	}
	// A block that disagrees with its complement is not a valid stamp.
	newPicture(1).frame(77, buf)
	for row := stampY; row < stampY+stampCell; row++ {
		for col := stampX; col < stampX+stampCell; col++ {
			buf[row*inW+col] ^= 0xff // 16 ↔ 239, 235 ↔ 20
		}
	}
	if in, f, ok := readStamp(buf, inW, inH, inW, gridRegions(inW, inH, 1, 1)[0]); ok {
		t.Fatalf("corrupted stamp read as (%d, %d)", in, f)
	}
}

func TestGridRegions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		w, h, c, r int
		want       region // the last region
	}{
		{"2x2 exact", 1280, 720, 2, 2, region{640, 360, 640, 360}},
		{"1x1 exact", 640, 360, 1, 1, region{0, 0, 640, 360}},
		{"2x2 letterbox", 1280, 960, 2, 2, region{640, 480 + 60, 640, 360}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			regs := gridRegions(tc.w, tc.h, tc.c, tc.r)
			if len(regs) != tc.c*tc.r || regs[len(regs)-1] != tc.want {
				t.Fatalf("got %v, want last %v", regs, tc.want)
			}
		})
	}
}

// TestCompositeReadout runs the baseline's own pipeline (4 clips → compositor → the Composite's
// encoder and payloader) in this process with an appsink instead of fakesink, at a small size,
// and feeds its RTP to the viewer's reassembly, decoder and stamp reader: every quadrant must read
// back as its input, frames must be matched to their send times.
func TestCompositeReadout(t *testing.T) {
	const frames = 20
	dir := t.TempDir()
	clips, err := makeClips(dir, frames)
	if err != nil {
		t.Fatal(err)
	}
	files := make([]string, inputs)
	for i := range files {
		files[i] = filepath.Join(dir, fmt.Sprintf("long%d.ivf", i))
		if err := writeIVFFile(files[i], clips[i], frames); err != nil {
			t.Fatal(err)
		}
	}
	desc := baselineLaunch(files, 640, 360, 800_000, false)
	// Staggered as the publishers: input i a quarter frame interval (of 30 fps) after input i-1.
	for i, off := range []string{"0", "8333333", "16666666", "25000000"} {
		if want := fmt.Sprintf("identity sync=true ts-offset=%s ! vp8dec threads=1 ! mix.sink_%d", off, i); !strings.Contains(desc, want) {
			t.Fatalf("the baseline does not release input %d at its phase (%q):\n%s", i, want, desc)
		}
	}
	if lock := baselineLaunch(files, 640, 360, 800_000, true); strings.Count(lock, "ts-offset=0 ") != inputs {
		t.Fatalf("lockstep baseline:\n%s", lock)
	}
	desc = strings.Replace(desc, "fakesink sync=false", "appsink name=sink sync=false", 1)
	if !strings.Contains(desc, "appsink") {
		t.Fatal("the baseline description has no fakesink to replace")
	}
	pubs := make([]*publisher, inputs)
	sentAt := time.Now().UnixNano()
	for i := range pubs {
		pubs[i] = &publisher{input: i}
		for n := 0; n < frames; n++ {
			pubs[i].sent[n].Store(sentAt)
		}
	}
	rx, err := newViewerRx(pubs, 2, 2, frames)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.close()
	rx.setOpen(true)

	p, err := gst.Parse("readout", desc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sinkEl, err := p.Element("sink")
	if err != nil {
		t.Fatal(err)
	}
	eos := make(chan struct{})
	var once sync.Once
	p.OnEOS(func() { once.Do(func() { close(eos) }) })
	errs := make(chan string, 4)
	p.OnError(func(m gst.Message) {
		select {
		case errs <- m.Error():
		default:
		}
	})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	sink, err := gst.RunAppSink(sinkEl, func(s gst.Sample) {
		pkt := &rtp.Packet{}
		if err := pkt.Unmarshal(s.Data); err != nil {
			return
		}
		rx.packet(pkt, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Stop()
	select {
	case <-eos:
	case e := <-errs:
		t.Fatalf("pipeline error: %s", e)
	case <-time.After(30 * time.Second):
		t.Fatal("the pipeline did not finish")
	}
	// The samplebuilder holds the last frame until a later one arrives: the first frames are
	// enough. Wait for the decoder to catch up with what was handed to it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rx.mu.Lock()
		decoded, handed := rx.wDecoded, rx.next
		rx.mu.Unlock()
		if handed > 0 && decoded >= handed-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("decoded %d of %d frames", decoded, handed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rx.mu.Lock()
	defer rx.mu.Unlock()
	if rx.wFrames < frames-2 {
		t.Fatalf("%d output frames reassembled, want ≥ %d", rx.wFrames, frames-2)
	}
	for q, in := range rx.regionInputs {
		if in != q {
			t.Errorf("quadrant %d shows input %d, want %d", q, in, q)
		}
	}
	// The compositor's first one or two output frames can come before the inputs' first
	// decoded pictures (always frame 0; frame 1 too with the CPU saturated): their regions
	// are black. Every later region must read back.
	if rx.wUnreadable > 2*inputs || rx.lateUnreadable > 0 {
		t.Errorf("%d unreadable regions in %d frames, %d after the second", rx.wUnreadable, rx.wDecoded, rx.lateUnreadable)
	}
	var shown int64
	for i := range pubs {
		shown += rx.wShown[i]
	}
	// Per input: frames-2 reassembled (the sample builder holds the last), one fewer decoded at
	// worst, the first two output frames possibly black, and the first picture read is the
	// reference, not a change: frames-6 changes at least.
	if shown < inputs*(frames-6) || int64(len(rx.wLatencies)) != shown || rx.wUnmatched != 0 {
		t.Errorf("%d input frames shown, %d latencies, %d unmatched; want ≥ %d shown, all matched", shown, len(rx.wLatencies), rx.wUnmatched, inputs*(frames-6))
	}
	t.Logf("%d frames reassembled, %d decoded, %d input frames shown, %d unreadable regions", rx.wFrames, rx.wDecoded, shown, rx.wUnreadable)
	for _, l := range rx.wLatencies {
		if l <= 0 || l > 30*time.Second {
			t.Fatalf("latency %v out of range", l)
		}
	}
}

// TestBaselineRun runs the baseline mode for real (gst-launch-1.0 as a child process) at a small
// size: it must keep pace and report its CPU.
func TestBaselineRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gst-launch-1.0 for ~5 s")
	}
	cfg := runConfig{mode: "baseline", clipDir: t.TempDir(), clipFrames: 15, width: 320, height: 180, bitrate: 300_000,
		warmup: 0, duration: time.Second, setupTimeout: 10 * time.Second}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	res, err := runSubject(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Fail != "" || res.RunSec <= 0 || res.Server <= 0 || res.CPUPerOutputSec <= 0 || !strings.Contains(res.Launch, "vp8enc") {
		t.Fatalf("result %+v", res)
	}
}

// roundResults: Miksilo and gst-launch results of interleaved rounds, from CPU-s per output
// second and latency p95 per round.
func roundResults(mkCPU, glCPU, p95 []float64) []*result {
	var out []*result
	for i := range mkCPU {
		mk := &result{Subject: "miksilo", Round: i + 1, Width: 1280, Height: 720, TargetBps: 2_000_000, WindowSec: 15, CPUPerOutputSec: mkCPU[i],
			LatencyN: 1800, LatP50Ms: 30, LatP95Ms: p95[i], LatMaxMs: p95[i] + 10, VP8Kbps: 1950, BitratePct: 97.5, OutFrames: 450, OutFPS: 30}
		mk.Server = mkCPU[i] * 100
		gl := &result{Subject: "gst-launch", Round: i + 1, Width: 1280, Height: 720, TargetBps: 2_000_000, WindowSec: 15, CPUPerOutputSec: glCPU[i],
			VP8Kbps: 2000, BitratePct: 100, OutFrames: 450, OutFPS: 30, Launch: "compositor name=mix …"}
		gl.Server = glCPU[i] * 100
		mk.Steal, gl.Steal = float64(i), float64(10+i)
		out = append(out, mk, gl)
	}
	return out
}

// renderRounds writes rs to path, loads them back and renders the section.
func renderRounds(t *testing.T, path string, rs []*result, rc renderConfig) string {
	t.Helper()
	writeResults(t, path, rs)
	set, err := loadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := renderSection(rc, set)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func writeResults(t *testing.T, path string, rs []*result) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range rs {
		if err := writeJSONLine(f, r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRender(t *testing.T) {
	// Per-round ratios 1.067, 1.286, 0.972: median 1.07 (met); the ratio of the medians
	// 0.80 ÷ 0.72 = 1.11 would not be. Latency p95 50, 70, 55: median 55 (met).
	rs := roundResults([]float64{0.80, 0.90, 0.70}, []float64{0.75, 0.70, 0.72}, []float64{50, 70, 55})
	dir := t.TempDir()
	res := filepath.Join(dir, "r.jsonl")
	// A disturbed first attempt of round 2, superseded by the line after it.
	bad := *rs[2]
	bad.CPUPerOutputSec, bad.Other = 2, 90
	writeResults(t, res, append([]*result{&bad}, rs...))
	doc := filepath.Join(dir, "bench.md")
	before := "# Benchmarks\n\nintro\n\n<!-- BEGIN fanout -->\nfan-out\n<!-- END fanout -->\n"
	if err := os.WriteFile(doc, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 { // twice: the second run replaces the section instead of appending another
		if err := renderDoc(renderConfig{results: res, doc: doc, command: "make bench", rev: "abc",
			wakeCost: "CPU time per event (bench/wakecost, CPU 0): a system call 0.3 µs\n"}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.HasPrefix(s, before) || strings.Count(s, beginMarker) != 1 || strings.Count(s, endMarker) != 1 {
		t.Fatalf("document not spliced as expected:\n%s", s)
	}
	for _, want := range []string{
		"| CPU-s per output second, median (range) | 0.800 (0.700–0.900) | 0.720 (0.700–0.750) | 1.07× (0.97–1.29) | ratio ≤ 1.10 | yes |",
		"ratio of the two subjects' medians 0.800 ÷ 0.720 = 1.11×",
		"30.0 / 55.0 / 0.0 (80.0), 5400 frames; p95 of the rounds 50.0–70.0",
		"| 2 | 0.900 | 0.700 | 1.29× | 30.0 / 70.0 | 1950 / 2000 | 30.0 (0) | 0 / 0 | 1.0 / 11.0 |",
		"**Met**: CPU ratio 1.07×, the median of 3 per-round ratios",
		"3 interleaved rounds", "| Miksilo | 3 | 15.0 | 0 | 0 | — (2) |", "| gst-launch | 1 | 15.0 | 0 | 0 | — (10) |",
		"- Wake-ups: CPU time per event (bench/wakecost, CPU 0): a system call 0.3 µs.\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("section lacks %q:\n%s", want, s)
		}
	}

	t.Run("over target", func(t *testing.T) {
		// Ratios 1.20, 1.00, 1.25: median 1.20.
		sec := renderRounds(t, res, roundResults([]float64{0.9, 0.75, 1.0}, []float64{0.75, 0.75, 0.8}, []float64{50, 50, 50}), renderConfig{})
		if !strings.Contains(sec, "**Not met**") || !strings.Contains(sec, "| 1.20× (1.00–1.25) |") {
			t.Errorf("over-target section:\n%s", sec)
		}
	})
	t.Run("disturbed rounds", func(t *testing.T) {
		rs := roundResults([]float64{0.8, 0.8}, []float64{0.75, 0.75}, []float64{50, 50}) // steal: Miksilo 0, 1; gst-launch 10, 11
		rs[0].Other = 20                                                                  // Miksilo round 1
		sec := renderRounds(t, res, rs, renderConfig{maxOther: 15, maxSteal: 10})
		want := "disturbed Miksilo round 1 (20 % other, 0 % stolen), gst-launch round 2 (0 % other, 11 % stolen), even on"
		if !strings.Contains(sec, want) {
			t.Errorf("section lacks %q:\n%s", want, sec)
		}
	})
	t.Run("steal of the subject's CPU", func(t *testing.T) {
		rs := roundResults([]float64{0.8, 0.8}, []float64{0.75, 0.75}, []float64{50, 50})
		// Miksilo round 1: much stolen on the machine, little on its own CPU (not disturbed);
		// gst-launch round 2: more than the 10 % limit on its own CPU.
		rs[0].Steal, rs[0].ServerSteal, rs[0].ServerCPUs = 30, 3, []int{0}
		rs[3].Steal, rs[3].ServerSteal, rs[3].ServerCPUs = 14, 12.5, []int{0}
		sec := renderRounds(t, res, rs, renderConfig{maxOther: 15, maxSteal: 10})
		for _, want := range []string{
			"disturbed gst-launch round 2 (0 % other, 12 % stolen), even on", // round 1: the machine's 10, not over
			"| Miksilo | 1 | 15.0 | 0 | 0 | 3.0 (30) |", "| gst-launch | 2 | 15.0 | 0 | 0 | 12.5 (14) |", "| gst-launch | 1 | 15.0 | 0 | 0 | — (10) |",
			"| 3.0 / 10.0 |", "| 1.0 / 12.5 |"} {
			if !strings.Contains(sec, want) {
				t.Errorf("section lacks %q:\n%s", want, sec)
			}
		}
		if strings.Contains(sec, "Miksilo round 1 (") {
			t.Errorf("Miksilo round 1 flagged for the machine's steal:\n%s", sec)
		}
	})
	t.Run("failed rounds", func(t *testing.T) {
		rs := roundResults([]float64{0.8, 0.8}, []float64{0.8, 0.8}, []float64{50, 50})
		rs[2].Fail = "the output fell behind: 20.0 fps in the window"                     // Miksilo round 2
		rs[1] = &result{Subject: "gst-launch", Round: 1, Fail: "error: gst-launch ended"} // gst-launch round 1
		sec := renderRounds(t, res, rs, renderConfig{})
		for _, want := range []string{"**Not met**: 1 of 2 Miksilo rounds failed (round 2: the output fell behind",
			"| 1 | 0.800 | error | — |", "Baseline rounds failed (left out of the medians and ratios): round 1: error: gst-launch ended"} {
			if !strings.Contains(sec, want) {
				t.Errorf("section lacks %q:\n%s", want, sec)
			}
		}
	})
	t.Run("single run without rounds", func(t *testing.T) {
		rs := roundResults([]float64{0.8}, []float64{0.75}, []float64{50})
		rs[0].Round, rs[1].Round = 0, 0
		writeResults(t, res, append(rs, &result{Subject: "loopback", WindowSec: 5, LatP50Ms: 0.3, LatP95Ms: 0.4}))
		set, err := loadResults(res)
		if err != nil {
			t.Fatal(err)
		}
		if len(set.rounds) != 1 || set.rounds[0] != 1 || set.lb == nil {
			t.Fatalf("loaded %+v", set)
		}
		sec, err := renderSection(renderConfig{}, set)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sec, "| 0.800 | 0.750 | 1.07× | ratio ≤ 1.10 | yes |") || !strings.Contains(sec, "| loopback check |") {
			t.Errorf("single-run section:\n%s", sec)
		}
	})
}

func TestMedian(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{nan, 5, nan}, 5}, {[]float64{7}, 7}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := median([]float64{nan}); !math.IsNaN(got) {
		t.Errorf("median of nothing = %v, want NaN", got)
	}
}

// TestViewerLoss: a frame that does not follow on from the previous one (a sequence gap the
// NACKs did not repair, or packets the sample builder dropped) counts as lost and stops the
// decoding until the next key frame, as a browser does, instead of decoding over broken
// references (which leaves regions that never change stale for good).
func TestViewerLoss(t *testing.T) {
	v := &viewerRx{keyed: true, open: true}
	sample := func(first, n uint16, dropped uint16) *media.Sample {
		s := &media.Sample{PrevDroppedPackets: dropped}
		for i := uint16(0); i < n; i++ {
			s.RTPHeaders = append(s.RTPHeaders, &rtp.Header{SequenceNumber: first + i})
		}
		return s
	}
	v.checkLoss(sample(65533, 3, 0)) // 65533–65535
	v.checkLoss(sample(0, 2, 0))     // wraps: follows on
	if v.lostPackets != 0 || !v.keyed {
		t.Fatalf("consecutive frames: lost %d, keyed %v", v.lostPackets, v.keyed)
	}
	v.checkLoss(sample(4, 2, 0)) // 2 and 3 missing
	if v.lostPackets != 2 || v.wLost != 2 || v.keyed || v.resyncs != 1 {
		t.Fatalf("after a gap: lost %d (window %d), keyed %v, resyncs %d", v.lostPackets, v.wLost, v.keyed, v.resyncs)
	}
	v.keyed = true // a key frame came
	v.checkLoss(sample(6, 1, 3))
	if v.lostPackets != 5 || v.keyed || v.resyncs != 2 {
		t.Fatalf("after dropped packets: lost %d, keyed %v, resyncs %d", v.lostPackets, v.keyed, v.resyncs)
	}
	v.checkLoss(sample(5, 1, 0)) // late and out of order: not a gap
	v.checkLoss(sample(7, 1, 0))
	if v.lostPackets != 5 {
		t.Fatalf("a late packet counted as %d lost", v.lostPackets-5)
	}
}

// -extra-viewers only with Miksilo, and not negative.
func TestExtraViewersValidation(t *testing.T) {
	base := runConfig{mode: "miksilo", addr: "127.0.0.1:8888", clipFrames: 150, width: 1280, height: 720, bitrate: 2_000_000, duration: time.Second, setupTimeout: time.Second}
	for _, c := range []struct {
		mode  string
		extra int
		ok    bool
	}{{"miksilo", 30, true}, {"miksilo", 0, true}, {"miksilo", -1, false}, {"baseline", 30, false}, {"loopback", 1, false}} {
		cfg := base
		cfg.mode, cfg.extraViewers = c.mode, c.extra
		if err := cfg.validate(); (err == nil) != c.ok {
			t.Errorf("-mode %s -extra-viewers %d: validate() = %v", c.mode, c.extra, err)
		}
	}
}
