package gst

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-base-1.0
#include <gst/gst.h>
#include <gst/base/gstaggregator.h>

extern void miksiloSignalRun(guintptr handle);
extern void miksiloSignalDone(guintptr handle);

static void miksilo_samples_selected(GstAggregator *agg, GstSegment *segment, guint64 pts, guint64 dts,
		guint64 duration, GstStructure *info, gpointer handle) {
	miksiloSignalRun((guintptr)handle);
}

static void miksilo_signal_done(gpointer handle, GClosure *closure) { miksiloSignalDone((guintptr)handle); }

static gulong miksilo_connect_samples_selected(gpointer agg, guintptr handle) {
	return g_signal_connect_data(agg, "samples-selected", G_CALLBACK(miksilo_samples_selected),
		(gpointer)handle, miksilo_signal_done, 0);
}

static void miksilo_disconnect(gpointer obj, gulong id) { g_signal_handler_disconnect(obj, id); }
*/
import "C"

import (
	"errors"
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// Signal is a Go function connected to a GObject signal by Connect…;
// Disconnect it when done. (go-glib's Connect never frees its closure, even
// after a disconnect — it keeps a reference of its own — so whatever the
// function refers to, the element it was connected to included, would stay
// in memory for good.)
type Signal struct {
	mu  sync.Mutex
	obj *gst.Element
	id  C.gulong
}

// ConnectSamplesSelected runs fn on an aggregator's samples-selected signal
// (its streaming thread, after a frame's inputs are chosen and before they
// are processed). fn is released (and with it what it refers to) once the
// signal is disconnected and any call under way has returned.
func ConnectSamplesSelected(agg *gst.Element, fn func()) (*Signal, error) {
	h := cgo.NewHandle(fn)
	id := C.miksilo_connect_samples_selected(C.gpointer(unsafe.Pointer(agg.Instance())), C.guintptr(h))
	runtime.KeepAlive(agg)
	if id == 0 {
		h.Delete() // GLib did not take it: no destroy notify will come
		return nil, errors.New("gst: no samples-selected signal on " + agg.GetName())
	}
	return &Signal{obj: agg, id: id}, nil
}

// Disconnect stops further calls. Safe to call more than once.
func (s *Signal) Disconnect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id == 0 {
		return
	}
	C.miksilo_disconnect(C.gpointer(unsafe.Pointer(s.obj.Instance())), s.id)
	runtime.KeepAlive(s.obj)
	s.id = 0
	s.obj = nil
}
