package gst

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>

#define MIKSILO_KINDS 2
static gint miksilo_alive[MIKSILO_KINDS];
static GMutex miksilo_alive_mu;
static GHashTable *miksilo_alive_set; // object → kind, under miksilo_alive_mu

// Runs in the object's disposal, on whichever thread drops the last
// reference: no Go code. The mutex makes miksilo_alive_list wait for it.
static void miksilo_gone(gpointer kind, GObject *where_the_object_was) {
	g_mutex_lock(&miksilo_alive_mu);
	g_hash_table_remove(miksilo_alive_set, where_the_object_was);
	g_mutex_unlock(&miksilo_alive_mu);
	g_atomic_int_add(&miksilo_alive[GPOINTER_TO_INT(kind)], -1);
}

static void miksilo_track(gpointer obj, int kind) {
	g_mutex_lock(&miksilo_alive_mu);
	if (miksilo_alive_set == NULL) miksilo_alive_set = g_hash_table_new(NULL, NULL);
	g_hash_table_insert(miksilo_alive_set, obj, GINT_TO_POINTER(kind));
	g_mutex_unlock(&miksilo_alive_mu);
	g_atomic_int_inc(&miksilo_alive[kind]);
	g_object_weak_ref(G_OBJECT(obj), miksilo_gone, GINT_TO_POINTER(kind));
}

static int miksilo_alive_count(int kind) { return g_atomic_int_get(&miksilo_alive[kind]); }

// "kind\tname\trefcount\n" per tracked object not yet disposed (g_free it).
static gchar *miksilo_alive_list(void) {
	GString *out = g_string_new("");
	g_mutex_lock(&miksilo_alive_mu);
	if (miksilo_alive_set != NULL) {
		GHashTableIter it;
		gpointer obj, kind;
		g_hash_table_iter_init(&it, miksilo_alive_set);
		while (g_hash_table_iter_next(&it, &obj, &kind)) {
			const gchar *name = GST_OBJECT_NAME(obj);
			g_string_append_printf(out, "%d\t%s\t%u\n", GPOINTER_TO_INT(kind), name != NULL ? name : "",
				g_atomic_int_get(&G_OBJECT(obj)->ref_count));
		}
	}
	g_mutex_unlock(&miksilo_alive_mu);
	return g_string_free(out, FALSE);
}
*/
import "C"

import (
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// Kind is what Alive counts: pipelines, and the elements their owners add
// to them.
type Kind int

const (
	KindPipeline Kind = iota // every pipeline Parse made
	KindElement              // a bin or element an owner handed to Track (what it adds to a pipeline)
)

func (k Kind) String() string {
	if k == KindPipeline {
		return "pipeline"
	}
	return "element"
}

// Kinds are the kinds Alive counts.
var Kinds = []Kind{KindPipeline, KindElement}

// Track counts obj as alive (kind) until GStreamer finalises it: a weak
// reference, so tracking changes nothing of its life. An object that is
// never finalised after its owner let go of it is a leak, and Alive shows it.
func Track(obj *gst.Object, kind Kind) {
	C.miksilo_track(C.gpointer(unsafe.Pointer(obj.Instance())), C.int(kind))
	runtime.KeepAlive(obj)
}

// Alive is how many tracked objects of kind GStreamer has not finalised.
// Finalisation follows the last reference, and go-gst's wrappers drop theirs
// in Go finalizers: after a release the count falls once the garbage
// collector has run (a few cycles), not at once.
func Alive(kind Kind) int { return int(C.miksilo_alive_count(C.int(kind))) }

// AliveObject is a tracked object GStreamer has not finalised: its kind,
// name and reference count (each go-gst wrapper not yet collected holds one).
type AliveObject struct {
	Kind Kind
	Name string
	Refs int
}

// AliveObjects lists the tracked objects not yet finalised, for a leak's
// diagnosis (which pipeline or branch, and how many references hold it).
func AliveObjects() []AliveObject {
	cs := C.miksilo_alive_list()
	defer C.g_free(C.gpointer(unsafe.Pointer(cs)))
	var out []AliveObject
	for _, line := range strings.Split(C.GoString(cs), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		k, _ := strconv.Atoi(f[0])
		r, _ := strconv.Atoi(f[2])
		out = append(out, AliveObject{Kind: Kind(k), Name: f[1], Refs: r})
	}
	return out
}
