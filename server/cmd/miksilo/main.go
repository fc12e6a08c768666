// Command miksilo is the Miksilo media server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/miksilo/miksilo/internal/config"
	"github.com/miksilo/miksilo/internal/sysmon"
	"github.com/miksilo/miksilo/server"
)

func main() {
	cfg, err := config.Load(os.Args[1:], os.LookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "miksilo:", err)
		os.Exit(2)
	}
	// Before the server starts: re-executes once with GODEBUG=schedtrace
	// set (unless GODEBUG sets it), the Go threads' timer slack
	// (MIKSILO_GO_TIMER_SLACK, default 5ms) and MALLOC_ARENA_MAX from
	// memory.malloc_arenas (unless the environment sets it: glibc reads it
	// once, before the Go runtime's first threads take arenas of their own);
	// see internal/sysmon. The configuration is loaded again after it.
	var extra []string
	if n := cfg.Memory.MallocArenas; n > 0 {
		extra = append(extra, "MALLOC_ARENA_MAX="+strconv.Itoa(n))
	}
	if err := sysmon.Reexec(extra...); err != nil {
		fmt.Fprintln(os.Stderr, "miksilo: runtime settings (internal/sysmon; running with the defaults where they failed):", err)
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
