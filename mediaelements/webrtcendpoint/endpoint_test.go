package webrtcendpoint

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	me "github.com/miksilo/miksilo/mediaelements"
)

func gotMedia(video, audio int) func(map[string]*rxStats) bool {
	return func(rx map[string]*rxStats) bool {
		v, a := rx[webrtc.MimeTypeVP8], rx[webrtc.MimeTypeOpus]
		return v != nil && a != nil && v.packets >= video && a.packets >= audio && len(v.keyframes) > 0
	}
}

// (a) A peer sends VP8 + Opus to an endpoint connected to itself and gets it back.
func TestLoopback(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	ep := e.endpoint(p, nil)
	e.connect(ep, ep)
	peer := newPeer(t)
	peer.addMedia()
	e.negotiate(ep, peer)
	peer.send()
	peer.awaitRx("media back", wait, gotMedia(20, 20))

	for _, typ := range []string{"MediaFlowOutStateChanged", "MediaFlowInStateChanged"} {
		for _, mt := range []string{"AUDIO", "VIDEO"} {
			e.sink.AwaitFrom(t, 0, wait, typ+" "+mt, isEvent(ep, typ, "state", "FLOWING", "mediaType", mt))
		}
	}
	e.sink.AwaitFrom(t, 0, wait, "ConnectionStateChanged", isEvent(ep, "ConnectionStateChanged", "newState", "CONNECTED"))
	e.sink.AwaitFrom(t, 0, wait, "MediaStateChanged", isEvent(ep, "MediaStateChanged", "newState", "CONNECTED"))
	e.sink.AwaitFrom(t, 0, wait, "MediaSessionStarted", isEvent(ep, "MediaSessionStarted"))
	e.sink.AwaitFrom(t, 0, wait, "NewCandidatePairSelected", isEvent(ep, "NewCandidatePairSelected"))
	e.sink.AwaitFrom(t, 0, wait, "IceGatheringDone", isEvent(ep, "IceGatheringDone"))
	e.sink.AwaitFrom(t, 0, wait, "DtlsConnectionStateChange", isEvent(ep, "DtlsConnectionStateChange", "state", "CONNECTED"))
	ev, _ := e.sink.AwaitFrom(t, 0, wait, "IceCandidateFound", isEvent(ep, "IceCandidateFound"))
	c := ev.Data["candidate"].(map[string]any)
	if c["__module__"] != "kurento" || c["__type__"] != "IceCandidate" || !strings.HasPrefix(c["candidate"].(string), "candidate:") ||
		!strings.Contains(c["candidate"].(string), "127.0.0.1") {
		t.Errorf("IceCandidateFound candidate = %v", c)
	}

	// Properties and stats.
	if got := e.invoke(ep, "getConnectionState", nil); got != "CONNECTED" {
		t.Errorf("connectionState = %v", got)
	}
	if got := e.invoke(ep, "getMediaState", nil); got != "CONNECTED" {
		t.Errorf("mediaState = %v", got)
	}
	pairs := e.invoke(ep, "getICECandidatePairs", nil).([]any)
	if len(pairs) != 1 || !strings.Contains(pairs[0].(map[string]any)["localCandidate"].(string), "127.0.0.1") {
		t.Errorf("ICECandidatePairs = %v", pairs)
	}
	if st := e.invoke(ep, "getIceConnectionState", nil).([]any); len(st) != 1 {
		t.Errorf("IceConnectionState = %v", st)
	}
	for _, op := range []string{"getLocalSessionDescriptor", "getRemoteSessionDescriptor"} {
		if s := e.invoke(ep, op, nil).(string); !strings.HasPrefix(s, "v=0") {
			t.Errorf("%s = %q", op, s)
		}
	}
	local := e.invoke(ep, "getLocalSessionDescriptor", nil).(string)
	for _, want := range []string{"VP8/90000", "opus/48000/2", "nack pli", "goog-remb", "transport-cc", "ccm fir", "rtx/90000"} {
		if !strings.Contains(local, want) {
			t.Errorf("answer lacks %q:\n%s", want, local)
		}
	}
	if strings.Contains(local, "H265") || strings.Contains(local, "AV1") {
		t.Errorf("answer has codecs Miksilo does not offer:\n%s", local)
	}
	// The kinds of entry getStats has once media flowed both ways.
	err := eventually(wait, func() bool {
		stats := e.invoke(ep, "getStats", nil).(map[string]any)
		seen := map[string]bool{}
		for id, v := range stats {
			s := v.(map[string]any)
			if s["id"] != id || s["__module__"] != "kurento" || s["timestampMillis"] == nil {
				t.Fatalf("bad stats entry %s: %v", id, s)
			}
			seen[s["__type__"].(string)+"/"+s["type"].(string)] = true
		}
		return seen["EndpointStats/endpoint"] && seen["RTCInboundRTPStreamStats/inboundrtp"] &&
			seen["RTCOutboundRTPStreamStats/outboundrtp"] && seen["RTCIceCandidatePairStats/candidatepair"]
	})
	if err != nil {
		t.Errorf("getStats: %v: %v", err, e.invoke(ep, "getStats", nil))
	}
	video := e.invoke(ep, "getStats", map[string]any{"mediaType": "VIDEO"}).(map[string]any)
	for _, v := range video {
		if s := v.(map[string]any); s["__type__"] == "RTCIceCandidatePairStats" {
			t.Errorf("getStats(VIDEO) has %v", s)
		}
	}
}

// (b) A sends to B through two endpoints.
func TestCallAtoB(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	epA := e.endpoint(p, nil)
	epB := e.endpoint(p, map[string]any{"sendonly": true})
	e.connect(epA, epB)
	a, b := newPeer(t), newPeer(t)
	a.addMedia()
	b.recvOnly()
	e.negotiate(epA, a)
	e.negotiate(epB, b)
	a.send()
	b.awaitRx("A's media at B", wait, gotMedia(20, 20))
	e.sink.AwaitFrom(t, 0, wait, "flow in at B", isEvent(epB, "MediaFlowInStateChanged", "state", "FLOWING", "mediaType", "VIDEO"))
	answer := e.invoke(epB, "getLocalSessionDescriptor", nil).(string)
	if !strings.Contains(answer, "a=sendonly") {
		t.Errorf("sendonly endpoint answered:\n%s", answer)
	}
}

// (c) One presenter, viewers joining and leaving mid-stream: each new
// viewer gets a keyframe within 500 ms of its connection completing
// (the presenter sends keyframes only when asked with PLI).
func TestViewersGetKeyframe(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	pres := e.endpoint(p, map[string]any{"recvonly": true})
	presenter := newPeer(t)
	presenter.addMedia()
	e.negotiate(pres, presenter)
	presenter.send()
	e.sink.AwaitFrom(t, 0, wait, "presenter flowing", isEvent(pres, "MediaFlowOutStateChanged", "state", "FLOWING", "mediaType", "VIDEO"))

	const limit = 500 * time.Millisecond
	var worst time.Duration
	var prev *peer
	var prevEP string
	for i := range 4 {
		ep := e.endpoint(p, map[string]any{"sendonly": true})
		e.connect(pres, ep)
		v := newPeer(t)
		v.recvOnly()
		e.negotiate(ep, v)
		connected := v.awaitConnected()
		v.awaitRx("keyframe", wait, func(rx map[string]*rxStats) bool {
			s := rx[webrtc.MimeTypeVP8]
			return s != nil && len(s.keyframes) > 0
		})
		v.mu.Lock()
		lat := v.rx[webrtc.MimeTypeVP8].keyframes[0].Sub(connected)
		v.mu.Unlock()
		t.Logf("viewer %d: first keyframe %v after its connection completed", i, lat)
		if lat > limit {
			t.Errorf("viewer %d: first keyframe after %v, want < %v", i, lat, limit)
		}
		worst = max(worst, lat)
		// The previous viewer leaves while the next one joins.
		if prev != nil {
			if err := e.store.Release(e.call(), prevEP); err != nil {
				t.Fatal(err)
			}
			prev.close()
		}
		prev, prevEP = v, ep
	}
	t.Logf("worst keyframe latency for a new viewer: %v", worst)
}

// (d) Candidates that arrive before processOffer are buffered.
func TestCandidatesBeforeOffer(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	ep := e.endpoint(p, nil)
	e.connect(ep, ep)
	peer := newPeer(t)
	peer.addMedia()
	e.trickleTo(ep, peer)
	var cands []webrtc.ICECandidateInit
	gathered := webrtc.GatheringCompletePromise(peer.pc)
	offer := peer.offer(func(c webrtc.ICECandidateInit) { cands = append(cands, c) })
	select {
	case <-gathered:
	case <-time.After(wait):
		t.Fatal("peer gathering")
	}
	if len(cands) == 0 {
		t.Fatal("peer gathered no candidates")
	}
	for _, c := range cands {
		e.invoke(ep, "addIceCandidate", candidateParams(c))
	}
	answer := e.invoke(ep, "processOffer", map[string]any{"offer": offer}).(string)
	peer.setAnswer(answer)
	e.invoke(ep, "gatherCandidates", nil)
	peer.awaitConnected()
	peer.send()
	peer.awaitRx("media back", wait, gotMedia(5, 5))
}

// (e) The server offers: generateOffer, then processAnswer.
func TestServerOffers(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	ep := e.endpoint(p, nil)
	e.connect(ep, ep)
	peer := newPeer(t)
	e.trickleTo(ep, peer)
	if err := e.fails(ep, "processAnswer", map[string]any{"answer": "v=0\r\n"}); err.Code != me.CodeSDPNotOfferGenerated {
		t.Errorf("processAnswer before generateOffer: %v", err)
	}
	offer := e.invoke(ep, "generateOffer", map[string]any{"options": map[string]any{
		"offerToReceiveAudio": true, "offerToReceiveVideo": true, "__module__": "kurento", "__type__": "OfferOptions"}}).(string)
	if !strings.Contains(offer, "m=audio") || !strings.Contains(offer, "m=video") || !strings.Contains(offer, "a=sendrecv") {
		t.Fatalf("offer:\n%s", offer)
	}
	if err := e.fails(ep, "generateOffer", nil); err.Code != me.CodeSDPAlreadyNegotiated {
		t.Errorf("generateOffer twice: %v", err)
	}
	if err := e.fails(ep, "getRemoteSessionDescriptor", nil); err.Code != me.CodeSDPNoRemote {
		t.Errorf("getRemoteSessionDescriptor before the answer: %v", err)
	}
	if err := peer.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	// The peer answers with media of its own on the transceivers the offer made.
	peer.addMedia()
	cands := make(chan webrtc.ICECandidateInit, 32)
	peer.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			cands <- c.ToJSON()
		}
	})
	answer, err := peer.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	// Candidates gathered between the two calls join the local SDP (pion
	// gathers from SetLocalDescription on): compare without them.
	if got := e.invoke(ep, "processAnswer", map[string]any{"answer": answer.SDP}).(string); withoutCandidates(got) != withoutCandidates(e.invoke(ep, "getLocalSessionDescriptor", nil).(string)) {
		t.Errorf("processAnswer returned %q, not the local SDP", got)
	}
	if err := e.fails(ep, "processAnswer", map[string]any{"answer": answer.SDP}); err.Code != me.CodeSDPAnswerProcessed {
		t.Errorf("processAnswer twice: %v", err)
	}
	e.invoke(ep, "gatherCandidates", nil)
	e.addCandidates(ep, cands, peer)
	peer.send()
	peer.awaitRx("media back", wait, gotMedia(10, 10))

	// A recvonly endpoint asked not to receive audio offers video only.
	ep2 := e.endpoint(p, map[string]any{"recvonly": true})
	offer2 := e.invoke(ep2, "generateOffer", map[string]any{"options": map[string]any{"offerToReceiveAudio": false}}).(string)
	if strings.Contains(offer2, "m=audio") || !strings.Contains(offer2, "m=video") || !strings.Contains(offer2, "a=recvonly") {
		t.Errorf("recvonly offer without audio:\n%s", offer2)
	}
}

// (f) Data channel messages are relayed between two connected endpoints.
func TestDataChannelRelay(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	epA := e.endpoint(p, map[string]any{"useDataChannels": true})
	epB := e.endpoint(p, map[string]any{"useDataChannels": true})
	e.connect(epA, epB)
	e.connect(epB, epA)
	a, b := newPeer(t), newPeer(t)
	var dcs [2]*webrtc.DataChannel
	open := make(chan struct{}, 2)
	for i, pr := range []*peer{a, b} {
		dc, err := pr.pc.CreateDataChannel("chat", nil)
		if err != nil {
			t.Fatal(err)
		}
		dc.OnOpen(func() { open <- struct{}{} })
		dc.OnMessage(func(m webrtc.DataChannelMessage) { pr.dcMsgs <- m })
		dcs[i] = dc
	}
	e.negotiate(epA, a)
	e.negotiate(epB, b)
	for _, ep := range []string{epA, epB} {
		e.sink.AwaitFrom(t, 0, wait, "DataChannelOpened", isEvent(ep, "DataChannelOpened"))
	}
	for range 2 {
		select {
		case <-open:
		case <-time.After(wait):
			t.Fatal("peer data channel not open")
		}
	}
	if err := dcs[0].SendText("hello from A"); err != nil {
		t.Fatal(err)
	}
	if err := dcs[1].Send([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		to   *peer
		text bool
		want string
	}{{b, true, "hello from A"}, {a, false, "\x01\x02\x03"}} {
		select {
		case m := <-c.to.dcMsgs:
			if m.IsString != c.text || string(m.Data) != c.want {
				t.Errorf("relayed %v %q, want %v %q", m.IsString, m.Data, c.text, c.want)
			}
		case <-time.After(wait):
			t.Fatalf("message %q not relayed", c.want)
		}
	}
	e.sink.AwaitFrom(t, 0, wait, "DATA flowing into B", isEvent(epB, "MediaFlowInStateChanged", "state", "FLOWING", "mediaType", "DATA"))
	var dcStats map[string]any
	for _, v := range e.invoke(epA, "getStats", map[string]any{"mediaType": "DATA"}).(map[string]any) {
		if s := v.(map[string]any); s["__type__"] == "RTCDataChannelStats" {
			dcStats = s
		}
	}
	if dcStats == nil || dcStats["label"] != "chat" || dcStats["messagesReceived"] != int64(1) || dcStats["messagesSent"] != int64(1) || dcStats["state"] != "open" {
		t.Errorf("data channel stats of A: %v", dcStats)
	}

	// The server opens and closes a channel of its own.
	atPeer := make(chan struct{})
	a.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() == "server" {
			dc.OnOpen(func() { close(atPeer) })
		}
	})
	opened := e.sink.Mark()
	e.invoke(epA, "createDataChannel", map[string]any{"label": "server"})
	ev, _ := e.sink.AwaitFrom(t, opened, wait, "server channel opened", isEvent(epA, "DataChannelOpened"))
	id := int(ev.Data["channelId"].(float64))
	select {
	case <-atPeer:
	case <-time.After(wait):
		t.Fatal("the server's channel did not open at the peer")
	}
	e.invoke(epA, "closeDataChannel", map[string]any{"channelId": id})
	e.sink.AwaitFrom(t, opened, wait, "server channel closed", func(x event) bool {
		return x.Object == epA && x.Type == "DataChannelClosed" && int(x.Data["channelId"].(float64)) == id
	})
	if err := e.fails(epA, "closeDataChannel", map[string]any{"channelId": 999}); err.Code != me.CodeIllegalParam {
		t.Errorf("closeDataChannel unknown: %v", err)
	}
	plain := e.endpoint(p, nil)
	if err := e.fails(plain, "createDataChannel", nil); err.Code != me.CodeOperationNotSupported {
		t.Errorf("createDataChannel without useDataChannels: %v", err)
	}
}

// (g) A peer vanishes mid-stream: media stops flowing out of its endpoint
// and into the endpoint it fed; the endpoint is released and no goroutine
// or socket is left behind.
func TestPeerVanishes(t *testing.T) {
	before := udpSockets(t)
	e := newEnv(t)
	p := e.pipeline()
	epA := e.endpoint(p, map[string]any{"recvonly": true})
	epB := e.endpoint(p, map[string]any{"sendonly": true})
	e.connect(epA, epB)
	a, b := newPeer(t), newPeer(t)
	a.addMedia()
	b.recvOnly()
	e.negotiate(epA, a)
	e.negotiate(epB, b)
	a.send()
	b.awaitRx("media at B", wait, gotMedia(10, 10))
	from := e.sink.Mark()

	a.close() // the browser tab goes away
	e.sink.AwaitFrom(t, from, wait, "A's endpoint not flowing out", isEvent(epA, "MediaFlowOutStateChanged", "state", "NOT_FLOWING", "mediaType", "VIDEO"))
	e.sink.AwaitFrom(t, from, wait, "B's endpoint not flowing in", isEvent(epB, "MediaFlowInStateChanged", "state", "NOT_FLOWING", "mediaType", "VIDEO"))
	e.sink.AwaitFrom(t, from, wait, "A disconnected", isEvent(epA, "ConnectionStateChanged", "newState", "DISCONNECTED"))

	if err := e.store.Release(e.call(), epA); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.store.Get(epA); ok {
		t.Fatal("released endpoint still in the store")
	}
	// B carries on (still connected to its peer), then everything goes.
	if got := e.invoke(epB, "getConnectionState", nil); got != "CONNECTED" {
		t.Errorf("B's connectionState = %v", got)
	}
	e.store.ReleaseAll()
	b.close()
	if err := eventually(wait, func() bool { return udpSockets(t) <= before }); err != nil {
		t.Errorf("sockets: %d before, %d after release", before, udpSockets(t))
	}
	goleak.VerifyNone(t, goleak.IgnoreCurrent())
}

// (h) Bad input gets a clear domain error with the right code, and the
// pipeline and the other endpoints carry on.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	ep := e.endpoint(p, nil)
	const noMedia = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	h265Only := noMedia + "a=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 100\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 " +
		strings.Repeat("AB:", 31) + "AB\r\na=setup:actpass\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:100 H265/90000\r\n"
	for _, c := range []struct {
		name, op string
		params   map[string]any
		code     int
		msg      string
	}{
		{"local before negotiation", "getLocalSessionDescriptor", nil, me.CodeSDPNoLocal, "No local SDP"},
		{"remote before negotiation", "getRemoteSessionDescriptor", nil, me.CodeSDPNoRemote, "No remote SDP"},
		{"empty offer", "processOffer", map[string]any{"offer": ""}, me.CodeSDPParse, "Empty offer"},
		{"garbage", "processOffer", map[string]any{"offer": "this is not SDP"}, me.CodeSDPParse, "Error parsing SDP"},
		{"no media", "processOffer", map[string]any{"offer": noMedia}, me.CodeSDPProcessOffer, "no media"},
		{"only H.265", "processOffer", map[string]any{"offer": h265Only}, me.CodeSDPProcessOffer, "no supported codec"},
		{"answer without offer", "processAnswer", map[string]any{"answer": noMedia}, me.CodeSDPNotOfferGenerated, "generateOffer"},
		{"bad candidate", "addIceCandidate", map[string]any{"candidate": map[string]any{"candidate": "candidate:garbage", "sdpMid": "0", "sdpMLineIndex": 0}},
			me.CodeICEAddCandidate, "Error adding ICE candidate"},
		{"bad TURN url", "setTurnUrl", map[string]any{"turnUrl": "turn.example.com"}, me.CodeIllegalParam, "turnUrl"},
		{"bad external IP", "setExternalIPv4", map[string]any{"externalIPv4": "::1"}, me.CodeIllegalParam, "IPv4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := e.fails(ep, c.op, c.params)
			if err.Code != c.code || !strings.Contains(err.Message, c.msg) {
				t.Errorf("got %v, want code %d and %q", err, c.code, c.msg)
			}
		})
	}
	// Candidates for an endpoint that does not exist (or no longer does).
	gone := e.endpoint(p, nil)
	if err := e.store.Release(e.call(), gone); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{gone, p + "/nope_kurento.WebRtcEndpoint"} {
		_, err := e.try(id, "addIceCandidate", map[string]any{"candidate": map[string]any{"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}})
		if de := me.AsError(err); de == nil || de.Code != me.CodeObjectNotFound {
			t.Errorf("addIceCandidate on %s: %v", id, err)
		}
	}
	if _, err := e.store.Create(e.call(), "WebRtcEndpoint", map[string]any{"mediaPipeline": p, "recvonly": true, "sendonly": true}); me.AsError(err) == nil {
		t.Errorf("recvonly+sendonly: %v", err)
	}

	// The same endpoint still negotiates, and processOffer twice is refused.
	e.connect(ep, ep)
	peer := newPeer(t)
	peer.addMedia()
	e.negotiate(ep, peer)
	if err := e.fails(ep, "processOffer", map[string]any{"offer": e.invoke(ep, "getRemoteSessionDescriptor", nil)}); err.Code != me.CodeSDPAlreadyNegotiated {
		t.Errorf("processOffer twice: %v", err)
	}
	peer.send()
	peer.awaitRx("media back", wait, gotMedia(5, 5))
}

// rawVideo is a local VP8 track whose packets keep the payload type they
// are written with (TrackLocalStaticRTP stamps the negotiated one).
type rawVideo struct {
	mu   sync.Mutex
	ws   webrtc.TrackLocalWriter
	ssrc webrtc.SSRC
	pt   webrtc.PayloadType
}

func (r *rawVideo) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, codec := range c.CodecParameters() {
		if strings.EqualFold(codec.MimeType, webrtc.MimeTypeVP8) {
			r.mu.Lock()
			r.ws, r.ssrc, r.pt = c.WriteStream(), c.SSRC(), codec.PayloadType
			r.mu.Unlock()
			return codec, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}
func (r *rawVideo) Unbind(webrtc.TrackLocalContext) error { return nil }
func (r *rawVideo) ID() string                            { return "video" }
func (r *rawVideo) RID() string                           { return "" }
func (r *rawVideo) StreamID() string                      { return "raw" }
func (r *rawVideo) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeVideo }

// write sends one packet with payload type pt (0: the negotiated one).
func (r *rawVideo) write(seq uint16, ts uint32, pt uint8, payload []byte) bool {
	r.mu.Lock()
	ws, ssrc, neg := r.ws, r.ssrc, r.pt
	r.mu.Unlock()
	if ws == nil {
		return false
	}
	if pt == 0 {
		pt = uint8(neg)
	}
	_, err := ws.WriteRTP(&rtp.Header{Version: 2, Marker: true, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: uint32(ssrc)}, payload)
	return err == nil
}

// A video stream whose first packets carry a payload type that was not
// negotiated still reaches the sinks: pion v4.2.20 used to drop such a
// track without a word (its one-shot check of the first packet), and the
// endpoint's read loop stopped at the first read error.
func TestUnknownPayloadTypeFirst(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	ep := e.endpoint(p, nil)
	e.connect(ep, ep)
	peer := newPeer(t)
	raw := &rawVideo{}
	if _, err := peer.pc.AddTrack(raw); err != nil {
		t.Fatal(err)
	}
	e.negotiate(ep, peer)
	peer.awaitConnected()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		var seq uint16
		var ts uint32
		for i := 0; ; i++ {
			select {
			case <-peer.stop:
				return
			case <-tick.C:
			}
			seq++
			ts += 3000
			pt, payload := uint8(0), vp8Delta
			switch {
			case i < 3:
				pt = 123 // not in any offer
			case i == 3 || i%30 == 0:
				payload = vp8Key
			}
			raw.write(seq, ts, pt, payload)
		}
	}()
	defer func() { peer.stopSending(); <-done }()
	peer.awaitRx("video back after packets of an unknown payload type", wait, func(rx map[string]*rxStats) bool {
		v := rx[webrtc.MimeTypeVP8]
		return v != nil && v.packets >= 20 && len(v.keyframes) > 0
	})
	e.sink.AwaitFrom(t, 0, wait, "MediaFlowInStateChanged VIDEO", isEvent(ep, "MediaFlowInStateChanged", "state", "FLOWING", "mediaType", "VIDEO"))
}

// withoutCandidates drops an SDP's candidate lines.
func withoutCandidates(sdp string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(sdp, "\n") {
		if !strings.HasPrefix(l, "a=candidate:") && !strings.HasPrefix(l, "a=end-of-candidates") {
			b.WriteString(l)
		}
	}
	return b.String()
}
