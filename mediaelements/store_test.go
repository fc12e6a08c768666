package mediaelements

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
)

const ktUUID = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`

func TestStoreIDs(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	p2 := e.create("S", "kurento.MediaPipeline", nil)
	el := e.create("S", "PassThrough", map[string]any{"mediaPipeline": p})
	elQ := e.create("S", "kurento.PassThrough", map[string]any{"mediaPipeline": p})
	d := e.hub("S", "Dispatcher", p)
	d1 := e.hub("S", "kurento.DispatcherOneToMany", p)
	hp := e.port("S", d)
	hpQ := e.create("S", "kurento.HubPort", map[string]any{"hub": d1})
	q := regexp.QuoteMeta
	for _, tc := range []struct {
		name, id, re string
	}{
		{"pipeline", p, `^(` + ktUUID + `)_kurento\.MediaPipeline$`},
		{"qualified pipeline", p2, `^(` + ktUUID + `)_kurento\.MediaPipeline$`},
		{"element", el, `^` + q(p) + `/(` + ktUUID + `)_kurento\.PassThrough$`},
		{"qualified element", elQ, `^` + q(p) + `/(` + ktUUID + `)_kurento\.PassThrough$`},
		{"dispatcher", d, `^` + q(p) + `/(` + ktUUID + `)_kurento\.Dispatcher$`},
		{"dispatcher one to many", d1, `^` + q(p) + `/(` + ktUUID + `)_kurento\.DispatcherOneToMany$`},
		{"hub port", hp, `^` + q(d) + `/(` + ktUUID + `)_kurento\.HubPort$`},
		{"qualified hub port", hpQ, `^` + q(d1) + `/(` + ktUUID + `)_kurento\.HubPort$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := regexp.MustCompile(tc.re).FindStringSubmatch(tc.id)
			if m == nil {
				t.Fatalf("id %q does not match %s", tc.id, tc.re)
			}
			if _, err := uuid.Parse(m[1]); err != nil {
				t.Fatalf("uuid part %q: %v", m[1], err)
			}
			if !strings.HasPrefix(tc.id, p) && tc.id != p2 {
				t.Fatalf("id %q does not start with its pipeline id", tc.id)
			}
		})
	}
	if p == p2 || el == elQ || hp == hpQ {
		t.Fatal("ids are not unique")
	}
	if got := e.store.Len(); got != 8 {
		t.Fatalf("Len = %d, want 8", got)
	}
	want := map[string]int{"MediaPipeline": 2, "PassThrough": 2, "Dispatcher": 1, "DispatcherOneToMany": 1, "HubPort": 2}
	if got := e.store.CountByType(); !reflect.DeepEqual(got, want) {
		t.Fatalf("CountByType = %v, want %v", got, want)
	}
	var pipes []string
	for _, o := range e.store.Pipelines() {
		pipes = append(pipes, o.Base().ID())
	}
	if want := slices.Sorted(slices.Values([]string{p, p2})); !slices.Equal(pipes, want) {
		t.Fatalf("Pipelines = %v, want %v (sorted)", pipes, want)
	}
}

func TestStoreCreateUnknownType(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	for _, typ := range []string{"Nope", "kurento.Nope", "MediaObject", "kurento.MediaObject", "MediaElement",
		"Hub", "ServerManager", "kurento.ServerManager", "passthrough", "elements.Dispatcher", ""} {
		t.Run(fmt.Sprintf("%q", typ), func(t *testing.T) {
			before := e.store.Len()
			_, err := e.tryCreate("S", typ, map[string]any{"mediaPipeline": p})
			de := ktWantCode(t, err, CodeNotAvailable)
			if want := fmt.Sprintf("Factory '%s' not found", typ); de.Message != want {
				t.Fatalf("message %q, want %q", de.Message, want)
			}
			if e.store.Len() != before {
				t.Fatalf("Len changed %d → %d", before, e.store.Len())
			}
		})
	}
}

func TestStoreDescribe(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	el := e.create("S", "kurento.PassThrough", map[string]any{"mediaPipeline": p})
	d := e.hub("S", "Dispatcher", p)
	hp := e.port("S", d)
	for _, tc := range []struct {
		id   string
		want Description
	}{
		{p, Description{"MediaPipeline", "kurento.MediaPipeline", []string{"kurento.MediaObject"}}},
		{el, Description{"PassThrough", "kurento.PassThrough", []string{"kurento.MediaElement", "kurento.MediaObject"}}},
		{d, Description{"Dispatcher", "kurento.Dispatcher", []string{"kurento.Hub", "kurento.MediaObject"}}},
		{hp, Description{"HubPort", "kurento.HubPort", []string{"kurento.MediaElement", "kurento.MediaObject"}}},
		{ManagerID, Description{"ServerManager", "kurento.ServerManager", []string{"kurento.MediaObject"}}},
	} {
		t.Run(tc.want.Type, func(t *testing.T) {
			got, err := e.store.Describe(e.call("S2"), tc.id)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Describe = %#v, %v; want %#v", got, err, tc.want)
			}
			b, _ := json.Marshal(got)
			var wire map[string]any
			if err := json.Unmarshal(b, &wire); err != nil {
				t.Fatal(err)
			}
			if len(wire) != 3 || wire["type"] != tc.want.Type || wire["qualifiedType"] != tc.want.QualifiedType {
				t.Fatalf("wire form %s", b)
			}
			if _, ok := wire["hierarchy"].([]any); !ok {
				t.Fatalf("hierarchy is not an array: %s", b)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		_, err := e.store.Describe(e.call("S"), "nope")
		if de := ktWantCode(t, err, CodeObjectNotFound); de.Message != "Object 'nope' not found" {
			t.Fatalf("message %q", de.Message)
		}
	})
}

func TestMediaObjectProperties(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	e1 := e.element("S", p)
	e2 := e.element("S", p)
	d := e.hub("S", "Dispatcher", p)
	hp1 := e.port("S", d)
	hp2 := e.port("S", d)
	for _, tc := range []struct {
		name, id, op string
		want         any
	}{
		{"pipeline name defaults to id", p, "getName", p},
		{"element name defaults to id", e1, "getName", e1},
		{"port name defaults to id", hp1, "getName", hp1},
		{"manager name", ManagerID, "getName", ManagerID},
		{"getId", e2, "getId", e2},
		{"pipeline parent is null", p, "getParent", nil},
		{"element parent is pipeline", e1, "getParent", p},
		{"hub parent is pipeline", d, "getParent", p},
		{"port parent is hub", hp1, "getParent", d},
		{"manager parent is null", ManagerID, "getParent", nil},
		{"pipeline's pipeline is itself", p, "getMediaPipeline", p},
		{"element's pipeline", e1, "getMediaPipeline", p},
		{"hub's pipeline", d, "getMediaPipeline", p},
		{"port's pipeline", hp2, "getMediaPipeline", p},
		{"manager has no pipeline", ManagerID, "getMediaPipeline", nil},
		{"creation time", e1, "getCreationTime", ktNow.Unix()},
		{"sendTagsInEvents default", e1, "getSendTagsInEvents", false},
		{"encoderBitrate default", e1, "getEncoderBitrate", DefaultEncoderBitrate},
		{"latencyStats default", p, "getLatencyStats", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.mustInvoke("S", tc.id, tc.op, nil)
			if !reflect.DeepEqual(ktWire(t, got), ktWire(t, tc.want)) {
				t.Fatalf("%s = %#v, want %#v", tc.op, got, tc.want)
			}
		})
	}
	t.Run("children", func(t *testing.T) {
		for _, tc := range []struct {
			id   string
			want []string
		}{
			{p, []string{e1, e2, d}},
			{d, []string{hp1, hp2}},
			{e1, []string{}},
			{hp1, []string{}},
		} {
			got := ktStrings(t, e.mustInvoke("S", tc.id, "getChildren", nil))
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("getChildren(%s) = %v, want %v", tc.id, got, want)
			}
		}
	})
	t.Run("setName changes only the name", func(t *testing.T) {
		e.mustInvoke("S", e1, "setName", map[string]any{"name": "ep-one"})
		if got := e.mustInvoke("S", e1, "getName", nil); got != "ep-one" {
			t.Fatalf("getName = %v", got)
		}
		if got := e.mustInvoke("S", e1, "getId", nil); got != e1 {
			t.Fatalf("getId = %v", got)
		}
		if got := e.mustInvoke("S", e2, "getName", nil); got != e2 {
			t.Fatalf("other element's name changed: %v", got)
		}
		if !e.alive(e1) {
			t.Fatal("renamed object not found by id")
		}
	})
	t.Run("read-only and final have no setter", func(t *testing.T) {
		for _, op := range []string{"setId", "setChildren", "setParent", "setMediaPipeline", "setCreationTime"} {
			_, err := e.store.PrepareInvoke(e.call("S"), e1, op, map[string]any{"x": 1})
			if de := ktWantCode(t, err, CodeMalformedTransaction); de.Message != fmt.Sprintf("Method '%s' with 1 parameters not found", op) {
				t.Errorf("%s: message %q", op, de.Message)
			}
		}
	})
	t.Run("negative bitrate", func(t *testing.T) {
		_, err := e.invoke("S", e1, "setMinEncoderBitrate", map[string]any{"minEncoderBitrate": json.Number("-1")})
		ktWantCode(t, err, CodeIllegalParam)
	})
}

func TestTags(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	el := e.element("S", p)
	tags := func() []any {
		t.Helper()
		v, _ := ktWire(t, e.mustInvoke("S", el, "getTags", nil)).([]any)
		return v
	}
	tag := func(k, v string) map[string]any {
		return map[string]any{"__module__": "kurento", "__type__": "Tag", "key": k, "value": v}
	}
	steps := []struct {
		name string
		op   string
		args map[string]any
		want any // getTag result or getTags list
		code int
	}{
		{"no tags", "getTags", nil, []any{}, 0},
		{"getTag unknown", "getTag", map[string]any{"key": "a"}, nil, CodeTagKeyNotFound},
		{"add a", "addTag", map[string]any{"key": "a", "value": "1"}, nil, 0},
		{"get a", "getTag", map[string]any{"key": "a"}, "1", 0},
		{"add b", "addTag", map[string]any{"key": "b", "value": "2"}, nil, 0},
		{"replace a", "addTag", map[string]any{"key": "a", "value": "3"}, nil, 0},
		{"get a again", "getTag", map[string]any{"key": "a"}, "3", 0},
		{"list", "getTags", nil, []any{tag("a", "3"), tag("b", "2")}, 0},
		{"remove a", "removeTag", map[string]any{"key": "a"}, nil, 0},
		{"remove unknown", "removeTag", map[string]any{"key": "zz"}, nil, 0},
		{"get removed", "getTag", map[string]any{"key": "a"}, nil, CodeTagKeyNotFound},
		{"list after remove", "getTags", nil, []any{tag("b", "2")}, 0},
		{"pipeline has its own tags", "", nil, nil, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.op == "" {
				if _, err := e.invoke("S", p, "getTag", map[string]any{"key": "b"}); AsError(err) == nil || AsError(err).Code != CodeTagKeyNotFound {
					t.Fatalf("pipeline getTag(b) err %v", err)
				}
				return
			}
			v, err := e.invoke("S", el, st.op, st.args)
			if st.code != 0 {
				de := ktWantCode(t, err, st.code)
				if st.op == "getTag" && !strings.Contains(de.Message, st.args["key"].(string)) {
					t.Fatalf("message %q does not name the key", de.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.op == "getTags" {
				if got := tags(); !reflect.DeepEqual(got, st.want) {
					t.Fatalf("getTags = %#v, want %#v", got, st.want)
				}
				return
			}
			if !reflect.DeepEqual(v, st.want) {
				t.Fatalf("%s = %#v, want %#v", st.op, v, st.want)
			}
		})
	}
}

// ktDestroyed extracts ObjectDestroyed ids in delivery order for a session.
func ktDestroyed(ds []ktDelivery, session string) []string {
	var out []string
	for _, d := range ktOfType(ds, "ObjectDestroyed") {
		if d.Session == session {
			out = append(out, fmt.Sprint(d.Data["objectId"]))
		}
	}
	return out
}

func TestReleaseCascade(t *testing.T) {
	type tree struct {
		p, e1, e2, d, hp1, hp2, d1, hp3 string
		all                             []string
		parent                          map[string]string
	}
	build := func(e *ktEnv) tree {
		var tr tree
		tr.p = e.pipeline("S")
		tr.e1 = e.element("S", tr.p)
		tr.e2 = e.element("S", tr.p)
		tr.d = e.hub("S", "Dispatcher", tr.p)
		tr.hp1 = e.port("S", tr.d)
		tr.hp2 = e.port("S", tr.d)
		tr.d1 = e.hub("S", "DispatcherOneToMany", tr.p)
		tr.hp3 = e.port("S", tr.d1)
		tr.all = []string{tr.p, tr.e1, tr.e2, tr.d, tr.hp1, tr.hp2, tr.d1, tr.hp3}
		tr.parent = map[string]string{tr.e1: tr.p, tr.e2: tr.p, tr.d: tr.p, tr.hp1: tr.d, tr.hp2: tr.d, tr.d1: tr.p, tr.hp3: tr.d1}
		// Connections across the tree, so release has edges to remove.
		e.mustInvoke("S", tr.e1, "connect", map[string]any{"sink": tr.hp1})
		e.mustInvoke("S", tr.hp2, "connect", map[string]any{"sink": tr.e2})
		return tr
	}
	for _, tc := range []struct {
		name     string
		release  func(tr tree) string
		gone     func(tr tree) []string
		survives func(tr tree) []string
	}{
		{"pipeline", func(tr tree) string { return tr.p },
			func(tr tree) []string { return tr.all }, func(tree) []string { return nil }},
		{"hub", func(tr tree) string { return tr.d },
			func(tr tree) []string { return []string{tr.d, tr.hp1, tr.hp2} },
			func(tr tree) []string { return []string{tr.p, tr.e1, tr.e2, tr.d1, tr.hp3} }},
		{"hub port", func(tr tree) string { return tr.hp3 },
			func(tr tree) []string { return []string{tr.hp3} },
			func(tr tree) []string { return []string{tr.p, tr.e1, tr.e2, tr.d, tr.hp1, tr.hp2, tr.d1} }},
		{"element", func(tr tree) string { return tr.e1 },
			func(tr tree) []string { return []string{tr.e1} },
			func(tr tree) []string { return []string{tr.p, tr.e2, tr.d, tr.hp1, tr.hp2, tr.d1, tr.hp3} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newKtEnv(t)
			tr := build(e)
			e.subscribe("W", ManagerID, "ObjectDestroyed")
			e.sink.take()
			before := e.store.Len()
			if err := e.store.Release(e.call("S"), tc.release(tr)); err != nil {
				t.Fatalf("Release: %v", err)
			}
			gone, survives := tc.gone(tr), tc.survives(tr)
			if got := e.store.Len(); got != before-len(gone) {
				t.Fatalf("Len = %d, want %d", got, before-len(gone))
			}
			for _, id := range gone {
				if e.alive(id) {
					t.Errorf("%s survived", id)
				}
				for _, op := range []string{"getName", "getChildren"} {
					_, err := e.invoke("S", id, op, nil)
					if de := ktWantCode(t, err, CodeObjectNotFound); !strings.Contains(de.Message, " not found") || !strings.Contains(de.Message, id) {
						t.Errorf("message %q", de.Message)
					}
				}
				_, err := e.store.Describe(e.call("S"), id)
				ktWantCode(t, err, CodeObjectNotFound)
				_, err = e.store.Subscribe(e.call("S"), id, "Error")
				ktWantCode(t, err, CodeObjectNotFound)
			}
			for _, id := range survives {
				if !e.alive(id) {
					t.Errorf("%s was released", id)
				}
				e.mustInvoke("S", id, "getName", nil)
			}
			destroyed := ktDestroyed(e.sink.take(), "W")
			if !slices.Equal(slices.Sorted(slices.Values(destroyed)), slices.Sorted(slices.Values(gone))) {
				t.Fatalf("ObjectDestroyed for %v, want %v", destroyed, gone)
			}
			pos := map[string]int{}
			for i, id := range destroyed {
				pos[id] = i
			}
			for child, parent := range tr.parent {
				ci, cok := pos[child]
				pi, pok := pos[parent]
				if cok && pok && ci > pi {
					t.Errorf("ObjectDestroyed for %s came after its parent %s: %v", child, parent, destroyed)
				}
			}
			// Parent's children no longer list released ones.
			for _, id := range survives {
				for _, ch := range ktStrings(t, e.mustInvoke("S", id, "getChildren", nil)) {
					if slices.Contains(gone, ch) {
						t.Errorf("getChildren(%s) still lists released %s", id, ch)
					}
				}
			}
			// Releasing again, or an unknown id, is not an error and emits nothing.
			for _, id := range []string{tc.release(tr), "nope", "newref:0"} {
				if err := e.store.Release(e.call("S"), id); err != nil {
					t.Errorf("Release(%s) again: %v", id, err)
				}
			}
			if got := ktDestroyed(e.sink.take(), "W"); len(got) != 0 {
				t.Fatalf("second release emitted ObjectDestroyed %v", got)
			}
		})
	}
}

func TestReleaseServerManager(t *testing.T) {
	e := newKtEnv(t)
	err := e.store.Release(e.call("S"), ManagerID)
	if de := AsError(err); de == nil || de.Code != CodeOperationNotSupported {
		t.Fatalf("Release(ServerManager) = %v, want code %d", err, CodeOperationNotSupported)
	}
	if !e.alive(ManagerID) {
		t.Fatal("ServerManager gone")
	}
	e.mustInvoke("S", ManagerID, "getInfo", nil)
	// Unref and session drops never take the ServerManager either.
	if err := e.store.Unref(e.call("S"), ManagerID); err != nil {
		t.Fatalf("Unref(manager): %v", err)
	}
	e.store.DropSession("S")
	e.store.CloseSession("S", true)
	e.store.ReleaseAll()
	if !e.alive(ManagerID) || e.store.Len() != 0 {
		t.Fatalf("manager alive %v, Len %d", e.alive(ManagerID), e.store.Len())
	}
	e.mustInvoke("S", ManagerID, "getInfo", nil)
}

func TestObjectCreatedEvent(t *testing.T) {
	e := newKtEnv(t)
	e.subscribe("W", ManagerID, "ObjectCreated")
	p := e.pipeline("S")
	el := e.element("S", p)
	got := ktOfType(e.sink.take(), "ObjectCreated")
	if len(got) != 2 {
		t.Fatalf("ObjectCreated deliveries: %+v", got)
	}
	for i, id := range []string{p, el} {
		d := got[i]
		if d.Session != "W" || d.Object != ManagerID || d.Data["object"] != id || d.Data["source"] != ManagerID {
			t.Errorf("delivery %d: %+v", i, d)
		}
		if _, ok := d.Data["type"]; ok {
			t.Errorf("ObjectCreated carries data.type: %s", d.Raw)
		}
		if d.Data["timestampMillis"] != strconv.FormatInt(ktNow.UnixMilli(), 10) {
			t.Errorf("timestampMillis %#v", d.Data["timestampMillis"])
		}
	}
	// A failed create announces nothing.
	_, err := e.tryCreate("S", "Nope", nil)
	ktWantCode(t, err, CodeNotAvailable)
	_, err = e.tryCreate("S", "PassThrough", nil)
	ktWantCode(t, err, CodeMarshall)
	if got := e.sink.take(); len(got) != 0 {
		t.Fatalf("failed create emitted %+v", got)
	}
}

func TestLimits(t *testing.T) {
	t.Run("MaxObjects", func(t *testing.T) {
		e := newKtEnv(t, func(o *Options) { o.Limits.MaxObjects = 3 })
		e.subscribe("W", ManagerID, "ObjectCreated")
		p := e.pipeline("A")
		el := e.element("B", p)
		d := e.hub("A", "Dispatcher", p)
		e.sink.take()
		counts := e.store.CountByType()
		for _, tc := range []struct {
			name, session, typ string
			ctor               map[string]any
		}{
			{"pipeline", "A", "MediaPipeline", nil},
			{"element other session", "C", "PassThrough", map[string]any{"mediaPipeline": p}},
			{"hub port", "A", "HubPort", map[string]any{"hub": d}},
		} {
			_, err := e.tryCreate(tc.session, tc.typ, tc.ctor)
			ktWantCode(t, err, CodeNotEnoughResources)
			if e.store.Len() != 3 || !reflect.DeepEqual(e.store.CountByType(), counts) {
				t.Fatalf("%s: counts changed: Len %d, %v", tc.name, e.store.Len(), e.store.CountByType())
			}
			if got := ktOfType(e.sink.take(), "ObjectCreated"); len(got) != 0 {
				t.Fatalf("%s: ObjectCreated for a refused create: %+v", tc.name, got)
			}
			if children := ktStrings(t, e.mustInvoke("A", d, "getChildren", nil)); len(children) != 0 {
				t.Fatalf("%s: hub got children %v", tc.name, children)
			}
		}
		if err := e.store.Release(e.call("A"), el); err != nil {
			t.Fatal(err)
		}
		e.port("C", d) // the freed slot can be used again
		_, err := e.tryCreate("A", "MediaPipeline", nil)
		ktWantCode(t, err, CodeNotEnoughResources)
	})
	t.Run("MaxObjectsPerSession", func(t *testing.T) {
		e := newKtEnv(t, func(o *Options) { o.Limits.MaxObjectsPerSession = 2 })
		p := e.pipeline("A")
		a2 := e.element("A", p)
		before := e.store.Len()
		for _, ctor := range []map[string]any{nil, {"mediaPipeline": p}} {
			typ := "MediaPipeline"
			if ctor != nil {
				typ = "PassThrough"
			}
			_, err := e.tryCreate("A", typ, ctor)
			ktWantCode(t, err, CodeNotEnoughResources)
			if e.store.Len() != before {
				t.Fatalf("Len changed on a refused create")
			}
		}
		// Other sessions have their own quota, in A's pipeline too.
		b1 := e.element("B", p)
		e.element("B", p)
		_, err := e.tryCreate("B", "PassThrough", map[string]any{"mediaPipeline": p})
		ktWantCode(t, err, CodeNotEnoughResources)
		// Releasing frees the quota of the creating session, whoever releases.
		if err := e.store.Release(e.call("B"), a2); err != nil {
			t.Fatal(err)
		}
		e.element("A", p)
		_, err = e.tryCreate("A", "PassThrough", map[string]any{"mediaPipeline": p})
		ktWantCode(t, err, CodeNotEnoughResources)
		if err := e.store.Release(e.call("A"), b1); err != nil {
			t.Fatal(err)
		}
		e.element("B", p)
		// Releasing the pipeline frees everything it held.
		if err := e.store.Release(e.call("A"), p); err != nil {
			t.Fatal(err)
		}
		if e.store.Len() != 0 {
			t.Fatalf("Len = %d", e.store.Len())
		}
		p = e.pipeline("A")
		e.element("A", p)
		e.pipeline("B")
		e.element("B", p)
	})
	t.Run("failed constructor frees the reservation", func(t *testing.T) {
		e := newKtEnv(t, func(o *Options) { o.Limits.MaxObjects = 1; o.Limits.MaxObjectsPerSession = 1 })
		// A constructor-param error is found before the reservation; a
		// refused type too. Neither may leak quota.
		for range 3 {
			_, err := e.tryCreate("A", "PassThrough", map[string]any{"mediaPipeline": "nope"})
			ktWantCode(t, err, CodeObjectNotFound)
			_, err = e.tryCreate("A", "Nope", nil)
			ktWantCode(t, err, CodeNotAvailable)
		}
		e.pipeline("A")
	})
}

// TestLimitsQuotaAfterSessionDropped: a session id can come back after it was
// dropped (kurento-client keeps using its old sessionId after 40007). The
// objects its first incarnation created and that survived the drop must not
// be charged to, or refunded to, the new incarnation.
func TestLimitsQuotaAfterSessionDropped(t *testing.T) {
	e := newKtEnv(t, func(o *Options) { o.Limits.MaxObjectsPerSession = 1 })
	p1 := e.pipeline("A")
	if _, err := e.store.Describe(e.call("B"), p1); err != nil { // B keeps p1 alive
		t.Fatal(err)
	}
	e.store.DropSession("A")
	if !e.alive(p1) {
		t.Fatal("p1 released although B references it")
	}
	e.pipeline("A") // A is back and creates its one allowed object
	if err := e.store.Release(e.call("B"), p1); err != nil {
		t.Fatal(err)
	}
	// A still owns one live object (p2): a second one is over its quota.
	if id, err := e.tryCreate("A", "MediaPipeline", nil); err == nil {
		t.Fatalf("BUG: session A created %s beyond MaxObjectsPerSession=1: releasing p1 (created by A's dropped incarnation) refunded the new session's quota (store.go releaseObject: ss.owned-- on s.sessions[b.owner])", id)
	} else {
		ktWantCode(t, err, CodeNotEnoughResources)
	}
}

func TestSubscriptions(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("A")
	src := e.element("A", p)
	sink := e.element("A", p)
	connect := func() {
		t.Helper()
		e.mustInvoke("A", src, "connect", map[string]any{"sink": sink, "mediaType": "VIDEO"})
		e.mustInvoke("A", src, "disconnect", map[string]any{"sink": sink, "mediaType": "VIDEO"})
	}
	count := func() map[string]int {
		t.Helper()
		out := map[string]int{}
		for _, d := range ktOfType(e.sink.take(), "ElementConnected") {
			out[d.Session]++
		}
		return out
	}
	t.Run("unsupported events", func(t *testing.T) {
		for _, tc := range []struct{ id, event string }{
			{src, "Nope"},
			{src, "MediaFlowInStateChange"}, // 6.x name
			{src, "OnIceCandidate"},
			{src, "ObjectCreated"}, // ServerManager's, not an element's
			{src, "elementconnected"},
			{p, "ElementConnected"},
			{ManagerID, "ElementConnected"},
		} {
			_, err := e.store.Subscribe(e.call("A"), tc.id, tc.event)
			if de := ktWantCode(t, err, CodeEventNotSupported); de.Message != fmt.Sprintf("Event '%s' not supported", tc.event) {
				t.Errorf("message %q", de.Message)
			}
		}
		_, err := e.store.Subscribe(e.call("A"), "nope", "Error")
		ktWantCode(t, err, CodeObjectNotFound)
	})
	a1 := e.subscribe("A", src, "ElementConnected")
	a2 := e.subscribe("A", src, "ElementConnected")
	b1 := e.subscribe("B", src, "ElementConnected")
	if a1 == a2 || a1 == b1 {
		t.Fatal("subscription ids are not unique")
	}
	if _, err := uuid.Parse(a1); err != nil {
		t.Fatalf("subscription id %q is not a UUID", a1)
	}
	for _, step := range []struct {
		name  string
		do    func()
		wantA int
		wantB int
	}{
		{"two subscriptions, one delivery", func() {}, 1, 1},
		{"unsubscribe unknown", func() { e.store.Unsubscribe("nope") }, 1, 1},
		{"after first unsubscribe", func() { e.store.Unsubscribe(a1) }, 1, 1},
		{"same id twice", func() { e.store.Unsubscribe(a1) }, 1, 1},
		{"after both", func() { e.store.Unsubscribe(a2) }, 0, 1},
		{"resubscribe", func() { e.subscribe("A", src, "ElementConnected") }, 1, 1},
		{"B gone", func() { e.store.Unsubscribe(b1) }, 1, 0},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.do()
			connect()
			got := count()
			if got["A"] != step.wantA || got["B"] != step.wantB || len(got) > 2 {
				t.Fatalf("deliveries %v, want A:%d B:%d", got, step.wantA, step.wantB)
			}
		})
	}
	t.Run("other events are not delivered", func(t *testing.T) {
		e.mustInvoke("A", src, "connect", map[string]any{"sink": sink, "mediaType": "VIDEO"})
		e.mustInvoke("A", src, "disconnect", map[string]any{"sink": sink, "mediaType": "VIDEO"})
		for _, d := range e.sink.take() {
			if d.Type != "ElementConnected" {
				t.Fatalf("unsubscribed event delivered: %s", d.Raw)
			}
		}
	})
}

func TestEventData(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("A")
	src := e.element("A", p)
	sink := e.element("A", p)
	e.subscribe("A", src, "ElementConnected")
	e.mustInvoke("A", src, "addTag", map[string]any{"key": "k", "value": "v"})
	ts := strconv.FormatInt(ktNow.UnixMilli(), 10)
	for _, tc := range []struct {
		name     string
		sendTags bool
		wantTags []any
	}{
		{"tags not sent by default", false, []any{}},
		{"tags sent when enabled", true, []any{map[string]any{"__module__": "kurento", "__type__": "Tag", "key": "k", "value": "v"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.mustInvoke("A", src, "setSendTagsInEvents", map[string]any{"sendTagsInEvents": tc.sendTags})
			e.mustInvoke("A", src, "disconnect", map[string]any{"sink": sink, "mediaType": "AUDIO", "sinkMediaDescription": "x"})
			e.sink.take()
			e.mustInvoke("A", src, "connect", map[string]any{"sink": sink, "mediaType": "AUDIO", "sinkMediaDescription": "x"})
			got := e.sink.take()
			if len(got) != 1 {
				t.Fatalf("deliveries %+v", got)
			}
			d := got[0]
			if d.Session != "A" || d.Object != src || d.Type != "ElementConnected" {
				t.Fatalf("envelope %s", d.Raw)
			}
			want := map[string]any{
				"source": src, "timestampMillis": ts, "tags": tc.wantTags, "type": "ElementConnected",
				"sink": sink, "mediaType": "AUDIO", "sourceMediaDescription": "default", "sinkMediaDescription": "x",
			}
			if !reflect.DeepEqual(d.Data, want) {
				t.Fatalf("data = %#v\nwant  %#v", d.Data, want)
			}
			var env map[string]map[string]any
			if err := json.Unmarshal(d.Raw, &env); err != nil || len(env) != 1 || len(env["value"]) != 3 {
				t.Fatalf("params shape %s", d.Raw)
			}
		})
	}
	t.Run("Error event", func(t *testing.T) {
		e.subscribe("A", p, "Error")
		e.obj(p).Base().EmitError("UNEXPECTED_PIPELINE_ERROR", 6, "boom")
		got := e.sink.take()
		if len(got) != 1 {
			t.Fatalf("deliveries %+v", got)
		}
		want := map[string]any{"source": p, "timestampMillis": ts, "tags": []any{},
			"type": "UNEXPECTED_PIPELINE_ERROR", "errorCode": json.Number("6"), "description": "boom"}
		if !reflect.DeepEqual(got[0].Data, want) || got[0].Type != "Error" || got[0].Object != p {
			t.Fatalf("Error event %s", got[0].Raw)
		}
	})
	t.Run("object fields are sent as ids", func(t *testing.T) {
		e.subscribe("A", src, "Error")
		e.obj(src).Base().Emit("Error", map[string]any{"type": "X", "errorCode": 1, "description": e.obj(sink)})
		got := e.sink.take()
		if len(got) != 1 || got[0].Data["description"] != sink {
			t.Fatalf("deliveries %+v", got)
		}
	})
}

func TestSubscriptionLifetime(t *testing.T) {
	t.Run("released object's subscriptions are gone", func(t *testing.T) {
		e := newKtEnv(t)
		p := e.pipeline("A")
		el := e.element("A", p)
		sub := e.subscribe("A", el, "Error")
		e.subscribe("B", el, "Error")
		obj := e.obj(el)
		if err := e.store.Release(e.call("A"), el); err != nil {
			t.Fatal(err)
		}
		obj.Base().EmitError("STREAM_ERROR_FAILED", 1, "late")
		if got := e.sink.take(); len(got) != 0 {
			t.Fatalf("event of a released object delivered: %+v", got)
		}
		e.store.Unsubscribe(sub) // not an error
		if _, err := e.store.Subscribe(e.call("A"), el, "Error"); AsError(err) == nil || AsError(err).Code != CodeObjectNotFound {
			t.Fatalf("subscribe to released: %v", err)
		}
		if len(e.store.listeners) != 0 || len(e.store.subs) != 0 {
			t.Fatalf("listeners %v subs %v left behind", e.store.listeners, e.store.subs)
		}
	})
	t.Run("dropped session's subscriptions are gone", func(t *testing.T) {
		e := newKtEnv(t)
		p := e.pipeline("A")
		e.subscribe("A", p, "Error")
		e.subscribe("B", p, "Error")
		e.store.DropSession("A")
		if !e.alive(p) {
			t.Fatal("p released although B references it")
		}
		e.obj(p).Base().EmitError("UNEXPECTED_PIPELINE_ERROR", 1, "x")
		got := e.sink.take()
		if len(got) != 1 || got[0].Session != "B" {
			t.Fatalf("deliveries %+v", got)
		}
	})
	t.Run("no sink, no panic", func(t *testing.T) {
		st := NewStore(Options{Registry: ktRegistry()})
		c := st.NewCall(t.Context(), "A")
		o, err := st.Create(c, "MediaPipeline", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Subscribe(c, o.Base().ID(), "Error"); err != nil {
			t.Fatal(err)
		}
		o.Base().EmitError("X", 1, "y")
		if err := st.Release(c, o.Base().ID()); err != nil {
			t.Fatal(err)
		}
	})
}
