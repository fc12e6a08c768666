// Command soak runs a Composite through a long session of hosts joining and leaving and checks
// that nothing leaks and the output never freezes. Run by scripts/soak.sh (`make soak`), which
// starts a fresh server in a network namespace holding only lo.
//
//	soak -addr 127.0.0.1:PORT -server-pid PID [-duration 10m] [-slots 4] [-seed 1] > result.json
//	soak -render result.json [-doc docs/benchmarks.md] [-command "make soak"]
//
// One Composite (1280×720@30, VP8) with one viewer that stays; -slots hosts (pion peers sending
// VP8 640×360@30 and Opus) join through a WebRtcEndpoint and a HubPort each, stay 2–8 s and leave
// in one of four ways (stop sending and time out, HubPort released, WebRtcEndpoint released,
// peer connection closed), the next one joining 0.2–2 s later; meanwhile a controller changes the
// layout, mutes, gains and mix-minus every 1–4 s and passing viewers come and go every 3–10 s.
// Measured: the staying viewer's output gaps (video frames and audio packets, limit 100 ms), the
// server's footprint every few seconds (RSS, threads, file descriptors from /proc; goroutines,
// Kurento objects, sessions and Composite inputs from /metrics) and, after the churn and again
// after the pipeline's release, whether it returned to where it was. Exit status 1 when the
// verdict fails.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/miksilo/miksilo/bench/internal/mddoc"
	"github.com/miksilo/miksilo/bench/internal/tool"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg config
		rc  renderConfig
	)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8888", "Miksilo's host:port (Kurento Protocol and /metrics)")
	fs.IntVar(&cfg.pid, "server-pid", 0, "Miksilo's pid, for its footprint in /proc")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Minute, "length of the churn phase")
	fs.IntVar(&cfg.slots, "slots", 4, "hosts in the Composite at once, at most (1–8)")
	fs.Int64Var(&cfg.seed, "seed", 1, "seed of the random choices (stay times, leave modes, controls)")
	fs.DurationVar(&cfg.sampleIn, "sample", 5*time.Second, "interval between footprint samples")
	fs.DurationVar(&cfg.settle, "settle", 3*time.Second, "wait after releasing objects before a leak sample")
	fs.DurationVar(&cfg.quietWait, "quiet-wait", 150*time.Second, "longest wait, after releasing, for the footprint to come back (the server's session collection, -gc-period, must be shorter; Go forces a garbage collection every 2 minutes)")
	fs.StringVar(&rc.results, "render", "", "render mode: the JSON result to turn into the docs section")
	fs.StringVar(&rc.doc, "doc", "docs/benchmarks.md", "render mode: markdown file whose soak section is replaced")
	fs.StringVar(&rc.command, "command", "make soak", "render mode: command that reproduces the run")
	fs.StringVar(&rc.rev, "rev", "unknown", "render mode: git revision")
	fs.StringVar(&rc.network, "network", "", "render mode: the network the run used")
	fs.StringVar(&rc.pinning, "pinning", "", "render mode: how processes were pinned to CPUs")
	shared := tool.Register(fs, "soak", false)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if code, ok := shared.Utility(stdout, stderr); ok {
		return code
	}
	if rc.results != "" {
		if err := renderDoc(rc); err != nil {
			fmt.Fprintln(stderr, "soak -render:", err)
			return 1
		}
		return 0
	}
	if cfg.pid <= 0 || cfg.slots < 1 || cfg.slots > 8 || cfg.duration <= 0 || cfg.sampleIn <= 0 {
		fmt.Fprintln(stderr, "soak: want -server-pid, -slots 1…8, and positive -duration and -sample")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 1
	}
	b, err := jsonBytes(rep)
	if err == nil {
		_, err = stdout.Write(b)
	}
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 1
	}
	if !rep.Pass {
		return 1
	}
	return 0
}

// jsonBytes is v as one line of JSON (<, > and & left as they are).
func jsonBytes(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// renderConfig is the render mode's input.
type renderConfig struct {
	results, doc, command, rev, network, pinning string
}

const (
	beginMark = "<!-- BEGIN soak -->"
	endMark   = "<!-- END soak -->"
)

func renderDoc(rc renderConfig) error {
	data, err := os.ReadFile(rc.results)
	if err != nil {
		return err
	}
	var rep report
	if err := json.Unmarshal(data, &rep); err != nil {
		return fmt.Errorf("%s: %w", rc.results, err)
	}
	doc, err := os.ReadFile(rc.doc)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(rc.doc, mddoc.Splice(doc, renderSection(rc, &rep), beginMark, endMark), 0o644)
}

// renderSection is the docs section of one soak result.
func renderSection(rc renderConfig, rep *report) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("%s\n## Soak: a Composite through %.0f minutes of hosts joining and leaving\n\n", beginMark, rep.DurationSec/60)
	p("<!-- Generated by scripts/soak.sh (bench/soak -render); edit the generator, not this text. -->\n\n")
	p("**%s**\n\n", mddoc.Escape(rep.Verdict))
	p("Run %s on %s (%s), revision %s. Reproduce with `%s` (`SOAK_DURATION`, `SOAK_SLOTS`, `SOAK_SEED`; see scripts/soak.sh).\n\n",
		rep.Start, mddoc.CPUModel(), orDefault(rc.network, "network not recorded"), rc.rev, rc.command)
	p("One Composite (1280×720@30 VP8, Opus mix) with one viewer that stays; up to %d hosts (pion peers, VP8 640×360@30 and Opus) "+
		"join through a WebRtcEndpoint and a HubPort each, stay 2–8 s and leave in one of four ways, the next joining 0.2–2 s later; "+
		"a controller calls setLayout (regions or automatic), setMute, setGain or setMixMinus every 1–4 s; passing viewers come and go "+
		"every 3–10 s. %s Seed %d.\n\n", rep.Slots, orDefault(rc.pinning, ""), rep.Seed)
	p("| | figure |\n| --- | ---: |\n")
	p("| joins (failed) | %d (%d) |\n", rep.Joins, rep.JoinFailures)
	for _, k := range sortedKeys(rep.Leaves) {
		p("| leaves: %s | %d |\n", k, rep.Leaves[k])
	}
	for _, k := range sortedKeys(rep.Controls) {
		p("| control calls: %s | %d |\n", k, rep.Controls[k])
	}
	p("| passing viewers | %d |\n", rep.ViewerCycles)
	p("| output video frames at the staying viewer | %d |\n", rep.VideoFrames)
	p("| largest gap between output frames (limit %.0f ms) | %.1f ms |\n", rep.GapLimitMS, rep.VideoMaxGapMS)
	p("| gaps over the limit | %d |\n", rep.VideoGapsOver)
	p("| 99th percentile gap (10 ms buckets) | ≤ %.0f ms |\n", rep.VideoP99GapMS)
	p("| five largest gaps, ms | %s |\n", floats(rep.VideoWorstMS))
	p("| output timestamps stepping back | %d |\n", rep.VideoBackward)
	p("| output audio packets | %d |\n", rep.AudioPackets)
	p("| largest gap between audio packets (limit %.0f ms) | %.1f ms |\n", rep.GapLimitMS, rep.AudioMaxGapMS)
	p("| audio gaps over the limit | %d |\n", rep.AudioGapsOver)
	p("| of the gaps over the limit, those the machine accounts for (video / audio) | %d / %d |\n", rep.VideoGapsMachine, rep.AudioGapsMachine)
	p("| the server's CPU during the churn: stolen by the hypervisor / used by other processes | %.1f %% / %.1f %% |\n", rep.ServerCPUStealPct, rep.ServerCPUOtherPct)
	p("| output intervals over 100 ms counted by the server itself (`miksilo_composite_frame_interval_seconds`) | %d of %d |\n", rep.ServerIntervalsOver, rep.ServerIntervals)
	p("| Error events on the Composite | %d |\n\n", len(rep.ErrorEvents))
	if evs := append(append([]gapEvent(nil), rep.VideoGapEvents...), rep.AudioGapEvents...); len(evs) > 0 {
		p("Gaps over the limit at the staying viewer (t from the start of the churn; RTP step: how far the timestamp moved across the gap, one frame = the frame was made in time and left or arrived late; load generator late: how late the soak's own goroutines ran meanwhile — a gap that large is partly the viewer's; stolen: time the hypervisor ran something else on the server's CPU during the gap (/proc/stat steal, 10 ms ticks, summed over the 20 ms windows the gap touches); other: other processes of this machine on the server's CPU; cause: what covers the gap's excess over the limit — steal within it, steal (stall) = the steal within this stream's gaps of one stall (gaps of either stream overlapping) covers their excesses together, load generator — blank = the server):\n\n")
		p("| stream | t s | gap ms | RTP step ms | key frame | load generator late ms | stolen ms | other ms | cause |\n| --- | ---: | ---: | ---: | :---: | ---: | ---: | ---: | --- |\n")
		for i, e := range evs {
			kind := "video"
			if i >= len(rep.VideoGapEvents) {
				kind = "audio"
			}
			key := ""
			if e.Key {
				key = "yes"
			}
			p("| %s | %.1f | %.1f | %.1f | %s | %.1f | %.0f | %.0f | %s |\n", kind, e.AtSec, e.GapMS, e.TSStepMS, key, e.SelfMS, e.StealMS, e.OtherMS, e.Cause)
		}
		p("\n")
	}
	p("The server's footprint (RSS from /proc, threads, open file descriptors; Go heap, C heap (glibc malloc: in use / freed but kept), goroutines, Kurento objects and sessions, GStreamer pipelines and tracked elements from /metrics):\n\n")
	p("| moment | RSS MiB | Go heap MiB | C heap in use / kept free MiB | threads | fds | goroutines | objects | sessions | GStreamer pipelines / elements |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	row := func(name string, s sample) {
		p("| %s | %.1f | %.1f | %.1f / %.1f | %d | %d | %d | %d | %d | %d / %d |\n", name, float64(s.RSSKiB)/1024, float64(s.GoHeapKiB)/1024,
			float64(s.CInUseKiB)/1024, float64(s.CFreeKiB)/1024, s.Threads, s.FDs, s.Goroutines, s.Objects, s.Sessions, s.GstPipes, s.GstElems)
	}
	row("server after one prelude session, released", rep.Before)
	row("Composite and viewer, no host (reference of the churn)", rep.Steady)
	if n := len(rep.Samples); n > 2 {
		mid := rep.Samples[n/2]
		row(fmt.Sprintf("mid-churn (t = %.0f s)", mid.T), mid)
	}
	row("after the churn, every host gone", rep.AfterChurn)
	row("after the pipeline's release", rep.AfterRelease)
	p("\nRSS during the churn: %.2f MiB a minute (least-squares slope from the second minute on; limit %.1f). ", rep.RSSSlope, maxRSSSlopeMiBPerMin)
	p("Leak tolerances: objects, sessions and Composite inputs exact; goroutines +%d, threads +%d, file descriptors +%d, C heap in use +%d MiB.\n", tolGoroutines, tolThreads, tolFDs, tolCHeapMiB)
	if len(rep.Leaks) > 0 {
		p("\nLeak checks failed:\n\n")
		for _, l := range rep.Leaks {
			p("- %s\n", mddoc.Escape(l))
		}
	}
	if len(rep.Failures) > 0 {
		p("\nErrors seen (the first %d):\n\n", len(rep.Failures))
		for _, f := range rep.Failures {
			p("- %s\n", mddoc.Escape(f))
		}
	}
	if len(rep.ErrorEvents) > 0 {
		p("\nError events:\n\n")
		for _, e := range rep.ErrorEvents {
			p("- `%s`\n", strings.ReplaceAll(e, "`", "'"))
		}
	}
	p("%s\n", endMark)
	return b.String()
}

func floats(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(s, ", ")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
