package composite

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Composites' Prometheus series, shared by every Composite
// of a server. A nil *Metrics records nothing.
type Metrics struct {
	frames      prometheus.Counter
	stalls      prometheus.Counter
	restarts    prometheus.Counter
	inputErrors prometheus.Counter
	inputs      prometheus.Gauge
	idles       prometheus.Gauge
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
	}
	reg.MustRegister(m.frames, m.stalls, m.restarts, m.inputErrors, m.inputs, m.idles)
	return m
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
