package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/miksilo/miksilo/internal/gst"
)

// cHeapCollector exports the C allocator's figures (GStreamer, GLib, libvpx
// and libopus allocate there; Go's heap is go_memstats_*): one mallinfo2
// per scrape. With miksilo_gstreamer_objects it tells a C leak (in_use
// grows while objects come and go) from the allocator keeping freed memory
// (free grows, in_use flat), which RSS alone cannot.
type cHeapCollector struct{ desc *prometheus.Desc }

func newCHeapCollector() cHeapCollector {
	return cHeapCollector{prometheus.NewDesc("miksilo_c_heap_bytes",
		"Bytes of the C allocator (glibc malloc, all arenas): in_use = allocated and not freed (mmapped blocks included), free = freed but kept in the arenas (memory.trim_interval returns part of it to the system), arenas = what the arenas took from the system.",
		[]string{"state"}, nil)}
}

func (c cHeapCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c cHeapCollector) Collect(ch chan<- prometheus.Metric) {
	h := gst.ReadCHeap()
	for _, v := range []struct {
		state string
		bytes int64
	}{{"in_use", h.InUse}, {"free", h.Free}, {"arenas", h.Arenas}} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v.bytes), v.state)
	}
}
