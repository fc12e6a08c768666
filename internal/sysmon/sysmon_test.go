package sysmon

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEnv(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []string
		changed bool
	}{
		{[]string{"PATH=/bin"}, []string{"PATH=/bin", "GODEBUG=" + Setting}, true},
		{[]string{"GODEBUG=", "A=1"}, []string{"GODEBUG=" + Setting, "A=1"}, true},
		{[]string{"GODEBUG=madvdontneed=1"}, []string{"GODEBUG=madvdontneed=1," + Setting}, true},
		{[]string{"GODEBUG=madvdontneed=1,"}, []string{"GODEBUG=madvdontneed=1," + Setting}, true},
		{[]string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
		{[]string{"GODEBUG=gctrace=1, schedtrace=1000"}, []string{"GODEBUG=gctrace=1, schedtrace=1000"}, false},
		{[]string{"GODEBUG=a=1", "GODEBUG=b=1"}, []string{"GODEBUG=a=1," + Setting}, true},
		{[]string{"XGODEBUG=schedtrace=0"}, []string{"XGODEBUG=schedtrace=0", "GODEBUG=" + Setting}, true},
	} {
		got, changed := Env(tc.in)
		if changed != tc.changed || !slices.Equal(got, tc.want) {
			t.Errorf("Env(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
		}
	}
}

// TestReexec runs this test binary as a child that calls Reexec and
// prints its GODEBUG and timer slack: after the re-exec it carries the
// GODEBUG setting (unless GODEBUG already set schedtrace) and the Go
// threads' timer slack (MIKSILO_GO_TIMER_SLACK; 0 leaves the kernel's).
func TestReexec(t *testing.T) {
	if os.Getenv("SYSMON_TEST_CHILD") == "1" {
		err := Reexec("SYSMON_EXTRA=added")
		// This thread's slack: every thread inherited the re-executing
		// thread's (/proc/self/timerslack_ns is the main thread's, which
		// another thread may read only with CAP_SYS_NICE).
		slack, serr := threadSlack()
		if serr != nil {
			t.Fatal(serr)
		}
		os.Stdout.WriteString("GODEBUG=" + os.Getenv("GODEBUG") + "\nSLACK=" + fmt.Sprint(slack.Nanoseconds()) +
			"\nREEXECUTED=" + os.Getenv("MIKSILO_REEXECUTED") + "\nEXTRA=" + os.Getenv("SYSMON_EXTRA") + "\n")
		if err != nil {
			os.Stdout.WriteString("ERR=" + err.Error() + "\n")
		}
		return
	}
	run := func(godebug, extra string, slack ...string) map[string]string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReexec$", "-test.v")
		env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "GODEBUG=") || strings.HasPrefix(kv, SlackEnv+"=") || strings.HasPrefix(kv, "MIKSILO_REEXECUTED=") ||
				strings.HasPrefix(kv, "SYSMON_EXTRA=")
		})
		cmd.Env = append(env, "SYSMON_TEST_CHILD=1", "GODEBUG="+godebug)
		if extra != "" {
			cmd.Env = append(cmd.Env, "SYSMON_EXTRA="+extra)
		}
		if len(slack) > 0 {
			cmd.Env = append(cmd.Env, SlackEnv+"="+slack[0])
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		got := map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok && (k == "GODEBUG" || k == "SLACK" || k == "REEXECUTED" || k == "EXTRA" || k == "ERR") {
				got[k] = v
			}
		}
		if _, ok := got["SLACK"]; !ok {
			t.Fatalf("child printed no slack:\n%s", out)
		}
		return got
	}
	runtime.LockOSThread() // the child is forked from this thread and inherits its slack
	defer runtime.UnlockOSThread()
	parent, err := threadSlack()
	if err != nil {
		t.Skip(err)
	}
	kernel := fmt.Sprint(parent.Nanoseconds())
	want5ms := fmt.Sprint(DefaultSlack.Nanoseconds())
	for _, tc := range []struct {
		name, godebug string
		extra         string // SYSMON_EXTRA in the child's environment
		slack         []string
		wantGODEBUG   string
		wantSlack     string
		reexecuted    string
		wantExtra     string
	}{
		{"defaults", "gctrace=0", "", nil, "gctrace=0," + Setting, want5ms, "1", "added"},
		{"schedtrace set: re-executed for the slack only", "schedtrace=0", "mine", nil, "schedtrace=0", want5ms, "1", "mine"},
		{"own slack", "gctrace=0", "", []string{"2ms"}, "gctrace=0," + Setting, "2000000", "1", "added"},
		{"slack off", "gctrace=0", "", []string{"0"}, "gctrace=0," + Setting, kernel, "1", "added"},
		{"re-executed for the extra setting only", "schedtrace=0", "", []string{"0"}, "schedtrace=0", kernel, "1", "added"},
		{"nothing to change", "schedtrace=0", "mine", []string{"0"}, "schedtrace=0", kernel, "", "mine"},
	} {
		got := run(tc.godebug, tc.extra, tc.slack...)
		if got["GODEBUG"] != tc.wantGODEBUG || got["SLACK"] != tc.wantSlack || got["REEXECUTED"] != tc.reexecuted || got["EXTRA"] != tc.wantExtra || got["ERR"] != "" {
			t.Errorf("%s: child %v; want GODEBUG %q, slack %s, re-executed %q, extra %q", tc.name, got, tc.wantGODEBUG, tc.wantSlack, tc.reexecuted, tc.wantExtra)
		}
	}
	if got := run("gctrace=0", "", "soon"); got["ERR"] == "" || got["SLACK"] != want5ms {
		t.Errorf("bad %s: child %v; want an error and the default slack", SlackEnv, got)
	}
}

func TestSlack(t *testing.T) {
	for _, tc := range []struct {
		v    string
		set  bool
		want time.Duration
		bad  bool
	}{
		{"", false, DefaultSlack, false},
		{"", true, DefaultSlack, false},
		{"0", true, 0, false},
		{"2ms", true, 2 * time.Millisecond, false},
		{" 500us ", true, 500 * time.Microsecond, false},
		{"-1ms", true, DefaultSlack, true},
		{"2s", true, DefaultSlack, true},
		{"soon", true, DefaultSlack, true},
	} {
		got, err := Slack(func(string) (string, bool) { return tc.v, tc.set })
		if got != tc.want || (err != nil) != tc.bad {
			t.Errorf("Slack(%q) = %v, %v; want %v, error %v", tc.v, got, err, tc.want, tc.bad)
		}
	}
}
