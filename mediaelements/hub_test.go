package mediaelements

import (
	"slices"
	"strings"
	"testing"
)

func TestDispatcher(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	dID := e.hub("S", "Dispatcher", p)
	otherID := e.hub("S", "Dispatcher", p)
	oneID := e.hub("S", "DispatcherOneToMany", p)
	p1, p2, p3, p4 := e.port("S", dID), e.port("S", dID), e.port("S", dID), e.port("S", dID)
	foreign := e.port("S", otherID)
	foreign1 := e.port("S", oneID)
	pt := e.element("S", p)
	d := e.obj(dID).(*Dispatcher)
	port := func(id string) *HubPort { return e.obj(id).(*HubPort) }
	// wantRoutes: sink port id → source port id ("" = none), for p1..p4.
	check := func(t *testing.T, want map[string]string) {
		t.Helper()
		for _, sink := range []string{p1, p2, p3, p4} {
			src, ok := d.SourceFor(port(sink))
			switch w := want[sink]; {
			case w == "" && ok:
				t.Errorf("SourceFor(%s) = %s, want none", sink, src.Base().ID())
			case w != "" && (!ok || src != port(w)):
				t.Errorf("SourceFor(%s) = %v,%v, want %s", sink, src, ok, w)
			}
		}
	}
	for _, st := range []struct {
		name   string
		params map[string]any
		code   int
		want   map[string]string
	}{
		{"p1 to p2", map[string]any{"source": p1, "sink": p2}, 0, map[string]string{p2: p1}},
		{"p1 to p3", map[string]any{"source": p1, "sink": p3}, 0, map[string]string{p2: p1, p3: p1}},
		{"p4 replaces p2's source", map[string]any{"source": p4, "sink": p2}, 0, map[string]string{p2: p4, p3: p1}},
		{"loop onto itself", map[string]any{"source": p3, "sink": p3}, 0, map[string]string{p2: p4, p3: p3}},
		{"port of another dispatcher as source", map[string]any{"source": foreign, "sink": p1}, CodeIllegalParam, map[string]string{p2: p4, p3: p3}},
		{"port of another dispatcher as sink", map[string]any{"source": p1, "sink": foreign}, CodeIllegalParam, map[string]string{p2: p4, p3: p3}},
		{"port of a DispatcherOneToMany", map[string]any{"source": foreign1, "sink": p1}, CodeIllegalParam, map[string]string{p2: p4, p3: p3}},
		{"PassThrough is not a HubPort", map[string]any{"source": pt, "sink": p1}, CodeMarshall, map[string]string{p2: p4, p3: p3}},
		{"missing sink", map[string]any{"source": p1}, CodeMarshall, map[string]string{p2: p4, p3: p3}},
		{"unknown port", map[string]any{"source": dID + "/x_kurento.HubPort", "sink": p1}, CodeObjectNotFound, map[string]string{p2: p4, p3: p3}},
	} {
		t.Run(st.name, func(t *testing.T) {
			v, err := e.invoke("S", dID, "connect", st.params)
			if st.code != 0 {
				ktWantCode(t, err, st.code)
			} else if err != nil || v != nil {
				t.Fatalf("connect = %v, %v", v, err)
			}
			check(t, st.want)
		})
	}
	t.Run("foreign dispatcher has no routes", func(t *testing.T) {
		if src, ok := e.obj(otherID).(*Dispatcher).SourceFor(port(foreign)); ok {
			t.Fatalf("foreign port routed from %s", src.Base().ID())
		}
	})
	t.Run("releasing a source port removes its routes", func(t *testing.T) {
		e.mustInvoke("S", dID, "connect", map[string]any{"source": p1, "sink": p4})
		check(t, map[string]string{p2: p4, p3: p3, p4: p1})
		if err := e.store.Release(e.call("S"), p1); err != nil {
			t.Fatal(err)
		}
		for _, sink := range []string{p2, p3, p4} {
			if src, ok := d.SourceFor(port(sink)); ok && src.Base().ID() == p1 {
				t.Fatalf("route from released %s to %s survives", p1, sink)
			}
		}
		if src, ok := d.SourceFor(port(p2)); !ok || src != port(p4) {
			t.Fatalf("unrelated route p4→p2 lost")
		}
	})
	t.Run("releasing a sink port removes its route", func(t *testing.T) {
		sink := port(p2)
		if err := e.store.Release(e.call("S"), p2); err != nil {
			t.Fatal(err)
		}
		if _, ok := d.SourceFor(sink); ok {
			t.Fatal("released sink port still has a source")
		}
		if src, ok := d.SourceFor(port(p3)); !ok || src != port(p3) {
			t.Fatal("unrelated route p3→p3 lost")
		}
	})
	t.Run("released port cannot be routed", func(t *testing.T) {
		_, err := e.invoke("S", dID, "connect", map[string]any{"source": p1, "sink": p3})
		ktWantCode(t, err, CodeObjectNotFound)
	})
	t.Run("ports are the hub's children", func(t *testing.T) {
		got := ktStrings(t, e.mustInvoke("S", dID, "getChildren", nil))
		slices.Sort(got)
		if want := slices.Sorted(slices.Values([]string{p3, p4})); !slices.Equal(got, want) {
			t.Fatalf("getChildren = %v, want %v", got, want)
		}
		var ports []string
		for _, hp := range d.Ports() {
			ports = append(ports, hp.Base().ID())
			if hp.HubOf() != Hub(d) {
				t.Fatalf("HubOf(%s) is not the dispatcher", hp.Base().ID())
			}
		}
		slices.Sort(ports)
		if !slices.Equal(ports, got) {
			t.Fatalf("Ports = %v", ports)
		}
		dot, _ := e.mustInvoke("S", dID, "getGstreamerDot", nil).(string)
		if !strings.Contains(dot, p3) || !strings.Contains(dot, p4) {
			t.Fatalf("getGstreamerDot = %q", dot)
		}
	})
	t.Run("ports are media elements", func(t *testing.T) {
		e.mustInvoke("S", pt, "connect", map[string]any{"sink": p3})
		e.mustInvoke("S", p4, "connect", map[string]any{"sink": pt, "mediaType": "VIDEO"})
		if got := e.conns(p3, "getSourceConnections", nil); len(got) != 3 {
			t.Fatalf("p3 sources %v", got)
		}
		if got := e.conns(pt, "getSourceConnections", nil); !ktSameConns(got, []any{ktConn(p4, pt, "VIDEO", "default", "default")}) {
			t.Fatalf("pt sources %v", got)
		}
	})
	t.Run("releasing the hub releases its ports", func(t *testing.T) {
		if err := e.store.Release(e.call("S"), dID); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{dID, p3, p4} {
			if e.alive(id) {
				t.Fatalf("%s alive", id)
			}
		}
		if got := e.conns(pt, "getSourceConnections", nil); len(got) != 0 {
			t.Fatalf("pt sources %v after hub release", got)
		}
		if got := e.conns(pt, "getSinkConnections", nil); len(got) != 0 {
			t.Fatalf("pt sinks %v after hub release", got)
		}
		if !e.alive(otherID) || !e.alive(foreign) || !e.alive(pt) {
			t.Fatal("hub release took unrelated objects")
		}
	})
}

func TestDispatcherOneToMany(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	dID := e.hub("S", "DispatcherOneToMany", p)
	otherID := e.hub("S", "Dispatcher", p)
	p1, p2, p3 := e.port("S", dID), e.port("S", dID), e.port("S", dID)
	foreign := e.port("S", otherID)
	pt := e.element("S", p)
	d := e.obj(dID).(*DispatcherOneToMany)
	source := func() string {
		s, ok := d.Source()
		if !ok {
			if s != nil {
				t.Fatalf("Source() = %v, false", s)
			}
			return ""
		}
		return s.Base().ID()
	}
	for _, st := range []struct {
		name   string
		op     string
		params map[string]any
		code   int
		want   string
	}{
		{"initially none", "", nil, 0, ""},
		{"setSource p1", "setSource", map[string]any{"source": p1}, 0, p1},
		{"setSource p2", "setSource", map[string]any{"source": p2}, 0, p2},
		{"foreign port", "setSource", map[string]any{"source": foreign}, CodeIllegalParam, p2},
		{"PassThrough", "setSource", map[string]any{"source": pt}, CodeMarshall, p2},
		{"missing source", "setSource", map[string]any{}, CodeMarshall, p2},
		{"removeSource", "removeSource", nil, 0, ""},
		{"removeSource again", "removeSource", map[string]any{}, 0, ""},
		{"setSource p3", "setSource", map[string]any{"source": p3}, 0, p3},
		{"release another port keeps the source", "release", map[string]any{"id": p1}, 0, p3},
		{"release the source port clears it", "release", map[string]any{"id": p3}, 0, ""},
		{"setSource p2 again", "setSource", map[string]any{"source": p2}, 0, p2},
		{"released port cannot be the source", "setSource", map[string]any{"source": p3}, CodeObjectNotFound, p2},
	} {
		t.Run(st.name, func(t *testing.T) {
			switch st.op {
			case "":
			case "release":
				if err := e.store.Release(e.call("S"), st.params["id"].(string)); err != nil {
					t.Fatal(err)
				}
			default:
				v, err := e.invoke("S", dID, st.op, st.params)
				if st.code != 0 {
					ktWantCode(t, err, st.code)
				} else if err != nil || v != nil {
					t.Fatalf("%s = %v, %v", st.op, v, err)
				}
			}
			if got := source(); got != st.want {
				t.Fatalf("Source() = %q, want %q", got, st.want)
			}
		})
	}
	t.Run("releasing the hub", func(t *testing.T) {
		if err := e.store.Release(e.call("S"), dID); err != nil {
			t.Fatal(err)
		}
		if e.alive(p2) || source() != "" {
			t.Fatalf("port alive %v, source %q", e.alive(p2), source())
		}
	})
}

func TestHubPortOfReleasedHub(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	d := e.hub("S", "Dispatcher", p)
	if err := e.store.Release(e.call("S"), d); err != nil {
		t.Fatal(err)
	}
	before := e.store.Len()
	_, err := e.tryCreate("S", "HubPort", map[string]any{"hub": d})
	ktWantCode(t, err, CodeObjectNotFound)
	if e.store.Len() != before {
		t.Fatal("object count changed")
	}
}
