package gst

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-video-1.0
#include <gst/gst.h>
#include <gst/video/video.h>

// The probe only counts: no Go code runs on the streaming thread.
static GstPadProbeReturn miksilo_fku_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	GstEvent *ev = gst_pad_probe_info_get_event(info);
	if (ev != NULL && gst_video_event_is_force_key_unit(ev)) g_atomic_int_inc((gint *)user);
	return GST_PAD_PROBE_OK;
}

// miksilo_watch_fku counts upstream force-key-unit events passing the
// element's pad. The counter is freed with the probe (destroy notify), after
// any running callback.
static gulong miksilo_watch_fku(void *elem, const char *padname, GstPad **padOut, gint **counter) {
	GstPad *pad = gst_element_get_static_pad(GST_ELEMENT(elem), padname);
	if (pad == NULL) return 0;
	gint *c = g_new0(gint, 1);
	gulong id = gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, miksilo_fku_probe, c, g_free);
	if (id == 0) {
		gst_object_unref(pad);
		return 0;
	}
	*padOut = pad;
	*counter = c;
	return id;
}

static gint miksilo_fku_count(gint *c) { return g_atomic_int_get(c); }

static void miksilo_unwatch_fku(GstPad *pad, gulong id) {
	gst_pad_remove_probe(pad, id);
	gst_object_unref(pad);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// KeyUnitWatch counts the upstream force-key-unit events (a depayloader or
// decoder asking for a keyframe) that pass a pad, without running Go code
// on the streaming thread: read Count from a goroutine of your own.
type KeyUnitWatch struct {
	mu      sync.Mutex
	elem    *gst.Element
	pad     *C.GstPad
	id      C.gulong
	counter *C.gint
}

// WatchKeyUnitRequests watches the named static pad of an element (e.g. an
// appsrc's "src": every request from downstream reaches it).
func WatchKeyUnitRequests(e *gst.Element, pad string) (*KeyUnitWatch, error) {
	cpad := C.CString(pad)
	defer C.free(unsafe.Pointer(cpad))
	w := &KeyUnitWatch{elem: e}
	w.id = C.miksilo_watch_fku(unsafe.Pointer(e.Instance()), cpad, &w.pad, &w.counter)
	runtime.KeepAlive(e)
	if w.id == 0 {
		return nil, fmt.Errorf("gst: %s has no pad %q to watch", e.GetName(), pad)
	}
	return w, nil
}

// Count is the number of requests seen so far (0 after Close).
func (w *KeyUnitWatch) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pad == nil {
		return 0
	}
	return int(C.miksilo_fku_count(w.counter))
}

// Close removes the probe. Safe to call more than once.
func (w *KeyUnitWatch) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pad == nil {
		return
	}
	C.miksilo_unwatch_fku(w.pad, w.id)
	w.pad, w.counter = nil, nil
	runtime.KeepAlive(w.elem)
}
