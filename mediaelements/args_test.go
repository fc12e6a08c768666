package mediaelements

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// ktProbe is a test-only element whose methods echo one param of each kmd
// type, so the registry's conversion can be checked type by type.
type ktProbe struct {
	Element
	ctor Args
}

func ktProbeClass() *Class {
	echo := func(name, typ string) Method {
		return Method{Name: name, Params: []Param{{Name: "v", Type: typ}}, Return: typ,
			Call: func(_ *Call, _ Object, a Args) (any, error) { return a["v"], nil }}
	}
	opt := func(name, typ string, def any) Method {
		m := echo(name, typ)
		m.Params[0].Optional, m.Params[0].Default = true, def
		return m
	}
	return &Class{
		Name: "ArgsProbe", Module: "core", Extends: "MediaElement",
		Constructor: []Param{
			{Name: "mediaPipeline", Type: "MediaPipeline"},
			{Name: "label", Type: "String", Optional: true, Default: "none"},
			{Name: "count", Type: "int", Optional: true},
		},
		New: func(_ *Call, in ObjectInit, a Args) (Object, error) {
			p := &ktProbe{ctor: a}
			p.InitElement(in)
			return p, nil
		},
		Methods: []Method{
			echo("echoString", "String"),
			echo("echoBoolean", "boolean"),
			echo("echoInt", "int"),
			echo("echoInt64", "int64"),
			echo("echoFloat", "float"),
			echo("echoDouble", "double"),
			echo("echoMediaType", "MediaType"),
			echo("echoTag", "Tag"),
			echo("echoElementStats", "ElementStats"),
			echo("echoConnData", "ElementConnectionData"),
			echo("echoElement", "MediaElement"),
			echo("echoPassThrough", "PassThrough"),
			echo("echoHubPort", "HubPort"),
			echo("echoObject", "MediaObject"),
			echo("echoStrings", "String[]"),
			echo("echoTags", "Tag[]"),
			echo("echoElements", "MediaElement[]"),
			echo("echoIntMap", "int<>"),
			echo("echoTypeMap", "MediaType<>"),
			opt("echoOptDefault", "int", 7),
			opt("echoOpt", "String", nil),
		},
	}
}

// ktArgsEnv is a store with one pipeline holding a probe element, a
// PassThrough, a Dispatcher and one of its ports; ids maps names to ids.
func ktArgsEnv(t *testing.T) (*ktEnv, map[string]string) {
	e := newKtEnvWith(t, ktRegistry(ktProbeClass()))
	ids := map[string]string{}
	ids["PIPE"] = e.pipeline("S")
	ids["PROBE"] = e.create("S", "ArgsProbe", map[string]any{"mediaPipeline": ids["PIPE"]})
	ids["PT"] = e.create("S", "PassThrough", map[string]any{"mediaPipeline": ids["PIPE"]})
	ids["HUB"] = e.hub("S", "Dispatcher", ids["PIPE"])
	ids["PORT"] = e.port("S", ids["HUB"])
	ids["MGR"] = ManagerID
	return e, ids
}

func TestArgsConversion(t *testing.T) {
	e, ids := ktArgsEnv(t)
	obj := func(k string) any { return e.obj(ids[k]) }
	type tc struct {
		method string
		json   string // the value of "v"; "" = absent
		want   any    // converted Go value (Args), when code == 0
		code   int
	}
	cases := []tc{
		{"echoString", `"abc"`, "abc", 0},
		{"echoString", `""`, "", 0},
		{"echoString", `5`, nil, CodeMarshall},
		{"echoString", `true`, nil, CodeMarshall},
		{"echoString", `null`, nil, CodeMarshall},
		{"echoString", ``, nil, CodeMarshall},
		{"echoString", `["a"]`, nil, CodeMarshall},

		{"echoBoolean", `true`, true, 0},
		{"echoBoolean", `false`, false, 0},
		{"echoBoolean", `"true"`, nil, CodeMarshall},
		{"echoBoolean", `1`, nil, CodeMarshall},

		{"echoInt", `42`, 42, 0},
		{"echoInt", `-7`, -7, 0},
		{"echoInt", `0`, 0, 0},
		{"echoInt", `2147483647`, math.MaxInt32, 0},
		{"echoInt", `-2147483648`, math.MinInt32, 0},
		{"echoInt", `2147483648`, nil, CodeMarshall},
		{"echoInt", `-2147483649`, nil, CodeMarshall},
		{"echoInt", `9223372036854775808`, nil, CodeMarshall},
		{"echoInt", `3.0`, 3, 0},
		{"echoInt", `1e3`, 1000, 0},
		{"echoInt", `-2.0E1`, -20, 0},
		{"echoInt", `1.5`, nil, CodeMarshall},
		{"echoInt", `1e10`, nil, CodeMarshall},
		{"echoInt", `"1"`, nil, CodeMarshall},
		{"echoInt", `true`, nil, CodeMarshall},

		{"echoInt64", `9007199254740993`, int64(9007199254740993), 0}, // not exact as float64
		{"echoInt64", `9223372036854775807`, int64(math.MaxInt64), 0},
		{"echoInt64", `-9223372036854775808`, int64(math.MinInt64), 0},
		{"echoInt64", `3000000000`, int64(3000000000), 0},
		{"echoInt64", `2.0`, int64(2), 0},
		{"echoInt64", `2.5`, nil, CodeMarshall},
		{"echoInt64", `1e19`, nil, CodeMarshall},
		{"echoInt64", `"5"`, nil, CodeMarshall},

		{"echoFloat", `1.5`, 1.5, 0},
		{"echoFloat", `2`, 2.0, 0},
		{"echoFloat", `-1e-3`, -0.001, 0},
		{"echoFloat", `1e400`, nil, CodeMarshall},
		{"echoFloat", `"1.5"`, nil, CodeMarshall},
		{"echoDouble", `0.25`, 0.25, 0},
		{"echoDouble", `9007199254740993`, 9007199254740992.0, 0},
		{"echoDouble", `null`, nil, CodeMarshall},

		{"echoMediaType", `"VIDEO"`, "VIDEO", 0},
		{"echoMediaType", `"AUDIO"`, "AUDIO", 0},
		{"echoMediaType", `"DATA"`, "DATA", 0},
		{"echoMediaType", `"video"`, nil, CodeMarshall},
		{"echoMediaType", `"FOO"`, nil, CodeMarshall},
		{"echoMediaType", `1`, nil, CodeMarshall},
		{"echoMediaType", `{"__module__":"kurento","__type__":"MediaType"}`, nil, CodeMarshall},

		{"echoTag", `{"key":"k","value":"v"}`, map[string]any{"key": "k", "value": "v"}, 0},
		{"echoTag", `{"key":"k","value":"v","__module__":"kurento","__type__":"Tag"}`, map[string]any{"key": "k", "value": "v"}, 0},
		{"echoTag", `{"key":"k","value":"v","extra":1}`, map[string]any{"key": "k", "value": "v"}, 0},
		{"echoTag", `{"key":"k"}`, nil, CodeMarshall},
		{"echoTag", `{"key":"k","value":null}`, nil, CodeMarshall},
		{"echoTag", `{"key":"k","value":3}`, nil, CodeMarshall},
		{"echoTag", `{"key":"k","value":"v","__module__":"kurento","__type__":"NoSuchType"}`, nil, CodeUnexpected},
		{"echoTag", `"k=v"`, nil, CodeMarshall},
		{"echoTag", `[{"key":"k","value":"v"}]`, nil, CodeMarshall},

		{"echoElementStats", `{"id":"x","type":"element","timestampMillis":5,"inputLatency":[]}`,
			map[string]any{"id": "x", "type": "element", "timestampMillis": int64(5), "inputLatency": []any{}}, 0},
		{"echoElementStats", `{"__module__":"kurento","__type__":"ElementStats","id":"x","type":"element","timestampMillis":5,"inputLatency":[{"name":"n","type":"VIDEO","avg":1.5}]}`,
			map[string]any{"id": "x", "type": "element", "timestampMillis": int64(5), "inputLatency": []any{map[string]any{"name": "n", "type": "VIDEO", "avg": 1.5}}}, 0},
		{"echoElementStats", `{"type":"element","timestampMillis":5,"inputLatency":[]}`, nil, CodeMarshall}, // inherited id missing
		{"echoElementStats", `{"id":"x","type":"nope","timestampMillis":5,"inputLatency":[]}`, nil, CodeMarshall},
		{"echoElementStats", `{"id":"x","type":"element","timestampMillis":5,"inputLatency":[{"name":"n","type":"VIDEO"}]}`, nil, CodeMarshall},

		{"echoConnData", `{"source":"$PT","sink":"$PORT","type":"AUDIO","sourceDescription":"a","sinkDescription":"b"}`,
			map[string]any{"source": obj("PT"), "sink": obj("PORT"), "type": "AUDIO", "sourceDescription": "a", "sinkDescription": "b"}, 0},
		{"echoConnData", `{"source":"$PIPE","sink":"$PORT","type":"AUDIO","sourceDescription":"a","sinkDescription":"b"}`, nil, CodeMarshall},
		{"echoConnData", `{"source":"nope","sink":"$PORT","type":"AUDIO","sourceDescription":"a","sinkDescription":"b"}`, nil, CodeObjectNotFound},

		{"echoElement", `"$PT"`, obj("PT"), 0},
		{"echoElement", `"$PORT"`, obj("PORT"), 0},
		{"echoElement", `"$PROBE"`, obj("PROBE"), 0},
		{"echoElement", `"$PIPE"`, nil, CodeMarshall},
		{"echoElement", `"$HUB"`, nil, CodeMarshall},
		{"echoElement", `"$MGR"`, nil, CodeMarshall},
		{"echoElement", `"nope"`, nil, CodeObjectNotFound},
		{"echoElement", `"$PIPE/nope_kurento.PassThrough"`, nil, CodeObjectNotFound},
		{"echoElement", `"newref:0"`, nil, CodeNotFoundNoCommit},
		{"echoElement", `5`, nil, CodeMarshall},
		{"echoElement", `{"id":"$PT"}`, nil, CodeMarshall},
		{"echoPassThrough", `"$PT"`, obj("PT"), 0},
		{"echoPassThrough", `"$PORT"`, nil, CodeMarshall},
		{"echoHubPort", `"$PORT"`, obj("PORT"), 0},
		{"echoHubPort", `"$PT"`, nil, CodeMarshall},
		{"echoObject", `"$MGR"`, obj("MGR"), 0},
		{"echoObject", `"$HUB"`, obj("HUB"), 0},

		{"echoStrings", `["a","b"]`, []any{"a", "b"}, 0},
		{"echoStrings", `[]`, []any{}, 0},
		{"echoStrings", `["a",1]`, nil, CodeMarshall},
		{"echoStrings", `"a"`, nil, CodeMarshall},
		{"echoStrings", `{"0":"a"}`, nil, CodeMarshall},
		{"echoTags", `[{"key":"a","value":"b"},{"__module__":"kurento","__type__":"Tag","key":"c","value":"d"}]`,
			[]any{map[string]any{"key": "a", "value": "b"}, map[string]any{"key": "c", "value": "d"}}, 0},
		{"echoTags", `[{"key":"a"}]`, nil, CodeMarshall},
		{"echoElements", `["$PT","$PORT"]`, []any{obj("PT"), obj("PORT")}, 0},
		{"echoElements", `["$PT","$HUB"]`, nil, CodeMarshall},
		{"echoElements", `["$PT","gone"]`, nil, CodeObjectNotFound},
		{"echoIntMap", `{"a":1,"b":-2}`, map[string]any{"a": 1, "b": -2}, 0},
		{"echoIntMap", `{}`, map[string]any{}, 0},
		{"echoIntMap", `{"a":"x"}`, nil, CodeMarshall},
		{"echoIntMap", `{"a":4294967296}`, nil, CodeMarshall},
		{"echoIntMap", `[1]`, nil, CodeMarshall},
		{"echoTypeMap", `{"x":"VIDEO"}`, map[string]any{"x": "VIDEO"}, 0},
		{"echoTypeMap", `{"x":"NOPE"}`, nil, CodeMarshall},

		{"echoOptDefault", ``, 7, 0},
		{"echoOptDefault", `null`, 7, 0},
		{"echoOptDefault", `3`, 3, 0},
		{"echoOptDefault", `"3"`, nil, CodeMarshall},
		{"echoOpt", `"x"`, "x", 0},
	}
	for _, c := range cases {
		t.Run(c.method+"/"+c.json, func(t *testing.T) {
			params := map[string]any{"unknownKeysAreIgnored": 1}
			if c.json != "" {
				params["v"] = ktSubst(ktDecode(t, c.json), ids)
			}
			inv, err := e.store.PrepareInvoke(e.call("S"), ids["PROBE"], c.method, params)
			if c.code != 0 {
				if err == nil {
					t.Fatalf("accepted as %#v, want error code %d", inv.args["v"], c.code)
				}
				ktWantCode(t, err, c.code)
				return
			}
			if err != nil {
				t.Fatalf("PrepareInvoke: %v", err)
			}
			got, present := inv.args["v"]
			if !present || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("args[v] = %#v (present %v), want %#v", got, present, c.want)
			}
			if _, err := inv.Run(); err != nil {
				t.Fatalf("Run: %v", err)
			}
		})
	}
	t.Run("optional without default stays absent", func(t *testing.T) {
		inv, err := e.store.PrepareInvoke(e.call("S"), ids["PROBE"], "echoOpt", nil)
		if err != nil {
			t.Fatal(err)
		}
		if inv.args.Has("v") {
			t.Fatalf("absent optional param present: %#v", inv.args)
		}
	})
	t.Run("float64 inputs (not json.Number)", func(t *testing.T) {
		for _, fc := range []struct {
			method string
			in     any
			want   any
			code   int
		}{
			{"echoInt", float64(7), 7, 0},
			{"echoInt", float64(2.5), nil, CodeMarshall},
			{"echoInt", float64(1 << 31), nil, CodeMarshall},
			{"echoInt", math.Inf(1), nil, CodeMarshall},
			{"echoInt", math.NaN(), nil, CodeMarshall},
			{"echoInt64", float64(1 << 40), int64(1 << 40), 0},
			{"echoDouble", float64(0.5), 0.5, 0},
			{"echoDouble", int64(3), 3.0, 0},
		} {
			inv, err := e.store.PrepareInvoke(e.call("S"), ids["PROBE"], fc.method, map[string]any{"v": fc.in})
			if fc.code != 0 {
				if err == nil {
					t.Errorf("%s(%v) accepted as %#v, want code %d", fc.method, fc.in, inv.args["v"], fc.code)
				} else if AsError(err) == nil || AsError(err).Code != fc.code {
					t.Errorf("%s(%v): err %v, want code %d", fc.method, fc.in, err, fc.code)
				}
				continue
			}
			if err != nil || !reflect.DeepEqual(inv.args["v"], fc.want) {
				t.Errorf("%s(%v) = %#v, %v; want %#v", fc.method, fc.in, inv.args["v"], err, fc.want)
			}
		}
	})
}

// TestArgsInt64Overflow: int64 values one past MaxInt64 (2^63, or anything
// that rounds to it as a float64) must be rejected, not wrapped to MinInt64.
func TestArgsInt64Overflow(t *testing.T) {
	e, ids := ktArgsEnv(t)
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"json.Number 2^63", json.Number("9223372036854775808")},
		{"json.Number 2^63+1", json.Number("9223372036854775809")},
		{"json.Number 9223372036854775807.5", json.Number("9223372036854775807.5")},
		{"float64 2^63", float64(1 << 63)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := e.store.PrepareInvoke(e.call("S"), ids["PROBE"], "echoInt64", map[string]any{"v": tc.v})
			if err == nil {
				t.Fatalf("BUG: int64 %v accepted as %#v, want 40001 (args.go floatToInt: `f > math.MaxInt64` compares against float64(2^63), so 2^63 passes and int64(f) wraps)", tc.v, inv.args["v"])
			}
			ktWantCode(t, err, CodeMarshall)
		})
	}
}

// TestArgsWireEncoding checks what Run returns for the probe's remote-object
// params: ids, as the wire carries them.
func TestArgsWireEncoding(t *testing.T) {
	e, ids := ktArgsEnv(t)
	for _, tc := range []struct {
		method, json string
		want         any
	}{
		{"echoElement", `"$PT"`, ids["PT"]},
		{"echoInt", `5`, 5},
		{"echoMediaType", `"DATA"`, "DATA"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			v, err := e.invoke("S", ids["PROBE"], tc.method, map[string]any{"v": ktSubst(ktDecode(t, tc.json), ids)})
			if err != nil || !reflect.DeepEqual(v, tc.want) {
				t.Fatalf("= %#v, %v; want %#v", v, err, tc.want)
			}
		})
	}
}

func TestArgsMissingRequiredMessage(t *testing.T) {
	e, ids := ktArgsEnv(t)
	for _, tc := range []struct {
		name   string
		run    func() error
		code   int
		wantMs string
	}{
		{"connect without sink", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "connect", map[string]any{})
			return err
		}, CodeMarshall, "'sink' parameter should be a MediaElement"},
		{"connect nil params", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "connect", nil)
			return err
		}, CodeMarshall, "'sink' parameter should be a MediaElement"},
		{"connect sink is a pipeline", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "connect", map[string]any{"sink": ids["PIPE"]})
			return err
		}, CodeMarshall, "'sink' parameter should be a MediaElement"},
		{"setName without name", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "setName", map[string]any{"nom": "x"})
			return err
		}, CodeMarshall, "'name' parameter should be a string"},
		{"addTag without value", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "addTag", map[string]any{"key": "x"})
			return err
		}, CodeMarshall, "'value' parameter should be a string"},
		{"isMediaFlowingIn without mediaType", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "isMediaFlowingIn", map[string]any{})
			return err
		}, CodeMarshall, "'mediaType' parameter should be a MediaType"},
		{"setEncoderBitrate string", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "setEncoderBitrate", map[string]any{"encoderBitrate": "1"})
			return err
		}, CodeMarshall, "'encoderBitrate' parameter should be a int"},
		{"Tag field", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), ids["PROBE"], "echoTag", map[string]any{"v": map[string]any{"key": "k"}})
			return err
		}, CodeMarshall, "'v.value' parameter should be a string"},
		{"create PassThrough without pipeline", func() error {
			_, err := e.tryCreate("S", "PassThrough", map[string]any{})
			return err
		}, CodeMarshall, "'mediaPipeline' parameter should be a MediaPipeline"},
		{"create PassThrough nil ctor", func() error {
			_, err := e.tryCreate("S", "PassThrough", nil)
			return err
		}, CodeMarshall, "'mediaPipeline' parameter should be a MediaPipeline"},
		{"create PassThrough in an element", func() error {
			_, err := e.tryCreate("S", "PassThrough", map[string]any{"mediaPipeline": ids["PT"]})
			return err
		}, CodeMarshall, "'mediaPipeline' parameter should be a MediaPipeline"},
		{"create HubPort without hub", func() error {
			_, err := e.tryCreate("S", "HubPort", map[string]any{"mediaPipeline": ids["PIPE"]})
			return err
		}, CodeMarshall, "'hub' parameter should be a Hub"},
		{"create HubPort of an element", func() error {
			_, err := e.tryCreate("S", "HubPort", map[string]any{"hub": ids["PT"]})
			return err
		}, CodeMarshall, "'hub' parameter should be a Hub"},
		{"create in unknown pipeline", func() error {
			_, err := e.tryCreate("S", "PassThrough", map[string]any{"mediaPipeline": "gone_kurento.MediaPipeline"})
			return err
		}, CodeObjectNotFound, "Object 'gone_kurento.MediaPipeline' not found"},
		{"create with newref outside a transaction", func() error {
			_, err := e.tryCreate("S", "PassThrough", map[string]any{"mediaPipeline": "newref:0"})
			return err
		}, CodeNotFoundNoCommit, ""},
		{"unknown operation", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "nope", map[string]any{"a": 1, "b": 2})
			return err
		}, CodeMalformedTransaction, "Method 'nope' with 2 parameters not found"},
		{"unknown object", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), "nope", "getName", nil)
			return err
		}, CodeObjectNotFound, "Object 'nope' not found"},
		{"newref object", func() error {
			_, err := e.store.PrepareInvoke(e.call("S"), "newref:1", "getName", nil)
			return err
		}, CodeNotFoundNoCommit, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.store.Len()
			de := ktWantCode(t, tc.run(), tc.code)
			if tc.wantMs != "" && de.Message != tc.wantMs {
				t.Fatalf("message %q, want %q", de.Message, tc.wantMs)
			}
			if e.store.Len() != before {
				t.Fatalf("a failed call changed the object count: %d → %d", before, e.store.Len())
			}
		})
	}
}

func TestArgsDefaults(t *testing.T) {
	e, ids := ktArgsEnv(t)
	t.Run("connect descriptions default", func(t *testing.T) {
		inv, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "connect", map[string]any{"sink": ids["PROBE"]})
		if err != nil {
			t.Fatal(err)
		}
		a := inv.args
		if a.String("sourceMediaDescription") != "default" || a.String("sinkMediaDescription") != "default" {
			t.Fatalf("descriptions %#v", a)
		}
		if a.Has("mediaType") {
			t.Fatalf("mediaType present without default: %#v", a)
		}
		if a.Object("sink") != e.obj(ids["PROBE"]) {
			t.Fatalf("sink %#v", a["sink"])
		}
	})
	t.Run("explicit descriptions kept", func(t *testing.T) {
		inv, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "connect",
			map[string]any{"sink": ids["PROBE"], "sourceMediaDescription": "a", "sinkMediaDescription": "b", "mediaType": "VIDEO"})
		if err != nil {
			t.Fatal(err)
		}
		if inv.args.String("sourceMediaDescription") != "a" || inv.args.String("sinkMediaDescription") != "b" || inv.args.String("mediaType") != "VIDEO" {
			t.Fatalf("args %#v", inv.args)
		}
	})
	t.Run("isMediaFlowingIn description default", func(t *testing.T) {
		inv, err := e.store.PrepareInvoke(e.call("S"), ids["PT"], "isMediaFlowingIn", map[string]any{"mediaType": "AUDIO"})
		if err != nil {
			t.Fatal(err)
		}
		if inv.args.String("sinkMediaDescription") != "default" {
			t.Fatalf("args %#v", inv.args)
		}
	})
	t.Run("getUsedCpu interval default", func(t *testing.T) {
		inv, err := e.store.PrepareInvoke(e.call("S"), ManagerID, "getUsedCpu", nil)
		if err != nil {
			t.Fatal(err)
		}
		if inv.args.Int("interval") != 1000 {
			t.Fatalf("args %#v", inv.args)
		}
	})
	t.Run("constructor defaults", func(t *testing.T) {
		id := e.create("S", "ArgsProbe", map[string]any{"mediaPipeline": ids["PIPE"]})
		p := e.obj(id).(*ktProbe)
		if p.ctor.String("label") != "none" || p.ctor.Has("count") {
			t.Fatalf("ctor args %#v", p.ctor)
		}
		if p.ctor.Object("mediaPipeline") != e.obj(ids["PIPE"]) {
			t.Fatalf("mediaPipeline %#v", p.ctor["mediaPipeline"])
		}
		id = e.create("S", "kurento.ArgsProbe", map[string]any{"mediaPipeline": ids["PIPE"], "label": "x", "count": json.Number("4")})
		p = e.obj(id).(*ktProbe)
		if p.ctor.String("label") != "x" || p.ctor.Int("count") != 4 {
			t.Fatalf("ctor args %#v", p.ctor)
		}
		_, err := e.tryCreate("S", "ArgsProbe", map[string]any{"mediaPipeline": ids["PIPE"], "count": json.Number("4.5")})
		ktWantCode(t, err, CodeMarshall)
	})
}

func TestArgsAccessors(t *testing.T) {
	a := Args{"s": "x", "b": true, "i": 3, "l": int64(4), "f": 1.5, "m": map[string]any{"k": 1}}
	if !a.Has("s") || a.Has("zz") || a.String("s") != "x" || !a.Bool("b") || a.Int("i") != 3 ||
		a.Int64("l") != 4 || a.Float("f") != 1.5 || a.Map("m")["k"] != 1 || a.Object("s") != nil {
		t.Fatalf("accessors wrong on %#v", a)
	}
	// Absent or ill-typed values give zero values, never panic.
	if a.String("i") != "" || a.Bool("zz") || a.Int("l") != 0 || a.Int64("i") != 0 || a.Float("i") != 0 || a.Map("s") != nil || a.Object("zz") != nil {
		t.Fatalf("zero values wrong on %#v", a)
	}
}
