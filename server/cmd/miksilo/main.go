// Command miksilo is the Miksilo media server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/miksilo/miksilo/internal/config"
	"github.com/miksilo/miksilo/internal/sysmon"
	"github.com/miksilo/miksilo/server"
)

func main() {
	// Before anything else: re-executes once with GODEBUG=schedtrace set
	// (unless GODEBUG sets it) and the Go threads' timer slack
	// (MIKSILO_GO_TIMER_SLACK, default 5ms); see internal/sysmon.
	if err := sysmon.Reexec(); err != nil {
		fmt.Fprintln(os.Stderr, "miksilo: runtime settings (internal/sysmon; running with the defaults where they failed):", err)
	}
	cfg, err := config.Load(os.Args[1:], os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "miksilo:", err)
		os.Exit(2)
	}
	log := cfg.Logger(os.Stderr)
	srv, err := server.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx); err != nil {
		log.Error("server failed", "err", err)
		os.Exit(1)
	}
}
