package mediaelements

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestRegistryClassLookup(t *testing.T) {
	reg := ktRegistry()
	for _, tc := range []struct {
		name     string
		want     string // "" = not found
		abstract bool
	}{
		{"PassThrough", "PassThrough", false},
		{"kurento.PassThrough", "PassThrough", false},
		{"MediaPipeline", "MediaPipeline", false},
		{"kurento.MediaPipeline", "MediaPipeline", false},
		{"HubPort", "HubPort", false},
		{"kurento.HubPort", "HubPort", false},
		{"Dispatcher", "Dispatcher", false},
		{"kurento.Dispatcher", "Dispatcher", false},
		{"DispatcherOneToMany", "DispatcherOneToMany", false},
		{"kurento.DispatcherOneToMany", "DispatcherOneToMany", false},
		{"MediaObject", "MediaObject", true},
		{"kurento.MediaElement", "MediaElement", true},
		{"Hub", "Hub", true},
		{"ServerManager", "ServerManager", true},
		{"Nope", "", false},
		{"kurento.Nope", "", false},
		{"passthrough", "", false},
		{"elements.Dispatcher", "", false},
		{"kurento.kurento.PassThrough", "", false},
		{"", "", false},
		{"kurento.", "", false},
	} {
		t.Run(fmt.Sprintf("%q", tc.name), func(t *testing.T) {
			c, ok := reg.Class(tc.name)
			if tc.want == "" {
				if ok {
					t.Fatalf("Class(%q) found %s", tc.name, c.Name)
				}
				return
			}
			if !ok {
				t.Fatalf("Class(%q) not found", tc.name)
			}
			if c.Name != tc.want || c.QualifiedName() != "kurento."+tc.want || c.Abstract != tc.abstract {
				t.Fatalf("Class(%q) = %s (%s, abstract %v), want %s abstract %v", tc.name, c.Name, c.QualifiedName(), c.Abstract, tc.want, tc.abstract)
			}
		})
	}
}

func TestRegistryHierarchy(t *testing.T) {
	reg := ktRegistry()
	obj, elem, hub := "kurento.MediaObject", "kurento.MediaElement", "kurento.Hub"
	for _, tc := range []struct {
		class string
		want  []string
	}{
		{"MediaObject", []string{}},
		{"ServerManager", []string{obj}},
		{"MediaPipeline", []string{obj}},
		{"MediaElement", []string{obj}},
		{"Hub", []string{obj}},
		{"PassThrough", []string{elem, obj}},
		{"HubPort", []string{elem, obj}},
		{"Dispatcher", []string{hub, obj}},
		{"DispatcherOneToMany", []string{hub, obj}},
	} {
		t.Run(tc.class, func(t *testing.T) {
			c, ok := reg.Class(tc.class)
			if !ok {
				t.Fatalf("class %s missing", tc.class)
			}
			got := c.Hierarchy()
			if got == nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Hierarchy() = %#v, want %#v", got, tc.want)
			}
			if !c.Is(tc.class) || !c.Is("MediaObject") {
				t.Fatalf("%s.Is(self/MediaObject) false", tc.class)
			}
			for _, anc := range tc.want {
				if !c.Is(strings.TrimPrefix(anc, "kurento.")) {
					t.Fatalf("%s.Is(%s) false", tc.class, anc)
				}
			}
			if len(tc.want) > 0 && c.Parent().QualifiedName() != tc.want[0] {
				t.Fatalf("Parent() = %s, want %s", c.Parent().QualifiedName(), tc.want[0])
			}
		})
	}
	pt, _ := reg.Class("PassThrough")
	for _, not := range []string{"Hub", "HubPort", "MediaPipeline", "Dispatcher", "Nope"} {
		if pt.Is(not) {
			t.Errorf("PassThrough.Is(%s) = true", not)
		}
	}
}

func TestRegistryMethodLookup(t *testing.T) {
	reg := ktRegistry()
	for _, tc := range []struct {
		class, method string
		found         bool
		params        []string // nil: not checked
	}{
		// Inherited from MediaObject.
		{"PassThrough", "getName", true, []string{}},
		{"PassThrough", "setName", true, []string{"name"}},
		{"PassThrough", "getId", true, []string{}},
		{"PassThrough", "setId", false, nil},
		{"PassThrough", "getChildren", true, nil},
		{"PassThrough", "setChildren", false, nil},
		{"PassThrough", "getParent", true, nil},
		{"PassThrough", "setParent", false, nil},
		{"PassThrough", "getMediaPipeline", true, nil},
		{"PassThrough", "setMediaPipeline", false, nil},
		{"PassThrough", "getCreationTime", true, nil},
		{"PassThrough", "setCreationTime", false, nil},
		{"PassThrough", "getSendTagsInEvents", true, nil},
		{"PassThrough", "setSendTagsInEvents", true, []string{"sendTagsInEvents"}},
		{"PassThrough", "addTag", true, []string{"key", "value"}},
		{"PassThrough", "getTags", true, nil},
		// Inherited from MediaElement.
		{"PassThrough", "connect", true, []string{"sink", "mediaType", "sourceMediaDescription", "sinkMediaDescription"}},
		{"PassThrough", "getEncoderBitrate", true, nil},
		{"PassThrough", "setMaxEncoderBitrate", true, []string{"maxEncoderBitrate"}},
		{"PassThrough", "getStats", true, nil},
		{"PassThrough", "name", false, nil},
		{"PassThrough", "GetName", false, nil},
		{"PassThrough", "nope", false, nil},
		{"HubPort", "connect", true, []string{"sink", "mediaType", "sourceMediaDescription", "sinkMediaDescription"}},
		{"HubPort", "isMediaFlowingIn", true, []string{"mediaType", "sinkMediaDescription"}},
		{"HubPort", "addTag", true, nil},
		// Dispatcher.connect is its own (nearest first), not MediaElement's.
		{"Dispatcher", "connect", true, []string{"source", "sink"}},
		{"Dispatcher", "getName", true, nil},
		{"Dispatcher", "getGstreamerDot", true, nil},
		{"Dispatcher", "getSourceConnections", false, nil},
		{"DispatcherOneToMany", "setSource", true, []string{"source"}},
		{"DispatcherOneToMany", "removeSource", true, []string{}},
		{"DispatcherOneToMany", "connect", false, nil},
		{"MediaPipeline", "getLatencyStats", true, nil},
		{"MediaPipeline", "setLatencyStats", true, []string{"latencyStats"}},
		{"MediaPipeline", "getGstreamerDot", true, nil},
		{"MediaPipeline", "connect", false, nil},
		{"ServerManager", "getInfo", true, nil},
		{"ServerManager", "setInfo", false, nil},
		{"ServerManager", "getPipelines", true, nil},
		{"ServerManager", "getSessions", true, nil},
		{"ServerManager", "getMetadata", true, nil},
		{"ServerManager", "setMetadata", false, nil},
		{"ServerManager", "getKmd", true, []string{"moduleName"}},
		{"ServerManager", "getUsedCpu", true, []string{"interval"}},
		{"ServerManager", "getName", true, nil},
		{"ServerManager", "connect", false, nil},
	} {
		t.Run(tc.class+"."+tc.method, func(t *testing.T) {
			c, _ := reg.Class(tc.class)
			m := c.lookupMethod(tc.method)
			if (m != nil) != tc.found {
				t.Fatalf("lookupMethod(%s) found=%v, want %v", tc.method, m != nil, tc.found)
			}
			if m == nil || tc.params == nil {
				return
			}
			var got []string
			for _, p := range m.Params {
				got = append(got, p.Name)
			}
			if !slices.Equal(got, tc.params) && !(len(got) == 0 && len(tc.params) == 0) {
				t.Fatalf("%s params %v, want %v", tc.method, got, tc.params)
			}
			if m.Name != tc.method {
				t.Fatalf("method name %q", m.Name)
			}
		})
	}
}

// TestRegistryAccessorsWork drives generated accessors through the store, so
// a broken closure (e.g. every accessor bound to the last property) shows.
func TestRegistryAccessorsWork(t *testing.T) {
	e := newKtEnv(t)
	p := e.pipeline("S")
	el := e.element("S", p)
	for _, tc := range []struct {
		id, prop string
		set      any
	}{
		{el, "name", "renamed"},
		{el, "sendTagsInEvents", true},
		{el, "encoderBitrate", 1234},
		{el, "minEncoderBitrate", 5},
		{el, "maxEncoderBitrate", 99},
		{p, "latencyStats", true},
		{p, "name", "pipe"},
	} {
		t.Run(tc.prop, func(t *testing.T) {
			up := strings.ToUpper(tc.prop[:1]) + tc.prop[1:]
			if v, err := e.invoke("S", tc.id, "set"+up, map[string]any{tc.prop: tc.set}); err != nil || v != nil {
				t.Fatalf("set%s = %v, %v", up, v, err)
			}
			if got := e.mustInvoke("S", tc.id, "get"+up, nil); got != tc.set {
				t.Fatalf("get%s = %#v, want %#v", up, got, tc.set)
			}
		})
	}
	// Setting one property must not have changed another.
	if got := e.mustInvoke("S", el, "getEncoderBitrate", nil); got != 1234 {
		t.Fatalf("getEncoderBitrate = %v after other sets", got)
	}
	if got := e.mustInvoke("S", el, "getId", nil); got != el {
		t.Fatalf("getId = %v, want %s", got, el)
	}
}

func TestRegistryEvents(t *testing.T) {
	reg := ktRegistry()
	for _, tc := range []struct {
		class, event string
		want         bool
	}{
		{"PassThrough", "ElementConnected", true},
		{"PassThrough", "MediaFlowInStateChanged", true},
		{"PassThrough", "Error", true}, // from MediaObject
		{"PassThrough", "ObjectCreated", false},
		{"PassThrough", "MediaFlowInStateChange", false}, // 6.x name
		{"HubPort", "ElementDisconnected", true},
		{"Dispatcher", "Error", true},
		{"Dispatcher", "ElementConnected", false},
		{"MediaPipeline", "Error", true},
		{"MediaPipeline", "ElementConnected", false},
		{"ServerManager", "ObjectCreated", true},
		{"ServerManager", "ObjectDestroyed", true},
		{"ServerManager", "Error", true},
	} {
		t.Run(tc.class+"."+tc.event, func(t *testing.T) {
			c, _ := reg.Class(tc.class)
			if got := c.hasEvent(tc.event); got != tc.want {
				t.Fatalf("hasEvent = %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		event string
		media bool
	}{
		{"ElementConnected", true}, {"ElementDisconnected", true}, {"MediaFlowInStateChanged", true},
		{"MediaFlowOutStateChanged", true}, {"MediaTranscodingStateChanged", true},
		{"Error", false}, {"ObjectCreated", false}, {"ObjectDestroyed", false}, {"Nope", false},
	} {
		if got := reg.isMediaEvent(tc.event); got != tc.media {
			t.Errorf("isMediaEvent(%s) = %v, want %v", tc.event, got, tc.media)
		}
	}
}

func TestNewRegistryPanics(t *testing.T) {
	abstract := func(name, extends string) *Class {
		return &Class{Name: name, Module: "core", Extends: extends, Abstract: true}
	}
	newFn := func(_ *Call, in ObjectInit, _ Args) (Object, error) {
		p := &PassThrough{}
		p.InitElement(in)
		return p, nil
	}
	withCtor := func(typ string) *Class {
		return &Class{Name: "X", Module: "core", Extends: "MediaElement", New: newFn,
			Constructor: []Param{{Name: "mediaPipeline", Type: "MediaPipeline"}, {Name: "p", Type: typ}}}
	}
	withMethod := func(typ string) *Class {
		c := abstract("X", "MediaElement")
		c.Methods = []Method{{Name: "m", Params: []Param{{Name: "p", Type: typ}}}}
		return c
	}
	for _, tc := range []struct {
		name    string
		classes func() []*Class
		panics  string // substring of the panic message; "" = must not panic
	}{
		{"valid extra class", func() []*Class { return []*Class{PassThroughClass(), withCtor("String")} }, ""},
		{"known array and map types", func() []*Class {
			return []*Class{withMethod("MediaType[]"), func() *Class {
				c := abstract("Y", "MediaElement")
				c.Methods = []Method{{Name: "m", Params: []Param{{Name: "a", Type: "Tag<>"}, {Name: "b", Type: "MediaObject[]"}, {Name: "c", Type: "int64"}, {Name: "d", Type: "double"}}}}
				return c
			}()}
		}, ""},
		{"duplicate class", func() []*Class { return []*Class{PassThroughClass(), PassThroughClass()} }, "PassThrough"},
		{"duplicate core class", func() []*Class { return []*Class{abstract("MediaElement", "MediaObject")} }, "MediaElement"},
		{"unknown extends", func() []*Class { return []*Class{abstract("X", "Nope")} }, "Nope"},
		{"extends qualified name", func() []*Class { return []*Class{abstract("X", "kurento.MediaElement")} }, "kurento.MediaElement"},
		{"unknown event", func() []*Class {
			c := abstract("X", "MediaElement")
			c.Events = []string{"ElementConnected", "NopeHappened"}
			return []*Class{c}
		}, "NopeHappened"},
		{"unknown constructor param type", func() []*Class { return []*Class{withCtor("Nope")} }, "Nope"},
		{"unknown method param type", func() []*Class { return []*Class{withMethod("Nope")} }, "Nope"},
		{"unknown array element type", func() []*Class { return []*Class{withMethod("Nope[]")} }, "Nope"},
		{"unknown map value type", func() []*Class { return []*Class{withMethod("Nope<>")} }, "Nope"},
		{"lower-case primitive", func() []*Class { return []*Class{withMethod("string")} }, "string"},
		{"concrete class without New", func() []*Class {
			return []*Class{{Name: "X", Module: "core", Extends: "MediaElement"}}
		}, "X"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var msg string
			func() {
				defer func() {
					if r := recover(); r != nil {
						msg = fmt.Sprint(r)
						if msg == "" {
							msg = "<empty panic>"
						}
					}
				}()
				NewRegistry(tc.classes()...)
			}()
			switch {
			case tc.panics == "" && msg != "":
				t.Fatalf("NewRegistry panicked: %s", msg)
			case tc.panics != "" && msg == "":
				t.Fatalf("NewRegistry did not panic (want a panic mentioning %q)", tc.panics)
			case tc.panics != "" && !strings.Contains(msg, tc.panics):
				t.Fatalf("panic %q does not mention %q", msg, tc.panics)
			}
		})
	}
}

// TestNewRegistryChecksPropertyTypes: a property's type is the param type of
// its generated setter, so an unknown one is as inconsistent as an unknown
// method param type. NewRegistry only checks constructor and method params.
func TestNewRegistryChecksPropertyTypes(t *testing.T) {
	c := &Class{Name: "X", Module: "core", Extends: "MediaElement", Abstract: true,
		Properties: []Property{{Name: "p", Type: "Nope", Access: ReadWrite,
			Get: func(*Call, Object) (any, error) { return nil, nil }, Set: func(*Call, Object, any) error { return nil }}}}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("BUG: NewRegistry accepted property X.p of unknown type Nope (registry.go NewRegistry: check() runs on Constructor and Methods only, not Properties)")
		} else if !strings.Contains(fmt.Sprint(r), "Nope") {
			t.Fatalf("panic %v does not name the type", r)
		}
	}()
	NewRegistry(c)
}

func TestRegistryFactories(t *testing.T) {
	full, bare := ktRegistry(), NewRegistry()
	for _, tc := range []struct {
		reg    *Registry
		module string
		want   []string
	}{
		{full, "core", []string{"HubPort", "MediaPipeline", "PassThrough"}},
		{full, "elements", []string{"Dispatcher", "DispatcherOneToMany"}},
		{full, "filters", []string{}},
		{full, "nope", []string{}},
		{bare, "core", []string{"HubPort", "MediaPipeline"}},
		{bare, "elements", []string{}},
	} {
		t.Run(tc.module, func(t *testing.T) {
			got := tc.reg.Factories(tc.module)
			if got == nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Factories(%s) = %#v, want %#v", tc.module, got, tc.want)
			}
		})
	}
	if !slices.Equal(Modules, []string{"core", "elements", "filters"}) {
		t.Fatalf("Modules = %v", Modules)
	}
	// Classes is a copy: callers cannot reorder the registry.
	cs := full.Classes()
	cs[0] = nil
	if full.Classes()[0] == nil {
		t.Fatal("Classes() exposes the registry's slice")
	}
}

func TestRegistryComplexTypesAndEvents(t *testing.T) {
	reg := ktRegistry()
	var names []string
	for _, ct := range reg.ComplexTypes() {
		names = append(names, ct.Name)
	}
	if !slices.IsSorted(names) {
		t.Fatalf("ComplexTypes not sorted: %v", names)
	}
	for _, want := range []string{"MediaType", "Tag", "ElementConnectionData", "ServerInfo", "ModuleInfo", "ElementStats", "Stats"} {
		if !slices.Contains(names, want) {
			t.Errorf("complex type %s missing (have %v)", want, names)
		}
	}
	names = nil
	for _, ev := range reg.Events() {
		names = append(names, ev.Name)
	}
	if !slices.IsSorted(names) {
		t.Fatalf("Events not sorted: %v", names)
	}
	for _, want := range []string{"Error", "ObjectCreated", "ObjectDestroyed", "ElementConnected", "ElementDisconnected", "MediaFlowInStateChanged", "MediaFlowOutStateChanged"} {
		if !slices.Contains(names, want) {
			t.Errorf("event %s missing (have %v)", want, names)
		}
	}
	// Inherited fields come first (ElementStats extends Stats).
	es := reg.complex["ElementStats"]
	var fields []string
	for _, f := range reg.fields(es) {
		fields = append(fields, f.Name)
	}
	if !slices.Equal(fields, []string{"id", "type", "timestampMillis", "inputLatency"}) {
		t.Fatalf("ElementStats fields %v", fields)
	}
}
