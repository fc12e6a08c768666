package composite

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/miksilo/miksilo/internal/eventtest"
	"github.com/miksilo/miksilo/internal/rtctest"
	me "github.com/miksilo/miksilo/mediaelements"
	"github.com/miksilo/miksilo/mediaelements/webrtcendpoint"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	wait    = 15 * time.Second
	session = "S"
)

// event and sink: the shared event recorder (internal/eventtest).
type event = eventtest.Event

type sink = eventtest.Recorder

// env is a store with the WebRtcEndpoint (loopback only) and Composite classes.
type env struct {
	t       *testing.T
	store   *me.Store
	sink    *sink
	metrics *Metrics
}

func newEnv(t *testing.T, extraElements ...string) *env {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	reg := me.NewRegistry(me.PassThroughClass(), webrtcendpoint.Class(webrtcendpoint.Settings{LoopbackOnly: true}), class(nil, m, extraElements))
	st := me.NewStore(me.Options{Registry: reg})
	e := &env{t: t, store: st, sink: eventtest.New(), metrics: m}
	st.SetEventSink(e.sink)
	t.Cleanup(st.ReleaseAll)
	return e
}

func (e *env) call() *me.Call { return e.store.NewCall(context.Background(), session) }

func (e *env) tryCreate(typ string, ctor map[string]any) (string, error) {
	o, err := e.store.Create(e.call(), typ, ctor)
	if err != nil {
		return "", err
	}
	return o.Base().ID(), nil
}

func (e *env) create(typ string, ctor map[string]any) string {
	e.t.Helper()
	id, err := e.tryCreate(typ, ctor)
	if err != nil {
		e.t.Fatalf("create %s: %v", typ, err)
	}
	return id
}

func (e *env) subscribe(id, ev string) {
	e.t.Helper()
	if _, err := e.store.Subscribe(e.call(), id, ev); err != nil {
		e.t.Fatalf("subscribe %s %s: %v", id, ev, err)
	}
}

func (e *env) try(id, op string, params map[string]any) (any, error) {
	inv, err := e.store.PrepareInvoke(e.call(), id, op, params)
	if err != nil {
		return nil, err
	}
	return inv.Run()
}

func (e *env) invoke(id, op string, params map[string]any) any {
	e.t.Helper()
	v, err := e.try(id, op, params)
	if err != nil {
		e.t.Fatalf("%s %s: %v", op, id, err)
	}
	return v
}

// failsWith invokes and checks the Kurento error code.
func (e *env) failsWith(code int, id, op string, params map[string]any) *me.Error {
	e.t.Helper()
	_, err := e.try(id, op, params)
	de := me.AsError(err)
	if de == nil || de.Code != code {
		e.t.Fatalf("%s %s: got %v, want error code %d", op, id, err, code)
	}
	return de
}

func (e *env) release(id string) {
	e.t.Helper()
	if err := e.store.Release(e.call(), id); err != nil {
		e.t.Fatalf("release %s: %v", id, err)
	}
}

func (e *env) obj(id string) me.Object {
	e.t.Helper()
	o, ok := e.store.Get(id)
	if !ok {
		e.t.Fatalf("no object %s", id)
	}
	return o
}

// peer creates an rtctest peer closed at the end of the test.
func (e *env) peer() *rtctest.Peer {
	e.t.Helper()
	p, err := rtctest.NewPeer()
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(p.Close)
	return p
}

// negotiate connects a peer with a WebRtcEndpoint (the peer offers).
func (e *env) negotiate(ep string, p *rtctest.Peer) {
	e.t.Helper()
	err := p.Negotiate(func(offer string) (string, error) {
		v, err := e.try(ep, "processOffer", map[string]any{"offer": offer})
		if err != nil {
			return "", err
		}
		if _, err := e.try(ep, "gatherCandidates", nil); err != nil {
			return "", err
		}
		return v.(string), nil
	}, wait)
	if err != nil {
		e.t.Fatalf("negotiate %s: %v", ep, err)
	}
}

// publisher is a pion peer sending a solid colour into a new port of comp
// through a WebRtcEndpoint; it returns the peer's publisher and the port.
func (e *env) publisher(pipeline, comp string, color uint32) (*rtctest.Publisher, string) {
	e.t.Helper()
	return e.publisherWith(pipeline, comp, rtctest.PublisherConfig{Width: 160, Height: 120, FPS: 15, Color: color, Audio: true, AudioFreq: float64(300 + color%1000)})
}

func (e *env) publisherWith(pipeline, comp string, cfg rtctest.PublisherConfig) (*rtctest.Publisher, string) {
	e.t.Helper()
	ep := e.create("WebRtcEndpoint", map[string]any{"mediaPipeline": pipeline, "recvonly": true})
	port := e.create("HubPort", map[string]any{"hub": comp})
	e.invoke(ep, "connect", map[string]any{"sink": port})
	p := e.peer()
	pub, err := p.AddPublisher(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.negotiate(ep, p)
	return pub, port
}

// viewer is a pion peer receiving what a new port of comp sends.
func (e *env) viewer(pipeline, comp string, w, h int) (*rtctest.Viewer, string) {
	e.t.Helper()
	ep := e.create("WebRtcEndpoint", map[string]any{"mediaPipeline": pipeline, "sendonly": true})
	port := e.create("HubPort", map[string]any{"hub": comp})
	e.invoke(port, "connect", map[string]any{"sink": ep})
	p := e.peer()
	v, err := p.AddViewer(rtctest.ViewerConfig{Width: w, Height: h})
	if err != nil {
		e.t.Fatal(err)
	}
	e.negotiate(ep, p)
	return v, port
}

// composite creates a MediaPipeline and a Composite in it with the
// constructor parameters ctor (mediaPipeline added), subscribed to its
// Error events.
func (e *env) composite(ctor map[string]any) (pipeline, id string, c *Composite) {
	e.t.Helper()
	pipeline = e.create("MediaPipeline", nil)
	ctor["mediaPipeline"] = pipeline
	id = e.create("Composite", ctor)
	e.subscribe(id, "Error")
	return pipeline, id, e.obj(id).(*Composite)
}

// consumer connects a new port of comp to a PassThrough: a sink on the
// Composite's output (without one it encodes nothing: idle.go). It returns
// the PassThrough.
func (e *env) consumer(pipeline, comp string) string {
	e.t.Helper()
	pt := e.create("PassThrough", map[string]any{"mediaPipeline": pipeline})
	port := e.create("HubPort", map[string]any{"hub": comp})
	e.invoke(port, "connect", map[string]any{"sink": pt})
	return pt
}

// eventually polls cond until it holds or the deadline passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
