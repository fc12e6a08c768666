// Package sysmon keeps the Go runtime's threads from waking a mostly idle
// CPU more often than the work needs: the system monitor (below) and the
// timers (timerslack.go).
//
// A media server on a lightly loaded CPU is idle between hundreds of short
// bursts a second (a packet, a frame, a timer). When every P is idle the
// runtime's sysmon thread sleeps deeply; the first system call or cgo call
// of the next burst wakes it, and it polls every 20 µs until the process is
// idle again — two to three wake-ups per burst. Measured with one Composite
// (4 × 640×360 in, 720p30 out) on one CPU: ~780 context switches a second
// and 2.1 % of the CPU in sysmon alone, against ~95 switches and 0.4 % when
// it never sleeps deeply and polls at its longest interval (10 ms).
//
// The runtime's only switch for that is GODEBUG=schedtrace=N (N > 0 keeps
// sysmon out of deep sleep so that it can print the scheduler's state every
// N ms). With N at its maximum, 2147483647 ms (24.8 days), it prints at most
// one line per 24.8 days to stderr ("SCHED …"), and also prints the
// scheduler's state when the process crashes. The trade-off: a goroutine
// blocked in a long system or cgo call hands its P to another thread after
// 10–20 ms instead of 20–40 µs when the process was idle just before — what
// Go already does under sustained load.
//
// GODEBUG is read once at start-up, so Reexec sets it and re-executes the
// binary (same PID). A GODEBUG that already has a schedtrace setting is
// left alone: GODEBUG=schedtrace=0 restores Go's default.
package sysmon

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// Setting is what Env adds to GODEBUG.
const Setting = "schedtrace=2147483647"

// Env returns environ with Setting added to GODEBUG, and whether it
// changed anything (not when GODEBUG already sets schedtrace).
func Env(environ []string) ([]string, bool) {
	out := make([]string, 0, len(environ)+1)
	found := false
	for _, kv := range environ {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		if found { // a duplicate: Go uses the first
			continue
		}
		found = true
		for _, s := range strings.Split(v, ",") {
			if strings.HasPrefix(strings.TrimSpace(s), "schedtrace=") {
				return environ, false
			}
		}
		if v = strings.Trim(v, ","); v != "" {
			v += ","
		}
		out = append(out, "GODEBUG="+v+Setting)
	}
	if !found {
		out = append(out, "GODEBUG="+Setting)
	}
	return out, true
}

// reexecMarker is set (to 1) in the environment of a re-executed server: it
// never re-executes twice, whatever it finds.
const reexecMarker = "MIKSILO_REEXECUTED"

// Reexec re-executes the running binary (same PID) when the runtime
// settings are not in place: Env's GODEBUG and the Go threads' timer slack
// (SlackEnv, set on the thread that executes, which every thread of the new
// process inherits). It returns when nothing needs changing, after a
// re-execution, or when exec fails (the server then runs with Go's and the
// kernel's defaults, which are only slower); the error also reports a bad
// SlackEnv value.
//
// extra are further "KEY=value" settings for the new process, each added
// only when the environment has no KEY (the operator's own wins), such as
// C library settings read once at start-up (MALLOC_ARENA_MAX).
func Reexec(extra ...string) error {
	slack, serr := Slack(os.LookupEnv)
	if os.Getenv(reexecMarker) == "1" {
		return serr
	}
	env, changed := Env(os.Environ())
	for _, kv := range extra {
		k, _, ok := strings.Cut(kv, "=")
		if _, set := os.LookupEnv(k); !ok || set {
			continue
		}
		env = append(env, kv)
		changed = true
	}
	runtime.LockOSThread() // the slack is read, set and inherited on this thread
	defer runtime.UnlockOSThread()
	withSlack := false
	if cur, err := threadSlack(); err == nil && slack > 0 && cur != slack {
		if err := setThreadSlack(slack); err != nil {
			serr = errors.Join(serr, fmt.Errorf("timer slack: %w", err))
		} else if got, err := threadSlack(); err == nil && got == slack {
			withSlack = true
		}
	}
	if !changed && !withSlack {
		return serr
	}
	exe, err := os.Executable()
	if err != nil {
		return errors.Join(serr, err)
	}
	return errors.Join(serr, syscall.Exec(exe, os.Args, append(env, reexecMarker+"=1")))
}
