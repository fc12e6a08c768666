// Package tool holds what every load tool in bench/ offers its driver
// script besides its own measurement: -free-port, -wait-idle/-idle-below
// and -cpuprofile.
package tool

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"time"

	"github.com/miksilo/miksilo/bench/internal/procstat"
)

// Flags are the shared flags of a load tool.
type Flags struct {
	name      string
	freePort  bool
	waitIdle  time.Duration
	idleBelow float64
	cpuProf   string
}

// Register adds -free-port, -wait-idle and -idle-below to fs (and
// -cpuprofile when profile is true) for the tool called name.
func Register(fs *flag.FlagSet, name string, profile bool) *Flags {
	f := &Flags{name: name}
	fs.BoolVar(&f.freePort, "free-port", false, "print a free TCP port on 127.0.0.1 and exit")
	fs.DurationVar(&f.waitIdle, "wait-idle", 0, "wait up to this long until the machine's CPU use stays below -idle-below for 1 s, then exit")
	fs.Float64Var(&f.idleBelow, "idle-below", 10, "-wait-idle threshold, percent of one CPU")
	if profile {
		fs.StringVar(&f.cpuProf, "cpuprofile", "", "write a CPU profile of the load generator to this file")
	}
	return f
}

// Utility runs -free-port or -wait-idle when one was given and returns the
// exit code; ok is false when neither was (the tool carries on).
func (f *Flags) Utility(stdout, stderr io.Writer) (code int, ok bool) {
	switch {
	case f.freePort:
		port, err := FreePort()
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", f.name, err)
			return 1, true
		}
		fmt.Fprintln(stdout, port)
		return 0, true
	case f.waitIdle > 0:
		if pct, idle := procstat.WaitForIdle(f.waitIdle, f.idleBelow); !idle {
			fmt.Fprintf(stderr, "%s: machine still busy after %v (%.0f%% of a CPU in use); figures will be noisy\n", f.name, f.waitIdle, pct)
		}
		return 0, true
	}
	return 0, false
}

// StartProfile starts the -cpuprofile profile, if one was asked for; stop
// ends it (a no-op without one).
func (f *Flags) StartProfile() (stop func(), err error) {
	if f.cpuProf == "" {
		return func() {}, nil
	}
	out, err := os.Create(f.cpuProf)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); out.Close() }, nil
}

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Sleep waits d or until ctx ends, whichever comes first.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
