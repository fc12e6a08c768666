package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/miksilo/miksilo/bench/internal/mddoc"
)

const (
	beginMarker = "<!-- BEGIN composite -->"
	endMarker   = "<!-- END composite -->"

	// Targets (issue 4).
	targetRatio      = 1.10
	targetP95Ms      = 60.0
	targetBitratePct = 10.0
)

type renderConfig struct {
	results  string
	doc      string
	command  string
	rev      string
	date     string
	pinning  string
	network  string
	note     string
	missing  string
	maxOther float64
	maxSteal float64
	wakeCost string // bench/wakecost -line, measured in the same run
}

func renderDoc(rc renderConfig) error {
	runs, err := loadResults(rc.results)
	if err != nil {
		return err
	}
	section, err := renderSection(rc, runs)
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(rc.doc)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(rc.doc, mddoc.Splice(doc, section, beginMarker, endMarker), 0o644)
}

// runSet is a results file: the kept line of Miksilo and of gst-launch in each round, in round
// order (nil where a round has no line), and the loopback check.
type runSet struct {
	rounds []int
	mk, gl []*result
	lb     *result
}

// loadResults reads JSON lines; the last line of each subject in each round is kept. A line
// without a round number (a single run) counts as round 1.
func loadResults(path string) (*runSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	by := map[string]map[int]*result{}
	rs := &runSet{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		r := &result{}
		if err := json.Unmarshal(line, r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if r.Subject == "loopback" {
			rs.lb = r
			continue
		}
		if r.Round < 1 {
			r.Round = 1
		}
		if by[r.Subject] == nil {
			by[r.Subject] = map[int]*result{}
		}
		by[r.Subject][r.Round] = r
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	for _, s := range []string{"miksilo", "gst-launch"} {
		for n := range by[s] {
			if !seen[n] {
				seen[n] = true
				rs.rounds = append(rs.rounds, n)
			}
		}
	}
	sort.Ints(rs.rounds)
	for _, n := range rs.rounds {
		rs.mk = append(rs.mk, by["miksilo"][n])
		rs.gl = append(rs.gl, by["gst-launch"][n])
	}
	return rs, nil
}

// usable: a completed run with a CPU figure.
func usable(r *result) bool { return r != nil && r.Fail == "" && r.CPUPerOutputSec > 0 }

// aggregate is the median of each figure over a subject's usable rounds.
type aggregate struct {
	n                     int // usable rounds
	cpu, server           float64
	kbps, pct, payload    float64
	fps, maxGapMs         float64 // maxGapMs: the largest of all rounds
	p50, p95, p99, latMax float64 // percentiles: medians of the rounds'; latMax: the largest
	latN                  int     // input frames matched, all rounds
	p95Lo, p95Hi          float64
	cpuLo, cpuHi          float64
}

func aggregateOf(runs []*result) aggregate {
	var a aggregate
	var cpu, server, kbps, pct, payload, fpsV, p50, p95, p99 []float64
	for _, r := range runs {
		if !usable(r) {
			continue
		}
		a.n++
		cpu = append(cpu, r.CPUPerOutputSec)
		server = append(server, r.Server)
		kbps = append(kbps, r.VP8Kbps)
		pct = append(pct, r.BitratePct)
		payload = append(payload, r.PayloadKbps)
		fpsV = append(fpsV, r.OutFPS)
		a.maxGapMs = math.Max(a.maxGapMs, r.MaxGapMs)
		if r.LatencyN > 0 {
			p50 = append(p50, r.LatP50Ms)
			p95 = append(p95, r.LatP95Ms)
			p99 = append(p99, r.LatP99Ms)
			a.latMax = math.Max(a.latMax, r.LatMaxMs)
			a.latN += r.LatencyN
		}
	}
	a.cpu, a.server, a.kbps, a.pct, a.payload, a.fps = median(cpu), median(server), median(kbps), median(pct), median(payload), median(fpsV)
	a.p50, a.p95, a.p99 = median(p50), median(p95), median(p99)
	a.cpuLo, a.cpuHi = minMax(cpu)
	a.p95Lo, a.p95Hi = minMax(p95)
	return a
}

// roundRatios: Miksilo ÷ gst-launch CPU-s per output second of each round in which both ran
// cleanly (NaN elsewhere).
func roundRatios(rs *runSet) []float64 {
	out := make([]float64, len(rs.rounds))
	for i := range rs.rounds {
		out[i] = math.NaN()
		if usable(rs.mk[i]) && usable(rs.gl[i]) {
			out[i] = rs.mk[i].CPUPerOutputSec / rs.gl[i].CPUPerOutputSec
		}
	}
	return out
}

// median of the values that are not NaN; NaN when there are none.
func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func minMax(xs []float64) (lo, hi float64) {
	lo, hi = math.NaN(), math.NaN()
	for _, x := range xs {
		if math.IsNaN(x) {
			continue
		}
		if math.IsNaN(lo) || x < lo {
			lo = x
		}
		if math.IsNaN(hi) || x > hi {
			hi = x
		}
	}
	return lo, hi
}

func renderSection(rc renderConfig, rs *runSet) (string, error) {
	if rs == nil || len(rs.rounds) == 0 {
		return "", errors.New("no results for miksilo or gst-launch")
	}
	var mkAll, glAll []*result
	for i := range rs.rounds {
		if rs.mk[i] != nil {
			mkAll = append(mkAll, rs.mk[i])
		}
		if rs.gl[i] != nil {
			glAll = append(glAll, rs.gl[i])
		}
	}
	lb := rs.lb
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	date := rc.date
	if date == "" {
		date = time.Now().UTC().Format("2006-01-02 15:04 UTC")
	}
	// The run settings, from a run that completed (an error line carries none).
	ref := &result{Width: 1280, Height: 720, TargetBps: 2_000_000}
	for _, r := range append(append([]*result(nil), glAll...), mkAll...) {
		if r.Width > 0 && r.TargetBps > 0 && r.WindowSec > 0 {
			ref = r
			break
		}
	}
	nr := len(rs.rounds)
	p("%s\n## Composite: 4 × 640×360@30 VP8 in → %d×%d@30 VP8 out\n\n", beginMarker, ref.Width, ref.Height)
	p("<!-- Generated by scripts/bench-composite.sh (bench/composite -render); edit the generator, not this text. -->\n\n")
	if rc.note != "" {
		p("**%s**\n\n", rc.note)
	}
	var busy []string
	for _, r := range append(append([]*result(nil), mkAll...), glAll...) {
		if (rc.maxOther > 0 && r.Other > rc.maxOther) || (rc.maxSteal > 0 && r.stolen() > rc.maxSteal) {
			busy = append(busy, fmt.Sprintf("%s round %d (%.0f %% other, %.0f %% stolen)", subjectName(r.Subject), r.Round, r.Other, r.stolen()))
		}
	}
	if len(busy) > 0 {
		p("**Another workload (over %.0f %% of a CPU) or the hypervisor (steal over %.0f %%) disturbed %s, even on the least disturbed attempt: those figures are noisy.**\n\n", rc.maxOther, rc.maxSteal, strings.Join(busy, ", "))
	}
	p("Reproduce with `%s` (composite part alone: `scripts/bench-composite.sh` after `make build`; %d interleaved rounds, each a Miksilo and a gst-launch window of %.0f s, the order alternating).\n\n", rc.command, nr, ref.WindowSec)
	p("- Machine: %d CPUs, %s; %s; git %s.\n", runtime.NumCPU(), mddoc.CPUModel(), date, rc.rev)
	if rc.wakeCost != "" {
		// What each wake-up costs here bounds what event-driven WebRTC
		// termination costs, the part of Miksilo's CPU the baseline has not.
		p("- Wake-ups: %s.\n", strings.TrimSuffix(strings.TrimSpace(rc.wakeCost), "."))
	}
	p("- CPU: %s.\n", orDefault(rc.pinning, "not recorded"))
	p("- Network: %s; every peer uses IPv4 loopback host candidates only.\n", orDefault(rc.network, "loopback"))
	clipFrames := 150
	for _, r := range mkAll {
		if r.ClipFrames > 0 {
			clipFrames = r.ClipFrames
			break
		}
	}
	p("- Inputs: four 640×360 VP8 clips of %d frames (%.0f s at 30 fps; a tinted, smooth, panning texture with fresh grain in every frame, camera-like, and a row of 24 black or white 24×24 blocks stamping the input's index and the frame's number, then their complement), encoded once with vp8enc (CBR %d kb/s, one key frame per loop) into bin/bench/composite-v*-in*.ivf and looped.\n",
		clipFrames, float64(clipFrames)/fps, inputBitrate/1000)
	p("- Rounds: the two subjects are measured in %d interleaved rounds, Miksilo first in odd rounds and gst-launch first in even ones, so that a drift of the machine's speed during the run favours neither. Each round starts a fresh process: a new bin/miksilo (and in it a new MediaPipeline and Composite) for Miksilo, a new gst-launch-1.0 for the baseline; the idle cost, start-up and warm-up are therefore the same in every round. A round whose window another workload (other processes above %.0f %% of a CPU) or the hypervisor disturbed (the time it ran something else on the CPU the subject is pinned to, /proc/stat steal of that CPU, above %.0f %% of it) is repeated (BENCH_RETRIES times at most), the least disturbed attempt kept: steal is in no process's CPU time, but both subjects' CPU per output second rise with it (docs/benchmarks.md, section Composite and the hypervisor's steal).\n", nr, rc.maxOther, rc.maxSteal)
	p("- Miksilo: over the Kurento Protocol a MediaPipeline; a Composite (width %d, height %d, framerate 30, codec VP8, bitrate %d); four publisher WebRtcEndpoints each `connect`ed to a HubPort of their own; a fifth HubPort (no input) `connect`ed to a viewer WebRtcEndpoint. Four pion publishers (ICE, DTLS, SRTP, NACK, RTCP reports; started one quarter of a frame interval apart, as independent cameras) send the clips at 30 fps; a PLI restarts a clip at its key frame. The viewer (NACK, RTCP reports) reassembles the output, decodes it with vp8dec in the load generator and reads the stamps in the four quadrants; after a loss its NACKs did not repair it decodes nothing until the next key frame, which it asks for with a PLI, as a browser does. Started with `-webrtc-loopback-only`.\n",
		ref.Width, ref.Height, ref.TargetBps)
	p("- Baseline: gst-launch-1.0 on the same clips (files long enough for the run), each input `filesrc ! ivfparse ! identity sync=true ts-offset=… ! vp8dec threads=1` (paced at 30 fps by the pipeline clock, input i released i/4 of a frame interval after input 0 as the publishers send theirs; the decoder as the Composite's input branch sets it) into `compositor` (`background=black`) on the same 2×2 grid, then the Composite's own encoder and payloader fragments (`composite.VideoEncoderLaunch`, `composite.VideoPayloaderLaunch`, so the encoder settings are identical by construction) into `fakesink`. Ratios are Miksilo ÷ gst-launch.\n")
	p("- CPU-seconds per second of output = the subject's CPU time (utime + stime of all its threads, /proc/PID/stat) over the window ÷ the seconds of 30 fps output produced in the window (output frames ÷ 30: for Miksilo the frames the viewer received, for gst-launch the frames an `identity` between encoder and payloader reported through `gst-launch-1.0 -v`).\n")
	p("- Added latency: for each input frame, from the moment its last RTP packet left the publisher to the arrival at the viewer of the first RTP packet of the first output frame that shows its number. It includes SRTP both ways, jitter handling, decoding, the wait for the compositor's next output tick (0–33 ms), encoding and payloading; the viewer's own decoding is not in it.\n")
	p("- Output bitrate: VP8 bytes of the output frames in the window (what the encoder's target-bitrate counts) against the bitrate setting; for Miksilo as the viewer received them (the RTP payload, VP8 payload descriptors included, in brackets).\n")
	p("- Summary figures are medians over the rounds that completed: CPU per subject; the CPU ratio is the **median of the per-round ratios** (each Miksilo round ÷ the gst-launch round that follows it), and the verdict uses it; latency percentiles are the median over the Miksilo rounds of each round's percentile (not pooled; max = the largest of all rounds); bitrate and frame rate are medians over the rounds (largest gap: the largest of all rounds).\n\n")

	mk, gl := aggregateOf(mkAll), aggregateOf(glAll)
	ratios := roundRatios(rs)
	medRatio := median(ratios)
	rLo, rHi := minMax(ratios)
	var nRatios int
	for _, r := range ratios {
		if !math.IsNaN(r) {
			nRatios++
		}
	}

	p("### Results\n\n")
	p("| | Miksilo | gst-launch | Miksilo ÷ gst-launch | target | met |\n| --- | ---: | ---: | ---: | --- | :---: |\n")
	agg := func(a aggregate, all []*result, f func(aggregate) string) string {
		switch {
		case len(all) == 0:
			return "—"
		case a.n == 0:
			return "error"
		}
		return f(a)
	}
	cpuOK, latOK, brOK := "—", "—", "—"
	ratioS := "—"
	if nRatios > 0 {
		ratioS = fmt.Sprintf("%.2f×", medRatio)
		cpuOK = yesNo(medRatio <= targetRatio)
	}
	rounds := func(a aggregate) string {
		if a.n == 1 {
			return ""
		}
		return fmt.Sprintf(" (%.3f–%.3f)", a.cpuLo, a.cpuHi)
	}
	ratioCell := ratioS
	if nRatios > 1 {
		ratioCell = fmt.Sprintf("%s (%.2f–%.2f)", ratioS, rLo, rHi)
	}
	p("| CPU-s per output second, median (range) | %s | %s | %s | ratio ≤ %.2f | %s |\n",
		agg(mk, mkAll, func(a aggregate) string { return fmt.Sprintf("%.3f%s", a.cpu, rounds(a)) }),
		agg(gl, glAll, func(a aggregate) string { return fmt.Sprintf("%.3f%s", a.cpu, rounds(a)) }), ratioCell, targetRatio, cpuOK)
	p("| CPU, %% of one CPU (window), median | %s | %s | | | |\n",
		agg(mk, mkAll, func(a aggregate) string { return fmt.Sprintf("%.1f", a.server) }),
		agg(gl, glAll, func(a aggregate) string { return fmt.Sprintf("%.1f", a.server) }))
	if mk.n > 0 && mk.latN > 0 {
		latOK = yesNo(mk.p95 <= targetP95Ms)
	}
	p("| added latency p50 / p95 / p99 (max), ms, median of rounds | %s | — | | p95 ≤ %.0f ms | %s |\n",
		agg(mk, mkAll, func(a aggregate) string {
			if a.latN == 0 {
				return "—"
			}
			s := fmt.Sprintf("%.1f / %.1f / %.1f (%.1f), %d frames", a.p50, a.p95, a.p99, a.latMax, a.latN)
			if a.n > 1 {
				s += fmt.Sprintf("; p95 of the rounds %.1f–%.1f", a.p95Lo, a.p95Hi)
			}
			return s
		}), targetP95Ms, latOK)
	if mk.n > 0 {
		brOK = yesNo(mk.pct >= 100-targetBitratePct && mk.pct <= 100+targetBitratePct)
	}
	p("| output bitrate, kb/s (%% of the setting), median | %s | %s | | ±%.0f %% of %d kb/s | %s |\n",
		agg(mk, mkAll, func(a aggregate) string {
			return fmt.Sprintf("%.0f (%.1f %%) [RTP payload %.0f]", a.kbps, a.pct, a.payload)
		}),
		agg(gl, glAll, func(a aggregate) string { return fmt.Sprintf("%.0f (%.1f %%)", a.kbps, a.pct) }),
		targetBitratePct, ref.TargetBps/1000, brOK)
	p("| output frame rate, fps, median | %s | %s | | | |\n",
		agg(mk, mkAll, func(a aggregate) string {
			return fmt.Sprintf("%.1f (largest gap between frames %.0f ms)", a.fps, a.maxGapMs)
		}),
		agg(gl, glAll, func(a aggregate) string { return fmt.Sprintf("%.1f", a.fps) }))
	if nRatios > 0 && mk.n > 0 && gl.n > 0 {
		p("\nCPU ratio: median of %d per-round ratios %.2f× (the verdict's figure); ratio of the two subjects' medians %.3f ÷ %.3f = %.2f×.\n",
			nRatios, medRatio, mk.cpu, gl.cpu, mk.cpu/gl.cpu)
	}

	p("\n### Rounds\n\n")
	p("| round | Miksilo CPU-s/s | gst-launch CPU-s/s | ratio | Miksilo latency p50 / p95 ms | output kb/s Miksilo / gst-launch | Miksilo fps (largest gap ms) | other CPU %% Miksilo / gst-launch | stolen %% of its CPU Miksilo / gst-launch |\n| ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- |\n")
	cell := func(r *result, f func(*result) string) string {
		switch {
		case r == nil:
			return "—"
		case r.Fail != "" && strings.HasPrefix(r.Fail, "error"):
			return "error"
		case r.Fail != "":
			return "failed: " + f(r)
		}
		return f(r)
	}
	for i, n := range rs.rounds {
		m, g := rs.mk[i], rs.gl[i]
		rt := "—"
		if !math.IsNaN(ratios[i]) {
			rt = fmt.Sprintf("%.2f×", ratios[i])
		}
		p("| %d | %s | %s | %s | %s | %s / %s | %s | %s / %s | %s / %s |\n", n,
			cell(m, func(r *result) string { return fmt.Sprintf("%.3f", r.CPUPerOutputSec) }),
			cell(g, func(r *result) string { return fmt.Sprintf("%.3f", r.CPUPerOutputSec) }),
			rt,
			cell(m, func(r *result) string { return fmt.Sprintf("%.1f / %.1f", r.LatP50Ms, r.LatP95Ms) }),
			cell(m, func(r *result) string { return fmt.Sprintf("%.0f", r.VP8Kbps) }),
			cell(g, func(r *result) string { return fmt.Sprintf("%.0f", r.VP8Kbps) }),
			cell(m, func(r *result) string { return fmt.Sprintf("%.1f (%.0f)", r.OutFPS, r.MaxGapMs) }),
			cell(m, func(r *result) string { return fmt.Sprintf("%.0f", r.Other) }),
			cell(g, func(r *result) string { return fmt.Sprintf("%.0f", r.Other) }),
			cell(m, func(r *result) string { return fmt.Sprintf("%.1f", r.stolen()) }),
			cell(g, func(r *result) string { return fmt.Sprintf("%.1f", r.stolen()) }))
	}

	p("\n### Verdict\n\n")
	var mkFailed, glFailed []string
	for _, r := range mkAll {
		if r.Fail != "" {
			mkFailed = append(mkFailed, fmt.Sprintf("round %d: %s", r.Round, r.Fail))
		}
	}
	for _, r := range glAll {
		if r.Fail != "" {
			glFailed = append(glFailed, fmt.Sprintf("round %d: %s", r.Round, r.Fail))
		}
	}
	switch {
	case len(mkAll) == 0:
		p("**Not assessed**: Miksilo was not measured (%s).\n", mddoc.Escape(orDefault(rc.missing, "no result")))
	case len(mkFailed) > 0:
		p("**Not met**: %d of %d Miksilo rounds failed (%s).\n", len(mkFailed), len(mkAll), mddoc.Escape(strings.Join(mkFailed, "; ")))
	default:
		all := cpuOK == "yes" && latOK == "yes" && brOK == "yes"
		verdict := "**Not met**"
		if all {
			verdict = "**Met**"
		}
		p("%s: CPU ratio %s, the median of %d per-round ratios (≤ %.2f: %s), latency p95 %.1f ms, median of %d rounds (≤ %.0f ms: %s), bitrate %.1f %% of the setting, median of %d rounds (±%.0f %%: %s).\n",
			verdict, ratioS, nRatios, targetRatio, cpuOK, mk.p95, mk.n, targetP95Ms, latOK, mk.pct, mk.n, targetBitratePct, brOK)
	}
	if len(glFailed) > 0 {
		p("\nBaseline rounds failed (left out of the medians and ratios): %s.\n", mddoc.Escape(strings.Join(glFailed, "; ")))
	}

	p("\n### Run health\n\n")
	p("| subject | round | window s | loader CPU %% | other CPU %% | stolen %% of its CPU (of the machine's) | details |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for i, n := range rs.rounds {
		if m := rs.mk[i]; m != nil {
			p("| Miksilo | %d | %.1f | %.0f | %.0f | %s | %s |\n", n, m.WindowSec, m.Loader, m.Other, stealCell(m), mddoc.Escape(miksiloDetails(m)))
		}
		if g := rs.gl[i]; g != nil {
			p("| gst-launch | %d | %.1f | %.0f | %.0f | %s | ran %.1f s for %.1f s of media%s |\n", n, g.WindowSec, g.Loader, g.Other, stealCell(g), g.RunSec, g.ExpectedSec, failSuffix(g))
		}
	}
	if lb != nil {
		p("| loopback check | | %.1f | %.0f | %.0f | %s | one publisher → WebRtcEndpoint → viewer, no Composite: latency p50 / p95 %.1f / %.1f ms, server %.1f %% CPU%s |\n",
			lb.WindowSec, lb.Loader, lb.Other, stealCell(lb), lb.LatP50Ms, lb.LatP95Ms, lb.Server, failSuffix(lb))
	}
	p("\nOther CPU = the machine's busy time that neither the subject nor the load generator accounts for (another workload, or the kernel's loopback handling); far from 0 means the figures are suspect. Stolen = time the hypervisor ran something else while the CPU had work (/proc/stat steal): of the CPU the subject is pinned to, %% of it, and in brackets of both CPUs, %% of one; the load generator's CPU is busy only in Miksilo's rounds and accrues steal of its own. Steal is in no process's CPU time, but the subject runs slower around it (caches and branch predictors refilled). Idle Composite = Miksilo's CPU with the Composite and its viewer up but no input yet (background, compositing and encoding of an empty canvas, and the rest of the server).\n")
	for _, r := range mkAll {
		if r.Unreadable > 0 || r.Unmatched > 0 {
			p("\nUnreadable regions are quadrants of decoded output frames whose stamp did not read back consistently (e.g. a block the encoder had not finished updating); unmatched stamps are numbers whose send time was not known. Both are left out of the latency figures.\n")
			break
		}
	}
	for _, g := range glAll {
		if g.Launch != "" {
			p("\nThe baseline pipeline (file paths shortened):\n\n```\ngst-launch-1.0 %s\n```\n", g.Launch)
			break
		}
	}
	p("\nWhat Miksilo does on top of the baseline's work, all in the CPU figure: ICE, DTLS and SRTP for five peers, RTP depayloading and jitter handling of four inputs, RTCP (NACK, PLI, reports), the Kurento object model, a 16×16 transparent non-live base layer (`videotestsrc`, at the output framerate) that keeps the compositor's output caps fixed while inputs come and go (the compositor itself runs live with `force-live`, and the black background is its own fill, as in the baseline), and the clock-synced appsink that paces the output. The Composite's audio mixer starts only with the first audio packet, so it does not run here (the publishers send no audio). Raw results: bin/bench/composite.jsonl (every attempt: bin/bench/composite-attempts.jsonl).\n")
	p("%s\n", endMarker)
	return b.String(), nil
}

// stolen is the steal the subject saw: on the CPUs it was pinned to when known (results of
// 705438c on), else the machine's.
func (r *result) stolen() float64 {
	if len(r.ServerCPUs) > 0 {
		return r.ServerSteal
	}
	return r.Steal
}

func stealCell(r *result) string {
	if len(r.ServerCPUs) > 0 {
		return fmt.Sprintf("%.1f (%.0f)", r.ServerSteal, r.Steal)
	}
	return fmt.Sprintf("— (%.0f)", r.Steal)
}

func subjectName(s string) string {
	if s == "miksilo" {
		return "Miksilo"
	}
	return s
}

func miksiloDetails(r *result) string {
	s := fmt.Sprintf("idle Composite %.1f %% CPU; %d/%d input frames shown; %d output frames decoded, %d unreadable regions, %d unmatched stamps; %d PLIs to the publishers; input %.0f kb/s each",
		r.IdleCPU, r.InputsShown, r.InputsSent, r.Decoded, r.Unreadable, r.Unmatched, r.PLIs, r.InputKbps)
	if len(r.Regions) > 0 {
		s += fmt.Sprintf("; inputs by quadrant %v", r.Regions)
	}
	if r.ViewerLost > 0 || r.Resyncs > 0 {
		s += fmt.Sprintf("; %d output packets lost at the viewer in the window, %d key-frame waits after a loss in the run", r.ViewerLost, r.Resyncs)
	}
	return s + failSuffix(r)
}

func failSuffix(r *result) string {
	s := ""
	if r.Fail != "" {
		s += "; **failed**: " + r.Fail
	}
	for _, e := range r.Errors {
		s += "; " + e
	}
	return mddoc.Escape(s)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
