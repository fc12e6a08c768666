package main

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain runs the server's main instead of the tests when asked to: the
// test starts this binary as a server process.
func TestMain(m *testing.M) {
	if os.Getenv("MIKSILO_MAIN_TEST") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestProcessSettings: the server re-executes itself with the runtime
// settings in its environment: MALLOC_ARENA_MAX from memory.malloc_arenas
// (none for 0; the operator's own value kept) and GODEBUG's schedtrace.
func TestProcessSettings(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args, env []string
		want      string // MALLOC_ARENA_MAX in the server's environment; "" = absent
	}{
		{"default", nil, nil, "2"},
		{"configured", []string{"-memory-malloc-arenas", "4"}, nil, "4"},
		{"glibc's default", []string{"-memory-malloc-arenas", "0"}, nil, ""},
		{"the operator's", nil, []string{"MALLOC_ARENA_MAX=5"}, "5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := serverEnv(t, tc.args, tc.env)
			if got := env["MALLOC_ARENA_MAX"]; got != tc.want {
				t.Errorf("MALLOC_ARENA_MAX=%q, want %q", got, tc.want)
			}
			if !strings.Contains(env["GODEBUG"], "schedtrace=") {
				t.Errorf("GODEBUG=%q", env["GODEBUG"])
			}
		})
	}
}

// serverEnv starts the server with args and extra environment, waits for
// its re-execution and returns its environment.
func serverEnv(t *testing.T, args, extra []string) map[string]string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-addr", "127.0.0.1:0", "-log-level", "warn"}, args...)...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "MALLOC_ARENA_MAX=") || strings.HasPrefix(kv, "MIKSILO_") || strings.HasPrefix(kv, "GODEBUG=")
	})
	cmd.Env = append(append(cmd.Env, "MIKSILO_MAIN_TEST=1"), extra...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, kv := range strings.Split(string(data), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		if env["MIKSILO_REEXECUTED"] == "1" {
			return env
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the server did not re-execute itself within 20 s:\n%s", out.String())
	return nil
}
