package webrtcendpoint

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	me "github.com/miksilo/miksilo/mediaelements"
)

// MediaStateTimeout is how long an endpoint may go without RTCP from its
// remote peer before its mediaState turns DISCONNECTED.
const MediaStateTimeout = 5 * time.Second

type negState int

const (
	negNone      negState = iota
	negOffered            // generateOffer done, waiting for processAnswer
	negAnswered           // processAnswer done (we offered)
	negAnswering          // processOffer done (the remote offered)
)

// channel is an open data channel with its counters.
type channel struct {
	dc                *webrtc.DataChannel
	msgsIn, bytesIn   atomic.Int64
	msgsOut, bytesOut atomic.Int64
}

// stream is an RTP stream of the endpoint, for getStats.
type stream struct {
	ssrc    uint32
	kind    me.MediaType
	inbound bool
	codec   string
	trackID string
	track   *forwardTrack // outbound: the counters of what was sent
}

type ctorOptions struct {
	recvonly, sendonly, useDataChannels bool
	keyType, dscp                       string
}

// netProps are the endpoint's network properties (applied when its peer
// connection is created, i.e. at the first generateOffer/processOffer).
type netProps struct {
	stunHost                   string
	stunPort                   int
	turnURL                    string
	externalIPv4, externalIPv6 string
	interfaces                 string
	iceTCP                     bool
}

// Endpoint is a WebRtcEndpoint: one pion PeerConnection plugged into the
// media plane. What the remote peer sends is written to the endpoint's
// source pads (Output per media type, "default"); what arrives at its
// sink pads (Input) is sent to the remote peer.
//
// Goroutines: one reader per remote track, one RTCP reader per receiver and
// per sender, and a 1 s watchdog (media state, REMB). All belong to the
// endpoint: OnRelease closes the peer connection and waits for them.
type Endpoint struct {
	me.RTPEndpointBase
	eng  *engine
	opts ctorOptions

	nmu      sync.Mutex // serialises negotiation, candidates, data channel calls and release
	pc       *webrtc.PeerConnection
	holdsAPI bool
	neg      negState
	released bool
	tracks   map[me.MediaType]*forwardTrack

	mu           sync.Mutex // state shared with pion callbacks; never held across a pion call
	props        netProps
	stopping     bool
	gather       bool                      // gatherCandidates was called
	found        []webrtc.ICECandidateInit // local candidates waiting for gatherCandidates
	gatherDone   bool
	doneEmitted  bool
	readyEmitted bool
	remoteSet    bool
	pending      []webrtc.ICECandidateInit // remote candidates before the remote description
	iceState     webrtc.ICEConnectionState
	dtlsState    webrtc.DTLSTransportState
	pair         *webrtc.ICECandidatePair
	channels     map[uint16]*channel // open data channels
	ice          *webrtc.ICETransport
	inputs       map[me.MediaType]bool // sink pads wired to a sender
	outputs      map[me.MediaType]bool // source pads fed by a remote track
	videoSSRCs   []uint32              // remote video streams (REMB)
	streams      []stream              // RTP streams both ways (getStats)
	stats        stats.Getter
	sr           *srTranslator // this peer connection's sender reports
	clockOff     *clockOffset  // the remote's clock against ours (its sender reports)

	dmu     sync.Mutex // orders writes to the DATA source pad
	dataSeq uint16

	lastRTCP atomic.Int64 // unix nanoseconds
	done     chan struct{}
	wg       sync.WaitGroup
}

func newEndpoint(eng *engine, in me.ObjectInit, opts ctorOptions) *Endpoint {
	e := &Endpoint{eng: eng, opts: opts, done: make(chan struct{}),
		tracks: map[me.MediaType]*forwardTrack{}, channels: map[uint16]*channel{},
		inputs: map[me.MediaType]bool{}, outputs: map[me.MediaType]bool{}}
	e.InitRTPEndpoint(in)
	host, port := splitSTUN(eng.s.STUNServer)
	e.props = netProps{stunHost: host, stunPort: port, turnURL: eng.s.TURNURL, iceTCP: true}
	if opts.useDataChannels {
		e.Elem().Input(me.Data, "default").SetHandler(e.relayData)
	}
	return e
}

// spawn runs fn on a goroutine owned by the endpoint, unless it is stopping.
func (e *Endpoint) spawn(fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopping {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		fn()
	}()
}

func errReleased(id string) error {
	return me.NewError(me.CodeObjectNotFound, "Object '%s' not found", id)
}

// OnRelease closes the peer connection and waits for the endpoint's goroutines.
func (e *Endpoint) OnRelease() {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	if e.released {
		return
	}
	e.released = true
	e.mu.Lock()
	e.stopping = true
	e.mu.Unlock()
	close(e.done)
	if e.pc != nil {
		if err := e.pc.GracefulClose(); err != nil {
			e.Logger().Debug("closing peer connection", "err", err)
		}
	}
	e.wg.Wait()
	if e.holdsAPI {
		e.eng.release()
		e.holdsAPI = false
	}
}

// ensurePC creates the peer connection on first use. Called with nmu held.
func (e *Endpoint) ensurePC() (*webrtc.PeerConnection, error) {
	if e.pc != nil {
		return e.pc, nil
	}
	e.mu.Lock()
	p := e.props
	e.mu.Unlock()
	servers, err := iceServers(p.stunHost, p.stunPort, p.turnURL)
	if err != nil {
		return nil, err
	}
	cert, err := e.eng.certificate(e.opts.keyType)
	if err != nil {
		return nil, err
	}
	api, err := e.eng.acquire(overrides{externalIPv4: p.externalIPv4, externalIPv6: p.externalIPv6, interfaces: p.interfaces,
		noTCP: !p.iceTCP, dscp: e.eng.endpointDSCP(e.opts.dscp)})
	if err != nil {
		return nil, err
	}
	pc, getter, sr, err := e.eng.newPeerConnection(api, webrtc.Configuration{
		ICEServers:                  servers,
		Certificates:                []webrtc.Certificate{cert},
		AlwaysNegotiateDataChannels: e.opts.useDataChannels,
	})
	if err != nil {
		e.eng.release()
		return nil, err
	}
	e.holdsAPI = true
	e.pc = pc
	e.mu.Lock()
	e.stats, e.sr, e.clockOff = getter, sr, &clockOffset{}
	e.mu.Unlock()
	e.wire(pc)
	e.spawn(func() { e.watch(pc) })
	return pc, nil
}

// dropPC discards a peer connection whose negotiation failed, so that the
// next attempt starts afresh. Called with nmu held.
func (e *Endpoint) dropPC() {
	if e.pc == nil {
		return
	}
	_ = e.pc.GracefulClose()
	e.pc = nil
	if e.holdsAPI {
		e.eng.release()
		e.holdsAPI = false
	}
	clear(e.tracks)
	e.mu.Lock()
	clear(e.inputs)
	clear(e.outputs)
	e.found, e.gatherDone, e.doneEmitted = nil, false, false
	e.streams, e.stats, e.sr, e.clockOff = nil, nil, nil, nil
	e.mu.Unlock()
}

// track returns the endpoint's local track of a kind.
func (e *Endpoint) track(kind webrtc.RTPCodecType) *forwardTrack {
	mt := mediaType(kind)
	if t, ok := e.tracks[mt]; ok {
		return t
	}
	in := e.Elem().Input(mt, "default")
	t := newForwardTrack(kind, "miksilo")
	t.prefer = in.Codec
	if mt == me.Video {
		// A viewer gets a keyframe as soon as its sender starts.
		t.onBind = in.RequestKeyframe
	}
	e.tracks[mt] = t
	return t
}

func mediaType(k webrtc.RTPCodecType) me.MediaType {
	if k == webrtc.RTPCodecTypeAudio {
		return me.Audio
	}
	return me.Video
}

// GenerateOffer implements mediaelements.SDPEndpoint.
func (e *Endpoint) GenerateOffer(_ *me.Call, opts me.OfferOptions) (string, error) {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	if e.released {
		return "", errReleased(e.ID())
	}
	if e.neg != negNone {
		return "", me.NewError(me.CodeSDPAlreadyNegotiated, "Endpoint already negotiated")
	}
	fail := func(err error) (string, error) {
		e.dropPC()
		return "", me.NewError(me.CodeSDPGenerateOffer, "Error generating offer: %v", err)
	}
	pc, err := e.ensurePC()
	if err != nil {
		return fail(err)
	}
	kinds := 0
	for _, k := range []struct {
		kind webrtc.RTPCodecType
		recv bool
	}{{webrtc.RTPCodecTypeAudio, opts.OfferToReceiveAudio}, {webrtc.RTPCodecTypeVideo, opts.OfferToReceiveVideo}} {
		send, recv := !e.opts.recvonly, !e.opts.sendonly && k.recv
		var err error
		switch {
		case send && recv:
			_, err = pc.AddTransceiverFromTrack(e.track(k.kind), webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
		case send:
			_, err = pc.AddTransceiverFromTrack(e.track(k.kind), webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		case recv:
			_, err = pc.AddTransceiverFromKind(k.kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		default:
			continue
		}
		if err != nil {
			return fail(err)
		}
		kinds++
	}
	if kinds == 0 && !e.opts.useDataChannels {
		e.dropPC()
		return "", me.NewError(me.CodeSDPGenerateOffer, "Error generating offer: nothing to offer (no audio, no video, no data channels)")
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	e.neg = negOffered
	e.Logger().Debug("SDP offer generated", "sdp", pc.LocalDescription().SDP)
	return pc.LocalDescription().SDP, nil
}

// ProcessOffer implements mediaelements.SDPEndpoint.
func (e *Endpoint) ProcessOffer(_ *me.Call, offer string) (string, error) {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	if e.released {
		return "", errReleased(e.ID())
	}
	if e.neg != negNone {
		return "", me.NewError(me.CodeSDPAlreadyNegotiated, "Endpoint already negotiated")
	}
	sum, err := inspectSDP("offer", offer)
	if err != nil {
		return "", err
	}
	switch {
	case sum.media == 0:
		return "", me.NewError(me.CodeSDPProcessOffer, "Error processing offer: the offer has no media sections (m= lines)")
	case sum.usable == 0 && !(sum.data && e.opts.useDataChannels):
		if sum.data && !sum.hasAVLine {
			return "", me.NewError(me.CodeSDPProcessOffer, "Error processing offer: the offer has only a data channel section, and the endpoint was created without useDataChannels")
		}
		return "", me.NewError(me.CodeSDPProcessOffer, "Error processing offer: no supported codec (offered %s; supported %s)",
			strings.Join(sum.offered, ", "), supportedNames)
	}
	e.Logger().Debug("SDP offer received", "sdp", offer)
	fail := func(err error) (string, error) {
		e.dropPC()
		return "", me.NewError(me.CodeSDPProcessOffer, "Error processing offer: %v", err)
	}
	pc, err := e.ensurePC()
	if err != nil {
		return fail(err)
	}
	if !e.opts.recvonly {
		dir := webrtc.RTPTransceiverDirectionSendrecv
		if e.opts.sendonly {
			dir = webrtc.RTPTransceiverDirectionSendonly
		}
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if _, err := pc.AddTransceiverFromTrack(e.track(k), webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
				return fail(err)
			}
		}
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(err)
	}
	e.neg = negAnswering
	e.negotiated(pc)
	sdp := pc.LocalDescription().SDP
	e.Logger().Debug("SDP answer generated", "sdp", sdp)
	return sdp, nil
}

// ProcessAnswer implements mediaelements.SDPEndpoint.
func (e *Endpoint) ProcessAnswer(_ *me.Call, answer string) (string, error) {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	if e.released {
		return "", errReleased(e.ID())
	}
	switch e.neg {
	case negAnswered:
		return "", me.NewError(me.CodeSDPAnswerProcessed, "Sdp Answer already processed")
	case negNone, negAnswering:
		return "", me.NewError(me.CodeSDPNotOfferGenerated, "Offer not generated: call generateOffer before processAnswer")
	}
	if _, err := inspectSDP("answer", answer); err != nil {
		return "", err
	}
	e.Logger().Debug("SDP answer received", "sdp", answer)
	if err := e.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return "", me.NewError(me.CodeSDPProcessAnswer, "Error processing answer: %v", err)
	}
	e.neg = negAnswered
	e.negotiated(e.pc)
	return e.pc.LocalDescription().SDP, nil
}

// LocalSessionDescriptor implements mediaelements.SDPEndpoint.
func (e *Endpoint) LocalSessionDescriptor() (string, error) {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	if e.pc != nil && e.neg != negNone {
		if d := e.pc.LocalDescription(); d != nil {
			return d.SDP, nil
		}
	}
	return "", me.NewError(me.CodeSDPNoLocal, "No local SDP")
}

// RemoteSessionDescriptor implements mediaelements.SDPEndpoint.
func (e *Endpoint) RemoteSessionDescriptor() (string, error) {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	if e.pc != nil && (e.neg == negAnswered || e.neg == negAnswering) {
		if d := e.pc.RemoteDescription(); d != nil {
			return d.SDP, nil
		}
	}
	return "", me.NewError(me.CodeSDPNoRemote, "No remote SDP")
}

// negotiated runs once the remote description is set: buffered remote
// candidates are applied and each sending transceiver is plugged into its
// sink pad, which from now on accepts only the codecs the remote accepted
// (with their payload types). Called with nmu held.
func (e *Endpoint) negotiated(pc *webrtc.PeerConnection) {
	e.mu.Lock()
	e.remoteSet = true
	pending := e.pending
	e.pending = nil
	e.mu.Unlock()
	for _, c := range pending {
		if err := pc.AddICECandidate(c); err != nil {
			e.Logger().Warn("buffered ICE candidate refused", "candidate", c.Candidate, "err", err)
		}
	}
	for _, tr := range pc.GetTransceivers() {
		s := tr.Sender()
		if tr.Mid() == "" || s == nil {
			continue
		}
		ft, ok := s.Track().(*forwardTrack)
		if !ok {
			continue
		}
		var codecs []me.Codec
		for _, c := range s.GetParameters().Codecs {
			if !strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
				codecs = append(codecs, toCodec(c))
			}
		}
		mt := mediaType(tr.Kind())
		e.mu.Lock()
		first := !e.inputs[mt] && len(codecs) > 0
		if first {
			e.inputs[mt] = true
		}
		e.mu.Unlock()
		if !first {
			continue
		}
		params := s.GetParameters()
		in := e.Elem().Input(mt, "default")
		e.mu.Lock()
		for _, enc := range params.Encodings {
			e.streams = append(e.streams, stream{ssrc: uint32(enc.SSRC), kind: mt, codec: codecs[0].MimeType, trackID: ft.ID(), track: ft})
			if e.sr != nil {
				e.sr.set(uint32(enc.SSRC), inputClock(in))
			}
		}
		e.mu.Unlock()
		in.Accept(codecs...)
		in.SetHandler(ft.write)
		e.spawn(func() { e.readSenderRTCP(s, in, ft) })
	}
}

// wire installs the pion callbacks; none of them blocks.
func (e *Endpoint) wire(pc *webrtc.PeerConnection) {
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if c == nil {
			e.gatherDone = true
			if e.gather && !e.doneEmitted {
				e.doneEmitted = true
				e.Emit("IceGatheringDone", nil)
				e.maybeReadyLocked()
			}
			return
		}
		init := c.ToJSON()
		if e.gather {
			e.emitCandidate(init)
		} else {
			e.found = append(e.found, init)
		}
	})
	pc.OnICEGatheringStateChange(func(s webrtc.ICEGatheringState) {
		if s == webrtc.ICEGatheringStateGathering {
			e.emitComponent("GATHERING")
		}
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		e.mu.Lock()
		e.iceState = s
		e.mu.Unlock()
		e.emitComponent(iceComponentState(s))
		if s == webrtc.ICEConnectionStateConnected || s == webrtc.ICEConnectionStateCompleted {
			e.mu.Lock()
			e.maybeReadyLocked()
			e.mu.Unlock()
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		e.Logger().Debug("peer connection state", "state", s.String())
		switch s {
		case webrtc.PeerConnectionStateConnected:
			e.SetConnectionState(true)
			e.StartSession()
		case webrtc.PeerConnectionStateDisconnected:
			e.SetConnectionState(false)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			e.SetConnectionState(false)
			e.TerminateSession()
		}
	})
	dtls := pc.SCTP().Transport()
	dtls.OnStateChange(func(s webrtc.DTLSTransportState) {
		e.mu.Lock()
		e.dtlsState = s
		e.mu.Unlock()
		e.Emit("DtlsConnectionStateChange", map[string]any{
			"streamId": "1", "componentId": "1", "connectionId": e.ID(), "state": dtlsState(s)})
	})
	e.mu.Lock()
	e.ice = dtls.ICETransport()
	e.mu.Unlock()
	dtls.ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		e.mu.Lock()
		e.pair = p
		e.mu.Unlock()
		e.Emit("NewCandidatePairSelected", map[string]any{"candidatePair": candidatePair(p)})
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) { e.onTrack(pc, t, r) })
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if !e.opts.useDataChannels {
			e.Logger().Debug("data channel refused: endpoint created without useDataChannels", "label", dc.Label())
			_ = dc.Close()
			return
		}
		e.addChannel(dc)
	})
}

// maybeReadyLocked raises IceComponentStateChanged READY once ICE is
// connected and gathering is done. Called with mu held.
func (e *Endpoint) maybeReadyLocked() {
	connected := e.iceState == webrtc.ICEConnectionStateConnected || e.iceState == webrtc.ICEConnectionStateCompleted
	if connected && e.gatherDone && !e.readyEmitted {
		e.readyEmitted = true
		e.emitComponent("READY")
	}
}

func (e *Endpoint) emitCandidate(c webrtc.ICECandidateInit) {
	e.Emit("IceCandidateFound", map[string]any{"candidate": iceCandidate(c)})
}

func (e *Endpoint) emitComponent(state string) {
	if state == "" {
		return
	}
	e.Emit("IceComponentStateChanged", map[string]any{"streamId": 1, "componentId": 1, "state": state})
}

func iceCandidate(c webrtc.ICECandidateInit) map[string]any {
	m := map[string]any{"__module__": "kurento", "__type__": "IceCandidate", "candidate": c.Candidate, "sdpMid": "", "sdpMLineIndex": 0}
	if c.SDPMid != nil {
		m["sdpMid"] = *c.SDPMid
	}
	if c.SDPMLineIndex != nil {
		m["sdpMLineIndex"] = int(*c.SDPMLineIndex)
	}
	return m
}

func candidatePair(p *webrtc.ICECandidatePair) map[string]any {
	m := map[string]any{"__module__": "kurento", "__type__": "IceCandidatePair", "streamId": "1", "componentId": 1,
		"localCandidate": "", "remoteCandidate": ""}
	if p != nil && p.Local != nil {
		m["localCandidate"] = p.Local.ToJSON().Candidate
	}
	if p != nil && p.Remote != nil {
		m["remoteCandidate"] = p.Remote.ToJSON().Candidate
	}
	return m
}

func iceComponentState(s webrtc.ICEConnectionState) string {
	switch s {
	case webrtc.ICEConnectionStateChecking:
		return "CONNECTING"
	case webrtc.ICEConnectionStateConnected:
		return "CONNECTED"
	case webrtc.ICEConnectionStateCompleted:
		return "READY"
	case webrtc.ICEConnectionStateFailed:
		return "FAILED"
	case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateClosed:
		return "DISCONNECTED"
	}
	return ""
}

func dtlsState(s webrtc.DTLSTransportState) string {
	switch s {
	case webrtc.DTLSTransportStateConnecting:
		return "CONNECTING"
	case webrtc.DTLSTransportStateConnected:
		return "CONNECTED"
	case webrtc.DTLSTransportStateClosed:
		return "CLOSED"
	case webrtc.DTLSTransportStateFailed:
		return "FAILED"
	}
	return "NEW"
}

// onTrack feeds the source pad of the track's kind from the first remote
// track of that kind; further tracks (simulcast layers, extra m-lines) and
// everything a sendonly endpoint receives are read and dropped.
func (e *Endpoint) onTrack(pc *webrtc.PeerConnection, t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	mt := mediaType(t.Kind())
	e.mu.Lock()
	first := !e.outputs[mt] && !e.opts.sendonly
	if first {
		e.outputs[mt] = true
		if mt == me.Video {
			e.videoSSRCs = append(e.videoSSRCs, uint32(t.SSRC()))
		}
	}
	e.streams = append(e.streams, stream{ssrc: uint32(t.SSRC()), kind: mt, inbound: true, codec: t.Codec().MimeType, trackID: t.ID()})
	var rc *remoteClock
	if first && e.clockOff != nil {
		rc = &remoteClock{ssrc: uint32(t.SSRC()), offset: e.clockOff}
	}
	e.mu.Unlock()
	e.spawn(func() { e.readReceiverRTCP(r, rc) })
	if !first {
		e.spawn(func() {
			bad := badPackets{e: e, ssrc: uint32(t.SSRC())}
			for {
				_, _, err := t.ReadRTP()
				if err == nil {
					bad.n = 0
				} else if !bad.skip(err) {
					return
				}
			}
		})
		return
	}
	// The track fires before its first packet (SetFireOnTrackBeforeFirstRTP):
	// its codec is known from the first packet read, which also sets the
	// Output's codec.
	out := e.Elem().Output(mt, "default")
	if rc != nil {
		out.SetClock(rc.get)
	}
	if t.Codec().MimeType != "" {
		out.SetCodec(toCodec(t.Codec()))
	}
	if mt == me.Video {
		ssrc := uint32(t.SSRC())
		out.OnKeyframeRequest(func() {
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		})
	}
	e.spawn(func() {
		ssrc := uint32(t.SSRC())
		bad := badPackets{e: e, ssrc: ssrc}
		pt, known := t.PayloadType(), t.Codec().MimeType != ""
		for {
			p, _, err := t.ReadRTP()
			if err != nil {
				if bad.skip(err) {
					continue
				}
				return
			}
			bad.n = 0
			if !known || webrtc.PayloadType(p.PayloadType) != pt {
				pt, known = webrtc.PayloadType(p.PayloadType), true
				c := t.Codec()
				out.SetCodec(toCodec(c))
				e.setStreamCodec(ssrc, c.MimeType)
			}
			out.WriteRTP(p)
		}
	})
}

// badPackets decides what a track's read loop does with a read error: the
// end of the track (closed) stops it; a packet pion could not take (a
// payload type that was not negotiated, a malformed packet) is skipped and
// logged (the first, then every 100th), as long as good packets come in
// between. Before, pion dropped a track for good when its first packet had
// a payload type it did not know — no OnTrack, no error — and the read loop
// stopped on any error: seen once in eight runs of the browser suite, a
// presenter's video never reached its viewers.
type badPackets struct {
	e     *Endpoint
	ssrc  uint32
	n     int // in a row
	total int
}

// maxBadInARow ends a read loop that gets nothing but errors.
const maxBadInARow = 1000

func (b *badPackets) skip(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) {
		return false
	}
	b.n++
	b.total++
	if b.total == 1 || b.total%100 == 0 {
		b.e.Logger().Warn("RTP packet skipped", "ssrc", b.ssrc, "err", err, "skipped", b.total)
	}
	if b.n >= maxBadInARow {
		b.e.Logger().Error("RTP stream dropped: nothing but bad packets", "ssrc", b.ssrc, "err", err, "in_a_row", b.n)
		return false
	}
	return true
}

// setStreamCodec records the codec of an inbound stream for getStats once
// its first packet told it.
func (e *Endpoint) setStreamCodec(ssrc uint32, mime string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.streams {
		if e.streams[i].inbound && e.streams[i].ssrc == ssrc {
			e.streams[i].codec = mime
		}
	}
}

// sawRTCP records RTCP from the remote peer (the media state).
func (e *Endpoint) sawRTCP() {
	if e.lastRTCP.Swap(time.Now().UnixNano()) == 0 {
		e.SetMediaState(true)
		return
	}
	if _, media := e.States(); !media {
		e.SetMediaState(true)
	}
}

// readReceiverRTCP reads what the remote says about what it sends; its
// sender reports about the track feeding a source pad become that pad's
// clock (rc, nil for tracks that feed none).
func (e *Endpoint) readReceiverRTCP(r *webrtc.RTPReceiver, rc *remoteClock) {
	for {
		pkts, _, err := r.ReadRTCP()
		if err != nil {
			return
		}
		e.sawRTCP()
		if rc == nil {
			continue
		}
		now := time.Now()
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				rc.report(sr, now)
			}
		}
	}
}

// readSenderRTCP reads what the remote peer says about what we send: PLI
// and FIR become keyframe requests towards the producer, NACKs are
// answered from the track's retransmission store. Reading also lets the
// report and statistics interceptors see the packets.
func (e *Endpoint) readSenderRTCP(s *webrtc.RTPSender, in *me.Input, ft *forwardTrack) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		e.sawRTCP()
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				in.RequestKeyframe()
			case *rtcp.TransportLayerNack:
				ft.resend(p.(*rtcp.TransportLayerNack))
			}
		}
	}
}

// watch is the endpoint's 1 s housekeeping: the media state turns
// DISCONNECTED after MediaStateTimeout without RTCP, and the remote video
// sender gets a REMB capping it to maxVideoRecvBandwidth when set.
func (e *Endpoint) watch(pc *webrtc.PeerConnection) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-t.C:
		}
		if pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
			e.SetMediaState(false)
			return // closed by the remote, or dropped after a failed negotiation
		}
		if last := e.lastRTCP.Load(); last != 0 && time.Since(time.Unix(0, last)) > MediaStateTimeout {
			e.SetMediaState(false)
		}
		_, maxVideo := e.MaxRecvBandwidths()
		e.mu.Lock()
		ssrcs := append([]uint32(nil), e.videoSSRCs...)
		e.mu.Unlock()
		if maxVideo > 0 && len(ssrcs) > 0 {
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(maxVideo) * 1000, SSRCs: ssrcs}})
		}
	}
}

// GatherCandidates starts emitting IceCandidateFound (pion gathers from
// the first SDP call on; candidates found before are emitted now).
func (e *Endpoint) GatherCandidates() error {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	if e.released {
		return errReleased(e.ID())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gather {
		return nil
	}
	e.gather = true
	for _, c := range e.found {
		e.emitCandidate(c)
	}
	e.found = nil
	if e.gatherDone && !e.doneEmitted {
		e.doneEmitted = true
		e.Emit("IceGatheringDone", nil)
		e.maybeReadyLocked()
	}
	return nil
}

// AddICECandidate adds a remote candidate; before the remote description is
// known it is checked and buffered.
func (e *Endpoint) AddICECandidate(candidate, sdpMid string, sdpMLineIndex int) error {
	if sdpMLineIndex < 0 || sdpMLineIndex > 65535 {
		return me.NewError(me.CodeICEAddCandidate, "Error adding ICE candidate: sdpMLineIndex %d out of range", sdpMLineIndex)
	}
	if candidate != "" {
		if _, err := ice.UnmarshalCandidate(strings.TrimPrefix(candidate, "candidate:")); err != nil {
			return me.NewError(me.CodeICEAddCandidate, "Error adding ICE candidate %q: %v", candidate, err)
		}
	}
	idx := uint16(sdpMLineIndex)
	c := webrtc.ICECandidateInit{Candidate: candidate, SDPMid: &sdpMid, SDPMLineIndex: &idx}
	e.nmu.Lock()
	defer e.nmu.Unlock()
	if e.released {
		return errReleased(e.ID())
	}
	e.mu.Lock()
	if !e.remoteSet {
		e.pending = append(e.pending, c)
		e.mu.Unlock()
		return nil
	}
	e.mu.Unlock()
	if err := e.pc.AddICECandidate(c); err != nil {
		return me.NewError(me.CodeICEAddCandidate, "Error adding ICE candidate %q: %v", candidate, err)
	}
	return nil
}

var errNoDataChannels = errors.New("data channels are off: create the WebRtcEndpoint with useDataChannels=true")

// CreateDataChannel opens a data channel towards the remote peer.
func (e *Endpoint) CreateDataChannel(label string, ordered bool, maxPacketLifeTime, maxRetransmits int, protocol string) error {
	if !e.opts.useDataChannels {
		return me.NewError(me.CodeOperationNotSupported, "%v", errNoDataChannels)
	}
	if maxPacketLifeTime >= 0 && maxRetransmits >= 0 {
		return me.NewError(me.CodeIllegalParam, "maxPacketLifeTime and maxRetransmits are mutually exclusive")
	}
	if maxPacketLifeTime > 65535 || maxRetransmits > 65535 {
		return me.NewError(me.CodeIllegalParam, "maxPacketLifeTime and maxRetransmits must be at most 65535")
	}
	init := &webrtc.DataChannelInit{Ordered: &ordered, Protocol: &protocol}
	if maxPacketLifeTime >= 0 {
		v := uint16(maxPacketLifeTime)
		init.MaxPacketLifeTime = &v
	}
	if maxRetransmits >= 0 {
		v := uint16(maxRetransmits)
		init.MaxRetransmits = &v
	}
	e.nmu.Lock()
	defer e.nmu.Unlock()
	if e.released {
		return errReleased(e.ID())
	}
	pc, err := e.ensurePC()
	if err != nil {
		return me.NewError(me.CodeUnexpected, "cannot create data channel: %v", err)
	}
	dc, err := pc.CreateDataChannel(label, init)
	if err != nil {
		return me.NewError(me.CodeIllegalParam, "cannot create data channel: %v", err)
	}
	e.addChannel(dc)
	return nil
}

// CloseDataChannel closes an open data channel by its id.
func (e *Endpoint) CloseDataChannel(id int) error {
	e.mu.Lock()
	ch, ok := e.channels[uint16(id)]
	e.mu.Unlock()
	if !ok || id < 0 || id > 65535 {
		return me.NewError(me.CodeIllegalParam, "No open data channel with id %d", id)
	}
	if err := ch.dc.Close(); err != nil {
		return me.NewError(me.CodeUnexpected, "closing data channel %d: %v", id, err)
	}
	// Closed for us now; pion's OnClose follows only once the remote has
	// reset its side of the stream.
	e.mu.Lock()
	open := e.channels[uint16(id)] == ch
	if open {
		delete(e.channels, uint16(id))
	}
	e.mu.Unlock()
	if open {
		e.Emit("DataChannelClosed", map[string]any{"channelId": id})
	}
	return nil
}

// Data channel relay. Messages received on any of the endpoint's data
// channels leave through its DATA source pad as RTP packets whose payload
// is an envelope: flags (bit 0: text), label length, label, message. A
// connected endpoint's DATA sink pad unwraps them and sends each message on
// its open channels with the same label, or on all of them when none has it.

func wrapData(label string, text bool, data []byte) []byte {
	if len(label) > 255 {
		label = label[:255]
	}
	b := make([]byte, 0, 2+len(label)+len(data))
	var flags byte
	if text {
		flags = 1
	}
	b = append(b, flags, byte(len(label)))
	b = append(b, label...)
	return append(b, data...)
}

func unwrapData(b []byte) (label string, text bool, data []byte, ok bool) {
	if len(b) < 2 || len(b) < 2+int(b[1]) {
		return "", false, nil, false
	}
	n := int(b[1])
	return string(b[2 : 2+n]), b[0]&1 != 0, b[2+n:], true
}

func (e *Endpoint) addChannel(dc *webrtc.DataChannel) {
	label := dc.Label()
	ch := &channel{dc: dc}
	dc.OnOpen(func() {
		id := dc.ID()
		if id == nil {
			return
		}
		e.mu.Lock()
		e.channels[*id] = ch
		e.mu.Unlock()
		e.Emit("DataChannelOpened", map[string]any{"channelId": int(*id)})
	})
	dc.OnClose(func() {
		id := dc.ID()
		if id == nil {
			return
		}
		e.mu.Lock()
		open := e.channels[*id] == ch
		if open {
			delete(e.channels, *id)
		}
		e.mu.Unlock()
		if open {
			e.Emit("DataChannelClosed", map[string]any{"channelId": int(*id)})
		}
	})
	out := e.Elem().Output(me.Data, "default")
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		ch.msgsIn.Add(1)
		ch.bytesIn.Add(int64(len(m.Data)))
		e.dmu.Lock()
		e.dataSeq++
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: e.dataSeq,
			Timestamp: uint32(time.Now().UnixMilli() * 90), SSRC: 1}, Payload: wrapData(label, m.IsString, m.Data)}
		out.WriteRTP(p)
		e.dmu.Unlock()
	})
}

// relayData is the DATA sink pad's handler.
func (e *Endpoint) relayData(p *rtp.Packet) {
	label, text, data, ok := unwrapData(p.Payload)
	if !ok {
		return
	}
	msg := append([]byte(nil), data...)
	e.mu.Lock()
	var same, all []*channel
	for _, ch := range e.channels {
		all = append(all, ch)
		if ch.dc.Label() == label {
			same = append(same, ch)
		}
	}
	e.mu.Unlock()
	if len(same) > 0 {
		all = same
	}
	for _, ch := range all {
		var err error
		if text {
			err = ch.dc.SendText(string(msg))
		} else {
			err = ch.dc.Send(msg)
		}
		if err != nil {
			e.Logger().Debug("data channel relay", "label", ch.dc.Label(), "err", err)
			continue
		}
		ch.msgsOut.Add(1)
		ch.bytesOut.Add(int64(len(msg)))
	}
}
