package sysmon

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Timer slack of the Go threads.
//
// Linux may fire a thread's timers up to its timer slack late (50 µs by
// default), which lets it serve several with one interrupt. The server's Go
// timers are all housekeeping — pion's NACK, TWCC and report tickers (100 ms
// and 1 s per peer connection), ICE keep-alives, DTLS retransmissions, the
// Composite's 50 ms loop — and sysmon sleeps 10 ms at a time; media moves on
// events (packets, GStreamer samples), never on Go timers. With a slack of a
// few milliseconds those timers fire on the next wake-up the process has
// anyway (a packet, another timer) instead of each waking an idle CPU:
// measured with one Composite on one CPU, the CPU left idle for a Go timer
// ~100 → ~35 times a second (a wake-up from idle costs 36–62 µs of CPU on the
// benchmark's VM).
//
// Slack is per thread and inherited by the threads a thread creates, also
// across exec: Reexec sets it on the thread that re-executes the binary, so
// every Go thread of the new process has it. GStreamer's streaming threads,
// created from Go threads, would inherit it too; their clock waits pace
// media, so internal/gst sets them back to the kernel's 50 µs when they start
// (the bus's stream-status message).

// SlackEnv names the environment variable that sets the Go threads' timer
// slack: a Go duration, "0" to leave the system's (50 µs). Default 5ms.
const SlackEnv = "MIKSILO_GO_TIMER_SLACK"

// DefaultSlack is the Go threads' timer slack when SlackEnv is not set.
const DefaultSlack = 5 * time.Millisecond

// Slack returns the timer slack SlackEnv asks for (0: leave it).
func Slack(getenv func(string) (string, bool)) (time.Duration, error) {
	v, ok := getenv(SlackEnv)
	if !ok || strings.TrimSpace(v) == "" {
		return DefaultSlack, nil
	}
	v = strings.TrimSpace(v)
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > time.Second {
		return DefaultSlack, fmt.Errorf("%s=%q: want a duration from 0 to 1s (e.g. 5ms); using %v", SlackEnv, v, DefaultSlack)
	}
	return d, nil
}

// threadSlack is the calling thread's timer slack.
func threadSlack() (time.Duration, error) {
	n, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	return time.Duration(n), err
}

// setThreadSlack sets the calling thread's timer slack.
func setThreadSlack(d time.Duration) error {
	return unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d.Nanoseconds()), 0, 0, 0)
}
