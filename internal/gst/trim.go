package gst

/*
#include <malloc.h>
#include <stdlib.h>

// miksilo_fragment allocates n blocks of size bytes and frees all but the
// last, which keeps the freed memory from the arena's top (so free alone
// cannot return it): the pattern GStreamer's threads leave behind. Returns
// the kept block. For TrimMemory's test.
static void *miksilo_fragment(int n, size_t size) {
	void **blocks = malloc(sizeof(void *) * n);
	for (int i = 0; i < n; i++) {
		blocks[i] = malloc(size);
		((volatile char *)blocks[i])[0] = 1;
	}
	void *last = blocks[n - 1];
	for (int i = 0; i < n - 1; i++) free(blocks[i]);
	free(blocks);
	return last;
}
*/
import "C"

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// TrimMemory asks the C allocator to return free memory to the system
// (glibc's malloc_trim, which also releases free pages inside its arenas).
// GStreamer's streaming threads come and go with every input, each with a
// malloc arena of its own, and glibc keeps what they freed: a server whose
// every GStreamer object had been freed still held ~185 MB after ten minutes
// of hosts joining a Composite (docs/benchmarks.md "Soak"). It reports
// whether memory was released.
func TrimMemory() bool { return C.malloc_trim(0) == 1 }

// StartTrimmer calls TrimMemory every interval (0: never) until stop is
// called, logging the resident memory it returned at debug level.
func StartTrimmer(interval time.Duration, log *slog.Logger) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			before, t0 := residentBytes(), time.Now()
			released := TrimMemory()
			if log != nil && log.Enabled(context.Background(), slog.LevelDebug) {
				log.Debug("memory: malloc_trim", "released", released, "took", time.Since(t0),
					"rss_before_mib", before>>20, "rss_after_mib", residentBytes()>>20)
			}
		}
	}()
	return func() {
		close(done)
		<-ended
	}
}

// residentBytes is this process's resident set size (0 if unknown).
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// fragment: see miksilo_fragment; free the result with freeBlock.
func fragment(n, size int) unsafe.Pointer { return C.miksilo_fragment(C.int(n), C.size_t(size)) }

func freeBlock(p unsafe.Pointer) { C.free(p) }
