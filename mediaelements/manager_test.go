package mediaelements

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestServerManager(t *testing.T) {
	e := newKtEnv(t, func(o *Options) { o.Metadata = `{"region":"eu-1"}` })
	p1 := e.pipeline("A")
	p2 := e.pipeline("B")
	e.element("A", p1)
	e.store.EnsureSession("C")
	t.Run("getInfo", func(t *testing.T) {
		info, ok := ktWire(t, e.mustInvoke("X", ManagerID, "getInfo", nil)).(map[string]any)
		if !ok {
			t.Fatal("getInfo is not an object")
		}
		if info["__module__"] != "kurento" || info["__type__"] != "ServerInfo" || info["version"] != APIVersion || info["type"] != "KMS" {
			t.Fatalf("getInfo header %#v", info)
		}
		if caps, _ := info["capabilities"].([]any); !slices.Contains(caps, any("transactions")) {
			t.Fatalf("capabilities %#v", info["capabilities"])
		}
		mods, _ := info["modules"].([]any)
		want := map[string][]string{
			"core":     {"HubPort", "MediaPipeline", "PassThrough"},
			"elements": {"Dispatcher", "DispatcherOneToMany"},
			"filters":  {},
		}
		var names []string
		for _, m := range mods {
			mi := m.(map[string]any)
			name, _ := mi["name"].(string)
			names = append(names, name)
			if mi["__module__"] != "kurento" || mi["__type__"] != "ModuleInfo" || mi["version"] != APIVersion {
				t.Errorf("module %s: %#v", name, mi)
			}
			if gt, _ := mi["generationTime"].(string); gt == "" {
				t.Errorf("module %s: no generationTime", name)
			}
			fs, ok := mi["factories"].([]any)
			if !ok {
				t.Errorf("module %s: factories %#v is not an array", name, mi["factories"])
				continue
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.(string))
			}
			if !slices.Equal(got, want[name]) && !(len(got) == 0 && len(want[name]) == 0) {
				t.Errorf("module %s factories %v, want %v", name, got, want[name])
			}
		}
		if !slices.Equal(names, []string{"core", "elements", "filters"}) {
			t.Fatalf("module names %v", names)
		}
	})
	t.Run("getPipelines", func(t *testing.T) {
		got := ktStrings(t, e.mustInvoke("X", ManagerID, "getPipelines", nil))
		if want := slices.Sorted(slices.Values([]string{p1, p2})); !slices.Equal(got, want) {
			t.Fatalf("getPipelines = %v, want %v", got, want)
		}
	})
	t.Run("getSessions", func(t *testing.T) {
		got := ktStrings(t, e.mustInvoke("X", ManagerID, "getSessions", nil))
		for _, s := range []string{"A", "B", "C"} {
			if !slices.Contains(got, s) {
				t.Fatalf("getSessions = %v, missing %s", got, s)
			}
		}
	})
	t.Run("getUsedMemory", func(t *testing.T) {
		v := e.mustInvoke("X", ManagerID, "getUsedMemory", nil)
		if kib, ok := v.(int64); !ok || kib <= 0 {
			t.Fatalf("getUsedMemory = %#v", v)
		}
	})
	t.Run("getCpuCount", func(t *testing.T) {
		v := e.mustInvoke("X", ManagerID, "getCpuCount", nil)
		if n, ok := v.(int); !ok || n < 1 {
			t.Fatalf("getCpuCount = %#v", v)
		}
	})
	t.Run("getUsedCpu", func(t *testing.T) {
		inv, err := e.store.PrepareInvoke(e.call("X"), ManagerID, "getUsedCpu", map[string]any{"interval": json.Number("50")})
		if err != nil {
			t.Fatal(err)
		}
		if !inv.Blocking() {
			t.Fatal("getUsedCpu is not marked Blocking")
		}
		v, err := inv.Run()
		if f, ok := v.(float64); err != nil || !ok || f < 0 {
			t.Fatalf("getUsedCpu = %#v, %v", v, err)
		}
		for _, bad := range []any{json.Number("0"), json.Number("-5"), json.Number("10001")} {
			_, err := e.invoke("X", ManagerID, "getUsedCpu", map[string]any{"interval": bad})
			ktWantCode(t, err, CodeIllegalParam)
		}
		_, err = e.invoke("X", ManagerID, "getUsedCpu", map[string]any{"interval": "50"})
		ktWantCode(t, err, CodeMarshall)
	})
	t.Run("getUsedCpu honours cancellation", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		inv, err := e.store.PrepareInvoke(e.store.NewCall(ctx, "X"), ManagerID, "getUsedCpu", map[string]any{"interval": json.Number("10000")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inv.Run(); AsError(err) == nil {
			t.Fatalf("cancelled getUsedCpu: %v", err)
		}
	})
	t.Run("only getUsedCpu blocks", func(t *testing.T) {
		for _, op := range []string{"getInfo", "getPipelines", "getSessions", "getUsedMemory", "getCpuCount", "getMetadata", "getName"} {
			inv, err := e.store.PrepareInvoke(e.call("X"), ManagerID, op, nil)
			if err != nil {
				t.Fatal(err)
			}
			if inv.Blocking() {
				t.Errorf("%s is marked Blocking", op)
			}
		}
		inv, err := e.store.PrepareInvoke(e.call("X"), ManagerID, "getKmd", map[string]any{"moduleName": "core"})
		if err != nil || inv.Blocking() {
			t.Fatalf("getKmd: %v blocking=%v", err, inv != nil && inv.Blocking())
		}
	})
	t.Run("getMetadata", func(t *testing.T) {
		if v := e.mustInvoke("X", ManagerID, "getMetadata", nil); v != `{"region":"eu-1"}` {
			t.Fatalf("getMetadata = %#v", v)
		}
	})
	t.Run("getKmd unknown", func(t *testing.T) {
		for _, m := range []string{"nope", "", "Core", "kurento"} {
			_, err := e.invoke("X", ManagerID, "getKmd", map[string]any{"moduleName": m})
			ktWantCode(t, err, CodeKmdNotFound)
		}
		_, err := e.invoke("X", ManagerID, "getKmd", nil)
		ktWantCode(t, err, CodeMarshall)
	})
	t.Run("manager is not referenced by sessions", func(t *testing.T) {
		e.store.DropSession("X")
		if !e.alive(ManagerID) {
			t.Fatal("manager released")
		}
	})
}

func TestKmd(t *testing.T) {
	e := newKtEnv(t)
	type kmd struct {
		Name          string `json:"name"`
		Version       string `json:"version"`
		RemoteClasses []struct {
			Name        string `json:"name"`
			Extends     string `json:"extends"`
			Abstract    bool   `json:"abstract"`
			Constructor *struct {
				Params []struct {
					Name, Type string
				} `json:"params"`
			} `json:"constructor"`
			Properties []struct {
				Name     string `json:"name"`
				ReadOnly bool   `json:"readOnly"`
				Final    bool   `json:"final"`
			} `json:"properties"`
			Methods []struct {
				Name   string `json:"name"`
				Params []struct {
					Name         string `json:"name"`
					Optional     bool   `json:"optional"`
					DefaultValue any    `json:"defaultValue"`
				} `json:"params"`
			} `json:"methods"`
			Events []string `json:"events"`
		} `json:"remoteClasses"`
		ComplexTypes []struct {
			Name       string   `json:"name"`
			TypeFormat string   `json:"typeFormat"`
			Values     []string `json:"values"`
		} `json:"complexTypes"`
		Events []struct {
			Name string `json:"name"`
		} `json:"events"`
		Imports []struct {
			Name string `json:"name"`
		} `json:"imports"`
	}
	for _, tc := range []struct {
		module       string
		classes      []string
		complexTypes []string
		events       []string
		imports      bool
	}{
		{"core", []string{"MediaObject", "ServerManager", "MediaPipeline", "MediaElement", "Hub", "HubPort", "PassThrough", "Endpoint", "SessionEndpoint", "SdpEndpoint", "BaseRtpEndpoint"},
			[]string{"MediaType", "Tag", "ElementConnectionData", "ServerInfo"}, []string{"Error", "ObjectCreated", "ElementConnected"}, false},
		{"elements", []string{"Dispatcher", "DispatcherOneToMany"}, nil, nil, true},
		{"filters", nil, nil, nil, true},
	} {
		t.Run(tc.module, func(t *testing.T) {
			v := e.mustInvoke("X", ManagerID, "getKmd", map[string]any{"moduleName": tc.module})
			s, ok := v.(string)
			if !ok || !json.Valid([]byte(s)) {
				t.Fatalf("getKmd(%s) is not JSON text: %T", tc.module, v)
			}
			var k kmd
			if err := json.Unmarshal([]byte(s), &k); err != nil {
				t.Fatal(err)
			}
			if k.Name != tc.module || k.Version != APIVersion {
				t.Fatalf("name %q version %q", k.Name, k.Version)
			}
			if (len(k.Imports) > 0) != tc.imports {
				t.Fatalf("imports %v", k.Imports)
			}
			var classes, cts, evs []string
			for _, c := range k.RemoteClasses {
				classes = append(classes, c.Name)
			}
			for _, c := range k.ComplexTypes {
				cts = append(cts, c.Name)
			}
			for _, ev := range k.Events {
				evs = append(evs, ev.Name)
			}
			slices.Sort(classes)
			if want := slices.Sorted(slices.Values(tc.classes)); !slices.Equal(classes, want) && !(len(classes) == 0 && len(want) == 0) {
				t.Fatalf("remoteClasses %v, want %v", classes, want)
			}
			for _, want := range tc.complexTypes {
				if !slices.Contains(cts, want) {
					t.Errorf("complexTypes %v lack %s", cts, want)
				}
			}
			for _, want := range tc.events {
				if !slices.Contains(evs, want) {
					t.Errorf("events %v lack %s", evs, want)
				}
			}
			if tc.module != "core" {
				return
			}
			for _, c := range k.RemoteClasses {
				switch c.Name {
				case "MediaObject":
					if !c.Abstract || c.Constructor != nil || c.Extends != "" {
						t.Errorf("MediaObject: abstract %v constructor %v extends %q", c.Abstract, c.Constructor, c.Extends)
					}
					props := map[string][2]bool{}
					for _, p := range c.Properties {
						props[p.Name] = [2]bool{p.ReadOnly, p.Final}
					}
					for name, want := range map[string][2]bool{"id": {false, true}, "children": {true, false}, "name": {false, false}, "parent": {false, true}} {
						if props[name] != want {
							t.Errorf("MediaObject.%s readOnly/final = %v, want %v", name, props[name], want)
						}
					}
				case "PassThrough":
					if c.Abstract || c.Constructor == nil || len(c.Constructor.Params) != 1 || c.Constructor.Params[0].Name != "mediaPipeline" || c.Extends != "MediaElement" {
						t.Errorf("PassThrough: %+v", c)
					}
				case "MediaElement":
					for _, m := range c.Methods {
						if m.Name != "connect" {
							continue
						}
						for _, p := range m.Params {
							if p.Name == "sourceMediaDescription" && (!p.Optional || p.DefaultValue != "default") {
								t.Errorf("connect.sourceMediaDescription %+v", p)
							}
						}
					}
				}
			}
			for _, ct := range k.ComplexTypes {
				if ct.Name == "MediaType" && (ct.TypeFormat != "ENUM" || !slices.Equal(ct.Values, []string{"AUDIO", "DATA", "VIDEO"})) {
					t.Errorf("MediaType %+v", ct)
				}
				if ct.Name == "Tag" && ct.TypeFormat != "REGISTER" {
					t.Errorf("Tag %+v", ct)
				}
			}
		})
	}
	if _, err := e.reg.Kmd("nope"); AsError(err) == nil || AsError(err).Code != CodeKmdNotFound {
		t.Fatalf("Kmd(nope) = %v", err)
	}
}

func TestAPIMarkdownMentionsEveryClass(t *testing.T) {
	reg := ktRegistry()
	lines := strings.Split(reg.APIMarkdown(), "\n")
	for _, c := range reg.Classes() {
		if !slices.Contains(lines, "### "+c.Name) {
			t.Errorf("docs lack a section for %s", c.Name)
		}
	}
}
