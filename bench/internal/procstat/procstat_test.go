package procstat

import (
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
