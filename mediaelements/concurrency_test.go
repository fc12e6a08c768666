package mediaelements

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentStore creates, connects, subscribes and releases from several
// goroutines, on one shared pipeline and on per-worker pipelines, while other
// goroutines read. Run it with -race. Everything is released at the end.
func TestConcurrentStore(t *testing.T) {
	e := newKtEnv(t)
	e.subscribe("watch", ManagerID, "ObjectCreated")
	e.subscribe("watch", ManagerID, "ObjectDestroyed")
	shared := e.pipeline("owner")
	e.subscribe("watch", shared, "Error")

	const workers, rounds = 8, 25
	var (
		mu     sync.Mutex
		recent []string // element ids any worker may try to use (possibly released)
		errs   []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	publish := func(id string) {
		mu.Lock()
		recent = append(recent, id)
		if len(recent) > 16 {
			recent = recent[1:]
		}
		mu.Unlock()
	}
	pick := func(i int) string {
		mu.Lock()
		defer mu.Unlock()
		if len(recent) == 0 {
			return ""
		}
		return recent[i%len(recent)]
	}
	// okOrGone accepts success or "the object was released meanwhile".
	okOrGone := func(what string, err error) {
		if err == nil {
			return
		}
		if de := AsError(err); de == nil || de.Code != CodeObjectNotFound {
			fail("%s: %v", what, err)
		}
	}
	mustOK := func(what string, err error) {
		if err != nil {
			fail("%s: %v", what, err)
		}
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			sess := fmt.Sprintf("s%d", w)
			call := e.call(sess)
			create := func(typ string, ctor map[string]any) string {
				o, err := e.store.Create(call, typ, ctor)
				if err != nil {
					fail("%s create %s: %v", sess, typ, err)
					return ""
				}
				return o.Base().ID()
			}
			invoke := func(id, op string, params map[string]any) error {
				inv, err := e.store.PrepareInvoke(call, id, op, params)
				if err != nil {
					return err
				}
				_, err = inv.Run()
				return err
			}
			own := create("MediaPipeline", nil)
			for r := range rounds {
				a := create("GraphNode", map[string]any{"mediaPipeline": shared})
				b := create("GraphNode", map[string]any{"mediaPipeline": shared})
				c := create("GraphNode", map[string]any{"mediaPipeline": own})
				if a == "" || b == "" || c == "" {
					return
				}
				if _, err := e.store.Subscribe(call, a, "ElementConnected"); err != nil {
					fail("subscribe: %v", err)
				}
				mustOK("connect a→b", invoke(a, "connect", map[string]any{"sink": b}))
				mustOK("connect b→a", invoke(b, "connect", map[string]any{"sink": a, "mediaType": "VIDEO"}))
				mustOK("connect a→a", invoke(a, "connect", map[string]any{"sink": a, "mediaType": "DATA", "sinkMediaDescription": "loop"}))
				if err := invoke(a, "connect", map[string]any{"sink": c}); AsError(err) == nil || AsError(err).Code != CodeConnect {
					fail("cross-pipeline connect: %v", err)
				}
				// Elements of other workers, which may be released right now.
				if other := pick(w + r); other != "" {
					okOrGone("connect other→b", invoke(other, "connect", map[string]any{"sink": b, "mediaType": "AUDIO"}))
					okOrGone("connect a→other", invoke(a, "connect", map[string]any{"sink": other, "mediaType": "VIDEO", "sinkMediaDescription": sess}))
					okOrGone("describe other", func() error { _, err := e.store.Describe(call, other); return err }())
					okOrGone("sources of other", invoke(other, "getSourceConnections", nil))
				}
				publish(a)
				d := create("Dispatcher", map[string]any{"mediaPipeline": shared})
				p1 := create("HubPort", map[string]any{"hub": d})
				p2 := create("HubPort", map[string]any{"hub": d})
				mustOK("dispatcher connect", invoke(d, "connect", map[string]any{"source": p1, "sink": p2}))
				mustOK("a→p1", invoke(a, "connect", map[string]any{"sink": p1}))
				mustOK("p2→b", invoke(p2, "connect", map[string]any{"sink": b, "mediaType": "VIDEO", "sinkMediaDescription": "hub"}))
				e.elem(b).SetFlowingIn(Video, "default", r%2 == 0)
				mustOK("getSinkConnections", invoke(a, "getSinkConnections", map[string]any{"mediaType": "VIDEO"}))
				mustOK("getGstreamerDot", invoke(shared, "getGstreamerDot", nil))
				mustOK("getPipelines", invoke(ManagerID, "getPipelines", nil))
				mustOK("getChildren", invoke(shared, "getChildren", nil))
				// Release in varying orders: hub first or port first, a or b first.
				if r%2 == 0 {
					mustOK("release d", e.store.Release(call, d))
				} else {
					mustOK("release p1", e.store.Release(call, p1))
					mustOK("release d", e.store.Release(call, d))
				}
				if r%3 == 0 {
					mustOK("release b", e.store.Release(call, b))
				} else {
					mustOK("unref b", e.store.Unref(call, b)) // only this session refs b (unless another worker touched it)
				}
				if r%4 == 0 {
					mustOK("release a", e.store.Release(call, a))
				}
				mustOK("release c", e.store.Release(call, c))
			}
			if w%2 == 0 {
				mustOK("release own", e.store.Release(call, own))
			}
			// Drop the session: objects it alone references go.
			e.store.DropSession(sess)
		})
	}
	// Readers.
	for range 2 {
		wg.Go(func() {
			for range rounds * 4 {
				for _, p := range e.store.Pipelines() {
					if pl, ok := p.(*Pipeline); ok {
						for _, el := range pl.Elements() {
							_ = el.Elem().SourceConnections(nil, nil)
						}
					}
				}
				_ = e.store.Sessions()
				_ = e.store.CountByType()
				e.sink.take()
			}
		})
	}
	wg.Wait()
	for _, msg := range errs {
		t.Error(msg)
	}
	// Release everything that is left.
	if err := e.store.Release(e.call("owner"), shared); err != nil {
		t.Fatal(err)
	}
	e.store.ReleaseAll()
	for _, s := range e.store.Sessions() {
		e.store.DropSession(s)
	}
	if n := e.store.Len(); n != 0 {
		t.Fatalf("Len = %d after releasing everything (%v)", n, e.store.CountByType())
	}
	if ps := e.store.Pipelines(); len(ps) != 0 {
		t.Fatalf("pipelines left: %d", len(ps))
	}
	if len(e.store.sessions) != 0 || len(e.store.subs) != 0 || len(e.store.listeners) != 0 {
		t.Fatalf("bookkeeping left: %d sessions, %d subs, %d listener sets", len(e.store.sessions), len(e.store.subs), len(e.store.listeners))
	}
	if !e.alive(ManagerID) {
		t.Fatal("ServerManager gone")
	}
}

// TestConcurrentLimits: many sessions racing for a global object limit never
// exceed it, and every refused create leaves nothing behind.
func TestConcurrentLimits(t *testing.T) {
	const limit = 20
	e := newKtEnv(t, func(o *Options) { o.Limits.MaxObjects = limit })
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for w := range 8 {
		wg.Go(func() {
			for range 10 {
				_, err := e.tryCreate(fmt.Sprintf("s%d", w), "MediaPipeline", nil)
				if err == nil {
					mu.Lock()
					created++
					mu.Unlock()
				} else if de := AsError(err); de == nil || de.Code != CodeNotEnoughResources {
					t.Errorf("create: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if created != limit || e.store.Len() != limit {
		t.Fatalf("created %d, Len %d, want %d", created, e.store.Len(), limit)
	}
	e.store.ReleaseAll()
	if e.store.Len() != 0 {
		t.Fatalf("Len %d", e.store.Len())
	}
}

// TestConnectReleaseRace: MediaElement.connect checks that source and sink
// are alive before it takes the pipeline's graph lock (element.go Connect);
// a release that marks the element released and runs detachAll in between
// leaves a connection from (or to) a released element in a live element's
// pads. The window is small: this stress test finds it reliably under -race.
func TestConnectReleaseRace(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	sink := e.element("S", p)
	dangling := 0
	for range 20000 {
		src := e.element("S", p)
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			<-start
			_, _ = e.invoke("S", src, "connect", map[string]any{"sink": sink, "mediaType": "VIDEO"})
		})
		wg.Go(func() {
			<-start
			_ = e.store.Release(e.call("S"), src)
		})
		close(start)
		wg.Wait()
		if cs := e.elem(sink).SourceConnections(nil, nil); len(cs) != 0 {
			dangling++
			for _, c := range cs { // clean up so the next round starts fresh
				_ = Disconnect(c.Source, c.Sink, []MediaType{c.Type}, c.SourceDesc, c.SinkDesc)
			}
		}
	}
	if dangling > 0 {
		t.Fatalf("BUG: %d of 20000 connect/release races left a live sink connected to a released source (element.go Connect checks isReleased before taking graphMu; releaseObject's detachAll can run in between)", dangling)
	}
}

// TestInvokeAfterRelease: the rpc layer prepares an invocation (resolving
// object params) and runs it later; an object released in between must not
// be wired into the graph or a hub.
func TestInvokeAfterRelease(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup returns the invocation's target, operation, params, the id
		// to release between PrepareInvoke and Run, and a check of the state
		// afterwards (returns a description of what is wrong, "" if fine).
		setup func(e *ktEnv) (target, op string, params map[string]any, release string, check func() string)
	}{
		{"element connect, source released", func(e *ktEnv) (string, string, map[string]any, string, func() string) {
			p := e.pipeline("S")
			a, b := e.element("S", p), e.element("S", p)
			return a, "connect", map[string]any{"sink": b}, a, func() string {
				if n := len(e.elem(b).SourceConnections(nil, nil)); n != 0 {
					return fmt.Sprintf("sink has %d connections from the released source", n)
				}
				return ""
			}
		}},
		{"element connect, sink released", func(e *ktEnv) (string, string, map[string]any, string, func() string) {
			p := e.pipeline("S")
			a, b := e.element("S", p), e.element("S", p)
			return a, "connect", map[string]any{"sink": b}, b, func() string {
				if n := len(e.elem(a).SinkConnections(nil, nil)); n != 0 {
					return fmt.Sprintf("source has %d connections to the released sink", n)
				}
				return ""
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newKtEnv(t)
			target, op, params, release, check := tc.setup(e)
			inv, err := e.store.PrepareInvoke(e.call("S"), target, op, params)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.Release(e.call("S"), release); err != nil {
				t.Fatal(err)
			}
			_, runErr := inv.Run()
			if msg := check(); msg != "" {
				t.Fatalf("%s (Run returned %v)", msg, runErr)
			}
			if runErr != nil {
				ktWantCode(t, runErr, CodeObjectNotFound)
			}
		})
	}
}

// TestHubInvokeAfterPortReleased: as TestInvokeAfterRelease, for the hub
// methods that take ports. Dispatcher.connect and DispatcherOneToMany.setSource
// (hub.go) only check that a port belongs to the hub (ownPort), not that it
// is still alive, so a port released between PrepareInvoke and Run stays in
// the hub's routing after PortRemoved has already run.
func TestHubInvokeAfterPortReleased(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup returns the invocation's target, operation, params, the id
		// to release between PrepareInvoke and Run, and a check of the state
		// afterwards (returns a description of what is wrong, "" if fine).
		setup func(e *ktEnv) (target, op string, params map[string]any, release string, check func() string)
	}{
		{"Dispatcher.connect, source port released", func(e *ktEnv) (string, string, map[string]any, string, func() string) {
			p := e.pipeline("S")
			d := e.hub("S", "Dispatcher", p)
			p1, p2 := e.port("S", d), e.port("S", d)
			disp, sink := e.obj(d).(*Dispatcher), e.obj(p2).(*HubPort)
			return d, "connect", map[string]any{"source": p1, "sink": p2}, p1, func() string {
				if src, ok := disp.SourceFor(sink); ok {
					return fmt.Sprintf("BUG: route from released port %s to %s (hub.go Dispatcher.connect: ownPort does not check released)", src.Base().ID(), p2)
				}
				return ""
			}
		}},
		{"Dispatcher.connect, sink port released", func(e *ktEnv) (string, string, map[string]any, string, func() string) {
			p := e.pipeline("S")
			d := e.hub("S", "Dispatcher", p)
			p1, p2 := e.port("S", d), e.port("S", d)
			disp, sink := e.obj(d).(*Dispatcher), e.obj(p2).(*HubPort)
			return d, "connect", map[string]any{"source": p1, "sink": p2}, p2, func() string {
				if _, ok := disp.SourceFor(sink); ok {
					return "BUG: route to released sink port kept in Dispatcher.routes (hub.go Dispatcher.connect)"
				}
				return ""
			}
		}},
		{"DispatcherOneToMany.setSource, port released", func(e *ktEnv) (string, string, map[string]any, string, func() string) {
			p := e.pipeline("S")
			d := e.hub("S", "DispatcherOneToMany", p)
			p1 := e.port("S", d)
			disp := e.obj(d).(*DispatcherOneToMany)
			return d, "setSource", map[string]any{"source": p1}, p1, func() string {
				if s, ok := disp.Source(); ok {
					return fmt.Sprintf("BUG: Source() is the released port %s (hub.go DispatcherOneToMany.setSource does not check released)", s.Base().ID())
				}
				return ""
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newKtEnv(t)
			target, op, params, release, check := tc.setup(e)
			inv, err := e.store.PrepareInvoke(e.call("S"), target, op, params)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.Release(e.call("S"), release); err != nil {
				t.Fatal(err)
			}
			_, runErr := inv.Run()
			if msg := check(); msg != "" {
				t.Fatalf("%s (Run returned %v)", msg, runErr)
			}
			if runErr != nil {
				ktWantCode(t, runErr, CodeObjectNotFound)
			}
		})
	}
}
