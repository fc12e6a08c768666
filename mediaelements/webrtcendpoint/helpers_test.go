package webrtcendpoint

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/miksilo/miksilo/internal/eventtest"
	me "github.com/miksilo/miksilo/mediaelements"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 10 * time.Second

// event and sink: the shared event recorder (internal/eventtest).
type event = eventtest.Event

type sink = eventtest.Recorder

func newSink() *sink { return eventtest.New() }

var isEvent = eventtest.Is

// env is a store with the WebRtcEndpoint class in loopback-only mode.
type env struct {
	t     *testing.T
	store *me.Store
	sink  *sink
}

const session = "S"

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, Settings{LoopbackOnly: true})
}

// newEnvWith is newEnv with other server settings (and the dispatchers).
func newEnvWith(t *testing.T, s Settings) *env {
	t.Helper()
	reg := me.NewRegistry(me.PassThroughClass(), me.DispatcherClass(), me.DispatcherOneToManyClass(), Class(s))
	st := me.NewStore(me.Options{Registry: reg, FlowTimeout: 500 * time.Millisecond})
	e := &env{t: t, store: st, sink: newSink()}
	st.SetEventSink(e.sink)
	t.Cleanup(st.ReleaseAll)
	return e
}

func (e *env) call() *me.Call { return e.store.NewCall(context.Background(), session) }

func (e *env) create(typ string, ctor map[string]any) string {
	e.t.Helper()
	o, err := e.store.Create(e.call(), typ, ctor)
	if err != nil {
		e.t.Fatalf("create %s: %v", typ, err)
	}
	return o.Base().ID()
}

func (e *env) pipeline() string { return e.create("MediaPipeline", nil) }

// endpoint creates a WebRtcEndpoint subscribed to every event of its class.
func (e *env) endpoint(pipeline string, ctor map[string]any) string {
	e.t.Helper()
	if ctor == nil {
		ctor = map[string]any{}
	}
	ctor["mediaPipeline"] = pipeline
	id := e.create("WebRtcEndpoint", ctor)
	for _, ev := range []string{"IceCandidateFound", "IceGatheringDone", "IceComponentStateChanged", "NewCandidatePairSelected",
		"DtlsConnectionStateChange", "DataChannelOpened", "DataChannelClosed", "MediaStateChanged", "ConnectionStateChanged",
		"MediaSessionStarted", "MediaSessionTerminated", "MediaFlowInStateChanged", "MediaFlowOutStateChanged", "Error"} {
		if _, err := e.store.Subscribe(e.call(), id, ev); err != nil {
			e.t.Fatalf("subscribe %s: %v", ev, err)
		}
	}
	return id
}

func (e *env) try(id, op string, params map[string]any) (any, error) {
	inv, err := e.store.PrepareInvoke(e.call(), id, op, params)
	if err != nil {
		return nil, err
	}
	return inv.Run()
}

func (e *env) invoke(id, op string, params map[string]any) any {
	e.t.Helper()
	v, err := e.try(id, op, params)
	if err != nil {
		e.t.Fatalf("%s %s: %v", op, id, err)
	}
	return v
}

// fails invokes and returns the domain error, failing the test on success.
func (e *env) fails(id, op string, params map[string]any) *me.Error {
	e.t.Helper()
	_, err := e.try(id, op, params)
	de := me.AsError(err)
	if de == nil {
		e.t.Fatalf("%s %s: want a domain error, got %v", op, id, err)
	}
	return de
}

func (e *env) connect(src, sink string) {
	e.t.Helper()
	e.invoke(src, "connect", map[string]any{"sink": sink})
}

// peer is a pion "browser": its own API with the loopback-only settings,
// pion's default codecs and interceptors.
type peer struct {
	t  *testing.T
	pc *webrtc.PeerConnection

	video, audio *webrtc.TrackLocalStaticRTP
	tag          byte // when not 0, appended to every VP8 payload sent (who sent it)
	stop         chan struct{}
	wg           sync.WaitGroup
	keyframeReq  atomic.Bool

	mu          sync.Mutex
	connectedAt time.Time
	connected   chan struct{}
	rx          map[string]*rxStats // by mime type
	rxNotify    chan struct{}
	dcMsgs      chan webrtc.DataChannelMessage
}

type rxStats struct {
	packets   int
	keyframes []time.Time
	codec     string
	log       []rxPacket // VP8 only
}

// rxPacket is one received VP8 packet.
type rxPacket struct {
	ssrc uint32
	seq  uint16
	tag  byte // last payload byte (the sender's tag)
	key  bool
}

func loopbackSettings() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	return newPeerWith(t, loopbackSettings())
}

// newPeerWith is newPeer with other network settings.
func newPeerWith(t *testing.T, se webrtc.SettingEngine) *peer {
	t.Helper()
	return newPeerInterceptors(t, se, webrtc.RegisterDefaultInterceptors)
}

// newPeerInterceptors is newPeerWith with its own interceptors.
func newPeerInterceptors(t *testing.T, se webrtc.SettingEngine, register func(*webrtc.MediaEngine, *interceptor.Registry) error) *peer {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := register(m, ir); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, pc: pc, stop: make(chan struct{}), connected: make(chan struct{}),
		rx: map[string]*rxStats{}, rxNotify: make(chan struct{}), dcMsgs: make(chan webrtc.DataChannelMessage, 16)}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			p.mu.Lock()
			if p.connectedAt.IsZero() {
				p.connectedAt = time.Now()
				close(p.connected)
			}
			p.mu.Unlock()
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.receive(tr)
		}()
	})
	t.Cleanup(p.close)
	return p
}

// close stops the sender goroutine and closes the peer connection.
func (p *peer) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	_ = p.pc.GracefulClose()
	p.wg.Wait()
}

// addMedia adds a VP8 and an Opus track (sendrecv) before the offer.
func (p *peer) addMedia() {
	p.t.Helper()
	var err error
	p.video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "peer")
	if err != nil {
		p.t.Fatal(err)
	}
	p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "peer")
	if err != nil {
		p.t.Fatal(err)
	}
	for _, tr := range []*webrtc.TrackLocalStaticRTP{p.video, p.audio} {
		s, err := p.pc.AddTrack(tr)
		if err != nil {
			p.t.Fatal(err)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				for _, k := range pkts {
					if _, ok := k.(*rtcp.PictureLossIndication); ok {
						p.keyframeReq.Store(true)
					}
				}
			}
		}()
	}
}

// recvOnly adds receive-only transceivers for audio and video.
func (p *peer) recvOnly() {
	p.t.Helper()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := p.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			p.t.Fatal(err)
		}
	}
}

// Synthetic media: one-packet VP8 frames (a keyframe at the start and when
// asked by PLI, deltas otherwise) at 30 fps and Opus frames at 50 per second.
var (
	vp8Key   = []byte{0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	vp8Delta = []byte{0x10, 0x11, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00}
	opusSilk = []byte{0xf8, 0xff, 0xfe}
)

// isVP8Keyframe reads the VP8 payload descriptor (RFC 7741) and the frame tag.
func isVP8Keyframe(payload []byte) bool {
	var d codecs.VP8Packet
	frame, err := d.Unmarshal(payload)
	if err != nil || len(frame) == 0 {
		return false
	}
	return d.S == 1 && d.PID == 0 && frame[0]&0x01 == 0
}

// send streams media until stop; keyframes only at the start and on PLI.
func (p *peer) send() {
	p.keyframeReq.Store(true)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		vt, at := time.NewTicker(33*time.Millisecond), time.NewTicker(20*time.Millisecond)
		defer vt.Stop()
		defer at.Stop()
		var vseq, aseq uint16
		var vts, ats uint32
		for {
			select {
			case <-p.stop:
				return
			case <-vt.C:
				payload := vp8Delta
				if p.keyframeReq.Swap(false) {
					payload = vp8Key
				}
				if p.tag != 0 {
					payload = append(slices.Clone(payload), p.tag)
				}
				vseq++
				vts += 3000
				_ = p.video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: vseq, Timestamp: vts}, Payload: payload})
			case <-at.C:
				aseq++
				ats += 960
				_ = p.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats}, Payload: opusSilk})
			}
		}
	}()
}

// stopSending stops the media goroutine (the peer stays connected).
func (p *peer) stopSending() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
}

func (p *peer) receive(tr *webrtc.TrackRemote) {
	mime := tr.Codec().MimeType
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		p.mu.Lock()
		s := p.rx[mime]
		if s == nil {
			s = &rxStats{codec: mime}
			p.rx[mime] = s
		}
		s.packets++
		if strings.EqualFold(mime, webrtc.MimeTypeVP8) {
			key := isVP8Keyframe(pkt.Payload)
			if key {
				s.keyframes = append(s.keyframes, now)
			}
			var tag byte
			if n := len(pkt.Payload); n > 0 {
				tag = pkt.Payload[n-1]
			}
			s.log = append(s.log, rxPacket{ssrc: pkt.SSRC, seq: pkt.SequenceNumber, tag: tag, key: key})
		}
		close(p.rxNotify)
		p.rxNotify = make(chan struct{})
		p.mu.Unlock()
	}
}

// awaitRx waits until cond holds on the received media.
func (p *peer) awaitRx(what string, d time.Duration, cond func(rx map[string]*rxStats) bool) {
	p.t.Helper()
	deadline := time.After(d)
	for {
		p.mu.Lock()
		ok := cond(p.rx)
		ch := p.rxNotify
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			p.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (p *peer) awaitConnected() time.Time {
	p.t.Helper()
	select {
	case <-p.connected:
	case <-time.After(wait):
		p.t.Fatal("peer never connected")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connectedAt
}

// offer creates the peer's offer (without candidates: they trickle) and
// sets it locally; candidates go to onCandidate.
func (p *peer) offer(onCandidate func(webrtc.ICECandidateInit)) string {
	p.t.Helper()
	p.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			onCandidate(c.ToJSON())
		}
	})
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.pc.SetLocalDescription(o); err != nil {
		p.t.Fatal(err)
	}
	return o.SDP
}

func (p *peer) setAnswer(sdp string) {
	p.t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		p.t.Fatal(err)
	}
}

// candidateParams is addIceCandidate's params for a pion candidate.
func candidateParams(c webrtc.ICECandidateInit) map[string]any {
	m := map[string]any{"candidate": c.Candidate, "sdpMid": "", "sdpMLineIndex": 0,
		"__module__": "kurento", "__type__": "IceCandidate"}
	if c.SDPMid != nil {
		m["sdpMid"] = *c.SDPMid
	}
	if c.SDPMLineIndex != nil {
		m["sdpMLineIndex"] = int(*c.SDPMLineIndex)
	}
	return map[string]any{"candidate": m}
}

// trickleTo sends the endpoint's IceCandidateFound candidates to the peer.
func (e *env) trickleTo(ep string, p *peer) {
	e.sink.Hook(ep, "IceCandidateFound", func(ev event) {
		c, _ := ev.Data["candidate"].(map[string]any)
		s, _ := c["candidate"].(string)
		mid, _ := c["sdpMid"].(string)
		idx, _ := c["sdpMLineIndex"].(float64)
		i := uint16(idx)
		if err := p.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: s, SDPMid: &mid, SDPMLineIndex: &i}); err != nil {
			p.t.Errorf("peer AddICECandidate: %v", err)
		}
	})
}

// negotiate runs the usual browser-offers flow: offer, processOffer,
// answer, gatherCandidates, candidates both ways (the peer's go to
// addIceCandidate as they come, from a goroutine of the test).
func (e *env) negotiate(ep string, p *peer) {
	e.t.Helper()
	e.trickleTo(ep, p)
	cands := make(chan webrtc.ICECandidateInit, 32)
	offer := p.offer(func(c webrtc.ICECandidateInit) { cands <- c })
	answer := e.invoke(ep, "processOffer", map[string]any{"offer": offer}).(string)
	p.setAnswer(answer)
	e.invoke(ep, "gatherCandidates", nil)
	e.addCandidates(ep, cands, p)
}

// addCandidates forwards the peer's candidates until it is connected.
func (e *env) addCandidates(ep string, cands chan webrtc.ICECandidateInit, p *peer) {
	e.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case c := <-cands:
			e.invoke(ep, "addIceCandidate", candidateParams(c))
		case <-p.connected:
			return
		case <-deadline:
			e.t.Fatal("peer not connected")
		}
	}
}

// udpSockets counts this process's open sockets.
func udpSockets(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

var errTimeout = errors.New("timeout")

// eventually polls cond (no sleep-and-hope: it fails at the deadline).
func eventually(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
