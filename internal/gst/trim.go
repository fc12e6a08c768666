package gst

/*
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// miksilo_arenas counts glibc's malloc arenas (the <heap> entries of
// malloc_info).
static int miksilo_arenas(void) {
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL) return -1;
	malloc_info(0, f);
	fclose(f);
	int n = 0;
	for (char *p = buf; (p = strstr(p, "<heap nr=")) != NULL; p++) n++;
	free(buf);
	return n;
}

// miksilo_alloc_threads starts n threads that each allocate, all alive at
// once (so that none inherits another's arena as it exits), then joins them.
static pthread_barrier_t miksilo_barrier;

static void *miksilo_allocator(void *arg) {
	void *p = malloc(1000);
	((volatile char *)p)[0] = 1;
	pthread_barrier_wait(&miksilo_barrier);
	free(p);
	return NULL;
}

static int miksilo_alloc_threads(int n) {
	pthread_t t[64];
	if (n > 64) n = 64;
	pthread_barrier_init(&miksilo_barrier, NULL, n);
	int started = 0;
	for (int i = 0; i < n; i++) {
		if (pthread_create(&t[i], NULL, miksilo_allocator, NULL) != 0) break;
		started++;
	}
	if (started != n) {
		// Cannot happen in practice; the started ones would wait forever.
		return -1;
	}
	for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
	pthread_barrier_destroy(&miksilo_barrier);
	return n;
}

// miksilo_hold allocates n blocks of size bytes and keeps them (for the
// tests of ReadCHeap and, through miksilo_fragment, TrimMemory);
// miksilo_release frees them.
static void **miksilo_hold(int n, size_t size) {
	void **blocks = malloc(sizeof(void *) * n);
	for (int i = 0; i < n; i++) {
		blocks[i] = malloc(size);
		((volatile char *)blocks[i])[0] = 1;
	}
	return blocks;
}

static void miksilo_release(void **blocks, int n) {
	for (int i = 0; i < n; i++) free(blocks[i]);
	free(blocks);
}

// miksilo_fragment allocates n blocks of size bytes and frees all but the
// last, which keeps the freed memory from the arena's top (so free alone
// cannot return it): the pattern GStreamer's threads leave behind. Returns
// the kept block. For TrimMemory's test.
static void *miksilo_fragment(int n, size_t size) {
	void **blocks = miksilo_hold(n, size);
	void *last = blocks[n - 1];
	for (int i = 0; i < n - 1; i++) free(blocks[i]);
	free(blocks);
	return last;
}

// miksilo_heap sums glibc's arenas (mallinfo2 walks every one of them).
static void miksilo_heap(size_t *inuse, size_t *mmapped, size_t *freeb, size_t *system) {
	struct mallinfo2 m = mallinfo2();
	*inuse = m.uordblks;
	*mmapped = m.hblkhd;
	*freeb = m.fordblks;
	*system = m.arena;
}
*/
import "C"

import (
	"context"
	"fmt"
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

// LimitArenas caps the C allocator's arenas (glibc's M_ARENA_MAX; n <= 0:
// glibc's default, 8 per CPU) for the threads that allocate from now on: call
// it before GStreamer starts threads. glibc gives each new thread an arena of
// its own up to the cap; GStreamer's streaming threads come and go with every
// Composite input, each leaving its arena fragmented, so the server's RSS
// kept growing under churn (docs/benchmarks.md "Soak"). With two arenas the
// threads share them; at a few thousand allocations a second the arenas'
// locks are not contended (no CPU cost measurable in the Composite
// benchmark). The server also sets MALLOC_ARENA_MAX at its start-up
// re-execution, which covers the arenas the Go runtime's first threads take.
func LimitArenas(n int) error {
	if n <= 0 {
		return nil
	}
	if C.mallopt(C.M_ARENA_MAX, C.int(n)) != 1 {
		return fmt.Errorf("gst: mallopt(M_ARENA_MAX, %d) refused", n)
	}
	return nil
}

// arenas is the number of malloc arenas (-1 if unknown); allocThreads starts
// n threads that allocate at once and waits for them (LimitArenas's test).
func arenas() int { return int(C.miksilo_arenas()) }

func allocThreads(n int) int { return int(C.miksilo_alloc_threads(C.int(n))) }

// CHeap is what the C allocator (glibc malloc, which GStreamer, GLib,
// libvpx and libopus use) holds, summed over its arenas.
type CHeap struct {
	InUse   int64 // allocated and not yet freed, in arenas and mmapped
	Mmapped int64 // of InUse: large blocks mapped on their own
	Free    int64 // freed but kept in the arenas (TrimMemory returns part)
	Arenas  int64 // memory the arenas took from the system (InUse − Mmapped + Free)
}

// ReadCHeap reads glibc's figures (mallinfo2). It locks each arena in turn
// and walks its free lists: cheap at a scrape interval, not per packet.
// Growth of InUse while objects come and go is a leak in C; growth of Free
// with a flat InUse is the allocator keeping freed memory.
func ReadCHeap() CHeap {
	var inuse, mm, free, sys C.size_t
	C.miksilo_heap(&inuse, &mm, &free, &sys)
	return CHeap{InUse: int64(inuse) + int64(mm), Mmapped: int64(mm), Free: int64(free), Arenas: int64(sys)}
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

// hold and release: see miksilo_hold.
func hold(n, size int) unsafe.Pointer {
	return unsafe.Pointer(C.miksilo_hold(C.int(n), C.size_t(size)))
}

func release(p unsafe.Pointer, n int) { C.miksilo_release((*unsafe.Pointer)(p), C.int(n)) }
