// Package rpc serves the Kurento Protocol (JSON-RPC 2.0 over WebSocket) on
// top of the object store: sessions and their binding to sockets, the
// duplicate-request cache, transactions, event delivery and session GC.
package rpc

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/miksilo/miksilo/mediaelements"
)

// Params are the server's required dependencies.
type Params struct {
	Store      *mediaelements.Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
}

// Option tunes the server.
type Option func(*settings)

type settings struct {
	gcPeriod        time.Duration
	cacheTTL        time.Duration
	maxMessageBytes int64
	eventQueue      int
	authToken       string
	writeTimeout    time.Duration
}

// WithGCPeriod sets how long a session without a socket survives.
func WithGCPeriod(d time.Duration) Option { return func(s *settings) { s.gcPeriod = d } }

// WithRequestCacheTTL sets the duplicate-request cache lifetime (0 disables it).
func WithRequestCacheTTL(d time.Duration) Option { return func(s *settings) { s.cacheTTL = d } }

// WithMaxMessageBytes sets the largest WebSocket message accepted.
func WithMaxMessageBytes(n int64) Option { return func(s *settings) { s.maxMessageBytes = n } }

// WithEventQueue sets how many events may wait per socket before new ones are dropped.
func WithEventQueue(n int) Option { return func(s *settings) { s.eventQueue = n } }

// WithAuthToken requires a shared secret on the WebSocket upgrade.
func WithAuthToken(token string) Option { return func(s *settings) { s.authToken = token } }

// Server is the Kurento Protocol endpoint. It is an http.Handler for the
// WebSocket path.
type Server struct {
	store    *mediaelements.Store
	log      *slog.Logger
	set      settings
	metrics  *metrics
	serverID string
	upgrader websocket.Upgrader
	cache    *requestCache

	mu       sync.Mutex
	bindings map[string]*binding // session id → socket binding
	conns    map[*conn]struct{}
	closed   bool

	wg     sync.WaitGroup // connections and the janitor
	ctx    context.Context
	cancel context.CancelFunc
}

// binding tracks which socket a session is bound to now, or since when it
// has had none.
type binding struct {
	conn   *conn
	lostAt time.Time
}

// New creates the server and starts its janitor (session GC, cache expiry).
func New(p Params, opts ...Option) *Server {
	set := settings{gcPeriod: 240 * time.Second, cacheTTL: 20 * time.Second, maxMessageBytes: 1 << 20,
		eventQueue: 4096, writeTimeout: 10 * time.Second}
	for _, o := range opts {
		o(&set)
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		store: p.Store, log: p.Logger, set: set, serverID: uuid.NewString(),
		cache:    newRequestCache(set.cacheTTL),
		bindings: map[string]*binding{}, conns: map[*conn]struct{}{},
		ctx: ctx, cancel: cancel,
		upgrader: websocket.Upgrader{
			// The official Node client sends "Origin: host:port" (no
			// scheme) and browsers send their page's origin: any Origin
			// must be accepted (PROTOCOL.md §1).
			CheckOrigin:     func(*http.Request) bool { return true },
			ReadBufferSize:  8192,
			WriteBufferSize: 8192,
		},
	}
	s.metrics = newMetrics(p.Registerer, s)
	p.Store.SetEventSink(s)
	s.wg.Add(1)
	go s.janitor()
	return s
}

// ServeHTTP upgrades a request on the Kurento path to a protocol connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.set.authToken != "" && !s.authorized(r) {
		s.log.Warn("websocket refused: bad or missing access token", "remote", r.RemoteAddr)
		s.metrics.authFailures.Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="miksilo"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		_ = ws.Close()
		return
	}
	c := newConn(s, ws, r.RemoteAddr)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.connections.Inc()
	go func() {
		defer s.wg.Done()
		c.run()
		s.metrics.connections.Dec()
		s.dropConn(c)
	}()
}

func (s *Server) authorized(r *http.Request) bool {
	tok := r.URL.Query().Get("access_token")
	if h := r.Header.Get("Authorization"); tok == "" && strings.HasPrefix(h, "Bearer ") {
		tok = strings.TrimPrefix(h, "Bearer ")
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.set.authToken)) == 1
}

// bind makes sessionID's events go to c (KMS storeConnection).
func (s *Server) bind(sessionID string, c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := c.session(); prev != "" && prev != sessionID {
		if b, ok := s.bindings[prev]; ok && b.conn == c {
			b.conn, b.lostAt = nil, time.Now()
		}
	}
	b, ok := s.bindings[sessionID]
	if !ok {
		b = &binding{}
		s.bindings[sessionID] = b
	}
	b.conn, b.lostAt = c, time.Time{}
	c.setSession(sessionID)
}

// unbind ends a session's binding (closeSession): the socket has no session
// afterwards and the session's events have nowhere to go.
func (s *Server) unbind(sessionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.bindings[sessionID]; ok {
		if b.conn != nil && b.conn.session() == sessionID {
			b.conn.setSession("")
		}
		delete(s.bindings, sessionID)
	}
}

// dropConn forgets a closed socket; its session starts its GC countdown.
func (s *Server) dropConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if sid := c.session(); sid != "" {
		if b, ok := s.bindings[sid]; ok && b.conn == c {
			b.conn, b.lostAt = nil, time.Now()
		}
	}
}

// Deliver implements mediaelements.EventSink: queue an event for the socket
// the session is bound to now; dropped if none.
func (s *Server) Deliver(sessionID string, params []byte) {
	s.mu.Lock()
	var c *conn
	if b, ok := s.bindings[sessionID]; ok {
		c = b.conn
	}
	s.mu.Unlock()
	if c == nil {
		s.metrics.eventsDropped.WithLabelValues("no_socket").Inc()
		return
	}
	c.enqueueEvent(params)
}

func (s *Server) janitor() {
	defer s.wg.Done()
	tick := min(s.set.gcPeriod/4, time.Second)
	if s.set.cacheTTL > 0 {
		tick = min(tick, max(s.set.cacheTTL/2, 10*time.Millisecond))
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.cache.expire(now)
			s.collectSessions(now)
		}
	}
}

// collectSessions drops sessions whose socket has been gone for the GC period.
func (s *Server) collectSessions(now time.Time) {
	var expired []string
	s.mu.Lock()
	for _, sid := range s.store.Sessions() {
		b, ok := s.bindings[sid]
		if !ok {
			b = &binding{lostAt: now}
			s.bindings[sid] = b
		}
		if b.conn == nil && now.Sub(b.lostAt) >= s.set.gcPeriod {
			expired = append(expired, sid)
			delete(s.bindings, sid)
		}
	}
	for sid, b := range s.bindings {
		if b.conn == nil && now.Sub(b.lostAt) >= s.set.gcPeriod {
			delete(s.bindings, sid)
		}
	}
	s.mu.Unlock()
	for _, sid := range expired {
		s.metrics.sessionsCollected.Inc()
		s.cache.dropSession(sid)
		s.store.DropSession(sid)
	}
}

// Close drains: sockets get a going-away close, in-flight requests finish
// (up to ctx's deadline), then everything stops.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.forceClose()
		}
		<-done
		return ctx.Err()
	}
}
