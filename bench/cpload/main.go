// Command cpload is the control-plane load generator used by scripts/bench.sh (`make bench`).
//
// Every connection is a WebSocket to ws://ADDR/kurento speaking Kurento JSON-RPC 2.0 and repeats one
// cycle of five requests: create MediaPipeline → create PassThrough A → create PassThrough B →
// invoke A.connect(B) → release pipeline. An "op" is one request/response.
//
//	cpload -addr 127.0.0.1:8888 -conns 8 -duration 10s -warmup 2s            # closed loop: max ops/s
//	cpload -addr 127.0.0.1:8888 -conns 8 -duration 10s -warmup 2s -rate 4000 # open loop: latency at 4000 ops/s
//
// Closed loop: each connection sends its next request when the previous answer arrives.
// Open loop: each connection sends at fixed instants (rate/conns per second, phases staggered);
// requests are pipelined and matched by id, and latency runs from the scheduled send instant, so a
// slow answer never delays the measurement of later requests (no coordinated omission).
//
// One JSON object per run goes to stdout, a human summary to stderr. Helper modes used by the script:
// -render (write the docs/benchmarks.md section from the collected JSON lines) and -free-port.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/miksilo/miksilo/bench/internal/tool"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cpload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg    config
		render renderConfig
	)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8888", "server host:port (the path is /kurento)")
	fs.IntVar(&cfg.conns, "conns", 1, "number of WebSocket connections")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "warm-up before measuring (same load, not recorded)")
	fs.Float64Var(&cfg.rate, "rate", 0, "open loop: total ops/s over all connections; 0 = closed loop (max throughput)")
	fs.StringVar(&cfg.mode, "mode", "kurento", "kurento: check result shapes (ids, sessionId) | echo: only check for errors")
	fs.StringVar(&cfg.label, "label", "", "server name written in the result (default: miksilo for -mode kurento, echo for -mode echo)")
	fs.IntVar(&cfg.maxCycles, "max-inflight-cycles", 128, "open loop: cycles in flight per connection before sends wait")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "pid of the server, to report its CPU use during the measured window")
	fs.IntVar(&cfg.showErrors, "show-errors", 5, "print the first N failing request/response pairs")
	fs.StringVar(&render.results, "render", "", "render mode: JSON-lines results file to turn into the docs section")
	fs.StringVar(&render.doc, "doc", "docs/benchmarks.md", "render mode: markdown file whose control-plane section is replaced")
	fs.StringVar(&render.command, "command", "make bench", "render mode: command that reproduces the figures")
	fs.StringVar(&render.rev, "rev", "unknown", "render mode: git revision")
	fs.StringVar(&render.date, "date", "", "render mode: date of the run (default now, UTC)")
	fs.StringVar(&render.cpu, "cpu", "", "render mode: CPU model (default from /proc/cpuinfo)")
	fs.StringVar(&render.pinning, "pinning", "", "render mode: how processes were pinned to CPUs")
	fs.StringVar(&render.note, "note", "", "render mode: warning printed at the top of the section")
	shared := tool.Register(fs, "cpload", true)
	if err := fs.Parse(args); err != nil {
		return 2
	}

	if code, ok := shared.Utility(stdout, stderr); ok {
		return code
	}
	switch {
	case render.results != "":
		if err := renderDoc(render); err != nil {
			fmt.Fprintln(stderr, "cpload -render:", err)
			return 1
		}
		return 0
	}

	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, "cpload:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The heap stays small (a few MB) while the allocation rate is high; a larger GC target keeps
	// collections, which share the generator's single CPU with the senders, rare.
	debug.SetGCPercent(400)
	stopProfile, err := shared.StartProfile()
	if err != nil {
		fmt.Fprintln(stderr, "cpload:", err)
		return 1
	}
	defer stopProfile()

	res, err := runLoad(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "cpload:", err)
		return 1
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintln(stderr, "cpload:", err)
		return 1
	}
	fmt.Fprintln(stdout, string(line))
	fmt.Fprintln(stderr, res.human())
	return 0
}

type config struct {
	addr       string
	conns      int
	duration   time.Duration
	warmup     time.Duration
	rate       float64
	mode       string
	label      string
	maxCycles  int
	showErrors int
	serverPID  int
}

func (c *config) validate() error {
	switch c.mode {
	case "kurento":
		if c.label == "" {
			c.label = "miksilo"
		}
	case "echo":
		if c.label == "" {
			c.label = "echo"
		}
	default:
		return fmt.Errorf("-mode %q: want kurento or echo", c.mode)
	}
	switch {
	case c.conns < 1:
		return errors.New("-conns must be ≥ 1")
	case c.duration <= 0:
		return errors.New("-duration must be > 0")
	case c.warmup < 0:
		return errors.New("-warmup must be ≥ 0")
	case c.rate < 0:
		return errors.New("-rate must be ≥ 0")
	case c.maxCycles < 1:
		return errors.New("-max-inflight-cycles must be ≥ 1")
	}
	return nil
}
