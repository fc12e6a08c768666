package gst

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStreamingThreadSlack: a pipeline started by a thread with a large
// timer slack (the server's Go threads have 5 ms, internal/sysmon) runs its
// streaming threads with the kernel's 50 µs: their clock waits pace media.
// The check runs in a child process that inherits a 20 ms slack from the
// start, as the server does after its re-execution.
func TestStreamingThreadSlack(t *testing.T) {
	if os.Getenv("GST_SLACK_CHILD") == "1" {
		slackChild(t)
		return
	}
	if _, err := os.Stat("/proc/self/timerslack_ns"); err != nil {
		t.Skip("no /proc/self/timerslack_ns")
	}
	runtime.LockOSThread() // the child is forked from this thread and inherits its slack
	defer runtime.UnlockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Skip(err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(20*time.Millisecond), 0, 0, 0); err != nil {
		t.Skip(err)
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamingThreadSlack$", "-test.v")
	cmd.Env = append(os.Environ(), "GST_SLACK_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && (k == "MAIN" || k == "STREAM" || k == "SKIP") {
			got[k] = v
		}
	}
	if got["SKIP"] != "" {
		t.Skip("cannot read a thread's timer slack here: ", got["SKIP"])
	}
	if got["MAIN"] != "20000000" {
		t.Fatalf("the child did not inherit the slack: %v\n%s", got, out)
	}
	if got["STREAM"] != "50000" {
		t.Fatalf("streaming thread timer slack %q, want 50000 (the kernel's default)\n%s", got["STREAM"], out)
	}
}

// slackChild starts a live pipeline and prints its own and its streaming
// thread's timer slack.
func slackChild(t *testing.T) {
	p, err := Parse("slack", "videotestsrc name=src is-live=true ! video/x-raw,width=64,height=48,framerate=30/1 ! fakesink", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	main, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0) // this thread's: inherited like the main thread's
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc/self/task")
		for _, e := range ents {
			comm, err := os.ReadFile("/proc/self/task/" + e.Name() + "/comm")
			if err != nil || strings.TrimSpace(string(comm)) != "src:src" {
				continue
			}
			// /proc/<tid> reaches a thread; timerslack_ns is per thread.
			s, err := os.ReadFile("/proc/" + e.Name() + "/timerslack_ns")
			if errors.Is(err, os.ErrPermission) {
				// Another thread's slack needs CAP_SYS_NICE to read.
				os.Stdout.WriteString("SKIP=" + err.Error() + "\n")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			os.Stdout.WriteString("MAIN=" + strconv.Itoa(main) + "\nSTREAM=" + strings.TrimSpace(string(s)) + "\n")
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no streaming thread named src:src")
}
