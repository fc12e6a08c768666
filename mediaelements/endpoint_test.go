package mediaelements

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// ktFakeRTP is a concrete BaseRtpEndpoint for tests: it records what the
// SDP methods receive and answers with canned strings.
type ktFakeRTP struct {
	RTPEndpointBase
	offers []OfferOptions
	remote string
	local  string
}

func (f *ktFakeRTP) GenerateOffer(_ *Call, o OfferOptions) (string, error) {
	f.offers = append(f.offers, o)
	f.local = fmt.Sprintf("offer audio=%v video=%v", o.OfferToReceiveAudio, o.OfferToReceiveVideo)
	return f.local, nil
}

func (f *ktFakeRTP) ProcessOffer(_ *Call, offer string) (string, error) {
	if f.remote != "" {
		return "", NewError(CodeSDPAlreadyNegotiated, "Endpoint already negotiated")
	}
	f.remote, f.local = offer, "answer to "+offer
	return f.local, nil
}

func (f *ktFakeRTP) ProcessAnswer(_ *Call, answer string) (string, error) {
	if f.local == "" {
		return "", NewError(CodeSDPNotOfferGenerated, "Offer not generated")
	}
	f.remote = answer
	return f.local, nil
}

func (f *ktFakeRTP) LocalSessionDescriptor() (string, error) {
	if f.local == "" {
		return "", NewError(CodeSDPNoLocal, "No local SDP")
	}
	return f.local, nil
}

func (f *ktFakeRTP) RemoteSessionDescriptor() (string, error) {
	if f.remote == "" {
		return "", NewError(CodeSDPNoRemote, "No remote SDP")
	}
	return f.remote, nil
}

func ktFakeRTPClass() *Class {
	return &Class{
		Name: "FakeRtpEndpoint", Module: "test", Extends: "BaseRtpEndpoint",
		Constructor: []Param{{Name: "mediaPipeline", Type: "MediaPipeline"}},
		New: func(_ *Call, in ObjectInit, _ Args) (Object, error) {
			f := &ktFakeRTP{}
			f.InitRTPEndpoint(in)
			return f, nil
		},
	}
}

func TestEndpointClasses(t *testing.T) {
	reg := ktRegistry(ktFakeRTPClass())
	c, ok := reg.Class("FakeRtpEndpoint")
	if !ok {
		t.Fatal("no FakeRtpEndpoint")
	}
	want := []string{"kurento.BaseRtpEndpoint", "kurento.SdpEndpoint", "kurento.SessionEndpoint", "kurento.Endpoint", "kurento.MediaElement", "kurento.MediaObject"}
	if got := c.Hierarchy(); !slices.Equal(got, want) {
		t.Errorf("hierarchy %v, want %v", got, want)
	}
	for _, name := range []string{"Endpoint", "SessionEndpoint", "SdpEndpoint", "BaseRtpEndpoint"} {
		if k, ok := reg.Class(name); !ok || !k.Abstract || k.Module != "core" {
			t.Errorf("%s: %+v", name, k)
		}
	}
	types := map[string]*ComplexType{}
	for _, ct := range reg.ComplexTypes() {
		types[ct.Name] = ct
	}
	for name, fields := range map[string][]string{
		"OfferOptions":              {"offerToReceiveAudio", "offerToReceiveVideo"},
		"RembParams":                {"packetsRecvIntervalTop", "exponentialFactor", "linealFactorMin", "linealFactorGrade", "decrementFactor", "thresholdFactor", "upLosses", "rembOnConnect"},
		"RTCInboundRTPStreamStats":  {"packetsReceived", "bytesReceived", "jitter"},
		"RTCOutboundRTPStreamStats": {"packetsSent", "bytesSent", "targetBitrate", "roundTripTime"},
		"RTCIceCandidatePairStats":  {"transportId", "localCandidateId", "remoteCandidateId", "state", "priority", "nominated", "writable", "readable", "bytesSent", "bytesReceived", "roundTripTime", "availableOutgoingBitrate", "availableIncomingBitrate"},
	} {
		ct, ok := types[name]
		if !ok {
			t.Errorf("no complex type %s", name)
			continue
		}
		var got []string
		for _, f := range ct.Fields {
			got = append(got, f.Name)
		}
		if !slices.Equal(got, fields) {
			t.Errorf("%s fields %v, want %v", name, got, fields)
		}
	}
	for name, values := range map[string][]string{"ConnectionState": {"DISCONNECTED", "CONNECTED"}, "MediaState": {"DISCONNECTED", "CONNECTED"}} {
		if ct := types[name]; ct == nil || !slices.Equal(ct.Values, values) {
			t.Errorf("%s: %+v", name, ct)
		}
	}
	evs := map[string]bool{}
	for _, ev := range reg.Events() {
		evs[ev.Name] = true
	}
	for _, ev := range []string{"MediaSessionStarted", "MediaSessionTerminated", "MediaStateChanged", "ConnectionStateChanged"} {
		if !evs[ev] || !c.hasEvent(ev) {
			t.Errorf("event %s not declared", ev)
		}
	}
}

func TestSDPEndpointDispatch(t *testing.T) {
	e := newKtEnvWith(t, ktRegistry(ktFakeRTPClass()))
	p := e.pipeline("S")
	ep := e.create("S", "FakeRtpEndpoint", map[string]any{"mediaPipeline": p})
	f := e.obj(ep).(*ktFakeRTP)

	_, err := e.invoke("S", ep, "getLocalSessionDescriptor", nil)
	ktWantCode(t, err, CodeSDPNoLocal)
	_, err = e.invoke("S", ep, "getRemoteSessionDescriptor", nil)
	ktWantCode(t, err, CodeSDPNoRemote)
	_, err = e.invoke("S", ep, "processAnswer", map[string]any{"answer": "a"})
	ktWantCode(t, err, CodeSDPNotOfferGenerated)

	for _, c := range []struct {
		params map[string]any
		want   OfferOptions
	}{
		{nil, OfferOptions{true, true}},
		{map[string]any{"options": map[string]any{"offerToReceiveAudio": false, "__module__": "kurento", "__type__": "OfferOptions"}}, OfferOptions{false, true}},
		{map[string]any{"options": map[string]any{"offerToReceiveVideo": false}}, OfferOptions{true, false}},
	} {
		got := e.mustInvoke("S", ep, "generateOffer", c.params)
		if last := f.offers[len(f.offers)-1]; last != c.want || got != fmt.Sprintf("offer audio=%v video=%v", c.want.OfferToReceiveAudio, c.want.OfferToReceiveVideo) {
			t.Errorf("generateOffer(%v) = %v with %+v, want %+v", c.params, got, last, c.want)
		}
	}
	if got := e.mustInvoke("S", ep, "processAnswer", map[string]any{"answer": "ans"}); got != f.local {
		t.Errorf("processAnswer = %v", got)
	}
	if got := e.mustInvoke("S", ep, "getRemoteSessionDescriptor", nil); got != "ans" {
		t.Errorf("getRemoteSessionDescriptor = %v", got)
	}
	_, err = e.invoke("S", ep, "processOffer", map[string]any{"offer": "o"})
	ktWantCode(t, err, CodeSDPAlreadyNegotiated)
	_, err = e.invoke("S", ep, "processOffer", map[string]any{})
	ktWantCode(t, err, CodeMarshall)
}

func TestBaseRTPEndpointProperties(t *testing.T) {
	e := newKtEnvWith(t, ktRegistry(ktFakeRTPClass()))
	p := e.pipeline("S")
	ep := e.create("S", "FakeRtpEndpoint", map[string]any{"mediaPipeline": p})
	for prop, want := range map[string]any{
		"maxAudioRecvBandwidth": 0, "maxVideoRecvBandwidth": 0, "minVideoRecvBandwidth": 0,
		"minVideoSendBandwidth": DefaultMinVideoSendBandwidth, "maxVideoSendBandwidth": DefaultMaxVideoSendBandwidth,
		"mtu": DefaultMTU, "mediaState": "DISCONNECTED", "connectionState": "DISCONNECTED",
	} {
		if got := e.mustInvoke("S", ep, "get"+upperFirst(prop), nil); got != want {
			t.Errorf("%s = %v, want %v", prop, got, want)
		}
	}
	for _, prop := range []string{"maxAudioRecvBandwidth", "maxVideoRecvBandwidth", "minVideoRecvBandwidth", "minVideoSendBandwidth", "maxVideoSendBandwidth", "mtu"} {
		e.mustInvoke("S", ep, "set"+upperFirst(prop), map[string]any{prop: 1234})
		if got := e.mustInvoke("S", ep, "get"+upperFirst(prop), nil); got != 1234 {
			t.Errorf("%s after set = %v", prop, got)
		}
		_, err := e.invoke("S", ep, "set"+upperFirst(prop), map[string]any{prop: -1})
		ktWantCode(t, err, CodeIllegalParam)
	}
	f := e.obj(ep).(*ktFakeRTP)
	if a, v := f.MaxRecvBandwidths(); a != 1234 || v != 1234 {
		t.Errorf("MaxRecvBandwidths = %d %d", a, v)
	}
	if b := f.Bandwidths(); b != (Bandwidths{1234, 1234, 1234}) || f.MTU() != 1234 {
		t.Errorf("Bandwidths = %+v, MTU %d", b, f.MTU())
	}
	for _, op := range []string{"setMediaState", "setConnectionState"} {
		_, err := e.invoke("S", ep, op, map[string]any{"mediaState": "CONNECTED", "connectionState": "CONNECTED"})
		ktWantCode(t, err, CodeMalformedTransaction)
	}
	remb := map[string]any{"upLosses": 12, "rembOnConnect": 300000, "exponentialFactor": 0.04, "__module__": "kurento", "__type__": "RembParams"}
	e.mustInvoke("S", ep, "setRembParams", map[string]any{"rembParams": remb})
	got := ktWire(t, e.mustInvoke("S", ep, "getRembParams", nil)).(map[string]any)
	if fmt.Sprintf("%v %v %v %v", got["upLosses"], got["rembOnConnect"], got["exponentialFactor"], got["__type__"]) != "12 300000 0.04 RembParams" {
		t.Errorf("rembParams = %v", got)
	}
}

func TestBaseRTPEndpointEvents(t *testing.T) {
	e := newKtEnvWith(t, ktRegistry(ktFakeRTPClass()))
	p := e.pipeline("S")
	ep := e.create("S", "FakeRtpEndpoint", map[string]any{"mediaPipeline": p})
	for _, ev := range []string{"MediaStateChanged", "ConnectionStateChanged", "MediaSessionStarted", "MediaSessionTerminated"} {
		e.subscribe("S", ep, ev)
	}
	f := e.obj(ep).(*ktFakeRTP)
	f.TerminateSession() // never started: nothing
	f.SetConnectionState(true)
	f.SetConnectionState(true)
	f.StartSession()
	f.StartSession()
	f.SetMediaState(true)
	f.SetMediaState(false)
	f.SetConnectionState(false)
	f.TerminateSession()
	f.TerminateSession()
	var got []string
	for _, d := range e.sink.take() {
		s := d.Type
		if old, ok := d.Data["oldState"]; ok {
			s += fmt.Sprintf(" %v->%v", old, d.Data["newState"])
		}
		if d.Data["type"] != d.Type {
			t.Errorf("%s: data.type %v", d.Type, d.Data["type"])
		}
		got = append(got, s)
	}
	want := []string{
		"ConnectionStateChanged DISCONNECTED->CONNECTED", "MediaSessionStarted",
		"MediaStateChanged DISCONNECTED->CONNECTED", "MediaStateChanged CONNECTED->DISCONNECTED",
		"ConnectionStateChanged CONNECTED->DISCONNECTED", "MediaSessionTerminated",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n%v\nwant\n%v", got, want)
	}
	if c, m := f.States(); c || m {
		t.Errorf("States = %v %v", c, m)
	}
}

// requestKeyframe goes upstream to whatever produces the endpoint's video.
func TestRequestKeyframe(t *testing.T) {
	e := newKtEnvWith(t, ktRegistry(ktFakeRTPClass()))
	p := e.pipeline("S")
	src := e.element("S", p)
	ep := e.create("S", "FakeRtpEndpoint", map[string]any{"mediaPipeline": p})
	asked := make(chan struct{}, 4)
	e.elem(src).Output(Video, "default").OnKeyframeRequest(func() { asked <- struct{}{} })
	e.mustInvoke("S", src, "connect", map[string]any{"sink": ep, "mediaType": "VIDEO"})
	// The fake endpoint consumes nothing yet, so the attach did not ask;
	// requestKeyframe does.
	e.mustInvoke("S", ep, "requestKeyframe", nil)
	select {
	case <-asked:
	case <-time.After(5 * time.Second):
		t.Fatal("keyframe request did not reach the source")
	}
}
