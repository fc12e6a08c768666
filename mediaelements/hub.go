package mediaelements

// Hub is any object of class Hub or below (Composite, Dispatcher, …).
type Hub interface {
	Object
	Hub() *HubBase
}

// PortObserver is implemented by hubs that act when ports come and go.
type PortObserver interface {
	PortAdded(p *HubPort)
	PortRemoved(p *HubPort)
}

// HubBase holds what every hub has.
type HubBase struct {
	ObjectBase
}

// Hub returns the hub base; it makes *HubBase a Hub.
func (h *HubBase) Hub() *HubBase { return h }

// Ports lists the hub's live ports in creation order.
func (h *HubBase) Ports() []*HubPort {
	var out []*HubPort
	for _, ch := range h.store.childrenOf(h) {
		if p, ok := ch.(*HubPort); ok {
			out = append(out, p)
		}
	}
	return out
}

func hubClass() *Class {
	return &Class{
		Name: "Hub", Module: "core", Extends: "MediaObject", Abstract: true,
		Doc: "A Hub is a routing MediaObject: it connects several endpoints together through its HubPorts.",
		Methods: []Method{
			{Name: "getGstreamerDot", Return: "String", Params: []Param{{Name: "details", Type: "GstreamerDotDetails", Optional: true}},
				Doc: "A Graphviz (dot) description of the hub's ports and their connections.",
				Call: Do(func(_ *Call, h Hub, _ Args) (any, error) {
					var elems []MediaElement
					for _, p := range h.Hub().Ports() {
						elems = append(elems, p)
					}
					return dot(h.Base().id, elems), nil
				})},
		},
	}
}

// HubPort connects a hub with the rest of the pipeline: media sent to the
// port enters the hub; what the hub produces for the port leaves through it.
type HubPort struct {
	Element
	hub Hub
}

// HubOf returns the port's hub.
func (p *HubPort) HubOf() Hub { return p.hub }

// OnRelease tells the hub that the port is gone.
func (p *HubPort) OnRelease() {
	if o, ok := p.hub.(PortObserver); ok {
		o.PortRemoved(p)
	}
}

func hubPortClass() *Class {
	return &Class{
		Name: "HubPort", Module: "core", Extends: "MediaElement",
		Doc:         "A MediaElement that specifies a connection with a Hub.",
		Constructor: []Param{{Name: "hub", Type: "Hub", Doc: "the Hub this port belongs to"}},
		New: func(_ *Call, in ObjectInit, a Args) (Object, error) {
			h, ok := a.Object("hub").(Hub)
			if !ok {
				return nil, errMarshal("hub", "Hub")
			}
			p := &HubPort{hub: h}
			p.InitElement(in)
			if o, ok := h.(PortObserver); ok {
				o.PortAdded(p)
			}
			return p, nil
		},
	}
}

// Dispatcher routes media between arbitrary pairs of its ports: what
// enters a source port leaves through the ports routed from it (see router).
type Dispatcher struct {
	HubBase
	r *router
}

// SourceFor returns the port whose media a port receives, if any.
func (d *Dispatcher) SourceFor(sink *HubPort) (*HubPort, bool) {
	s := d.r.sourceOf(sink)
	return s, s != nil
}

// PortAdded wires the port's media to the dispatcher's routes.
func (d *Dispatcher) PortAdded(p *HubPort) { d.r.add(p) }

// PortRemoved drops every route from or to the port.
func (d *Dispatcher) PortRemoved(p *HubPort) { d.r.remove(p) }

func ownPort(h Hub, name string, o Object) (*HubPort, error) {
	p, ok := o.(*HubPort)
	if !ok || p.hub != h {
		return nil, NewError(CodeIllegalParam, "'%s' is not a port of %s", name, h.Base().id)
	}
	return p, nil
}

// alive fails with 40101 for the first released object.
func alive(objs ...Object) error {
	for _, o := range objs {
		if o.Base().store.isReleased(o) {
			return errNotFound(o.Base().id)
		}
	}
	return nil
}

// DispatcherClass is Kurento's Dispatcher.
func DispatcherClass() *Class {
	return &Class{
		Name: "Dispatcher", Module: "elements", Extends: "Hub",
		Doc:         "A Hub that allows routing between arbitrary port pairs.",
		Constructor: []Param{{Name: "mediaPipeline", Type: "MediaPipeline", Doc: "the parent MediaPipeline"}},
		New: func(_ *Call, in ObjectInit, _ Args) (Object, error) {
			d := &Dispatcher{}
			d.Init(in)
			d.r = newRouter(&d.HubBase)
			return d, nil
		},
		Methods: []Method{
			{Name: "connect", Params: []Param{{Name: "source", Type: "HubPort"}, {Name: "sink", Type: "HubPort"}},
				Doc: "Routes every media type of the source port to the sink port (replacing the sink's previous source).",
				Call: Do(func(_ *Call, d *Dispatcher, a Args) (any, error) {
					src, err := ownPort(d, "source", a.Object("source"))
					if err != nil {
						return nil, err
					}
					sink, err := ownPort(d, "sink", a.Object("sink"))
					if err != nil {
						return nil, err
					}
					if err := d.r.connect(src, sink); err != nil {
						return nil, err
					}
					d.Logger().Debug("route", "source", src.id, "sink", sink.id)
					return nil, nil
				})},
		},
	}
}

// DispatcherOneToMany sends one source port's media to all its other ports.
type DispatcherOneToMany struct {
	HubBase
	r *router
}

// Source returns the current source port, if any.
func (d *DispatcherOneToMany) Source() (*HubPort, bool) {
	s := d.r.source()
	return s, s != nil
}

// PortAdded wires the port's media; it receives the source's, if one is set.
func (d *DispatcherOneToMany) PortAdded(p *HubPort) { d.r.add(p) }

// PortRemoved clears the source when its port goes.
func (d *DispatcherOneToMany) PortRemoved(p *HubPort) { d.r.remove(p) }

// DispatcherOneToManyClass is Kurento's DispatcherOneToMany.
func DispatcherOneToManyClass() *Class {
	return &Class{
		Name: "DispatcherOneToMany", Module: "elements", Extends: "Hub",
		Doc:         "A Hub that sends a given source to all the connected sinks.",
		Constructor: []Param{{Name: "mediaPipeline", Type: "MediaPipeline", Doc: "the parent MediaPipeline"}},
		New: func(_ *Call, in ObjectInit, _ Args) (Object, error) {
			d := &DispatcherOneToMany{}
			d.Init(in)
			d.r = newRouter(&d.HubBase)
			return d, nil
		},
		Methods: []Method{
			{Name: "setSource", Params: []Param{{Name: "source", Type: "HubPort"}},
				Doc: "Sets the port whose media goes to every other port of the dispatcher.",
				Call: Do(func(_ *Call, d *DispatcherOneToMany, a Args) (any, error) {
					src, err := ownPort(d, "source", a.Object("source"))
					if err != nil {
						return nil, err
					}
					if err := d.r.setAll(src); err != nil {
						return nil, err
					}
					d.Logger().Debug("source", "port", src.id)
					return nil, nil
				})},
			{Name: "removeSource", Doc: "Removes the source port; the other ports receive nothing until a new source is set.",
				Call: Do(func(_ *Call, d *DispatcherOneToMany, _ Args) (any, error) {
					d.r.clearAll()
					return nil, nil
				})},
		},
	}
}
