package mediaelements

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// MediaElement is any object of class MediaElement or below.
type MediaElement interface {
	Object
	Elem() *Element
}

// Connection is one edge of the media graph: media of one type flowing from
// a source element's source pad to a sink element's sink pad.
type Connection struct {
	Source, Sink MediaElement
	Type         MediaType
	SourceDesc   string
	SinkDesc     string
}

type padKey struct {
	t    MediaType
	desc string
}

// Element holds what every MediaElement has: its place in the media graph
// (guarded by the pipeline's graph lock) and the encoder bitrate settings.
type Element struct {
	ObjectBase

	// Guarded by pipeline.graphMu.
	sinks   []*Connection          // connections where this element is the source
	sources map[padKey]*Connection // connections feeding this element's sink pads

	emu               sync.Mutex
	encoderBitrate    int
	minEncoderBitrate int
	maxEncoderBitrate int
	flowingIn         map[padKey]bool
	flowingOut        map[padKey]bool
	outputs           map[padKey]*Output
	inputs            map[padKey]*Input
	forwards          atomic.Bool // some input feeds an output of this element
	// routes, when set, lists the other elements whose outputs this
	// element's inputs feed (a hub port routed inside its dispatcher).
	// Set once before the element is shared; called with the graph lock
	// held, and so must read only state that is written under it.
	routes func() []*Element
}

func (e *Element) markForwarding() { e.forwards.Store(true) }

// setRoutes declares the element's forwarding edges to other elements
// (see Element.routes). Called from Class.New, before the element is shared.
func (e *Element) setRoutes(fn func() []*Element) { e.routes = fn }

// fedLocked lists the elements whose outputs media entering e's inputs
// leaves through: e itself when it forwards, and the targets of its routes.
func (e *Element) fedLocked() []*Element {
	var out []*Element
	if e.forwards.Load() {
		out = append(out, e)
	}
	if e.routes != nil {
		out = append(out, e.routes()...)
	}
	return out
}

// reachLocked walks the media graph from the inputs of the given elements
// (following connections, forwarding elements and hub routes) and reports
// whether it reaches an input for which hit returns true. Called with the
// graph lock held.
func reachLocked(from []*Element, hit func(in *Element) bool) bool {
	seen := map[*Element]bool{}
	var reach func(e *Element) bool
	reach = func(e *Element) bool {
		if seen[e] {
			return false
		}
		seen[e] = true
		if hit(e) {
			return true
		}
		for _, out := range e.fedLocked() {
			for _, c := range out.sinks {
				if reach(c.Sink.Elem()) {
					return true
				}
			}
		}
		return false
	}
	for _, e := range from {
		if reach(e) {
			return true
		}
	}
	return false
}

// loopLocked reports whether media from src into sink would come back to
// src's output through elements that forward their input to an output
// (their own, or a hub port's through a dispatcher route): a loop that
// would never end. Called with the graph lock held.
func loopLocked(src, sink *Element) bool {
	if !src.forwards.Load() && src.routes == nil {
		return false // nothing feeds src's output but src's own production
	}
	return reachLocked([]*Element{sink}, func(in *Element) bool {
		for _, out := range in.fedLocked() {
			if out == src {
				return true
			}
		}
		return false
	})
}

// routeLoopLocked reports whether a route from the inputs of from to the
// outputs of each of to would make media circle: whether what leaves one
// of to's outputs can come back to from's inputs. Called with the graph
// lock held.
func routeLoopLocked(from *Element, to []*Element) bool {
	var next []*Element
	for _, t := range to {
		for _, c := range t.sinks {
			next = append(next, c.Sink.Elem())
		}
	}
	return reachLocked(next, func(in *Element) bool { return in == from })
}

// Default bitrates of Kurento's encoders (bps).
const (
	DefaultEncoderBitrate    = 300000
	DefaultMinEncoderBitrate = 0
	DefaultMaxEncoderBitrate = 0
)

// InitElement fills the element base; Class.New of element types calls it first.
func (e *Element) InitElement(in ObjectInit) {
	e.Init(in)
	e.sources = map[padKey]*Connection{}
	e.encoderBitrate = DefaultEncoderBitrate
	e.flowingIn = map[padKey]bool{}
	e.flowingOut = map[padKey]bool{}
	e.outputs = map[padKey]*Output{}
	e.inputs = map[padKey]*Input{}
}

// stopMedia stops the element's media timers (release).
func (e *Element) stopMedia() {
	e.emu.Lock()
	outs := make([]*Output, 0, len(e.outputs))
	for _, o := range e.outputs {
		outs = append(outs, o)
	}
	ins := make([]*Input, 0, len(e.inputs))
	for _, in := range e.inputs {
		ins = append(ins, in)
	}
	e.emu.Unlock()
	for _, o := range outs {
		o.stop()
	}
	for _, in := range ins {
		in.flow.stop()
	}
}

// Elem returns the element base; it makes *Element a MediaElement.
func (e *Element) Elem() *Element { return e }

// EncoderBitrates returns target, min and max encoder bitrate (bps; 0 = unset).
func (e *Element) EncoderBitrates() (target, lo, hi int) {
	e.emu.Lock()
	defer e.emu.Unlock()
	return e.encoderBitrate, e.minEncoderBitrate, e.maxEncoderBitrate
}

// SetFlowingIn records whether media flows into a sink pad and raises
// MediaFlowInStateChanged on a change. The media plane calls it.
func (e *Element) SetFlowingIn(t MediaType, desc string, flowing bool) {
	e.setFlow(e.flowingIn, "MediaFlowInStateChanged", t, desc, flowing)
}

// SetFlowingOut is SetFlowingIn for source pads (MediaFlowOutStateChanged).
func (e *Element) SetFlowingOut(t MediaType, desc string, flowing bool) {
	e.setFlow(e.flowingOut, "MediaFlowOutStateChanged", t, desc, flowing)
}

func (e *Element) setFlow(m map[padKey]bool, event string, t MediaType, desc string, flowing bool) {
	e.emu.Lock()
	k := padKey{t, desc}
	changed := m[k] != flowing
	m[k] = flowing
	e.emu.Unlock()
	if !changed {
		return
	}
	state := "NOT_FLOWING"
	if flowing {
		state = "FLOWING"
	}
	e.Emit(event, map[string]any{"state": state, "padName": desc, "mediaType": t.String()})
}

func (e *Element) isFlowing(in bool, t MediaType, desc string) bool {
	e.emu.Lock()
	defer e.emu.Unlock()
	if in {
		return e.flowingIn[padKey{t, desc}]
	}
	return e.flowingOut[padKey{t, desc}]
}

// mediaLink is an attach or detach of pads that follows a graph change.
type mediaLink struct {
	attach bool
	c      Connection
}

func (m mediaLink) apply() {
	out := m.c.Source.Elem().Output(m.c.Type, m.c.SourceDesc)
	in := m.c.Sink.Elem().Input(m.c.Type, m.c.SinkDesc)
	if m.attach {
		out.attach(in)
	} else {
		out.detach(in)
	}
}

type graphEvent struct {
	source    *Element
	connected bool
	c         Connection
}

func (g graphEvent) emit() {
	name := "ElementDisconnected"
	if g.connected {
		name = "ElementConnected"
	}
	g.source.Emit(name, map[string]any{
		"sink":                   g.c.Sink.Base().id,
		"mediaType":              g.c.Type.String(),
		"sourceMediaDescription": g.c.SourceDesc,
		"sinkMediaDescription":   g.c.SinkDesc,
	})
}

// Connect connects src to sink for the given media types. A sink pad takes
// one source: an existing different source on it is disconnected first.
func Connect(src, sink MediaElement, types []MediaType, srcDesc, sinkDesc string) error {
	p := src.Base().pipeline
	if p == nil || p != sink.Base().pipeline {
		return NewError(CodeConnect, "Media elements do not share pipeline")
	}
	var events []graphEvent
	p.graphMu.Lock()
	// Checked under the graph lock: a release marks the element released
	// before detachAll takes this lock, so either we see it released or
	// detachAll removes what we add.
	if err := alive(src, sink); err != nil {
		p.graphMu.Unlock()
		return err
	}
	s, k := src.Elem(), sink.Elem()
	if loopLocked(s, k) {
		p.graphMu.Unlock()
		return NewError(CodeConnect, "Connecting %s to %s would make a media loop", s.id, k.id)
	}
	for _, t := range types {
		key := padKey{t, sinkDesc}
		if old, ok := k.sources[key]; ok {
			if old.Source.Elem() == s && old.SourceDesc == srcDesc {
				continue
			}
			old.Source.Elem().removeSinkLocked(old)
			delete(k.sources, key)
			events = append(events, graphEvent{old.Source.Elem(), false, *old})
			mediaLink{false, *old}.apply()
		}
		c := &Connection{Source: src, Sink: sink, Type: t, SourceDesc: srcDesc, SinkDesc: sinkDesc}
		k.sources[key] = c
		s.sinks = append(s.sinks, c)
		events = append(events, graphEvent{s, true, *c})
		// Media follows the graph under the same lock, so concurrent
		// connects to one sink pad cannot interleave.
		mediaLink{true, *c}.apply()
	}
	p.graphMu.Unlock()
	for _, ev := range events {
		ev.emit()
	}
	return nil
}

// Disconnect removes the connections from src to sink for the given types.
// Removing connections that do not exist is not an error.
func Disconnect(src, sink MediaElement, types []MediaType, srcDesc, sinkDesc string) error {
	p := src.Base().pipeline
	if p == nil || p != sink.Base().pipeline {
		return NewError(CodeConnect, "Media elements do not share pipeline")
	}
	var events []graphEvent
	p.graphMu.Lock()
	s, k := src.Elem(), sink.Elem()
	for _, t := range types {
		key := padKey{t, sinkDesc}
		if c, ok := k.sources[key]; ok && c.Source.Elem() == s && c.SourceDesc == srcDesc {
			delete(k.sources, key)
			s.removeSinkLocked(c)
			events = append(events, graphEvent{s, false, *c})
			mediaLink{false, *c}.apply()
		}
	}
	p.graphMu.Unlock()
	for _, ev := range events {
		ev.emit()
	}
	return nil
}

func (e *Element) removeSinkLocked(c *Connection) {
	for i, x := range e.sinks {
		if x == c {
			e.sinks = append(e.sinks[:i], e.sinks[i+1:]...)
			return
		}
	}
}

// detachAll removes every connection of a released element. Surviving
// sources see ElementDisconnected.
func (e *Element) detachAll() {
	p := e.pipeline
	if p == nil {
		return
	}
	var events []graphEvent
	p.graphMu.Lock()
	for _, c := range e.sinks {
		delete(c.Sink.Elem().sources, padKey{c.Type, c.SinkDesc})
		mediaLink{false, *c}.apply()
	}
	e.sinks = nil
	for key, c := range e.sources {
		src := c.Source.Elem()
		src.removeSinkLocked(c)
		delete(e.sources, key)
		mediaLink{false, *c}.apply()
		if src != e && !src.store.isReleased(src) {
			events = append(events, graphEvent{src, false, *c})
		}
	}
	p.graphMu.Unlock()
	for _, ev := range events {
		ev.emit()
	}
}

// SourceConnections lists connections feeding this element (its sink pads).
func (e *Element) SourceConnections(t *MediaType, desc *string) []Connection {
	e.pipeline.graphMu.Lock()
	defer e.pipeline.graphMu.Unlock()
	var out []Connection
	for _, c := range e.sources {
		if (t == nil || c.Type == *t) && (desc == nil || c.SinkDesc == *desc) {
			out = append(out, *c)
		}
	}
	sortConnections(out)
	return out
}

// SinkConnections lists connections this element feeds (its source pads).
func (e *Element) SinkConnections(t *MediaType, desc *string) []Connection {
	e.pipeline.graphMu.Lock()
	defer e.pipeline.graphMu.Unlock()
	var out []Connection
	for _, c := range e.sinks {
		if (t == nil || c.Type == *t) && (desc == nil || c.SourceDesc == *desc) {
			out = append(out, *c)
		}
	}
	sortConnections(out)
	return out
}

func sortConnections(cs []Connection) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Source.Base().id != b.Source.Base().id {
			return a.Source.Base().id < b.Source.Base().id
		}
		return a.Sink.Base().id < b.Sink.Base().id
	})
}

func connectionData(cs []Connection) []map[string]any {
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		out = append(out, map[string]any{
			"__module__": "kurento", "__type__": "ElementConnectionData",
			"source": c.Source.Base().id, "sink": c.Sink.Base().id, "type": c.Type.String(),
			"sourceDescription": c.SourceDesc, "sinkDescription": c.SinkDesc,
		})
	}
	return out
}

// dot renders the media graph of a set of elements in Graphviz format.
func dot(name string, elems []MediaElement) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n  rankdir=LR;\n  node [shape=box];\n", name)
	for _, e := range elems {
		fmt.Fprintf(&b, "  %q [label=%q];\n", e.Base().id, e.Base().class.Name+"\n"+e.Base().Name())
	}
	for _, e := range elems {
		for _, c := range e.Elem().SinkConnections(nil, nil) {
			fmt.Fprintf(&b, "  %q -> %q [label=%q];\n", c.Source.Base().id, c.Sink.Base().id, c.Type.String())
		}
	}
	b.WriteString("}\n")
	return b.String()
}
