package mediaelements

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// ktConn is the wire form of an ElementConnectionData.
func ktConn(src, sink, typ, srcDesc, sinkDesc string) map[string]any {
	return map[string]any{"__module__": "kurento", "__type__": "ElementConnectionData",
		"source": src, "sink": sink, "type": typ, "sourceDescription": srcDesc, "sinkDescription": sinkDesc}
}

func (e *ktEnv) conns(id, op string, params map[string]any) []any {
	e.t.Helper()
	v, ok := ktWire(e.t, e.mustInvoke("S", id, op, params)).([]any)
	if !ok {
		e.t.Fatalf("%s(%s) did not return an array", op, id)
	}
	return v
}

// ktSameConns compares connection lists regardless of order (the order of
// ElementConnectionData lists is not part of the protocol).
func ktSameConns(got, want []any) bool {
	key := func(l []any) []string {
		out := make([]string, len(l))
		for i, x := range l {
			b, _ := json.Marshal(x)
			out[i] = string(b)
		}
		slices.Sort(out)
		return out
	}
	return len(got) == len(want) && reflect.DeepEqual(key(got), key(want))
}

// ktEv is an ElementConnected/ElementDisconnected event reduced to what
// the tests compare.
type ktEv struct{ typ, source, sink, mediaType string }

func ktGraphEvents(ds []ktDelivery) []ktEv {
	var out []ktEv
	for _, d := range ds {
		if d.Type != "ElementConnected" && d.Type != "ElementDisconnected" {
			continue
		}
		sink, _ := d.Data["sink"].(string)
		mt, _ := d.Data["mediaType"].(string)
		out = append(out, ktEv{d.Type, d.Object, sink, mt})
	}
	return out
}

func TestConnect(t *testing.T) {
	for _, tc := range []struct {
		name      string
		params    map[string]any // besides sink
		wantTypes []string
		srcDesc   string
		sinkDesc  string
	}{
		{"no mediaType connects all", nil, []string{"AUDIO", "VIDEO", "DATA"}, "default", "default"},
		{"VIDEO only", map[string]any{"mediaType": "VIDEO"}, []string{"VIDEO"}, "default", "default"},
		{"AUDIO only", map[string]any{"mediaType": "AUDIO"}, []string{"AUDIO"}, "default", "default"},
		{"DATA only", map[string]any{"mediaType": "DATA"}, []string{"DATA"}, "default", "default"},
		{"descriptions", map[string]any{"mediaType": "VIDEO", "sourceMediaDescription": "a", "sinkMediaDescription": "b"}, []string{"VIDEO"}, "a", "b"},
		{"explicit defaults", map[string]any{"sourceMediaDescription": "default", "sinkMediaDescription": "default"}, []string{"AUDIO", "VIDEO", "DATA"}, "default", "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newKtEnv(t)
			p := e.pipeline("S")
			src, sink := e.element("S", p), e.element("S", p)
			e.subscribe("S", src, "ElementConnected")
			e.subscribe("S", sink, "ElementConnected")
			params := map[string]any{"sink": sink}
			for k, v := range tc.params {
				params[k] = v
			}
			if v := e.mustInvoke("S", src, "connect", params); v != nil {
				t.Fatalf("connect returned %#v", v)
			}
			var want []any
			var wantEv []ktEv
			for _, typ := range tc.wantTypes {
				want = append(want, ktConn(src, sink, typ, tc.srcDesc, tc.sinkDesc))
				wantEv = append(wantEv, ktEv{"ElementConnected", src, sink, typ})
			}
			if got := e.conns(src, "getSinkConnections", map[string]any{}); !ktSameConns(got, want) {
				t.Fatalf("getSinkConnections = %#v\nwant %#v", got, want)
			}
			if got := e.conns(sink, "getSourceConnections", map[string]any{}); !ktSameConns(got, want) {
				t.Fatalf("getSourceConnections = %#v\nwant %#v", got, want)
			}
			if got := e.conns(src, "getSourceConnections", nil); len(got) != 0 {
				t.Fatalf("source's own sink pads got %v", got)
			}
			if got := e.conns(sink, "getSinkConnections", nil); len(got) != 0 {
				t.Fatalf("sink's own source pads got %v", got)
			}
			if got := ktGraphEvents(e.sink.take()); !slices.Equal(got, wantEv) {
				t.Fatalf("events %v, want %v", got, wantEv)
			}
			// Connecting the same pair again changes nothing and emits nothing.
			e.mustInvoke("S", src, "connect", params)
			if got := e.conns(sink, "getSourceConnections", nil); !ktSameConns(got, want) {
				t.Fatalf("after reconnect: %v", got)
			}
			if got := e.sink.take(); len(got) != 0 {
				t.Fatalf("reconnect emitted %+v", got)
			}
		})
	}
}

func TestConnectionFilters(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	a, b, c := e.element("S", p), e.element("S", p), e.element("S", p)
	e.mustInvoke("S", a, "connect", map[string]any{"sink": c})                                                         // A,V,D default→default
	e.mustInvoke("S", b, "connect", map[string]any{"sink": c, "mediaType": "VIDEO", "sinkMediaDescription": "alt"})    // V default→alt
	e.mustInvoke("S", a, "connect", map[string]any{"sink": b, "mediaType": "AUDIO", "sourceMediaDescription": "side"}) // A side→default
	for _, tc := range []struct {
		name, id, op string
		params       map[string]any
		want         []any
	}{
		{"c sources all", c, "getSourceConnections", map[string]any{}, []any{
			ktConn(a, c, "AUDIO", "default", "default"), ktConn(a, c, "VIDEO", "default", "default"),
			ktConn(b, c, "VIDEO", "default", "alt"), ktConn(a, c, "DATA", "default", "default")}},
		{"c sources VIDEO", c, "getSourceConnections", map[string]any{"mediaType": "VIDEO"}, []any{
			ktConn(a, c, "VIDEO", "default", "default"), ktConn(b, c, "VIDEO", "default", "alt")}},
		{"c sources desc alt", c, "getSourceConnections", map[string]any{"description": "alt"}, []any{
			ktConn(b, c, "VIDEO", "default", "alt")}},
		{"c sources VIDEO default", c, "getSourceConnections", map[string]any{"mediaType": "VIDEO", "description": "default"}, []any{
			ktConn(a, c, "VIDEO", "default", "default")}},
		{"c sources AUDIO alt", c, "getSourceConnections", map[string]any{"mediaType": "AUDIO", "description": "alt"}, []any{}},
		{"a sinks all", a, "getSinkConnections", nil, []any{
			ktConn(a, b, "AUDIO", "side", "default"), ktConn(a, c, "AUDIO", "default", "default"),
			ktConn(a, c, "VIDEO", "default", "default"), ktConn(a, c, "DATA", "default", "default")}},
		{"a sinks desc side", a, "getSinkConnections", map[string]any{"description": "side"}, []any{
			ktConn(a, b, "AUDIO", "side", "default")}},
		{"a sinks DATA", a, "getSinkConnections", map[string]any{"mediaType": "DATA"}, []any{
			ktConn(a, c, "DATA", "default", "default")}},
		{"b sources", b, "getSourceConnections", nil, []any{ktConn(a, b, "AUDIO", "side", "default")}},
		{"b sinks", b, "getSinkConnections", nil, []any{ktConn(b, c, "VIDEO", "default", "alt")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.conns(tc.id, tc.op, tc.params); !ktSameConns(got, tc.want) {
				t.Fatalf("%s%v =\n %#v\nwant\n %#v", tc.op, tc.params, got, tc.want)
			}
		})
	}
	t.Run("invalid mediaType filter", func(t *testing.T) {
		_, err := e.invoke("S", c, "getSourceConnections", map[string]any{"mediaType": "FOO"})
		ktWantCode(t, err, CodeMarshall)
	})
}

func TestConnectReplacesSinkSource(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	src1, src2, sink, other := e.element("S", p), e.element("S", p), e.element("S", p), e.element("S", p)
	for _, id := range []string{src1, src2, sink} {
		e.subscribe("S", id, "ElementConnected")
		e.subscribe("S", id, "ElementDisconnected")
	}
	e.mustInvoke("S", src1, "connect", map[string]any{"sink": sink})
	e.mustInvoke("S", src1, "connect", map[string]any{"sink": other, "mediaType": "VIDEO"}) // a source feeds many sinks
	e.sink.take()
	e.mustInvoke("S", src2, "connect", map[string]any{"sink": sink, "mediaType": "VIDEO"})
	want := []ktEv{{"ElementDisconnected", src1, sink, "VIDEO"}, {"ElementConnected", src2, sink, "VIDEO"}}
	if got := ktGraphEvents(e.sink.take()); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if got, want := e.conns(sink, "getSourceConnections", nil), []any{
		ktConn(src1, sink, "AUDIO", "default", "default"),
		ktConn(src2, sink, "VIDEO", "default", "default"),
		ktConn(src1, sink, "DATA", "default", "default"),
	}; !ktSameConns(got, want) {
		t.Fatalf("sink sources %#v", got)
	}
	if got, want := e.conns(src1, "getSinkConnections", nil), []any{
		ktConn(src1, sink, "AUDIO", "default", "default"),
		ktConn(src1, other, "VIDEO", "default", "default"),
		ktConn(src1, sink, "DATA", "default", "default"),
	}; !ktSameConns(got, want) {
		t.Fatalf("src1 sinks %#v", got)
	}
	// Another sink description is another pad: no replacement.
	e.mustInvoke("S", src1, "connect", map[string]any{"sink": sink, "mediaType": "VIDEO", "sinkMediaDescription": "pip"})
	if got := ktGraphEvents(e.sink.take()); !slices.Equal(got, []ktEv{{"ElementConnected", src1, sink, "VIDEO"}}) {
		t.Fatalf("events %v", got)
	}
	// The same source with another source description replaces its own connection.
	e.mustInvoke("S", src2, "connect", map[string]any{"sink": sink, "mediaType": "VIDEO", "sourceMediaDescription": "hd"})
	if got := ktGraphEvents(e.sink.take()); !slices.Equal(got, []ktEv{{"ElementDisconnected", src2, sink, "VIDEO"}, {"ElementConnected", src2, sink, "VIDEO"}}) {
		t.Fatalf("events %v", got)
	}
	if got := e.conns(sink, "getSourceConnections", map[string]any{"mediaType": "VIDEO"}); !ktSameConns(got, []any{
		ktConn(src1, sink, "VIDEO", "default", "pip"), ktConn(src2, sink, "VIDEO", "hd", "default"),
	}) {
		t.Fatalf("VIDEO sources %#v", got)
	}
}

func TestConnectErrors(t *testing.T) {
	e := newKtEnv(t)
	p, q := e.pipeline("S"), e.pipeline("S")
	a, b := e.element("S", p), e.element("S", q)
	d := e.hub("S", "Dispatcher", p)
	for _, tc := range []struct {
		name   string
		op     string
		params map[string]any
		code   int
	}{
		{"across pipelines", "connect", map[string]any{"sink": b}, CodeConnect},
		{"across pipelines one type", "connect", map[string]any{"sink": b, "mediaType": "AUDIO"}, CodeConnect},
		{"disconnect across pipelines", "disconnect", map[string]any{"sink": b}, CodeConnect},
		{"sink is a hub", "connect", map[string]any{"sink": d}, CodeMarshall},
		{"sink is a pipeline", "connect", map[string]any{"sink": p}, CodeMarshall},
		{"unknown sink", "connect", map[string]any{"sink": p + "/x_kurento.PassThrough"}, CodeObjectNotFound},
		{"bad mediaType", "connect", map[string]any{"sink": a, "mediaType": "video"}, CodeMarshall},
		{"sink not a string", "connect", map[string]any{"sink": 1}, CodeMarshall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.invoke("S", a, tc.op, tc.params)
			de := ktWantCode(t, err, tc.code)
			if tc.code == CodeConnect && de.Message != "Media elements do not share pipeline" {
				t.Fatalf("message %q", de.Message)
			}
		})
	}
	if got := e.conns(a, "getSinkConnections", nil); len(got) != 0 {
		t.Fatalf("failed connects left %v", got)
	}
	if got := e.conns(b, "getSourceConnections", nil); len(got) != 0 {
		t.Fatalf("failed connects left %v", got)
	}
}

func TestDisconnect(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	src, sink, other := e.element("S", p), e.element("S", p), e.element("S", p)
	e.subscribe("S", src, "ElementDisconnected")
	e.subscribe("S", other, "ElementDisconnected")
	e.mustInvoke("S", src, "connect", map[string]any{"sink": sink})
	for _, st := range []struct {
		name      string
		by        string
		params    map[string]any
		wantTypes []string // remaining connection types src→sink
		wantEv    []ktEv
	}{
		{"VIDEO", src, map[string]any{"sink": sink, "mediaType": "VIDEO"}, []string{"AUDIO", "DATA"},
			[]ktEv{{"ElementDisconnected", src, sink, "VIDEO"}}},
		{"VIDEO again is a no-op", src, map[string]any{"sink": sink, "mediaType": "VIDEO"}, []string{"AUDIO", "DATA"}, nil},
		{"other description is a no-op", src, map[string]any{"sink": sink, "sinkMediaDescription": "x"}, []string{"AUDIO", "DATA"}, nil},
		{"a non-source is a no-op", other, map[string]any{"sink": sink}, []string{"AUDIO", "DATA"}, nil},
		{"all", src, map[string]any{"sink": sink}, nil,
			[]ktEv{{"ElementDisconnected", src, sink, "AUDIO"}, {"ElementDisconnected", src, sink, "DATA"}}},
		{"nothing left", src, map[string]any{"sink": sink}, nil, nil},
	} {
		t.Run(st.name, func(t *testing.T) {
			if v, err := e.invoke("S", st.by, "disconnect", st.params); err != nil || v != nil {
				t.Fatalf("disconnect = %v, %v", v, err)
			}
			var want []any
			for _, typ := range st.wantTypes {
				want = append(want, ktConn(src, sink, typ, "default", "default"))
			}
			if want == nil {
				want = []any{}
			}
			if got := e.conns(sink, "getSourceConnections", nil); !ktSameConns(got, want) {
				t.Fatalf("sources %#v, want %#v", got, want)
			}
			if got := e.conns(src, "getSinkConnections", nil); !ktSameConns(got, want) {
				t.Fatalf("sinks %#v, want %#v", got, want)
			}
			if got := ktGraphEvents(e.sink.take()); !slices.Equal(got, st.wantEv) {
				t.Fatalf("events %v, want %v", got, st.wantEv)
			}
		})
	}
}

func TestReleaseRemovesConnections(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	src, mid, dst, src2 := e.element("S", p), e.element("S", p), e.element("S", p), e.element("S", p)
	for _, id := range []string{src, mid, dst, src2} {
		e.subscribe("S", id, "ElementDisconnected")
	}
	e.mustInvoke("S", src, "connect", map[string]any{"sink": mid})
	e.mustInvoke("S", src2, "connect", map[string]any{"sink": mid, "mediaType": "VIDEO", "sinkMediaDescription": "two"})
	e.mustInvoke("S", mid, "connect", map[string]any{"sink": dst})
	e.mustInvoke("S", src, "connect", map[string]any{"sink": dst, "mediaType": "AUDIO", "sinkMediaDescription": "x"})
	e.sink.take()
	if err := e.store.Release(e.call("S"), mid); err != nil {
		t.Fatal(err)
	}
	got := ktGraphEvents(e.sink.take())
	slices.SortFunc(got, func(a, b ktEv) int { return strings.Compare(a.source+a.mediaType, b.source+b.mediaType) })
	want := []ktEv{
		{"ElementDisconnected", src, mid, "AUDIO"}, {"ElementDisconnected", src, mid, "DATA"}, {"ElementDisconnected", src, mid, "VIDEO"},
		{"ElementDisconnected", src2, mid, "VIDEO"},
	}
	slices.SortFunc(want, func(a, b ktEv) int { return strings.Compare(a.source+a.mediaType, b.source+b.mediaType) })
	if !slices.Equal(got, want) {
		t.Fatalf("events %v\nwant %v", got, want)
	}
	if got := e.conns(src, "getSinkConnections", nil); !ktSameConns(got, []any{ktConn(src, dst, "AUDIO", "default", "x")}) {
		t.Fatalf("src sinks %#v", got)
	}
	if got := e.conns(src2, "getSinkConnections", nil); len(got) != 0 {
		t.Fatalf("src2 sinks %#v", got)
	}
	if got := e.conns(dst, "getSourceConnections", nil); !ktSameConns(got, []any{ktConn(src, dst, "AUDIO", "default", "x")}) {
		t.Fatalf("dst sources %#v", got)
	}
	// dst's default pads are free again: a new source causes no replacement.
	e.mustInvoke("S", src2, "connect", map[string]any{"sink": dst, "mediaType": "VIDEO"})
	if got := ktGraphEvents(e.sink.take()); len(got) != 0 {
		t.Fatalf("connect to freed pad emitted %v", got)
	}
	// Releasing the whole pipeline emits no ElementDisconnected (all sources go too).
	if err := e.store.Release(e.call("S"), p); err != nil {
		t.Fatal(err)
	}
	if got := ktGraphEvents(e.sink.take()); len(got) != 0 {
		t.Fatalf("pipeline release emitted %v", got)
	}
}

func TestSelfConnection(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	a, b := e.element("S", p), e.element("S", p)
	e.subscribe("S", a, "ElementConnected")
	e.subscribe("S", a, "ElementDisconnected")
	e.mustInvoke("S", a, "connect", map[string]any{"sink": a, "mediaType": "VIDEO"})
	e.mustInvoke("S", a, "connect", map[string]any{"sink": b, "mediaType": "AUDIO"})
	want := []any{ktConn(a, a, "VIDEO", "default", "default")}
	if got := e.conns(a, "getSourceConnections", nil); !ktSameConns(got, want) {
		t.Fatalf("sources %#v", got)
	}
	if got := e.conns(a, "getSinkConnections", map[string]any{"mediaType": "VIDEO"}); !ktSameConns(got, want) {
		t.Fatalf("sinks %#v", got)
	}
	if got := ktGraphEvents(e.sink.take()); !slices.Equal(got, []ktEv{{"ElementConnected", a, a, "VIDEO"}, {"ElementConnected", a, b, "AUDIO"}}) {
		t.Fatalf("events %v", got)
	}
	if err := e.store.Release(e.call("S"), a); err != nil {
		t.Fatal(err)
	}
	if got := e.conns(b, "getSourceConnections", nil); len(got) != 0 {
		t.Fatalf("b sources %#v", got)
	}
	if e.store.Len() != 2 {
		t.Fatalf("Len %d", e.store.Len())
	}
}

func TestMediaFlowing(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	el := e.element("S", p)
	e.subscribe("S", el, "MediaFlowInStateChanged")
	e.subscribe("S", el, "MediaFlowOutStateChanged")
	x := e.elem(el)
	flowing := func(op, typ, desc string) any {
		t.Helper()
		params := map[string]any{"mediaType": typ}
		if desc != "" {
			if op == "isMediaFlowingIn" {
				params["sinkMediaDescription"] = desc
			} else {
				params["sourceMediaDescription"] = desc
			}
		}
		return e.mustInvoke("S", el, op, params)
	}
	type ev struct{ typ, state, pad, mediaType string }
	events := func() []ev {
		var out []ev
		for _, d := range e.sink.take() {
			if d.Data["type"] != d.Type || d.Data["source"] != el {
				t.Errorf("event data %s", d.Raw)
			}
			out = append(out, ev{d.Type, d.Data["state"].(string), d.Data["padName"].(string), d.Data["mediaType"].(string)})
		}
		return out
	}
	for _, st := range []struct {
		name   string
		do     func()
		check  [][3]string // op, mediaType, desc → want true; all others listed in falseOf are false
		events []ev
	}{
		{"initially not flowing", func() {}, nil, nil},
		{"video in flows", func() { x.SetFlowingIn(Video, "default", true) },
			[][3]string{{"isMediaFlowingIn", "VIDEO", ""}, {"isMediaFlowingIn", "VIDEO", "default"}},
			[]ev{{"MediaFlowInStateChanged", "FLOWING", "default", "VIDEO"}}},
		{"repeat emits nothing", func() { x.SetFlowingIn(Video, "default", true) },
			[][3]string{{"isMediaFlowingIn", "VIDEO", ""}}, nil},
		{"audio out on pad b", func() { x.SetFlowingOut(Audio, "b", true) },
			[][3]string{{"isMediaFlowingIn", "VIDEO", ""}, {"isMediaFlowingOut", "AUDIO", "b"}},
			[]ev{{"MediaFlowOutStateChanged", "FLOWING", "b", "AUDIO"}}},
		{"video in stops", func() { x.SetFlowingIn(Video, "default", false) },
			[][3]string{{"isMediaFlowingOut", "AUDIO", "b"}},
			[]ev{{"MediaFlowInStateChanged", "NOT_FLOWING", "default", "VIDEO"}}},
		{"not flowing repeat emits nothing", func() { x.SetFlowingIn(Video, "default", false) },
			[][3]string{{"isMediaFlowingOut", "AUDIO", "b"}}, nil},
		{"first report of not flowing emits nothing", func() { x.SetFlowingIn(Data, "default", false) },
			[][3]string{{"isMediaFlowingOut", "AUDIO", "b"}}, nil},
	} {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			for _, op := range []string{"isMediaFlowingIn", "isMediaFlowingOut"} {
				for _, typ := range []string{"AUDIO", "VIDEO", "DATA"} {
					for _, desc := range []string{"", "default", "b"} {
						want := false
						for _, c := range st.check {
							d := c[2]
							if d == "" {
								d = "default"
							}
							dd := desc
							if dd == "" {
								dd = "default"
							}
							if c[0] == op && c[1] == typ && d == dd {
								want = true
							}
						}
						if got := flowing(op, typ, desc); got != want {
							t.Errorf("%s(%s, %q) = %v, want %v", op, typ, desc, got, want)
						}
					}
				}
			}
			if got := events(); !slices.Equal(got, st.events) {
				t.Fatalf("events %v, want %v", got, st.events)
			}
		})
	}
	t.Run("bad mediaType", func(t *testing.T) {
		_, err := e.invoke("S", el, "isMediaFlowingIn", map[string]any{"mediaType": "NOPE"})
		ktWantCode(t, err, CodeMarshall)
		_, err = e.invoke("S", el, "isMediaTranscoding", map[string]any{"mediaType": "VIDEO"})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestElementMisc(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	a, b := e.element("S", p), e.element("S", p)
	e.mustInvoke("S", a, "connect", map[string]any{"sink": b, "mediaType": "VIDEO"})
	t.Run("getStats", func(t *testing.T) {
		st, ok := ktWire(t, e.mustInvoke("S", a, "getStats", map[string]any{})).(map[string]any)
		if !ok || len(st) != 1 {
			t.Fatalf("getStats %#v", st)
		}
		for id, v := range st {
			m := v.(map[string]any)
			if m["id"] != id || m["__type__"] != "ElementStats" || m["type"] != "element" || !strings.HasPrefix(id, a) {
				t.Fatalf("stats entry %s: %#v", id, m)
			}
		}
		_, err := e.invoke("S", a, "getStats", map[string]any{"mediaType": "NOPE"})
		ktWantCode(t, err, CodeMarshall)
	})
	t.Run("getGstreamerDot", func(t *testing.T) {
		for _, id := range []string{p, a} {
			s, ok := e.mustInvoke("S", id, "getGstreamerDot", nil).(string)
			if !ok || !strings.HasPrefix(s, "digraph") || !strings.Contains(s, a) || !strings.Contains(s, "VIDEO") {
				t.Fatalf("getGstreamerDot(%s) = %q", id, s)
			}
		}
		_, err := e.invoke("S", p, "getGstreamerDot", map[string]any{"details": "SHOW_NOPE"})
		ktWantCode(t, err, CodeMarshall)
	})
	t.Run("dumpGstreamerDot", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("GST_DEBUG_DUMP_DOT_DIR", dir)
		if v := e.mustInvoke("S", p, "dumpGstreamerDot", nil); v != nil {
			t.Fatalf("dumpGstreamerDot = %v", v)
		}
	})
	t.Run("Elements", func(t *testing.T) {
		d := e.hub("S", "Dispatcher", p)
		hp := e.port("S", d)
		var got []string
		for _, el := range e.obj(p).(*Pipeline).Elements() {
			got = append(got, el.Base().ID())
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values([]string{a, b, hp}))
		if !slices.Equal(got, want) {
			t.Fatalf("Elements = %v, want %v", got, want)
		}
	})
}
