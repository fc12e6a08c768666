package gst

import (
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestTrimMemoryReturnsFreedMemory: memory freed below a block still in use
// stays resident until TrimMemory.
func TestTrimMemoryReturnsFreedMemory(t *testing.T) {
	const n, size = 200_000, 256 // ~55 MB in small blocks
	TrimMemory()
	base := residentBytes()
	last := fragment(n, size)
	defer freeBlock(last)
	held := residentBytes()
	if held-base < 30<<20 {
		t.Skipf("the freed blocks are not resident (%d → %d MiB): this allocator returns them by itself", base>>20, held>>20)
	}
	if !TrimMemory() {
		t.Error("TrimMemory released nothing")
	}
	after := residentBytes()
	if held-after < 30<<20 {
		t.Fatalf("resident %d MiB before the trim, %d after (%d before the blocks): not returned", held>>20, after>>20, base>>20)
	}
}

func TestStartTrimmer(t *testing.T) {
	StartTrimmer(0, nil)() // off: nothing to stop
	var n atomic.Int64
	h := slog.New(slog.NewTextHandler(countWriter{&n}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	stop := StartTrimmer(10*time.Millisecond, h)
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if n.Load() < 2 {
		t.Fatalf("%d trims logged in 5 s at a 10 ms interval", n.Load())
	}
	after := n.Load()
	time.Sleep(50 * time.Millisecond)
	if n.Load() != after {
		t.Error("trims after stop")
	}
}

type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(p []byte) (int, error) { w.n.Add(1); return len(p), nil }
