package gst

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-app-1.0 gstreamer-video-1.0
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

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

static int miksilo_end_of_stream(void *src) {
	return gst_app_src_end_of_stream(GST_APP_SRC(src));
}

// miksilo_pull waits up to timeout ns for a sample. It returns the sample
// (the caller copies then frees it with miksilo_sample_free), or NULL on
// timeout or end of stream (*eos set).
static GstSample *miksilo_pull(void *sink, gint64 timeout, gsize *size, gint64 *pts, int *eos, int *delta) {
	GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), (GstClockTime)timeout);
	*eos = 0;
	if (s == NULL) {
		*eos = gst_app_sink_is_eos(GST_APP_SINK(sink));
		return NULL;
	}
	GstBuffer *b = gst_sample_get_buffer(s);
	if (b == NULL) {
		*size = 0;
		*pts = -1;
		*delta = 0;
		return s;
	}
	*size = gst_buffer_get_size(b);
	*pts = GST_BUFFER_PTS_IS_VALID(b) ? (gint64)GST_BUFFER_PTS(b) : -1;
	*delta = GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT) ? 1 : 0;
	return s;
}

static void miksilo_sample_copy(GstSample *s, void *dst, gsize n) {
	GstBuffer *b = gst_sample_get_buffer(s);
	if (b != NULL) gst_buffer_extract(b, 0, dst, n);
}

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

// AppSink pulls buffers out of an appsink element on a goroutine of its own.
type AppSink struct {
	elem *gst.Element
	ptr  unsafe.Pointer
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// RunAppSink starts pulling from an appsink of a pipeline that is already
// PLAYING (gst_app_sink_is_eos is true before the sink starts) and calls fn
// with each sample, in order, on one goroutine. fn must not keep Data after
// it returns unless it owns it: each sample gets a fresh slice, so keeping
// it is allowed. Stop ends the loop and waits for it.
func RunAppSink(e *gst.Element, fn func(Sample)) *AppSink {
	s := &AppSink{elem: e, ptr: unsafe.Pointer(e.Instance()), stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop(fn)
	return s
}

const pullTimeout = 50 * time.Millisecond

func (s *AppSink) loop(fn func(Sample)) {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		var size C.gsize
		var pts C.gint64
		var eos, delta C.int
		smp := C.miksilo_pull(s.ptr, C.gint64(pullTimeout), &size, &pts, &eos, &delta)
		if smp == nil {
			if eos != 0 {
				// Stopped or finished: nothing more will come until a restart;
				// wait for Stop instead of spinning.
				select {
				case <-s.stop:
					return
				case <-time.After(pullTimeout):
				}
			}
			continue
		}
		data := make([]byte, int(size))
		if size > 0 {
			C.miksilo_sample_copy(smp, unsafe.Pointer(&data[0]), size)
		}
		C.miksilo_sample_free(smp)
		fn(Sample{Data: data, PTS: time.Duration(pts), Delta: delta != 0})
	}
}

// Stop ends the pull loop and waits for it. Safe to call more than once.
func (s *AppSink) Stop() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	runtime.KeepAlive(s.elem)
}

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
