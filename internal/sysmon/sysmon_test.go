package sysmon

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
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
// prints its GODEBUG: after the re-exec it carries the setting; a child
// whose GODEBUG already sets schedtrace is not re-executed.
func TestReexec(t *testing.T) {
	if os.Getenv("SYSMON_TEST_CHILD") == "1" {
		if err := Reexec(); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("GODEBUG=" + os.Getenv("GODEBUG") + "\n")
		return
	}
	run := func(godebug string) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReexec$", "-test.v")
		env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
		cmd.Env = append(env, "SYSMON_TEST_CHILD=1", "GODEBUG="+godebug)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "GODEBUG="); ok {
				return v
			}
		}
		t.Fatalf("child printed no GODEBUG:\n%s", out)
		return ""
	}
	if got := run("gctrace=0"); got != "gctrace=0,"+Setting {
		t.Errorf("after Reexec GODEBUG = %q, want %q", got, "gctrace=0,"+Setting)
	}
	if got := run("schedtrace=0"); got != "schedtrace=0" {
		t.Errorf("with schedtrace set GODEBUG = %q, want it unchanged", got)
	}
}
