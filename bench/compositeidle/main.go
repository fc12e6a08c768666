// Command compositeidle measures what a Composite costs when nobody
// consumes its output: the server's CPU with one 1280×720@30 Composite
// and no input, either with a sink on one of its ports (a HubPort
// connected to a PassThrough: the canvas is encoded) or without any (the
// Composite stops encoding after 2 s: composite/idle.go). Run by
// scripts/bench-composite-idle.sh, which starts a fresh server per round.
//
//	compositeidle -addr 127.0.0.1:18888 -server-pid PID [-sink]
//
// One line of JSON: {"sink":bool,"cpu":CPU-seconds per second over the window}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miksilo/miksilo/bench/internal/kurento"
)

// cpuSeconds is a process's user+system CPU time so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	k, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return (u + k) / 100, nil // USER_HZ = 100 on Linux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18888", "server address")
	pid := flag.Int("server-pid", 0, "the server's process id (CPU from /proc)")
	sink := flag.Bool("sink", false, "connect a port of the Composite to a PassThrough (its output is consumed)")
	settle := flag.Duration("settle", 4*time.Second, "time before the window (the Composite goes idle after 2 s)")
	window := flag.Duration("window", 10*time.Second, "measurement window")
	flag.Parse()
	if err := run(*addr, *pid, *sink, *settle, *window); err != nil {
		fmt.Fprintln(os.Stderr, "compositeidle:", err)
		os.Exit(1)
	}
}

func run(addr string, pid int, sink bool, settle, window time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), settle+window+30*time.Second)
	defer cancel()
	k, err := kurento.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer k.Close()
	comp, err := k.Create(ctx, "Composite", map[string]any{"mediaPipeline": k.Pipeline(), "width": 1280, "height": 720, "framerate": 30})
	if err != nil {
		return err
	}
	if sink {
		port, err := k.Create(ctx, "HubPort", map[string]any{"hub": comp})
		if err != nil {
			return err
		}
		pt, err := k.Create(ctx, "PassThrough", map[string]any{"mediaPipeline": k.Pipeline()})
		if err != nil {
			return err
		}
		if err := k.Connect(ctx, port, pt); err != nil {
			return err
		}
	}
	time.Sleep(settle)
	a, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	time.Sleep(window)
	b, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"sink": sink, "cpu": (b - a) / time.Since(start).Seconds()})
}
