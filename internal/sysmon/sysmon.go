// Package sysmon keeps the Go runtime's system monitor from waking several
// times for every burst of work of a mostly idle process.
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
	"os"
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

// Reexec re-executes the running binary with Env's GODEBUG when it changes
// anything; it returns only when it does not (or when exec fails: the
// server then runs with Go's default, which is only slower).
func Reexec() error {
	env, changed := Env(os.Environ())
	if !changed {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(exe, os.Args, env)
}
