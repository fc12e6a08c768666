// Command composite is the load generator of the Composite benchmark (scripts/bench-composite.sh,
// run by `make bench`): four 640×360@30 VP8 inputs composited into one 1280×720@30 VP8 output,
// Miksilo against gst-launch-1.0 doing the same decode, compositing and encoding with the
// Composite's own encoder settings (composite.VideoEncoderLaunch).
//
//	composite -mode miksilo  -addr 127.0.0.1:8888 -server-pid PID   # Miksilo's Composite
//	composite -mode baseline -taskset 0                              # gst-launch-1.0, pinned
//	composite -mode loopback -addr 127.0.0.1:8888 -server-pid PID   # tool check: one input forwarded
//
// Inputs: per input a clip of -clip-frames pictures (a tinted, smooth, panning texture with grain, the
// input's index and the frame's number stamped in large black and white blocks), encoded once with
// vp8enc at 1 Mb/s and cached in -clip-dir. Miksilo mode: over the Kurento Protocol a MediaPipeline,
// a Composite (1280×720, 30 fps, VP8, -bitrate), four publisher WebRtcEndpoints each connected to a
// HubPort, and a viewer WebRtcEndpoint fed by a fifth HubPort; four pion publishers loop the clips
// at 30 fps; the viewer reassembles the output, decodes it (vp8dec in this process) and reads the
// stamps in each quadrant. Added latency = arrival of the first output RTP packet of the first
// output frame showing input frame n − the moment input frame n's last packet was sent. CPU comes
// from /proc/PID/stat of the server (or of gst-launch) over the window. One JSON object goes to
// stdout, a summary to stderr. One invocation measures one subject once; scripts/bench-composite.sh
// interleaves Miksilo and gst-launch rounds (-round numbers them) and -render takes the medians.
//
// Helper modes used by the script: -render (write the docs/benchmarks.md section), -make-clips,
// -free-port and -wait-idle.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/miksilo/miksilo/bench/internal/tool"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("composite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg      runConfig
		rc       renderConfig
		makeOnly bool
	)
	fs.StringVar(&cfg.mode, "mode", "miksilo", "miksilo (the Composite over the Kurento Protocol), baseline (gst-launch-1.0) or loopback (one input through a WebRtcEndpoint: checks the tool)")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8888", "Miksilo's host:port")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "Miksilo's pid, for its CPU time")
	fs.StringVar(&cfg.clipDir, "clip-dir", "bin/bench", "directory of the cached input clips")
	fs.IntVar(&cfg.clipFrames, "clip-frames", 150, "frames per input clip (looped; ≤ 1024)")
	fs.IntVar(&cfg.width, "width", 1280, "output width")
	fs.IntVar(&cfg.height, "height", 720, "output height")
	fs.IntVar(&cfg.bitrate, "bitrate", 2_000_000, "output bitrate setting, b/s")
	fs.DurationVar(&cfg.warmup, "warmup", 5*time.Second, "time after all inputs show in the output (gst-launch: after its start) before the window")
	fs.DurationVar(&cfg.duration, "duration", 30*time.Second, "measurement window")
	fs.DurationVar(&cfg.setupTimeout, "setup-timeout", 30*time.Second, "limit for negotiating, and then for the output to show every input")
	fs.StringVar(&cfg.taskset, "taskset", "", "baseline: CPU list gst-launch-1.0 is pinned to (taskset -c)")
	fs.StringVar(&cfg.failFrame, "fail-frame", "", "PNG file for the viewer's last decoded picture when the output does not show every input in time")
	fs.IntVar(&cfg.round, "round", 0, "round number written into the result (the script interleaves Miksilo and gst-launch rounds; 0 = none)")
	fs.IntVar(&cfg.extraViewers, "extra-viewers", 0, "miksilo: this many more viewers of the output, which only receive it (what fanning the Composite out costs)")
	fs.BoolVar(&cfg.lockstep, "baseline-lockstep", false, "baseline: release the four inputs' frames together instead of a quarter frame interval apart as Miksilo's publishers send them")
	fs.BoolVar(&makeOnly, "make-clips", false, "encode the input clips into -clip-dir (when missing) and exit")
	fs.StringVar(&rc.results, "render", "", "render mode: JSON-lines results file to turn into the docs section")
	fs.StringVar(&rc.doc, "doc", "docs/benchmarks.md", "render mode: markdown file whose composite section is replaced")
	fs.StringVar(&rc.command, "command", "make bench", "render mode: command that reproduces the figures")
	fs.StringVar(&rc.rev, "rev", "unknown", "render mode: git revision")
	fs.StringVar(&rc.date, "date", "", "render mode: date of the run (default now, UTC)")
	fs.StringVar(&rc.pinning, "pinning", "", "render mode: how processes were pinned to CPUs")
	fs.StringVar(&rc.network, "network", "", "render mode: the network the run used")
	fs.StringVar(&rc.note, "note", "", "render mode: warning printed at the top of the section")
	fs.StringVar(&rc.missing, "missing", "", "render mode: why Miksilo has no result")
	fs.StringVar(&rc.wakeCost, "wake-cost", "", "render mode: bench/wakecost -line output of the same run")
	fs.Float64Var(&rc.maxOther, "max-other", 15, "render mode: flag runs during which other processes used more than this % of a CPU")
	fs.Float64Var(&rc.maxSteal, "max-steal", 5, "render mode: flag runs during which the hypervisor's steal took more than this % of a CPU")
	shared := tool.Register(fs, "composite", false)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if code, ok := shared.Utility(stdout, stderr); ok {
		return code
	}
	switch {
	case rc.results != "":
		if err := renderDoc(rc); err != nil {
			fmt.Fprintln(stderr, "composite -render:", err)
			return 1
		}
		return 0
	case makeOnly:
		if _, err := makeClips(cfg.clipDir, cfg.clipFrames); err != nil {
			fmt.Fprintln(stderr, "composite -make-clips:", err)
			return 1
		}
		return 0
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, "composite:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := runSubject(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "composite:", err)
		subject := cfg.mode
		if subject == "baseline" {
			subject = "gst-launch"
		}
		_ = writeJSONLine(stdout, &result{Subject: subject, Round: cfg.round, Width: cfg.width, Height: cfg.height, TargetBps: cfg.bitrate, Fail: "error: " + err.Error()})
		return 1
	}
	res.Round = cfg.round
	if err := writeJSONLine(stdout, res); err != nil {
		fmt.Fprintln(stderr, "composite:", err)
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
	subject := r.Subject
	if r.Round > 0 {
		subject += fmt.Sprintf(" round %d", r.Round)
	}
	s := fmt.Sprintf("composite-bench: %s: CPU %.1f%% of one CPU over %.1f s = %.3f CPU-s per output second; loader %.0f%%, other %.0f%%",
		subject, r.Server, r.WindowSec, r.CPUPerOutputSec, r.Loader, r.Other)
	if r.Subject == "gst-launch" {
		s += fmt.Sprintf("; output %.1f fps, %.0f kb/s VP8 (%.1f%% of %d kb/s); ran %.1f s for %.1f s of media",
			r.OutFPS, r.VP8Kbps, r.BitratePct, r.TargetBps/1000, r.RunSec, r.ExpectedSec)
	} else {
		s += fmt.Sprintf("; output %.1f fps, %.0f kb/s VP8 (%.1f%% of %d kb/s), largest gap %.0f ms; latency p50 %.1f / p95 %.1f / max %.1f ms over %d input frames (%d unmatched); %d/%d input frames shown; %d unreadable regions; %d PLIs",
			r.OutFPS, r.VP8Kbps, r.BitratePct, r.TargetBps/1000, r.MaxGapMs, r.LatP50Ms, r.LatP95Ms, r.LatMaxMs, r.LatencyN, r.Unmatched, r.InputsShown, r.InputsSent, r.Unreadable, r.PLIs)
		if r.ExtraViewers > 0 {
			s += fmt.Sprintf("; %d extra viewers, the least served %.0f kb/s", r.ExtraViewers, r.ExtraMinKbps)
		}
		if r.IdleCPU > 0 {
			s += fmt.Sprintf("; idle Composite %.1f%%", r.IdleCPU)
		}
	}
	if r.Fail != "" {
		s += "\n  FAIL: " + r.Fail
	}
	for _, e := range r.Errors {
		s += "\n  " + e
	}
	return s
}
