// Package server wires Miksilo together from its configuration: the object
// store, the Kurento Protocol endpoint, metrics and health on one listener.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/miksilo/miksilo/internal/config"
	"github.com/miksilo/miksilo/internal/gst"
	"github.com/miksilo/miksilo/mediaelements"
	"github.com/miksilo/miksilo/rpc"
	"github.com/miksilo/miksilo/rpc/protocol"
	"github.com/miksilo/miksilo/transcode"
)

// Server is a running Miksilo instance.
type Server struct {
	cfg   config.Config
	log   *slog.Logger
	store *mediaelements.Store
	rpc   *rpc.Server
	http  *http.Server
	ln    net.Listener
}

// New builds the server and binds its listener (so Addr is known at once).
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	// Before GStreamer starts a thread (memory.malloc_arenas).
	if err := gst.LimitArenas(cfg.Memory.MallocArenas); err != nil {
		log.Warn("memory: cannot limit malloc arenas; RSS may grow under churn", "err", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newCHeapCollector())
	store := mediaelements.NewStore(mediaelements.Options{
		Registry: Registry(cfg, log, reg),
		Logger:   log,
		Limits: mediaelements.Limits{
			MaxObjects:           cfg.Limits.MaxObjects,
			MaxObjectsPerSession: cfg.Limits.MaxObjectsPerSession,
		},
		Metadata: cfg.Metadata,
		// A sink that cannot take its source's codec gets a GStreamer
		// transcoder (transcode package) instead of an Error.
		Transcoders: transcode.NewFactory(),
	})
	rs := rpc.New(rpc.Params{Store: store, Logger: log, Registerer: reg},
		rpc.WithGCPeriod(cfg.Sessions.GCPeriod),
		rpc.WithRequestCacheTTL(cfg.Sessions.RequestCacheTTL),
		rpc.WithMaxMessageBytes(cfg.Limits.MaxMessageBytes),
		rpc.WithEventQueue(cfg.Limits.EventQueue),
		rpc.WithAuthToken(cfg.Auth.Token),
	)
	mux := http.NewServeMux()
	mux.Handle(protocol.Path, rs)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if cfg.Debug.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		log.Warn("profiler enabled at /debug/pprof/: keep this listener on a trusted network")
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = rs.Close(context.Background())
		return nil, err
	}
	return &Server{
		cfg: cfg, log: log, store: store, rpc: rs, ln: ln,
		http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}, nil
}

// Addr is the bound listener address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Store is the object store (for tests and embedding).
func (s *Server) Store() *mediaelements.Store { return s.store }

// Run serves until ctx ends, then shuts down in two stages: stop accepting
// and drain in-flight requests for up to shutdown.timeout, then force
// sockets closed and release every pipeline.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("listening", "addr", s.Addr().String(), "ws", "ws://"+s.Addr().String()+protocol.Path)
	defer gst.StartTrimmer(s.cfg.Memory.TrimInterval, s.log)()
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	select {
	case err := <-errc:
		_ = s.rpc.Close(context.Background())
		s.store.ReleaseAll()
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.Shutdown.Timeout)
	dctx, cancel := context.WithTimeout(context.Background(), s.cfg.Shutdown.Timeout)
	defer cancel()
	herr := s.http.Shutdown(dctx)
	rerr := s.rpc.Close(dctx)
	s.store.ReleaseAll()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if herr != nil || rerr != nil {
		s.log.Warn("shutdown forced", "http", herr, "rpc", rerr)
	}
	s.log.Info("stopped")
	return nil
}
