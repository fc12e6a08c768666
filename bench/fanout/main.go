// Command fanout is the load generator of the fan-out benchmark (scripts/bench-fanout.sh, run by
// `make bench`): one publisher sends a pre-encoded 720p30 VP8 clip (about 2 Mb/s, looped from an IVF
// file at its frame rate) to a server, and N viewers receive it back. Every peer is a full pion
// PeerConnection (ICE, DTLS, SRTP; NACK and RTCP reports) on loopback only.
//
//	fanout -target forwarder -addr 127.0.0.1:8890 -viewers 40 -ivf bin/bench/fanout.ivf -server-pid PID
//	fanout -target miksilo   -addr 127.0.0.1:8888 -viewers 40 -ivf bin/bench/fanout.ivf -server-pid PID
//
// Target "miksilo" speaks the Kurento Protocol (ws://ADDR/kurento): a MediaPipeline, a
// WebRtcEndpoint for the publisher and one per viewer connected from it, trickle ICE both ways.
// Target "forwarder" speaks bench/forwarder's HTTP API.
//
// One run is one step of the ramp: the publisher connects, the server's CPU and memory are sampled
// with the publisher alone, the viewers connect, and after a warm-up every viewer's reception is
// measured over a window: loss from RTP sequence gaps, payload bitrate received against what the
// publisher sent in the same window, the server's CPU (/proc/PID/stat) and RSS. One JSON object goes
// to stdout, a summary to stderr. The step passes with < 1 % loss and ≥ 95 % of the bitrate delivered.
//
// Helper modes used by the script: -gen-y4m (the raw test picture fed to the VP8 encoder),
// -render (write the docs/benchmarks.md section from the collected JSON lines), -free-port and
// -wait-idle.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/miksilo/miksilo/bench/internal/tool"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg    runConfig
		rc     renderConfig
		genY4M int
	)
	fs.StringVar(&cfg.target, "target", "forwarder", "server protocol: miksilo (Kurento Protocol) or forwarder (bench/forwarder)")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8888", "server host:port")
	fs.StringVar(&cfg.label, "label", "", "server name written in the result (default: the target)")
	fs.IntVar(&cfg.viewers, "viewers", 10, "number of viewers")
	fs.StringVar(&cfg.ivf, "ivf", "bin/bench/fanout-720p30-vp8.ivf", "VP8 IVF file the publisher loops")
	fs.DurationVar(&cfg.warmup, "warmup", 3*time.Second, "time between the last viewer receiving and the measurement window")
	fs.DurationVar(&cfg.duration, "duration", 6*time.Second, "measurement window")
	fs.DurationVar(&cfg.baseline, "baseline", 1500*time.Millisecond, "window measuring the server with the publisher alone (0: skip)")
	fs.DurationVar(&cfg.setupTimeout, "setup-timeout", 30*time.Second, "limit for connecting the publisher, and then all viewers")
	fs.DurationVar(&cfg.settle, "settle", 5*time.Second, "after the warm-up, wait up to this long for the viewers' delay to settle (a backlog from set-up to drain)")
	fs.IntVar(&cfg.parallel, "parallel", 8, "viewers negotiated concurrently")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "pid of the server, for its CPU, memory and socket drops")
	fs.StringVar(&cfg.role, "role", "", "written in the result: \"repeat\" marks the second run of a step")
	fs.StringVar(&rc.results, "render", "", "render mode: JSON-lines results file to turn into the docs section")
	fs.StringVar(&rc.doc, "doc", "docs/benchmarks.md", "render mode: markdown file whose fan-out section is replaced")
	fs.StringVar(&rc.command, "command", "make bench", "render mode: command that reproduces the figures")
	fs.StringVar(&rc.rev, "rev", "unknown", "render mode: git revision")
	fs.StringVar(&rc.date, "date", "", "render mode: date of the run (default now, UTC)")
	fs.StringVar(&rc.cpu, "cpu", "", "render mode: CPU model (default from /proc/cpuinfo)")
	fs.StringVar(&rc.pinning, "pinning", "", "render mode: how processes were pinned to CPUs")
	fs.StringVar(&rc.note, "note", "", "render mode: warning printed at the top of the section")
	fs.StringVar(&rc.missing, "missing", "", "render mode: why a target has no results (\"miksilo=REASON\")")
	fs.StringVar(&rc.clip, "clip", "", "render mode: IVF file measured for the workload line")
	fs.StringVar(&rc.settings, "settings", "", "render mode: ramp settings, as text")
	fs.StringVar(&rc.network, "network", "", "render mode: the network the run used, as text")
	fs.Float64Var(&rc.share, "share", 100, "render mode: the server's CPU share, percent of one CPU")
	fs.Float64Var(&rc.maxOther, "max-other", 15, "render mode: flag steps during which other processes used more than this % of a CPU")
	fs.IntVar(&genY4M, "gen-y4m", 0, "write this many frames of the 1280×720 test picture as YUV4MPEG2 to stdout and exit")
	shared := tool.Register(fs, "fanout", true)
	if err := fs.Parse(args); err != nil {
		return 2
	}

	if code, ok := shared.Utility(stdout, stderr); ok {
		return code
	}
	switch {
	case genY4M > 0:
		if err := writeY4M(stdout, genY4M); err != nil {
			fmt.Fprintln(stderr, "fanout -gen-y4m:", err)
			return 1
		}
		return 0
	case rc.results != "":
		if err := renderDoc(rc); err != nil {
			fmt.Fprintln(stderr, "fanout -render:", err)
			return 1
		}
		return 0
	}

	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, "fanout:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Many small allocations per packet in pion, a small live heap: a larger GC target keeps
	// collections, which share the generator's one CPU with the peers, rare.
	debug.SetGCPercent(400)
	stopProfile, err := shared.StartProfile()
	if err != nil {
		fmt.Fprintln(stderr, "fanout:", err)
		return 1
	}
	defer stopProfile()
	res, err := runStep(ctx, cfg, stderr)
	if err != nil {
		// Still one line: the step failed, and the document says why.
		fmt.Fprintln(stderr, "fanout:", err)
		_ = writeJSONLine(stdout, &result{Target: cfg.label, Viewers: cfg.viewers, Role: cfg.role, Fail: "error: " + err.Error()})
		return 1
	}
	if err := writeJSONLine(stdout, res); err != nil {
		fmt.Fprintln(stderr, "fanout:", err)
		return 1
	}
	fmt.Fprintln(stderr, res.human())
	return 0
}

// writeJSONLine writes v as one JSON line, with <, > and & left as they are (the script greps it).
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (r *result) human() string {
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL (" + r.Fail + ")"
	}
	s := fmt.Sprintf("fanout: %s, %d viewers: %s — delay %.0f→%.0f ms (worst %.0f); loss %.2f%% (worst %.2f%%), bitrate %.1f%% (worst %.1f%%) of %.0f kb/s; "+
		"server CPU %.0f%% (%.0f%% publisher only), RSS %d→%d MiB; loader CPU %.0f%%, other %.0f%%; UDP drops server %d / loader %d",
		r.Target, r.Viewers, verdict, r.LagStartMs, r.LagEndMs, r.LagEndMaxMs, r.LossPct, r.WorstLossPct, r.DeliveredPct, r.WorstDeliveredPct, r.PubKbps,
		r.Server, r.ServerBaseCPU, r.ServerRSSBaseKB>>10, r.ServerRSSKB>>10, r.Loader, r.Other, r.DropsServer, r.DropsLoader)
	for _, e := range r.Errors {
		s += "\n  " + e
	}
	return s
}
