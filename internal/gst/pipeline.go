// Package gst is Miksilo's thin layer over GStreamer (go-gst v1.4.0):
// pipeline lifecycle, bus handling, the appsrc/appsink bridges and a few
// helpers. Only GStreamer-backed elements import it; the object model and
// rpc stay cgo-free.
//
// go-gst v1.4.0 rules this package follows (see docs/composite.md):
// wrappers carry finalizers that unref, so nothing here calls Unref; a
// pipeline is set to NULL before it is dropped; the per-buffer path uses
// our own cgo (bridge.go); the bus is read with TimedPop on a goroutine of
// the pipeline's own (no GLib main loop).
package gst

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"
)

var initOnce sync.Once

// Init initialises GStreamer once per process.
func Init() { initOnce.Do(func() { gst.Init(nil) }) }

// Missing returns the element factories of names that this GStreamer
// installation lacks (a missing plugin package).
func Missing(names ...string) []string {
	Init()
	var out []string
	for _, n := range names {
		if gst.Find(n) == nil {
			out = append(out, n)
		}
	}
	return out
}

// ErrMissingPlugin is wrapped by errors about absent element factories.
var ErrMissingPlugin = errors.New("gst: missing plugin")

// Require fails with ErrMissingPlugin when any factory is missing.
func Require(names ...string) error {
	if m := Missing(names...); len(m) > 0 {
		return fmt.Errorf("%w: no element %s (install the GStreamer plugin package that provides it)", ErrMissingPlugin, strings.Join(m, ", "))
	}
	return nil
}

// Message is an error or warning posted on a pipeline's bus.
type Message struct {
	Source  string // name of the element that posted it
	Text    string
	Debug   string
	Warning bool
}

func (m Message) Error() string {
	if m.Source == "" {
		return m.Text
	}
	return m.Source + ": " + m.Text
}

// Pipeline is a GStreamer pipeline with its bus read on a goroutine.
type Pipeline struct {
	*gst.Pipeline
	name string
	log  *slog.Logger

	mu      sync.Mutex
	onError func(Message)
	onEOS   func()
	started bool
	closed  bool
	bus     *busNotifier // set by the first Start
	nice    []ThreadNice
	done    chan struct{}
}

// ThreadNice lowers (or, with the privilege, raises) the scheduling priority
// of the streaming threads whose owner element's name starts with Prefix and
// ends with Suffix: Linux nice values, -20…19, 0 being the default.
type ThreadNice struct {
	Prefix, Suffix string
	Nice           int
}

// SetThreadNice sets the pipeline's thread priority rules (at most four,
// the first match wins); only before the first Start. A thread's priority is
// set as it starts, elements added later included.
func (p *Pipeline) SetThreadNice(rules ...ThreadNice) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return fmt.Errorf("gst: %s: thread priorities after Start", p.name)
	}
	if len(rules) > 4 {
		return fmt.Errorf("gst: %s: %d thread priority rules, at most 4", p.name, len(rules))
	}
	for _, r := range rules {
		if r.Nice < -20 || r.Nice > 19 {
			return fmt.Errorf("gst: %s: nice %d outside -20…19", p.name, r.Nice)
		}
	}
	p.nice = append([]ThreadNice(nil), rules...)
	return nil
}

// Parse builds a pipeline from a gst-launch description.
func Parse(name, description string, log *slog.Logger) (*Pipeline, error) {
	Init()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := gst.NewPipelineFromString(description)
	if err != nil {
		return nil, fmt.Errorf("gst: %s: %w", name, err)
	}
	Track(p.Object, KindPipeline)
	return &Pipeline{Pipeline: p, name: name, log: log, done: make(chan struct{})}, nil
}

// OnError sets the handler of errors and warnings from the bus; it runs on
// the bus goroutine and must not block or change the pipeline's state.
func (p *Pipeline) OnError(fn func(Message)) {
	p.mu.Lock()
	p.onError = fn
	p.mu.Unlock()
}

// OnEOS sets the handler of the pipeline's end of stream (bus goroutine).
func (p *Pipeline) OnEOS(fn func()) {
	p.mu.Lock()
	p.onEOS = fn
	p.mu.Unlock()
}

// Element returns the pipeline's element with that name.
func (p *Pipeline) Element(name string) (*gst.Element, error) {
	e, err := p.GetElementByName(name)
	if err != nil || e == nil {
		return nil, fmt.Errorf("gst: %s: no element %q", p.name, name)
	}
	return e, nil
}

// MustElements returns the named elements or the first lookup error.
func (p *Pipeline) Elements(names ...string) ([]*gst.Element, error) {
	out := make([]*gst.Element, len(names))
	for i, n := range names {
		e, err := p.Element(n)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// Start sets the pipeline PLAYING and starts reading its bus.
func (p *Pipeline) Start() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("gst: %s: closed", p.name)
	}
	first := !p.started
	p.started = true
	nice := p.nice
	p.mu.Unlock()
	if first {
		p.distributeClock()
		bn, err := startBusNotifier(p.GetPipelineBus(), nice)
		if err != nil {
			return fmt.Errorf("gst: %s: bus: %w", p.name, err)
		}
		p.bus = bn
		go p.busLoop(bn)
	}
	if err := p.SetState(gst.StatePlaying); err != nil {
		return fmt.Errorf("gst: %s: PLAYING: %w", p.name, err)
	}
	return nil
}

// distributeClock gives every element the system clock and the
// pipeline's base time before the first PLAYING, and fixes the base time
// (start time NONE): the running time of these live pipelines is the
// clock's since Start, pauses included.
//
// Without it, GStreamer's PAUSED→PLAYING sets the clock on every element
// first and then the base time element by element, sinks first; an
// aggregator (compositor, audiomixer) whose source-pad task wakes in that
// window — a live source's stream-start or caps event is enough — sees the
// clock with base time 0, takes the running time for hours, times out at
// once and produces nothing more (measured: an empty Composite without
// output in about one start in three with the CPU saturated).
func (p *Pipeline) distributeClock() {
	clock := gst.ObtainSystemClock().Clock
	p.ForceClock(clock)
	p.SetStartTime(gst.ClockTimeNone)
	base := clock.GetTime()
	p.SetBaseTime(base)
	els, err := p.GetElementsRecursive()
	if err != nil {
		p.log.Warn("gst: listing elements for the base time", "pipeline", p.name, "err", err)
		return
	}
	for _, e := range els {
		e.SetStartTime(gst.ClockTimeNone)
		e.SetBaseTime(base)
	}
}

// WaitPlaying waits up to d for the pipeline to reach PLAYING.
func (p *Pipeline) WaitPlaying(d time.Duration) error {
	ret, st := p.GetState(gst.StatePlaying, gst.ClockTime(d))
	if ret == gst.StateChangeFailure || st != gst.StatePlaying {
		return fmt.Errorf("gst: %s: not PLAYING after %v (%s)", p.name, d, st)
	}
	return nil
}

// Close sets the pipeline to NULL and stops the bus goroutine. Safe to
// call more than once.
func (p *Pipeline) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	started := p.started
	p.mu.Unlock()
	if err := p.SetState(gst.StateNull); err != nil {
		p.log.Warn("gst: pipeline did not stop cleanly", "pipeline", p.name, "err", err)
	}
	if started && p.bus != nil {
		p.bus.close()
		<-p.done
		p.bus.release()
	}
}

// Dot is a Graphviz description of the pipeline (GST_DEBUG_GRAPH_SHOW_ALL).
func (p *Pipeline) Dot() string {
	return p.DebugBinToDotData(gst.DebugGraphShowAll)
}

// busLoop handles the bus's messages on a goroutine that waits in Go's
// netpoller between them (the bus's sync handler wakes it), not in a
// blocking C call.
func (p *Pipeline) busLoop(bn *busNotifier) {
	defer close(p.done)
	for {
		for {
			msg := bn.pop()
			if msg == nil {
				break
			}
			p.handle(msg)
		}
		if !bn.wait() {
			return
		}
	}
}

func (p *Pipeline) handle(msg *gst.Message) {
	switch msg.Type() {
	case gst.MessageError, gst.MessageWarning:
		warn := msg.Type() == gst.MessageWarning
		var ge *gst.GError
		if warn {
			ge = msg.ParseWarning()
		} else {
			ge = msg.ParseError()
		}
		m := Message{Source: msg.Source(), Warning: warn}
		if ge != nil {
			m.Text, m.Debug = ge.Error(), ge.DebugString()
		}
		lvl := slog.LevelError
		if warn {
			lvl = slog.LevelWarn
		}
		p.log.Log(nil, lvl, "gst: "+m.Text, "pipeline", p.name, "element", m.Source, "debug", m.Debug)
		p.mu.Lock()
		fn := p.onError
		p.mu.Unlock()
		if fn != nil {
			fn(m)
		}
	case gst.MessageEOS:
		p.mu.Lock()
		fn := p.onEOS
		p.mu.Unlock()
		if fn != nil {
			fn()
		}
	case gst.MessageLatency:
		// Elements added to a live pipeline change its latency: let the
		// pipeline recompute and redistribute it.
		p.RecalculateLatency()
	}
}
