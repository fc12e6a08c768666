package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/miksilo/miksilo/bench/internal/procstat"
)

// drainTimeout bounds how long the open loop waits for cycles in flight when the schedule ends.
const drainTimeout = 30 * time.Second

// client is one connection. In the closed loop one goroutine owns everything; in the open loop the
// sender goroutine owns nextID, buf and active, the reader goroutine owns rd and st, and mu guards
// inflight.
type client struct {
	ws      *websocket.Conn
	rd      msgReader
	strict  bool
	errs    *errorLog
	session []byte // raw JSON string; fixed after the handshake
	nextID  uint64
	buf     []byte
	st      stats

	mu       sync.Mutex
	inflight map[uint64]pending
	ready    chan *cycle
	active   int
}

type pending struct {
	c     *cycle
	step  int
	sched time.Duration // since the run's base instant
	rec   bool
	req   []byte
}

func dial(ctx context.Context, cfg config, errs *errorLog) (*client, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 8192, WriteBufferSize: 8192}
	ws, _, err := d.DialContext(ctx, "ws://"+cfg.addr+"/kurento", nil)
	if err != nil {
		return nil, err
	}
	cl := &client{ws: ws, strict: cfg.mode == "kurento", errs: errs}
	cl.rd.ws = ws
	return cl, nil
}

// roundTrip sends the next step of c and waits for its answer (closed loop and handshake).
func (cl *client) roundTrip(c *cycle) (resp *wireResponse, raw []byte, sent, got time.Time, err error) {
	id := cl.nextID
	cl.nextID++
	cl.buf = appendRequest(cl.buf[:0], id, c, cl.session)
	sent = time.Now()
	if err = cl.ws.WriteMessage(websocket.TextMessage, cl.buf); err != nil {
		return nil, nil, sent, got, err
	}
	for {
		raw, err = cl.rd.next()
		got = time.Now()
		if err != nil {
			return nil, nil, sent, got, err
		}
		resp = new(wireResponse)
		if err = json.Unmarshal(raw, resp); err != nil {
			return nil, raw, sent, got, fmt.Errorf("undecodable message %q: %w", raw, err)
		}
		if resp.ID == nil && resp.Method != "" {
			continue // a notification (onEvent); not ours
		}
		if resp.ID == nil || *resp.ID != id {
			return nil, raw, sent, got, fmt.Errorf("answer %s does not match request %s", raw, cl.buf)
		}
		return resp, raw, sent, got, nil
	}
}

// handshake runs one cycle without sessionId, learns the session from the first answer and checks the
// server speaks the protocol. Not recorded.
func (cl *client) handshake() error {
	var c cycle
	for !c.done {
		step := c.step
		req := string(appendRequest(nil, cl.nextID, &c, cl.session))
		resp, raw, _, _, err := cl.roundTrip(&c)
		if err != nil {
			return err
		}
		if err := c.apply(step, resp, cl.strict, cl.session); err != nil {
			return fmt.Errorf("handshake %s: %v\n  request:  %s\n  response: %s", stepNames[step], err, req, raw)
		}
		if cl.session == nil && resp.Result != nil && len(resp.Result.SessionID) > 2 {
			cl.session = clone(resp.Result.SessionID)
		}
	}
	if cl.session == nil {
		return errors.New("handshake: the server never sent result.sessionId")
	}
	return nil
}

func runLoad(ctx context.Context, cfg config, stderr io.Writer) (*result, error) {
	errs := &errorLog{w: stderr, limit: cfg.showErrors}
	clients := make([]*client, cfg.conns)
	setup := make([]error, cfg.conns)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := dial(ctx, cfg, errs)
			if err == nil {
				err = cl.handshake()
			}
			clients[i], setup[i] = cl, err
		}()
	}
	wg.Wait()
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				_ = cl.ws.Close()
			}
		}
	}()
	if err := errors.Join(setup...); err != nil {
		return nil, fmt.Errorf("connection setup: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	base := time.Now()
	cpu := sampleCPU(ctx, cfg.serverPID, base.Add(cfg.warmup), base.Add(cfg.warmup+cfg.duration))
	var (
		total stats
		err   error
	)
	if cfg.rate == 0 {
		total, err = runClosed(ctx, cfg, clients, base)
	} else {
		total, err = runOpen(ctx, cfg, clients, base)
	}
	if err != nil {
		return nil, err
	}
	res := newResult(cfg, &total)
	res.CPU = <-cpu
	return res, nil
}

func runClosed(ctx context.Context, cfg config, clients []*client, base time.Time) (stats, error) {
	warmEnd := base.Add(cfg.warmup)
	end := warmEnd.Add(cfg.duration)
	runErrs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runErrs[i] = cl.closedLoop(ctx, warmEnd, end)
		}()
	}
	wg.Wait()
	var total stats
	for _, cl := range clients {
		total.merge(&cl.st)
	}
	return total, errors.Join(runErrs...)
}

func (cl *client) closedLoop(ctx context.Context, warmEnd, end time.Time) error {
	var c cycle
	for ctx.Err() == nil && time.Now().Before(end) {
		c.reset()
		for !c.done {
			step := c.step
			resp, raw, sent, got, err := cl.roundTrip(&c)
			if err != nil {
				return err
			}
			if err := c.apply(step, resp, cl.strict, cl.session); err != nil {
				cl.st.errors++
				cl.errs.report(stepNames[step]+": "+err.Error(), cl.buf, raw)
			}
			if !got.Before(warmEnd) && got.Before(end) {
				cl.st.ops++
				cl.st.lat = append(cl.st.lat, int64(got.Sub(sent)))
				if c.done && step == stepRelease {
					cl.st.cycles++
				}
			}
		}
	}
	return ctx.Err()
}

func runOpen(ctx context.Context, cfg config, clients []*client, base time.Time) (stats, error) {
	perConn := cfg.rate / float64(cfg.conns)
	interval := time.Duration(float64(time.Second) / perConn)
	warmEnd := cfg.warmup
	end := cfg.warmup + cfg.duration
	runErrs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, cl := range clients {
		cl.inflight = make(map[uint64]pending, 64)
		cl.ready = make(chan *cycle, cfg.maxCycles)
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			cl.reader(base)
		}()
		first := time.Duration(float64(time.Second) * float64(i) / cfg.rate) // stagger the connections
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sent stats
			runErrs[i] = cl.sender(ctx, base, first, interval, warmEnd, end, cfg.maxCycles, &sent)
			_ = cl.ws.Close() // ends the reader
			<-readerDone      // from here on this goroutine owns cl.st and cl.inflight
			cl.st.merge(&sent)
			for _, p := range cl.inflight {
				if p.rec {
					cl.st.unanswered++
				}
			}
		}()
	}
	wg.Wait()
	var total stats
	for _, cl := range clients {
		total.merge(&cl.st)
	}
	return total, errors.Join(runErrs...)
}

// sender issues one op at each scheduled instant: the oldest cycle whose previous answer has arrived,
// or a new cycle when none is ready. When the schedule is over it finishes the cycles in flight.
// Counts of scheduled sends go to st.
func (cl *client) sender(ctx context.Context, base time.Time, first, interval, warmEnd, end time.Duration, maxCycles int, st *stats) error {
	pace := newPacer()
	defer pace.close()
	for k := 0; ; k++ {
		sched := first + time.Duration(k)*interval
		if sched >= end {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pace.sleep(sched - time.Since(base))
		c := cl.pick(maxCycles)
		rec := sched >= warmEnd
		if err := cl.send(c, base, sched, rec); err != nil {
			return err
		}
		if rec {
			st.sent++
			st.maxLag = max(st.maxLag, time.Since(base)-sched)
		}
	}
	// Drain: finish every cycle in flight so the server is left clean. Not recorded.
	timeout := time.NewTimer(drainTimeout)
	defer timeout.Stop()
	for cl.active > 0 {
		select {
		case c := <-cl.ready:
			if c.done {
				cl.active--
				continue
			}
			if err := cl.send(c, base, time.Since(base), false); err != nil {
				return err
			}
		case <-timeout.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (cl *client) pick(maxCycles int) *cycle {
	for {
		select {
		case c := <-cl.ready:
			if c.done {
				cl.active--
				continue
			}
			return c
		default:
		}
		if cl.active < maxCycles {
			cl.active++
			return new(cycle)
		}
		c := <-cl.ready // at the cap: wait; the lateness counts in the latency
		if !c.done {
			return c
		}
		cl.active--
	}
}

func (cl *client) send(c *cycle, base time.Time, sched time.Duration, rec bool) error {
	id := cl.nextID
	cl.nextID++
	req := appendRequest(make([]byte, 0, 256), id, c, cl.session)
	cl.mu.Lock()
	cl.inflight[id] = pending{c: c, step: c.step, sched: sched, rec: rec, req: req}
	cl.mu.Unlock()
	return cl.ws.WriteMessage(websocket.TextMessage, req)
}

// reader matches answers to requests by id until the socket is closed.
func (cl *client) reader(base time.Time) {
	st := &cl.st // owned by the reader until it returns
	for {
		raw, err := cl.rd.next()
		if err != nil {
			return
		}
		now := time.Since(base)
		resp := new(wireResponse)
		if err := json.Unmarshal(raw, resp); err != nil {
			st.errors++
			cl.errs.report("undecodable message: "+err.Error(), nil, raw)
			continue
		}
		if resp.ID == nil {
			if resp.Method == "" {
				st.errors++
				cl.errs.report("answer without id", nil, raw)
			}
			continue
		}
		cl.mu.Lock()
		p, ok := cl.inflight[*resp.ID]
		delete(cl.inflight, *resp.ID)
		cl.mu.Unlock()
		if !ok {
			st.errors++
			cl.errs.report("answer to no pending request", nil, raw)
			continue
		}
		if err := p.c.apply(p.step, resp, cl.strict, cl.session); err != nil {
			st.errors++
			cl.errs.report(stepNames[p.step]+": "+err.Error(), p.req, raw)
		}
		if p.rec {
			st.ops++
			st.lat = append(st.lat, int64(now-p.sched))
			if p.c.done && p.step == stepRelease {
				st.cycles++
			}
		}
		cl.ready <- p.c
	}
}

type result struct {
	Server       string          `json:"server"`
	Mode         string          `json:"mode"`
	Loop         string          `json:"loop"`
	Addr         string          `json:"addr"`
	Conns        int             `json:"conns"`
	DurationS    float64         `json:"duration_s"`
	WarmupS      float64         `json:"warmup_s"`
	TargetRate   float64         `json:"target_rate,omitempty"`
	SentPerSec   float64         `json:"sent_per_sec,omitempty"`
	MaxSendLagUS float64         `json:"max_send_lag_us,omitempty"`
	Ops          int64           `json:"ops"`
	OpsPerSec    float64         `json:"ops_per_sec"`
	Cycles       int64           `json:"cycles"`
	CyclesPerSec float64         `json:"cycles_per_sec"`
	Errors       int64           `json:"errors"`
	Unanswered   int64           `json:"unanswered"`
	Latency      latencySummary  `json:"latency_us"`
	CPU          *procstat.Usage `json:"cpu,omitempty"`
	GOMAXPROCS   int             `json:"gomaxprocs"`
	Time         string          `json:"time"`
}

func newResult(cfg config, st *stats) *result {
	secs := cfg.duration.Seconds()
	r := &result{
		Server:       cfg.label,
		Mode:         cfg.mode,
		Loop:         "closed",
		Addr:         cfg.addr,
		Conns:        cfg.conns,
		DurationS:    secs,
		WarmupS:      cfg.warmup.Seconds(),
		Ops:          st.ops,
		OpsPerSec:    round1(float64(st.ops) / secs),
		Cycles:       st.cycles,
		CyclesPerSec: round1(float64(st.cycles) / secs),
		Errors:       st.errors + st.unanswered,
		Unanswered:   st.unanswered,
		Latency:      summarize(st.lat),
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
		Time:         time.Now().UTC().Format(time.RFC3339),
	}
	if cfg.rate > 0 {
		r.Loop = "open"
		r.TargetRate = cfg.rate
		r.SentPerSec = round1(float64(st.sent) / secs)
		r.MaxSendLagUS = round1(float64(st.maxLag) / 1e3)
	}
	return r
}

func (r *result) human() string {
	s := fmt.Sprintf("%-8s %-6s conns=%-3d %9.0f ops/s %8.0f cycles/s  p50 %s p99 %s p99.9 %s max %s  errors %d",
		r.Server, r.Loop, r.Conns, r.OpsPerSec, r.CyclesPerSec,
		fmtMS(r.Latency.P50), fmtMS(r.Latency.P99), fmtMS(r.Latency.P999), fmtMS(r.Latency.Max), r.Errors)
	if r.Loop == "open" {
		s += fmt.Sprintf("  (target %.0f ops/s, sent %.0f/s, max send lag %s)", r.TargetRate, r.SentPerSec, fmtMS(r.MaxSendLagUS))
	}
	if r.CPU != nil {
		s += fmt.Sprintf("  cpu%%: server %.0f loader %.0f other %.0f", r.CPU.Server, r.CPU.Loader, r.CPU.Other)
	}
	return s
}
