package mediaelements

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
)

// router moves media between the ports of a Dispatcher or a
// DispatcherOneToMany. Each port's inputs ("default" pads, every media
// type) feed the outputs of the ports routed from it:
//
//	upstream ──connect──▶ port A input ──route──▶ port B output ──connect──▶ downstream
//
// The packet path is a lock-free snapshot per source port and media type,
// updated copy-on-write when routes change, so forwarding costs one atomic
// load and one header copy per destination (on the stack), and the inputs
// downstream copy the header once more, like any connection; payloads are
// shared. The source port's Input has already rewritten the header to
// continuous numbering; each route then stamps its own SSRC, so the inputs
// downstream of the destination port see a change of route as a change
// of upstream stream and keep their own output continuous (see rewriter).
//
// Codecs follow the route: what the source port's input receives is
// declared on the destination outputs, so the sinks downstream check it.
// Keyframe requests travel back: a request on a destination output goes
// to the input of the port currently routed to it, and from there
// upstream; a change of source asks the new source for a keyframe at once.
//
// Routes are forwarding edges of the media graph: they are changed under
// the pipeline's graph lock (then the router's own lock), and Connect's
// loop check sees them through Element.routes.
type router struct {
	hub *HubBase

	mu    sync.Mutex // guards the fields below; writers also hold the graph lock
	ports map[*HubPort]*routedPort
	from  map[*HubPort]route // destination port → its route
	all   *HubPort           // one-to-many: the source of every other port
}

// route is a destination's source. Each route writes its own SSRC, so the
// inputs downstream of the destination see every change of route as a new
// upstream stream and keep theirs continuous, even when a destination
// goes back to a source it had before (whose numbering moved on meanwhile).
type route struct {
	src  *HubPort
	ssrc uint32
}

// routedPort is a port's forwarding state.
type routedPort struct {
	outs [Data + 1]atomic.Pointer[[]routeOut] // per media type: what this port's input feeds
}

// routeOut is one destination output of a source port's input.
type routeOut struct {
	out  *Output
	ssrc uint32
}

func newRouter(h *HubBase) *router {
	return &router{hub: h, ports: map[*HubPort]*routedPort{}, from: map[*HubPort]route{}}
}

// forward hands a packet to a source port's destinations, each under its
// route's SSRC. The header copy stays on the stack: WriteRTP does not keep
// the packet.
func forward(outs []routeOut, pk *rtp.Packet) {
	for i := range outs {
		cp := *pk
		cp.SSRC = outs[i].ssrc
		outs[i].out.WriteRTP(&cp)
	}
}

func (r *router) graph() *sync.Mutex { return &r.hub.pipeline.graphMu }

// add wires a new port: its inputs forward to its routed destinations, its
// outputs ask their routed source for keyframes. Called from the port's
// Class.New (PortAdded), before the port is shared.
func (r *router) add(p *HubPort) {
	rp := &routedPort{}
	for _, t := range AllMediaTypes {
		outs := &rp.outs[t]
		outs.Store(&[]routeOut{})
		in, out := p.Input(t, "default"), p.Output(t, "default")
		// Runs on the upstream producer's goroutine with the input's lock
		// held; the packet (the input's scratch header) is handed on
		// synchronously and nobody downstream keeps it.
		in.SetHandler(func(pk *rtp.Packet) { forward(*outs.Load(), pk) })
		in.OnCodec(func(c Codec) {
			for _, o := range *outs.Load() {
				o.out.SetCodec(c)
			}
		})
		// Output.RequestKeyframe calls this on a goroutine of its own.
		out.OnKeyframeRequest(func() {
			if src := r.sourceOf(p); src != nil {
				src.Input(t, "default").RequestKeyframe()
			}
		})
		// The routed source's clock, under the route's SSRC (forward).
		out.SetClock(func() (SenderClock, bool) {
			rt := r.routeOf(p)
			if rt.src == nil {
				return SenderClock{}, false
			}
			c, ok := rt.src.Input(t, "default").ForwardedClock()
			c.SSRC = rt.ssrc
			return c, ok
		})
	}
	p.setRoutes(func() []*Element { return r.destinationsLocked(p) })
	g := r.graph()
	g.Lock()
	defer g.Unlock()
	r.mu.Lock()
	r.ports[p] = rp
	src := r.all
	if src != nil {
		r.from[p] = route{src, randomSSRC()}
		r.refreshLocked(src)
	}
	r.mu.Unlock()
	if src != nil {
		r.declareCodecs(src, []*HubPort{p})
	}
}

// remove drops every route from or to a released port.
func (r *router) remove(p *HubPort) {
	g := r.graph()
	g.Lock()
	defer g.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.from[p].src
	delete(r.from, p)
	if r.all == p {
		r.all = nil
	}
	for dst, rt := range r.from {
		if rt.src == p {
			delete(r.from, dst)
		}
	}
	r.refreshLocked(p) // empties its snapshots: nothing more leaves through it
	r.refreshLocked(old)
	delete(r.ports, p)
}

// connect routes src's media to dst, replacing dst's previous source.
func (r *router) connect(src, dst *HubPort) error {
	g := r.graph()
	g.Lock()
	defer g.Unlock()
	// Checked under the graph lock: remove takes it after the port is
	// marked released.
	if err := alive(src, dst); err != nil {
		return err
	}
	if routeLoopLocked(&src.Element, []*Element{&dst.Element}) {
		return NewError(CodeConnect, "Routing %s to %s would make a media loop", src.id, dst.id)
	}
	r.mu.Lock()
	old := r.from[dst].src
	if old != src {
		r.from[dst] = route{src, randomSSRC()}
	}
	r.refreshLocked(old)
	r.refreshLocked(src)
	r.mu.Unlock()
	r.declareCodecs(src, []*HubPort{dst})
	if old != src {
		src.Input(Video, "default").RequestKeyframe() // the destination's viewers start decoding it
	}
	return nil
}

// setAll routes src's media to every other port, present and future
// (DispatcherOneToMany.setSource).
func (r *router) setAll(src *HubPort) error {
	g := r.graph()
	g.Lock()
	defer g.Unlock()
	if err := alive(src); err != nil {
		return err
	}
	r.mu.Lock()
	var others []*HubPort
	for p := range r.ports {
		if p != src {
			others = append(others, p)
		}
	}
	r.mu.Unlock()
	sortPorts(others)
	var elems []*Element
	for _, p := range others {
		elems = append(elems, &p.Element)
	}
	if routeLoopLocked(&src.Element, elems) {
		return NewError(CodeConnect, "Making %s the source of %s would make a media loop", src.id, r.hub.id)
	}
	r.mu.Lock()
	old := r.all
	r.all = src
	for _, p := range others {
		if r.from[p].src != src {
			r.from[p] = route{src, randomSSRC()}
		}
	}
	delete(r.from, src)
	r.refreshLocked(old)
	r.refreshLocked(src)
	r.mu.Unlock()
	r.declareCodecs(src, others)
	if old != src {
		src.Input(Video, "default").RequestKeyframe()
	}
	return nil
}

// clearAll removes every route (DispatcherOneToMany.removeSource).
func (r *router) clearAll() {
	g := r.graph()
	g.Lock()
	defer g.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.all
	r.all = nil
	clear(r.from)
	r.refreshLocked(old)
}

// sourceOf is the port routed to dst, if any.
func (r *router) sourceOf(dst *HubPort) *HubPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.from[dst].src
}

// routeOf is dst's route (zero: none).
func (r *router) routeOf(dst *HubPort) route {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.from[dst]
}

// source is the one-to-many source, if any.
func (r *router) source() *HubPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all
}

// destinationsLocked lists the elements src's inputs feed (Element.routes).
// Called with the graph lock held, under which routes are written.
func (r *router) destinationsLocked(src *HubPort) []*Element {
	var out []*Element
	for dst, rt := range r.from {
		if rt.src == src {
			out = append(out, &dst.Element)
		}
	}
	return out
}

// refreshLocked republishes src's forwarding snapshots from the routes.
// Called with both locks held.
func (r *router) refreshLocked(src *HubPort) {
	if src == nil {
		return
	}
	rp := r.ports[src]
	if rp == nil {
		return
	}
	var dsts []*HubPort
	for dst, rt := range r.from {
		if rt.src == src {
			dsts = append(dsts, dst)
		}
	}
	sortPorts(dsts)
	for _, t := range AllMediaTypes {
		outs := make([]routeOut, 0, len(dsts))
		for _, dst := range dsts {
			outs = append(outs, routeOut{dst.Output(t, "default"), r.from[dst].ssrc})
		}
		rp.outs[t].Store(&outs)
	}
}

// declareCodecs declares what src's inputs receive on dsts' outputs.
// Called with the graph lock held (like Connect's codec checks), so that
// concurrent route changes cannot declare a stale source's codec.
func (r *router) declareCodecs(src *HubPort, dsts []*HubPort) {
	for _, t := range AllMediaTypes {
		c, ok := src.Input(t, "default").Codec()
		if !ok {
			continue
		}
		for _, dst := range dsts {
			dst.Output(t, "default").SetCodec(c)
		}
	}
}

func sortPorts(ps []*HubPort) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].id < ps[j].id })
}
