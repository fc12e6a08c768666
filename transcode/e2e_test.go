package transcode

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/miksilo/miksilo/internal/eventtest"
	"github.com/miksilo/miksilo/internal/gst"
	me "github.com/miksilo/miksilo/mediaelements"
	"github.com/miksilo/miksilo/mediaelements/webrtcendpoint"
)

// End to end through the real WebRtcEndpoint: a VP8-only publisher, an
// H.264-only viewer; the viewer's endpoint gets a transcoder and the viewer
// decodes H.264 of the publisher's picture.

type e2eEvent = eventtest.Event

type e2eEnv struct {
	t     *testing.T
	store *me.Store
	sink  *eventtest.Recorder
}

func (e *e2eEnv) call() *me.Call { return e.store.NewCall(context.Background(), "S") }

func (e *e2eEnv) create(typ string, ctor map[string]any) string {
	e.t.Helper()
	o, err := e.store.Create(e.call(), typ, ctor)
	if err != nil {
		e.t.Fatalf("create %s: %v", typ, err)
	}
	id := o.Base().ID()
	for _, ev := range []string{"IceCandidateFound", "MediaTranscodingStateChanged", "Error"} {
		if typ != "MediaPipeline" {
			if _, err := e.store.Subscribe(e.call(), id, ev); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	return id
}

func (e *e2eEnv) invoke(id, op string, params map[string]any) any {
	e.t.Helper()
	inv, err := e.store.PrepareInvoke(e.call(), id, op, params)
	if err == nil {
		var v any
		if v, err = inv.Run(); err == nil {
			return v
		}
	}
	e.t.Fatalf("%s %s: %v", op, id, err)
	return nil
}

// newPeer is a pion "browser" on loopback with only the given video codec.
func newE2EPeer(t *testing.T, codec webrtc.RTPCodecParameters) *webrtc.PeerConnection {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(codec, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() })
	return pc
}

// negotiate: the peer offers, the endpoint answers, candidates trickle both ways.
func (e *e2eEnv) negotiate(ep string, pc *webrtc.PeerConnection) {
	e.t.Helper()
	e.sink.Hook(ep, "IceCandidateFound", func(ev e2eEvent) {
		c, _ := ev.Data["candidate"].(map[string]any)
		s, _ := c["candidate"].(string)
		mid, _ := c["sdpMid"].(string)
		idx, _ := c["sdpMLineIndex"].(float64)
		i := uint16(idx)
		_ = pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: s, SDPMid: &mid, SDPMLineIndex: &i})
	})
	cands := make(chan webrtc.ICECandidateInit, 32)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			cands <- c.ToJSON()
		}
	})
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		e.t.Fatal(err)
	}
	answer := e.invoke(ep, "processOffer", map[string]any{"offer": offer.SDP}).(string)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		e.t.Fatal(err)
	}
	e.invoke(ep, "gatherCandidates", nil)
	deadline := time.After(wait)
	for {
		select {
		case c := <-cands:
			cand := map[string]any{"candidate": c.Candidate, "sdpMid": *c.SDPMid, "sdpMLineIndex": int(*c.SDPMLineIndex),
				"__module__": "kurento", "__type__": "IceCandidate"}
			e.invoke(ep, "addIceCandidate", map[string]any{"candidate": cand})
		case <-connected:
			return
		case <-deadline:
			e.t.Fatal("peer not connected")
		}
	}
}

func TestEndToEndVP8PublisherH264Viewer(t *testing.T) {
	if err := gst.Require("vp8enc", "avdec_h264", "x264enc"); err != nil {
		t.Skip(err)
	}
	reg := me.NewRegistry(webrtcendpoint.Class(webrtcendpoint.Settings{LoopbackOnly: true}))
	e := &e2eEnv{t: t, sink: eventtest.New(),
		store: me.NewStore(me.Options{Registry: reg, Transcoders: NewFactory(WithVideoBitrate(300_000))})}
	e.store.SetEventSink(e.sink)
	t.Cleanup(e.store.ReleaseAll)
	dec := startDecoder(t, "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=102",
		"rtph264depay ! avdec_h264 ! videoconvert ! video/x-raw,format=RGB")

	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the peers closed (cleanups run last first)

	pipe := e.create("MediaPipeline", nil)
	epA := e.create("WebRtcEndpoint", map[string]any{"mediaPipeline": pipe})
	epB := e.create("WebRtcEndpoint", map[string]any{"mediaPipeline": pipe})
	e.invoke(epA, "connect", map[string]any{"sink": epB})

	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	pub := newE2EPeer(t, webrtc.RTPCodecParameters{PayloadType: 96,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}})
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := pub.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	viewer := newE2EPeer(t, webrtc.RTPCodecParameters{PayloadType: 102,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: fb}})
	if _, err := viewer.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	mimes := make(chan string, 4)
	viewer.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		mimes <- tr.Codec().MimeType
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				dec.write(p)
			}
		}()
	})

	e.negotiate(epA, pub)
	e.negotiate(epB, viewer)

	// The publisher's picture, keyframes only at the start and on PLI/FIR.
	src := startSource(t, fmt.Sprintf(testPattern, argb)+"vp8enc name=enc deadline=1 keyframe-max-dist=100000 ! rtpvp8pay pt=96 mtu=1200",
		func(p *rtp.Packet) { _ = track.WriteRTP(p) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					gst.ForceKeyUnit(src.enc)
				}
			}
		}
	}()

	select {
	case m := <-mimes:
		if !strings.EqualFold(m, webrtc.MimeTypeH264) {
			t.Fatalf("viewer track is %s", m)
		}
	case <-time.After(wait):
		t.Fatal("no track at the viewer")
	}
	for range 5 {
		checkSolid(t, dec.frame(t), 160, 120)
	}
	ev := e.sink.Await(t, wait, "TRANSCODING on the viewer's endpoint", eventtest.Is(epB, "MediaTranscodingStateChanged", "state", "TRANSCODING"))
	if ev.Data["mediaType"] != "VIDEO" {
		t.Fatalf("event %v", ev.Data)
	}
	if got := e.invoke(epB, "isMediaTranscoding", map[string]any{"mediaType": "VIDEO"}); got != true {
		t.Fatalf("isMediaTranscoding = %v at the viewer's endpoint", got)
	}
	if got := e.invoke(epA, "isMediaTranscoding", map[string]any{"mediaType": "VIDEO"}); got != false {
		t.Fatalf("isMediaTranscoding = %v at the publisher's endpoint", got)
	}
	// Disconnecting ends it.
	e.invoke(epA, "disconnect", map[string]any{"sink": epB})
	e.sink.Await(t, wait, "NOT_TRANSCODING on the viewer's endpoint", eventtest.Is(epB, "MediaTranscodingStateChanged", "state", "NOT_TRANSCODING"))
	if got := e.invoke(epB, "isMediaTranscoding", map[string]any{"mediaType": "VIDEO"}); got != false {
		t.Fatal("still transcoding after disconnect")
	}
}
