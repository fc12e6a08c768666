package procstat

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestCPUOfThisProcess(t *testing.T) {
	a, err := TakeSnap(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// Spin until the kernel has accounted at least two ticks to this process (deadline-bound).
	deadline := time.Now().Add(5 * time.Second)
	for x := 0; time.Now().Before(deadline); x++ {
		if x%1_000_000 == 0 {
			if n, _ := ProcTicks("self"); n-a.self >= 2 {
				break
			}
		}
	}
	b, err := TakeSnap(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	u := Between(a, b)
	if u == nil || u.Server <= 0 || u.Loader <= 0 || u.Machine < u.Loader-1 {
		t.Fatalf("usage %+v: want this process's CPU counted as both the measured process and the loader", u)
	}
	if Between(b, a) != nil {
		t.Fatal("Between of reversed snapshots is not nil")
	}
}

func TestParseCPUTimes(t *testing.T) {
	stat := []byte("cpu  10 1 5 100 2 0 1 9 0 0\ncpu0 4 1 2 50 1 0 1 3 0 0\ncpu1 6 0 3 50 1 0 0 6 0 0\nintr 1\n")
	for _, c := range []struct {
		cpus        []int
		busy, steal int64
	}{{nil, 17, 9}, {[]int{0}, 8, 3}, {[]int{0, 1}, 17, 9}, {[]int{1}, 9, 6}} {
		busy, steal, err := parseCPUTimes(stat, c.cpus)
		if err != nil || busy != c.busy || steal != c.steal {
			t.Errorf("%v: busy %d steal %d %v, want %d %d", c.cpus, busy, steal, err, c.busy, c.steal)
		}
	}
	if _, _, err := parseCPUTimes(stat, []int{2}); err == nil {
		t.Error("a missing CPU accepted")
	}
}

func TestParseAllowedCPUs(t *testing.T) {
	cpus, err := parseAllowedCPUs("Name:\tmiksilo\nCpus_allowed:\t5\nCpus_allowed_list:\t0,2-3\n")
	if err != nil || fmt.Sprint(cpus) != "[0 2 3]" {
		t.Errorf("allowed CPUs %v %v", cpus, err)
	}
	if _, err := parseAllowedCPUs("Cpus_allowed_list:\t3-1\n"); err == nil {
		t.Error("a backwards range accepted")
	}
	if cpus, err := AllowedCPUs("self"); err != nil || len(cpus) == 0 {
		t.Errorf("this process: %v %v", cpus, err)
	}
}

// The measured process's steal is the steal on its own CPUs, apart from the machine's.
func TestServerSteal(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := Snap{At: t0, busy: 100, steal: 10, proc: 50, procSteal: 4, procCPUs: []int{0}, hasProc: true}
	b := Snap{At: t0.Add(10 * time.Second), busy: 300, steal: 110, proc: 100, procSteal: 24, procCPUs: []int{0}, hasProc: true}
	u := Between(a, b)
	if u.Steal != 10 || u.ServerSteal != 2 || fmt.Sprint(u.ServerCPUs) != "[0]" {
		t.Fatalf("usage %+v: want 10 %% stolen on the machine, 2 %% on the measured process's CPU 0", u)
	}
	b.procCPUs = []int{1}
	if u := Between(a, b); u.ServerSteal != 0 || u.ServerCPUs != nil {
		t.Fatalf("usage %+v: the process moved to another CPU, its steal cannot be told", u)
	}
	self, err := TakeSnap(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if len(self.procCPUs) == 0 {
		t.Fatal("TakeSnap did not read the measured process's CPUs")
	}
}
