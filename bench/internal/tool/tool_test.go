package tool

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFlags(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	for _, tc := range []struct {
		args    []string
		handled bool
	}{
		{[]string{"-free-port"}, true},
		{nil, false},
		{[]string{"-cpuprofile", prof}, false},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f := Register(fs, "x", true)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		var out, errs bytes.Buffer
		code, handled := f.Utility(&out, &errs)
		if handled != tc.handled || code != 0 {
			t.Fatalf("%v: Utility = %d, %v (%s)", tc.args, code, handled, errs.String())
		}
		if tc.handled {
			if p, err := strconv.Atoi(strings.TrimSpace(out.String())); err != nil || p <= 0 {
				t.Fatalf("-free-port printed %q", out.String())
			}
		}
		stop, err := f.StartProfile()
		if err != nil {
			t.Fatal(err)
		}
		stop()
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Fatalf("-cpuprofile wrote nothing: %v", err)
	}
}

func TestSleep(t *testing.T) {
	t0 := time.Now()
	Sleep(context.Background(), 20*time.Millisecond)
	if d := time.Since(t0); d < 20*time.Millisecond {
		t.Errorf("slept %v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	t0 = time.Now()
	Sleep(ctx, time.Hour)
	if d := time.Since(t0); d > time.Second {
		t.Errorf("a cancelled sleep took %v", d)
	}
}
