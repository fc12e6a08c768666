package mediaelements

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// ktFuzzOps are the operations FuzzArgs runs on a PassThrough with the
// fuzzed operationParams.
var ktFuzzOps = []string{"connect", "disconnect", "setName", "addTag", "getTag", "getSourceConnections",
	"getSinkConnections", "getStats", "isMediaFlowingIn", "isMediaFlowingOut", "setEncoderBitrate", "getGstreamerDot"}

// FuzzArgs feeds untrusted operationParams (as the rpc layer decodes them,
// with UseNumber) through PrepareInvoke and Run. Strings "$SELF", "$OTHER",
// "$PIPE", "$HUB", "$PORT", "$FAR" (an element of another pipeline) and
// "$MGR" are replaced by live ids so the fuzzer reaches the object paths.
// It must never panic and every error must be a *Error with a known code.
func FuzzArgs(f *testing.F) {
	for _, seed := range []string{
		`{"sink":"$OTHER"}`,
		`{"sink":"$OTHER","mediaType":"VIDEO"}`,
		`{"sink":"$OTHER","mediaType":"VIDEO","sourceMediaDescription":"default","sinkMediaDescription":"default"}`,
		`{"sink":"$SELF","mediaType":"DATA"}`,
		`{"sink":"$FAR"}`,
		`{"sink":"$PIPE"}`,
		`{"sink":"$HUB","mediaType":"AUDIO"}`,
		`{"sink":"$PORT","mediaType":"AUDIO","sinkMediaDescription":"x"}`,
		`{"sink":"newref:0"}`,
		`{"sink":"nope"}`,
		`{"sink":["$OTHER"]}`,
		`{"sink":"$OTHER","mediaType":"video"}`,
		`{"sink":"$OTHER","mediaType":5}`,
		`{"name":"ep-one"}`,
		`{"name":""}`,
		`{"name":null}`,
		`{"name":{"__module__":"kurento","__type__":"Tag","key":"k","value":"v"}}`,
		`{"key":"k","value":"v"}`,
		`{"key":"k","value":1e400}`,
		`{"mediaType":"AUDIO"}`,
		`{"mediaType":"VIDEO","description":"default"}`,
		`{"description":"default"}`,
		`{"mediaType":"VIDEO","sinkMediaDescription":"default","sourceMediaDescription":"x"}`,
		`{"encoderBitrate":300000}`,
		`{"encoderBitrate":-1}`,
		`{"encoderBitrate":2147483648}`,
		`{"encoderBitrate":9223372036854775808}`,
		`{"encoderBitrate":1.0e3}`,
		`{"encoderBitrate":-0.0}`,
		`{"details":"SHOW_ALL"}`,
		`{"details":{"__module__":"kurento","__type__":"GstreamerDotDetails"}}`,
		`{"options":{"__module__":"kurento","__type__":"OfferOptions","offerToReceiveAudio":false}}`,
		`{"candidate":{"__module__":"kurento","__type__":"IceCandidate","candidate":"candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{}`,
		`[]`,
		`null`,
		`"connect"`,
		`{"sink":`,
		"\x00\xff{",
		`{"sink":{"sink":{"sink":[[[[{}]]]]}}}`,
	} {
		f.Add([]byte(seed))
	}
	reg := ktRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var raw any
		if err := dec.Decode(&raw); err != nil {
			t.Skip()
		}
		if _, ok := raw.(map[string]any); !ok {
			t.Skip()
		}
		st := NewStore(Options{Registry: reg})
		st.SetEventSink(ktDiscardSink{})
		c := st.NewCall(context.Background(), "fuzz")
		mk := func(typ string, ctor map[string]any) string {
			o, err := st.Create(c, typ, ctor)
			if err != nil {
				t.Fatalf("create %s: %v", typ, err)
			}
			return o.Base().ID()
		}
		ids := map[string]string{"MGR": ManagerID}
		ids["PIPE"] = mk("MediaPipeline", nil)
		ids["SELF"] = mk("PassThrough", map[string]any{"mediaPipeline": ids["PIPE"]})
		ids["OTHER"] = mk("PassThrough", map[string]any{"mediaPipeline": ids["PIPE"]})
		ids["HUB"] = mk("Dispatcher", map[string]any{"mediaPipeline": ids["PIPE"]})
		ids["PORT"] = mk("HubPort", map[string]any{"hub": ids["HUB"]})
		far := mk("MediaPipeline", nil)
		ids["FAR"] = mk("PassThrough", map[string]any{"mediaPipeline": far})
		if _, err := st.Subscribe(c, ids["SELF"], "ElementConnected"); err != nil {
			t.Fatal(err)
		}
		params := ktSubst(raw, ids).(map[string]any)
		for _, op := range ktFuzzOps {
			inv, err := st.PrepareInvoke(c, ids["SELF"], op, params)
			if err == nil {
				var v any
				v, err = inv.Run()
				if err == nil {
					if _, merr := json.Marshal(v); merr != nil {
						t.Fatalf("%s result %#v is not serialisable: %v", op, v, merr)
					}
				}
			}
			if err == nil {
				continue
			}
			de := AsError(err)
			if de == nil {
				t.Fatalf("%s(%s): error %v (%T) is not a *Error", op, data, err, err)
			}
			if _, known := codeTypes[de.Code]; !known || de.Type != codeTypes[de.Code] {
				t.Fatalf("%s(%s): unknown code %d / type %q", op, data, de.Code, de.Type)
			}
		}
		st.ReleaseAll()
		if st.Len() != 0 {
			t.Fatalf("Len %d after ReleaseAll", st.Len())
		}
	})
}

type ktDiscardSink struct{}

func (ktDiscardSink) Deliver(string, []byte) {}
