package rpc

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/miksilo/miksilo/rpc/protocol"
)

type metrics struct {
	requests          *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	connections       prometheus.Gauge
	eventsSent        prometheus.Counter
	eventsDropped     *prometheus.CounterVec
	sessionsCollected prometheus.Counter
	cacheHits         prometheus.Counter
	authFailures      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "miksilo_rpc_requests_total",
			Help: "Kurento Protocol requests by method and result code (0 = success).",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "miksilo_rpc_request_duration_seconds",
			Help:    "Time from a request's dispatch to its response, by method.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18),
		}, []string{"method"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "miksilo_websocket_connections",
			Help: "Open Kurento Protocol WebSocket connections.",
		}),
		eventsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miksilo_events_sent_total",
			Help: "onEvent notifications written to sockets.",
		}),
		eventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "miksilo_events_dropped_total",
			Help: "Events not delivered, by reason (no_socket, queue_full, write_failed).",
		}, []string{"reason"}),
		sessionsCollected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miksilo_sessions_collected_total",
			Help: "Sessions dropped by the garbage collector after their socket was gone for the GC period.",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miksilo_rpc_duplicate_requests_total",
			Help: "Requests answered from the duplicate-request cache.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miksilo_websocket_auth_failures_total",
			Help: "WebSocket upgrades refused for a missing or wrong access token.",
		}),
	}
	if reg == nil {
		return m
	}
	sessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "miksilo_sessions",
		Help: "Sessions known to the server.",
	}, func() float64 { return float64(len(s.store.Sessions())) })
	reg.MustRegister(m.requests, m.latency, m.connections, m.eventsSent, m.eventsDropped,
		m.sessionsCollected, m.cacheHits, m.authFailures, sessions, &objectsCollector{s: s})
	return m
}

// observe records one request; d < 0 skips the latency histogram (used for
// operations inside a transaction, timed as part of the transaction).
func (m *metrics) observe(method string, code int, d time.Duration) {
	if !slices.Contains(protocol.Methods, method) {
		method = "unknown"
	}
	m.requests.WithLabelValues(method, codeLabel(code)).Inc()
	if d >= 0 {
		m.latency.WithLabelValues(method).Observe(d.Seconds())
	}
}

// objectsCollector reports live objects by type at scrape time.
type objectsCollector struct{ s *Server }

var objectsDesc = prometheus.NewDesc("miksilo_objects", "Live media objects by type.", []string{"type"}, nil)

func (c *objectsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- objectsDesc }

func (c *objectsCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.s.store.CountByType()
	for _, cls := range c.s.store.Registry().Classes() {
		if cls.Abstract {
			continue
		}
		ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(counts[cls.Name]), cls.Name)
	}
}
