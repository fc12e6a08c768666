package rpc

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/miksilo/miksilo/rpc/protocol"
)

// conn is one WebSocket. jsonrpc2 calls the handler inline on its read
// loop; the handler only queues the request, and one worker per socket
// answers requests in arrival order (kurento-client relies on order, e.g.
// addIceCandidate after processOffer). Blocking methods run on their own
// goroutine so they do not hold up the queue. Events go out through their
// own queue and writer so a slow client never blocks an emitter.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	stream *wsStream
	jc     *jsonrpc2.Conn
	log    *slog.Logger

	reqs    chan *jsonrpc2.Request
	events  chan []byte
	stop    chan struct{} // closed when the socket is gone
	workers sync.WaitGroup

	sid atomic.Pointer[string]

	mu       sync.Mutex
	inflight int
	draining bool
	idle     chan struct{} // closed when draining and nothing is in flight
	dropWarn time.Time
}

func newConn(s *Server, ws *websocket.Conn, remote string) *conn {
	c := &conn{
		srv: s, ws: ws,
		log:    s.log.With("remote", remote),
		reqs:   make(chan *jsonrpc2.Request, 64),
		events: make(chan []byte, s.set.eventQueue),
		stop:   make(chan struct{}),
		idle:   make(chan struct{}),
	}
	ws.SetReadLimit(s.set.maxMessageBytes)
	c.stream = &wsStream{ws: ws, writeTimeout: s.set.writeTimeout, onBadFrame: func(code int) {
		s.metrics.requests.WithLabelValues("invalid", codeLabel(code)).Inc()
	}}
	return c
}

func (c *conn) session() string {
	if p := c.sid.Load(); p != nil {
		return *p
	}
	return ""
}

func (c *conn) setSession(id string) { c.sid.Store(&id) }

// run serves the socket until it closes.
func (c *conn) run() {
	c.log.Debug("websocket connected")
	c.jc = jsonrpc2.NewConn(c.srv.ctx, c.stream, handlerFunc(c.enqueue),
		jsonrpc2.SetLogger(slogPrintf{c.log}))
	c.workers.Add(2)
	go c.serveRequests()
	go c.writeEvents()
	<-c.jc.DisconnectNotify()
	close(c.stop)
	c.workers.Wait()
	c.log.Debug("websocket closed", "session", c.session())
}

// enqueue runs on jsonrpc2's read loop: it must not do the work itself.
func (c *conn) enqueue(_ context.Context, _ *jsonrpc2.Conn, req *jsonrpc2.Request) {
	c.mu.Lock()
	if c.draining {
		c.mu.Unlock()
		c.reply(req, outcome{err: &jsonrpc2.Error{Code: protocol.CodeServerError, Message: "Server is shutting down"}})
		return
	}
	c.inflight++
	c.mu.Unlock()
	select {
	case c.reqs <- req:
	case <-c.stop:
		c.done()
	}
}

func (c *conn) serveRequests() {
	defer c.workers.Done()
	for {
		select {
		case req := <-c.reqs:
			c.srv.handle(c, req)
		case <-c.stop:
			return
		}
	}
}

// goAsync runs a blocking method off the request queue.
func (c *conn) goAsync(fn func()) {
	c.workers.Add(1)
	go func() {
		defer c.workers.Done()
		fn()
	}()
}

// done marks one request as answered.
func (c *conn) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	if c.draining && c.inflight == 0 {
		closeOnce(c.idle)
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (c *conn) writeEvents() {
	defer c.workers.Done()
	for {
		select {
		case ev := <-c.events:
			if err := c.jc.Notify(c.srv.ctx, protocol.MethodOnEvent, json.RawMessage(ev)); err != nil {
				c.srv.metrics.eventsDropped.WithLabelValues("write_failed").Inc()
				continue
			}
			c.srv.metrics.eventsSent.Inc()
		case <-c.stop:
			return
		}
	}
}

func (c *conn) enqueueEvent(params []byte) {
	select {
	case c.events <- params:
	default:
		c.srv.metrics.eventsDropped.WithLabelValues("queue_full").Inc()
		c.mu.Lock()
		warn := time.Since(c.dropWarn) > 10*time.Second
		if warn {
			c.dropWarn = time.Now()
		}
		c.mu.Unlock()
		if warn {
			c.log.Warn("event queue full: dropping events for a slow client", "session", c.session(), "queue", cap(c.events))
		}
	}
}

func (c *conn) reply(req *jsonrpc2.Request, out outcome) { c.writeResponse(req, out.encode(req.ID)) }

// writeResponse writes an encoded response frame; it shares the stream's
// write lock with jsonrpc2's own writes (events).
func (c *conn) writeResponse(req *jsonrpc2.Request, frame []byte) {
	if err := c.stream.writeRaw(frame); err != nil {
		c.log.Debug("response not sent", "method", req.Method, "err", err)
	}
}

// shutdown answers what is in flight, then closes the socket with 1001.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.draining = true
	if c.inflight == 0 {
		closeOnce(c.idle)
	}
	c.mu.Unlock()
	go func() {
		select {
		case <-c.idle:
		case <-c.stop:
			return
		}
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		select {
		case <-c.stop:
		case <-time.After(2 * time.Second):
			c.forceClose()
		}
	}()
}

func (c *conn) forceClose() {
	if c.jc != nil {
		_ = c.jc.Close()
	}
}

// slogPrintf adapts jsonrpc2's Printf logger to slog at debug level.
type slogPrintf struct{ l *slog.Logger }

func (s slogPrintf) Printf(format string, v ...any) {
	if s.l.Enabled(context.Background(), slog.LevelDebug) {
		s.l.Debug("jsonrpc2", "detail", sprintf(format, v...))
	}
}

// handlerFunc adapts a function to jsonrpc2.Handler.
type handlerFunc func(context.Context, *jsonrpc2.Conn, *jsonrpc2.Request)

func (f handlerFunc) Handle(ctx context.Context, c *jsonrpc2.Conn, r *jsonrpc2.Request) { f(ctx, c, r) }
