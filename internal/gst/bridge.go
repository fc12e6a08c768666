package gst

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-app-1.0 gstreamer-video-1.0
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

// miksilo_push copies n bytes into a new buffer and hands it to appsrc
// (which takes ownership). pts < 0 leaves the buffer untimestamped (appsrc
// do-timestamp stamps it with the running time).
static int miksilo_push(void *src, const void *data, gsize n, gint64 pts, gint64 duration) {
	GstBuffer *b = gst_buffer_new_allocate(NULL, n, NULL);
	if (b == NULL) return GST_FLOW_ERROR;
	gst_buffer_fill(b, 0, data, n);
	if (pts >= 0) GST_BUFFER_PTS(b) = (GstClockTime)pts;
	if (duration >= 0) GST_BUFFER_DURATION(b) = (GstClockTime)duration;
	return gst_app_src_push_buffer(GST_APP_SRC(src), b);
}

// miksilo_push_list copies n packets (packet i is data[ends[i-1]:ends[i]])
// into new buffers, stamps them all with the running time of now (as
// do-timestamp would) and hands them to appsrc as one buffer list: one
// queue operation and at most one wake-up of the streaming thread.
static int miksilo_push_list(void *src, const guint8 *data, const gint32 *ends, int n) {
	GstElement *e = GST_ELEMENT(src);
	GstClockTime ts = GST_CLOCK_TIME_NONE;
	GstClock *clock = gst_element_get_clock(e);
	if (clock != NULL) {
		GstClockTime now = gst_clock_get_time(clock), base = gst_element_get_base_time(e);
		if (now >= base) ts = now - base;
		gst_object_unref(clock);
	}
	GstBufferList *list = gst_buffer_list_new_sized(n);
	gint32 start = 0;
	for (int i = 0; i < n; i++) {
		gsize len = (gsize)(ends[i] - start);
		GstBuffer *b = gst_buffer_new_allocate(NULL, len, NULL);
		if (b == NULL) { gst_buffer_list_unref(list); return GST_FLOW_ERROR; }
		gst_buffer_fill(b, 0, data + start, len);
		GST_BUFFER_PTS(b) = ts;
		GST_BUFFER_DTS(b) = ts;
		gst_buffer_list_add(list, b);
		start = ends[i];
	}
	return gst_app_src_push_buffer_list(GST_APP_SRC(src), list);
}

static int miksilo_end_of_stream(void *src) {
	return gst_app_src_end_of_stream(GST_APP_SRC(src));
}

// The hand-off from GStreamer's threads to Go: a streaming thread (an
// appsink's new-sample callback) or a posting thread (the bus's sync
// handler) queues or flags its item under the notifier's lock and writes
// to an eventfd that Go reads through its netpoller. Go never blocks in a
// C call: a cgo call that blocks hands its P to another thread and keeps
// the runtime's sysmon polling every 20 µs (measured: ~870 extra context
// switches a second for one Composite on one CPU).
typedef struct {
	GMutex lock;
	GCond room;        // signalled when a sample leaves q or on close
	GQueue q;          // GstSample* (appsinks) or GstMessage* (bus), oldest first
	int efd;           // eventfd; written when q becomes non-empty or a message is posted
	gboolean closed;   // no more writes to efd, nothing more queued
	guint max;         // queue bound (0: none), the appsink's max-buffers
	gboolean drop;     // beyond max: drop the oldest (appsink drop=true) or wait
	guint64 dropped;
	gint refs;         // Go's and GStreamer's (the callbacks' destroy notify)
	gint writers;      // eventfd writes in flight outside the lock (atomic)
	// bus only: streaming threads whose owner element's name has prefix and
	// suffix run at that nice value (set before the pipeline starts, read
	// by the sync handler on the threads as they start)
	struct { gchar *prefix, *suffix; int nice; } nice[4];
	int nnice;
} miksilo_notifier;

static void miksilo_notifier_unref(gpointer p) {
	miksilo_notifier *n = p;
	if (!g_atomic_int_dec_and_test(&n->refs)) return;
	GstMiniObject *o;
	while ((o = g_queue_pop_head(&n->q)) != NULL) gst_mini_object_unref(o);
	for (int i = 0; i < n->nnice; i++) {
		g_free(n->nice[i].prefix);
		g_free(n->nice[i].suffix);
	}
	g_cond_clear(&n->room);
	g_mutex_clear(&n->lock);
	g_free(n);
}

static void miksilo_notify(miksilo_notifier *n) {
	uint64_t one = 1;
	// EAGAIN only when the counter would overflow: Go is woken anyway.
	if (write(n->efd, &one, sizeof one) < 0) {}
}

// miksilo_unlock_notify releases the lock and then, if wake, wakes Go.
// The write comes after the unlock: on a busy CPU the woken goroutine
// runs at once, and would otherwise find the lock still held and sleep
// on it (measured: ~50 extra context switches a second per appsink at
// 30 frames a second). wake must have been decided under the lock with
// the notifier open; close waits for writes in flight, so the eventfd is
// never written after Go closes it.
static void miksilo_unlock_notify(miksilo_notifier *n, gboolean wake) {
	if (wake) g_atomic_int_inc(&n->writers);
	g_mutex_unlock(&n->lock);
	if (wake) {
		miksilo_notify(n);
		g_atomic_int_dec_and_test(&n->writers);
	}
}

// miksilo_notifier_new: a notifier for an eventfd with a reference for Go
// and one for GStreamer.
static miksilo_notifier *miksilo_notifier_new(int efd) {
	miksilo_notifier *n = g_new0(miksilo_notifier, 1);
	g_mutex_init(&n->lock);
	g_cond_init(&n->room);
	g_queue_init(&n->q);
	n->efd = efd;
	n->refs = 2;
	return n;
}

// miksilo_queue_sample queues a sample (lock held) and returns whether Go
// must be woken (the queue was empty; *wake accumulates it). Beyond the
// appsink's max-buffers it drops the oldest (drop=true) or, on the
// streaming thread (may_wait), holds it until Go takes one, as appsink
// itself does (waking Go first if that is still pending).
static void miksilo_queue_sample(miksilo_notifier *n, GstSample *smp, gboolean may_wait, gboolean *wake) {
	while (may_wait && n->max > 0 && !n->drop && n->q.length >= n->max && !n->closed) {
		if (*wake) {
			miksilo_notify(n);
			*wake = FALSE;
		}
		g_cond_wait(&n->room, &n->lock);
	}
	if (n->closed) {
		gst_sample_unref(smp);
		*wake = FALSE;
		return;
	}
	if (n->max > 0 && n->drop && n->q.length >= n->max) {
		gst_sample_unref(g_queue_pop_head(&n->q));
		n->dropped++;
	}
	g_queue_push_tail(&n->q, smp);
	if (n->q.length == 1) *wake = TRUE;
}

static GstFlowReturn miksilo_new_sample(GstAppSink *sink, gpointer p) {
	miksilo_notifier *n = p;
	gboolean wake = FALSE;
	g_mutex_lock(&n->lock);
	// try_pull, not pull, and all there is: the sample that triggered this
	// call may already have been taken by miksilo_sink_start's drain, or a
	// backlog left by it.
	GstSample *smp;
	while ((smp = gst_app_sink_try_pull_sample(sink, 0)) != NULL) miksilo_queue_sample(n, smp, TRUE, &wake);
	miksilo_unlock_notify(n, wake);
	return GST_FLOW_OK;
}

// miksilo_sink_start installs the callbacks on an appsink and queues what
// it already holds (in order: under the lock, as the callback does).
static miksilo_notifier *miksilo_sink_start(void *sink, int efd) {
	miksilo_notifier *n = miksilo_notifier_new(efd);
	g_object_get(sink, "max-buffers", &n->max, "drop", &n->drop, NULL);
	GstAppSinkCallbacks cb = {0};
	cb.new_sample = miksilo_new_sample;
	gboolean wake = FALSE;
	g_mutex_lock(&n->lock);
	gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb, n, miksilo_notifier_unref);
	// Not waiting for room here (Go's goroutine does not run yet): the drain
	// may exceed max-buffers by what the streaming thread adds meanwhile.
	GstSample *smp;
	while ((smp = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0)) != NULL) miksilo_queue_sample(n, smp, FALSE, &wake);
	miksilo_unlock_notify(n, wake);
	return n;
}

static guint64 miksilo_sink_dropped(miksilo_notifier *n) {
	g_mutex_lock(&n->lock);
	guint64 d = n->dropped;
	g_mutex_unlock(&n->lock);
	return d;
}

static GstSample *miksilo_sink_pop(miksilo_notifier *n) {
	g_mutex_lock(&n->lock);
	GstSample *smp = g_queue_pop_head(&n->q);
	if (smp != NULL) g_cond_signal(&n->room);
	g_mutex_unlock(&n->lock);
	return smp;
}

// miksilo_notifier_close: nothing more is queued or written to the eventfd
// (which Go closes next); queued samples are freed.
static void miksilo_notifier_close(miksilo_notifier *n) {
	g_mutex_lock(&n->lock);
	n->closed = TRUE;
	g_cond_broadcast(&n->room);
	GstMiniObject *o;
	while ((o = g_queue_pop_head(&n->q)) != NULL) gst_mini_object_unref(o);
	g_mutex_unlock(&n->lock);
	// A write decided before closed was set may still be under way (one
	// system call): wait for it, then the caller may close the eventfd.
	while (g_atomic_int_get(&n->writers) > 0) g_thread_yield();
}

// MIKSILO_STREAM_TIMER_SLACK_NS is the timer slack of streaming threads:
// the kernel's default.
#define MIKSILO_STREAM_TIMER_SLACK_NS 50000UL

// miksilo_bus_sync takes every message off the bus into the notifier's
// queue. (Passing it on and only waking Go would race: the bus calls the
// sync handler before it queues the message, so Go could look before it
// is there and then sleep with it queued.) Returning GST_BUS_DROP leaves the
// bus's reference to the handler: the queue keeps it (Go's pop takes it
// over), or it is dropped here once closed. A message holds its source
// element, so a leaked reference keeps that element, and a pipeline's own
// state changes keep the pipeline, alive for good.
static GstBusSyncReply miksilo_bus_sync(GstBus *bus, GstMessage *m, gpointer p) {
	miksilo_notifier *n = p;
	gboolean wake = FALSE;
	if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_STREAM_STATUS) {
		// A streaming thread starting (the message is posted from it):
		// its clock waits pace media, so it runs with the kernel's default
		// timer slack, not the larger one the Go thread that created it
		// has (internal/sysmon).
		GstStreamStatusType t;
		GstElement *owner = NULL;
		gst_message_parse_stream_status(m, &t, &owner);
		if (t == GST_STREAM_STATUS_TYPE_ENTER) {
			prctl(PR_SET_TIMERSLACK, MIKSILO_STREAM_TIMER_SLACK_NS, 0, 0, 0);
			const gchar *name = owner != NULL ? GST_OBJECT_NAME(owner) : NULL;
			for (int i = 0; name != NULL && i < n->nnice; i++) {
				if (g_str_has_prefix(name, n->nice[i].prefix) && g_str_has_suffix(name, n->nice[i].suffix)) {
					// Linux: who 0 is the calling thread, not the process.
					setpriority(PRIO_PROCESS, 0, n->nice[i].nice);
					break;
				}
			}
		}
	}
	gboolean queued = FALSE;
	g_mutex_lock(&n->lock);
	if (!n->closed) {
		g_queue_push_tail(&n->q, m);
		queued = TRUE;
		wake = n->q.length == 1;
	}
	miksilo_unlock_notify(n, wake);
	if (!queued) gst_message_unref(m);
	return GST_BUS_DROP;
}

// miksilo_bus_nice adds a thread priority rule (before the pipeline starts).
static void miksilo_bus_nice(miksilo_notifier *n, const char *prefix, const char *suffix, int nice) {
	if (n->nnice >= (int)G_N_ELEMENTS(n->nice)) return;
	n->nice[n->nnice].prefix = g_strdup(prefix);
	n->nice[n->nnice].suffix = g_strdup(suffix);
	n->nice[n->nnice].nice = nice;
	n->nnice++;
}

static GstMessage *miksilo_bus_pop(miksilo_notifier *n) {
	g_mutex_lock(&n->lock);
	GstMessage *m = g_queue_pop_head(&n->q);
	g_mutex_unlock(&n->lock);
	return m;
}

// miksilo_bus_start installs the notifier n (from miksilo_notifier_new, its
// rules added) as the bus's sync handler.
static void miksilo_bus_start(void *bus, miksilo_notifier *n) {
	gst_bus_set_sync_handler(GST_BUS(bus), miksilo_bus_sync, n, miksilo_notifier_unref);
}

static int miksilo_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

// miksilo_sample_buffer is buffer i of a sample (its buffer, or the i-th
// of its buffer list), with its size, PTS (-1: none) and delta flag; NULL
// past the end. The buffer belongs to the sample.
static GstBuffer *miksilo_sample_buffer(GstSample *s, guint i, gsize *size, gint64 *pts, int *delta) {
	GstBuffer *b = NULL;
	GstBufferList *l = gst_sample_get_buffer_list(s);
	if (l != NULL) {
		if (i < gst_buffer_list_length(l)) b = gst_buffer_list_get(l, i);
	} else if (i == 0) {
		b = gst_sample_get_buffer(s);
	}
	if (b == NULL) return NULL;
	*size = gst_buffer_get_size(b);
	*pts = GST_BUFFER_PTS_IS_VALID(b) ? (gint64)GST_BUFFER_PTS(b) : -1;
	*delta = GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT) ? 1 : 0;
	return b;
}

static void miksilo_buffer_copy(GstBuffer *b, void *dst, gsize n) { gst_buffer_extract(b, 0, dst, n); }

static void miksilo_sample_free(GstSample *s) { gst_sample_unref(s); }

// miksilo_force_key_unit asks an encoder for a keyframe: an upstream
// force-key-unit event sent to the element travels out of its src pad's
// side, which is where encoders handle it.
static int miksilo_force_key_unit(void *enc) {
	GstEvent *ev = gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0);
	GstPad *pad = gst_element_get_static_pad(GST_ELEMENT(enc), "src");
	if (pad == NULL) {
		gst_event_unref(ev);
		return 0;
	}
	gboolean ok = gst_pad_send_event(pad, ev);
	gst_object_unref(pad);
	return ok;
}

static gint64 miksilo_running_time(void *elem) {
	GstElement *e = GST_ELEMENT(elem);
	GstClock *c = gst_element_get_clock(e);
	if (c == NULL) return -1;
	GstClockTime now = gst_clock_get_time(c);
	gst_object_unref(c);
	GstClockTime base = gst_element_get_base_time(e);
	if (now < base) return 0;
	return (gint64)(now - base);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// The per-buffer path (appsrc in, appsink out) goes through a few lines of
// our own cgo instead of go-gst's Buffer/Sample wrappers: go-gst v1.4.0's
// NewBufferFull leaks a copy per call, PushBuffer can be freed under GC and
// its finalizers add GC churn on every packet. Control (parsing, state,
// properties, bus) stays on go-gst.

// ErrFlushing is returned by Push when the appsrc no longer takes buffers
// (the pipeline is stopping or stopped).
var ErrFlushing = errors.New("gst: appsrc is flushing")

// AppSrc pushes Go bytes into an appsrc element.
type AppSrc struct {
	elem *gst.Element
	ptr  unsafe.Pointer
}

// NewAppSrc wraps an appsrc element of a pipeline.
func NewAppSrc(e *gst.Element) *AppSrc {
	return &AppSrc{elem: e, ptr: unsafe.Pointer(e.Instance())}
}

// Push copies data into a new buffer and queues it without blocking (the
// appsrc must be configured with block=false and a leaky or bounded queue).
// The buffer is untimestamped: a live appsrc with do-timestamp=true stamps
// it with the pipeline's running time on arrival.
func (s *AppSrc) Push(data []byte) error { return s.PushTimed(data, -1, -1) }

// PushTimed is Push with an explicit PTS and duration (negative: none).
func (s *AppSrc) PushTimed(data []byte, pts, duration time.Duration) error {
	if len(data) == 0 {
		return nil
	}
	ret := C.miksilo_push(s.ptr, unsafe.Pointer(&data[0]), C.gsize(len(data)), C.gint64(pts), C.gint64(duration))
	runtime.KeepAlive(data)
	runtime.KeepAlive(s.elem)
	return pushResult(ret)
}

// PushList copies the packets data[ends[i-1]:ends[i]] (ends[-1] = 0) into
// new buffers and queues them as one buffer list without blocking, each
// stamped with the pipeline's running time now (what do-timestamp gives a
// single buffer). One list per video frame instead of one push per packet
// saves a cgo call and a lock per packet and wakes the appsrc's streaming
// thread once per frame.
func (s *AppSrc) PushList(data []byte, ends []int32) error {
	if len(ends) == 0 {
		return nil
	}
	if int(ends[len(ends)-1]) > len(data) {
		return fmt.Errorf("gst: appsrc push list: end %d past %d bytes", ends[len(ends)-1], len(data))
	}
	var prev int32
	for _, e := range ends {
		if e < prev {
			return fmt.Errorf("gst: appsrc push list: ends not increasing")
		}
		prev = e
	}
	var p *C.guint8
	if len(data) > 0 {
		p = (*C.guint8)(unsafe.Pointer(&data[0]))
	}
	ret := C.miksilo_push_list(s.ptr, p, (*C.gint32)(unsafe.Pointer(&ends[0])), C.int(len(ends)))
	runtime.KeepAlive(data)
	runtime.KeepAlive(ends)
	runtime.KeepAlive(s.elem)
	return pushResult(ret)
}

func pushResult(ret C.int) error {
	switch gst.FlowReturn(ret) {
	case gst.FlowOK:
		return nil
	case gst.FlowFlushing, gst.FlowEOS:
		return ErrFlushing
	default:
		return fmt.Errorf("gst: appsrc push: %s", gst.FlowReturn(ret))
	}
}

// EndOfStream tells the appsrc no more buffers follow.
func (s *AppSrc) EndOfStream() {
	C.miksilo_end_of_stream(s.ptr)
	runtime.KeepAlive(s.elem)
}

// Sample is one buffer pulled from an appsink; Data is Go memory.
type Sample struct {
	Data  []byte
	PTS   time.Duration // -1 when the buffer has none
	Delta bool          // not a keyframe (GST_BUFFER_FLAG_DELTA_UNIT)
}

// AppSink delivers the buffers of an appsink element to Go, on a
// goroutine of its own that waits in Go's netpoller, never in C: the
// appsink's new-sample callback queues each sample on GStreamer's
// streaming thread and wakes the goroutine through an eventfd. A sample
// carrying a buffer list (appsink buffer-list=true: a payloader's packets
// of one frame) costs one wake-up, and RunAppSinkBursts hands its buffers
// over together.
type AppSink struct {
	elem *gst.Element
	n    *C.miksilo_notifier
	efd  *os.File
	done chan struct{}
	once sync.Once

	mu       sync.Mutex
	released bool   // n freed (after Stop)
	dropped  uint64 // its final count
}

// RunAppSink starts delivering the samples of an appsink (of a pipeline
// that is PLAYING or about to be) to fn, in order, on one goroutine. Each
// sample gets a fresh slice: fn may keep it. Stop ends the delivery and
// waits for it.
func RunAppSink(e *gst.Element, fn func(Sample)) (*AppSink, error) {
	return RunAppSinkBursts(e, func(ss []Sample) {
		for _, s := range ss {
			fn(s)
		}
	})
}

// RunAppSinkBursts is RunAppSink for a consumer that takes the buffers of
// one sample together: all of a buffer list (a payloader's packets of one
// frame), or the one buffer. The slice is reused once fn returns; the
// Data of its Samples are fresh and may be kept.
func RunAppSinkBursts(e *gst.Element, fn func([]Sample)) (*AppSink, error) {
	efd, err := newEventFD("appsink")
	if err != nil {
		return nil, fmt.Errorf("gst: appsink %s: %w", e.GetName(), err)
	}
	s := &AppSink{elem: e, efd: efd, done: make(chan struct{})}
	s.n = C.miksilo_sink_start(unsafe.Pointer(e.Instance()), C.int(efd.Fd()))
	runtime.KeepAlive(e)
	go s.loop(fn)
	return s, nil
}

// newEventFD opens a non-blocking eventfd as an *os.File, which Go's
// netpoller waits on.
func newEventFD(name string) (*os.File, error) {
	fd, err := C.miksilo_eventfd()
	if fd < 0 {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func (s *AppSink) loop(fn func([]Sample)) {
	defer close(s.done)
	var b [8]byte
	var burst []Sample
	for {
		for {
			smp := C.miksilo_sink_pop(s.n)
			if smp == nil {
				break
			}
			burst = deliver(smp, burst[:0], fn)
		}
		// The counter's value does not matter: the queue is drained again.
		if _, err := s.efd.Read(b[:]); err != nil {
			return // closed by Stop
		}
	}
}

// deliver copies the sample's buffers into burst, frees the sample and
// hands them to fn; it returns burst for reuse.
func deliver(smp *C.GstSample, burst []Sample, fn func([]Sample)) []Sample {
	for i := C.guint(0); ; i++ {
		var size C.gsize
		var pts C.gint64
		var delta C.int
		buf := C.miksilo_sample_buffer(smp, i, &size, &pts, &delta)
		if buf == nil {
			break
		}
		data := make([]byte, int(size))
		if size > 0 {
			C.miksilo_buffer_copy(buf, unsafe.Pointer(&data[0]), size)
		}
		burst = append(burst, Sample{Data: data, PTS: time.Duration(pts), Delta: delta != 0})
	}
	C.miksilo_sample_free(smp)
	if len(burst) > 0 {
		fn(burst)
	}
	clear(burst) // the Data slices belong to fn now
	return burst
}

// Dropped is how many samples were dropped because the goroutine fell
// more than the appsink's max-buffers behind (with drop=true).
func (s *AppSink) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return s.dropped
	}
	return uint64(C.miksilo_sink_dropped(s.n))
}

// Stop ends the delivery and waits for it. Safe to call more than once;
// the pipeline may still be running (later samples are freed unseen).
func (s *AppSink) Stop() {
	s.once.Do(func() {
		C.miksilo_notifier_close(s.n) // no more writes to the eventfd
		s.efd.Close()                 // wakes the goroutine
		<-s.done
		s.mu.Lock()
		s.dropped = uint64(C.miksilo_sink_dropped(s.n))
		s.released = true
		C.miksilo_notifier_unref(C.gpointer(unsafe.Pointer(s.n)))
		s.mu.Unlock()
		runtime.KeepAlive(s.elem)
	})
	<-s.done
}

// busNotifier takes the messages posted on a bus (its sync handler) and
// hands them to one goroutine, which waits for them in the netpoller.
type busNotifier struct {
	n   *C.miksilo_notifier
	efd *os.File
}

func startBusNotifier(bus *gst.Bus, nice []ThreadNice) (*busNotifier, error) {
	efd, err := newEventFD("bus")
	if err != nil {
		return nil, err
	}
	n := C.miksilo_notifier_new(C.int(efd.Fd()))
	for _, r := range nice {
		p, s := C.CString(r.Prefix), C.CString(r.Suffix)
		C.miksilo_bus_nice(n, p, s, C.int(r.Nice))
		C.free(unsafe.Pointer(p))
		C.free(unsafe.Pointer(s))
	}
	C.miksilo_bus_start(unsafe.Pointer(bus.Instance()), n)
	runtime.KeepAlive(bus)
	return &busNotifier{n: n, efd: efd}, nil
}

// pop returns the oldest message taken off the bus, nil if none.
func (b *busNotifier) pop() *gst.Message {
	m := C.miksilo_bus_pop(b.n)
	if m == nil {
		return nil
	}
	return gst.FromGstMessageUnsafeFull(unsafe.Pointer(m)) // takes our reference
}

// wait blocks (in the netpoller) until a message may be waiting; false
// once closed.
func (b *busNotifier) wait() bool {
	var buf [8]byte
	_, err := b.efd.Read(buf[:])
	return err == nil
}

// close stops the notifications and wakes a waiting goroutine; release
// frees the notifier once that goroutine has returned.
func (b *busNotifier) close() {
	C.miksilo_notifier_close(b.n)
	b.efd.Close()
}

func (b *busNotifier) release() { C.miksilo_notifier_unref(C.gpointer(unsafe.Pointer(b.n))) }

// ForceKeyUnit asks an encoder element for a keyframe as soon as possible.
func ForceKeyUnit(enc *gst.Element) bool {
	ok := C.miksilo_force_key_unit(unsafe.Pointer(enc.Instance())) != 0
	runtime.KeepAlive(enc)
	return ok
}

// RunningTime is the element's current running time (clock time minus base
// time), or -1 before it has a clock.
func RunningTime(e *gst.Element) time.Duration {
	t := C.miksilo_running_time(unsafe.Pointer(e.Instance()))
	runtime.KeepAlive(e)
	return time.Duration(t)
}
