package composite

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/miksilo/miksilo/internal/gst"
)

// Metrics are the Composites' Prometheus series, shared by every Composite
// of a server. A nil *Metrics records nothing.
type Metrics struct {
	frames      prometheus.Counter
	stalls      prometheus.Counter
	restarts    prometheus.Counter
	inputErrors prometheus.Counter
	inputs      prometheus.Gauge
	idles       prometheus.Gauge
	intervals   prometheus.Histogram
}

// NewMetrics creates the series and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miksilo_composite_frames_total", Help: "Video frames encoded by Composites (each sent out of every port).",
		}),
		stalls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miksilo_composite_stalls_total", Help: "Times a Composite's output went more than 1 s without a frame.",
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miksilo_composite_restarts_total", Help: "Video pipelines rebuilt after a stall.",
		}),
		inputErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miksilo_composite_input_errors_total", Help: "Composite inputs restarted after a decoding error.",
		}),
		inputs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "miksilo_composite_inputs", Help: "Inputs being decoded by Composites (ports whose media flows).",
		}),
		idles: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "miksilo_composite_idle", Help: "Composites encoding nothing because no port's output has a sink.",
		}),
		intervals: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "miksilo_composite_frame_interval_seconds",
			Help:    "Time between two consecutive output frames of a Composite, taken as they leave the encoder (33 ms at 30 fps; above 0.1 s a viewer sees a freeze).",
			Buckets: []float64{0.02, 0.04, 0.05, 0.067, 0.1, 0.15, 0.25, 0.5, 1, 2},
		}),
	}
	reg.MustRegister(m.frames, m.stalls, m.restarts, m.inputErrors, m.inputs, m.idles, m.intervals)
	for _, k := range gst.Kinds {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "miksilo_gstreamer_objects",
			Help:        "GStreamer pipelines (Composites' video and audio, transcoders) and the elements added to them that are not yet freed: it follows what is in use, a little behind (the garbage collector frees go-gst's wrappers); growth while objects are released is a leak.",
			ConstLabels: prometheus.Labels{"kind": k.String()},
		}, func() float64 { return float64(gst.Alive(k)) }))
	}
	return m
}

// frameInterval records the time since the previous output frame.
func (m *Metrics) frameInterval(seconds float64) {
	if m != nil {
		m.intervals.Observe(seconds)
	}
}

func (m *Metrics) frame() {
	if m != nil {
		m.frames.Inc()
	}
}

func (m *Metrics) stall() {
	if m != nil {
		m.stalls.Inc()
	}
}

func (m *Metrics) restart() {
	if m != nil {
		m.restarts.Inc()
	}
}

func (m *Metrics) inputError() {
	if m != nil {
		m.inputErrors.Inc()
	}
}

func (m *Metrics) inputUp(n float64) {
	if m != nil {
		m.inputs.Add(n)
	}
}

func (m *Metrics) idle(n float64) {
	if m != nil {
		m.idles.Add(n)
	}
}
