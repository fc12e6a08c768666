package mediaelements

import (
	"maps"
	"sync"
)

// The abstract endpoint classes of Kurento's core module: Endpoint,
// SessionEndpoint, SdpEndpoint and BaseRtpEndpoint. Concrete endpoints
// (WebRtcEndpoint, RtpEndpoint) embed RTPEndpointBase and implement
// SDPEndpoint; the registry dispatches the SDP methods through it.

// OfferOptions are generateOffer's options (absent fields are true).
type OfferOptions struct {
	OfferToReceiveAudio bool
	OfferToReceiveVideo bool
}

// SDPEndpoint is what an SdpEndpoint class implements. Errors are *Error
// values with the SDP codes (CodeSDPParse, CodeSDPAlreadyNegotiated, …).
type SDPEndpoint interface {
	MediaElement
	SDPBase() *SDPEndpointBase
	GenerateOffer(c *Call, opts OfferOptions) (string, error)
	ProcessOffer(c *Call, offer string) (string, error)
	ProcessAnswer(c *Call, answer string) (string, error)
	// LocalSessionDescriptor fails with CodeSDPNoLocal before negotiation.
	LocalSessionDescriptor() (string, error)
	// RemoteSessionDescriptor fails with CodeSDPNoRemote before negotiation.
	RemoteSessionDescriptor() (string, error)
}

// RTPEndpoint is what a BaseRtpEndpoint class implements.
type RTPEndpoint interface {
	SDPEndpoint
	RTPBase() *RTPEndpointBase
}

// SDPEndpointBase holds what every SdpEndpoint has: the receive bandwidth
// limits and the media session state. It embeds the Element.
type SDPEndpointBase struct {
	Element

	smu               sync.Mutex
	maxAudioRecvBW    int // kbps, 0 = unlimited
	maxVideoRecvBW    int // kbps, 0 = unlimited
	sessionStarted    bool
	sessionTerminated bool
}

// SDPBase returns the base; it makes *SDPEndpointBase satisfy SDPBase().
func (s *SDPEndpointBase) SDPBase() *SDPEndpointBase { return s }

// MaxRecvBandwidths returns maxAudioRecvBandwidth and maxVideoRecvBandwidth (kbps; 0 = unlimited).
func (s *SDPEndpointBase) MaxRecvBandwidths() (audio, video int) {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.maxAudioRecvBW, s.maxVideoRecvBW
}

// StartSession raises MediaSessionStarted, once.
func (s *SDPEndpointBase) StartSession() {
	s.smu.Lock()
	first := !s.sessionStarted
	s.sessionStarted = true
	s.smu.Unlock()
	if first {
		s.Emit("MediaSessionStarted", nil)
	}
}

// TerminateSession raises MediaSessionTerminated, once, if the session started.
func (s *SDPEndpointBase) TerminateSession() {
	s.smu.Lock()
	emit := s.sessionStarted && !s.sessionTerminated
	s.sessionTerminated = s.sessionTerminated || emit
	s.smu.Unlock()
	if emit {
		s.Emit("MediaSessionTerminated", nil)
	}
}

// Default BaseRtpEndpoint settings, as KMS has them.
const (
	DefaultMinVideoSendBandwidth = 100  // kbps
	DefaultMaxVideoSendBandwidth = 500  // kbps
	DefaultMTU                   = 1200 // bytes
)

// RTPEndpointBase holds what every BaseRtpEndpoint has. Concrete classes
// embed it, call InitRTPEndpoint from Class.New, and report state with
// SetConnectionState and SetMediaState.
type RTPEndpointBase struct {
	SDPEndpointBase

	rmu            sync.Mutex
	minVideoRecvBW int
	minVideoSendBW int
	maxVideoSendBW int
	mtu            int
	remb           map[string]any
	connected      bool
	mediaConnected bool
}

// InitRTPEndpoint fills the base; Class.New of endpoint types calls it first.
func (r *RTPEndpointBase) InitRTPEndpoint(in ObjectInit) {
	r.InitElement(in)
	r.minVideoSendBW = DefaultMinVideoSendBandwidth
	r.maxVideoSendBW = DefaultMaxVideoSendBandwidth
	r.mtu = DefaultMTU
}

// RTPBase returns the base; it makes *RTPEndpointBase satisfy RTPBase().
func (r *RTPEndpointBase) RTPBase() *RTPEndpointBase { return r }

// Bandwidths are an endpoint's video bandwidth settings in kbps (0 = unlimited).
type Bandwidths struct {
	MinVideoRecv, MinVideoSend, MaxVideoSend int
}

// Bandwidths returns the current video bandwidth settings.
func (r *RTPEndpointBase) Bandwidths() Bandwidths {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return Bandwidths{MinVideoRecv: r.minVideoRecvBW, MinVideoSend: r.minVideoSendBW, MaxVideoSend: r.maxVideoSendBW}
}

// MTU is the configured RTP MTU in bytes.
func (r *RTPEndpointBase) MTU() int {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return r.mtu
}

// SetConnectionState records the connection state and raises
// ConnectionStateChanged when it changes.
func (r *RTPEndpointBase) SetConnectionState(connected bool) {
	r.rmu.Lock()
	old := r.connected
	r.connected = connected
	r.rmu.Unlock()
	if old != connected {
		r.Emit("ConnectionStateChanged", map[string]any{"oldState": connState(old), "newState": connState(connected)})
	}
}

// SetMediaState records the media (RTCP flow) state and raises
// MediaStateChanged when it changes.
func (r *RTPEndpointBase) SetMediaState(connected bool) {
	r.rmu.Lock()
	old := r.mediaConnected
	r.mediaConnected = connected
	r.rmu.Unlock()
	if old != connected {
		r.Emit("MediaStateChanged", map[string]any{"oldState": connState(old), "newState": connState(connected)})
	}
}

// States returns the connection and media states.
func (r *RTPEndpointBase) States() (connected, mediaConnected bool) {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return r.connected, r.mediaConnected
}

func connState(connected bool) string {
	if connected {
		return "CONNECTED"
	}
	return "DISCONNECTED"
}

// endpointClasses are the abstract endpoint classes of the core module.
func endpointClasses() []*Class {
	return []*Class{endpointClass(), sessionEndpointClass(), sdpEndpointClass(), baseRTPEndpointClass()}
}

func endpointClass() *Class {
	return &Class{
		Name: "Endpoint", Module: "core", Extends: "MediaElement", Abstract: true,
		Doc: "Base interface for all end points: MediaElements that exchange media with external systems (WebRTC, RTP, files, HTTP).",
	}
}

func sessionEndpointClass() *Class {
	ev := func(name, doc string) *EventType {
		return &EventType{Name: name, Module: "core", Extends: "Media", Doc: doc}
	}
	return &Class{
		Name: "SessionEndpoint", Module: "core", Extends: "Endpoint", Abstract: true,
		Doc:    "All networked Endpoints that require to manage connection sessions with remote peers implement this interface.",
		Events: []string{"MediaSessionTerminated", "MediaSessionStarted"},
		EventTypes: []*EventType{
			ev("MediaSessionStarted", "The media session has started: the connection with the remote peer is established."),
			ev("MediaSessionTerminated", "The media session has ended."),
		},
	}
}

// sdpBW declares an SdpEndpoint bandwidth property.
func sdpBW(name, doc string, field func(s *SDPEndpointBase) *int) Property {
	return Property{Name: name, Type: "int", Access: ReadWrite, Doc: doc,
		Get: Get(func(e SDPEndpoint) any {
			s := e.SDPBase()
			s.smu.Lock()
			defer s.smu.Unlock()
			return *field(s)
		}),
		Set: Set(func(e SDPEndpoint, v int) error {
			if v < 0 {
				return NewError(CodeIllegalParam, "%s must not be negative", name)
			}
			s := e.SDPBase()
			s.smu.Lock()
			*field(s) = v
			s.smu.Unlock()
			return nil
		})}
}

func sdpEndpointClass() *Class {
	sdp := func(fn func(c *Call, e SDPEndpoint, a Args) (string, error)) func(*Call, Object, Args) (any, error) {
		return Do(func(c *Call, e SDPEndpoint, a Args) (any, error) {
			s, err := fn(c, e, a)
			if err != nil {
				return nil, err
			}
			return s, nil
		})
	}
	return &Class{
		Name: "SdpEndpoint", Module: "core", Extends: "SessionEndpoint", Abstract: true,
		Doc: "Interface implemented by Endpoints that require an SDP Offer/Answer negotiation in order to configure a media session.",
		Properties: []Property{
			sdpBW("maxAudioRecvBandwidth", "Maximum inbound audio bitrate requested by this endpoint (kbps; 0 = unlimited).",
				func(s *SDPEndpointBase) *int { return &s.maxAudioRecvBW }),
			sdpBW("maxVideoRecvBandwidth", "Maximum inbound video bitrate requested by this endpoint (kbps; 0 = unlimited). Signalled to the remote sender with REMB.",
				func(s *SDPEndpointBase) *int { return &s.maxVideoRecvBW }),
		},
		Methods: []Method{
			{Name: "generateOffer", Return: "String", Params: []Param{{Name: "options", Type: "OfferOptions", Optional: true}},
				Doc: "Generates an SDP offer with the media capabilities of the endpoint. SDP_END_POINT_ALREADY_NEGOTIATED if the endpoint is already negotiated.",
				Call: sdp(func(c *Call, e SDPEndpoint, a Args) (string, error) {
					opts := OfferOptions{OfferToReceiveAudio: true, OfferToReceiveVideo: true}
					if m := a.Map("options"); m != nil {
						if v, ok := m["offerToReceiveAudio"].(bool); ok {
							opts.OfferToReceiveAudio = v
						}
						if v, ok := m["offerToReceiveVideo"].(bool); ok {
							opts.OfferToReceiveVideo = v
						}
					}
					return e.GenerateOffer(c, opts)
				})},
			{Name: "processOffer", Return: "String", Params: []Param{{Name: "offer", Type: "String", Doc: "SDP offer from the remote peer"}},
				Doc: "Processes the SDP offer of the remote peer and returns the SDP answer.",
				Call: sdp(func(c *Call, e SDPEndpoint, a Args) (string, error) {
					return e.ProcessOffer(c, a.String("offer"))
				})},
			{Name: "processAnswer", Return: "String", Params: []Param{{Name: "answer", Type: "String", Doc: "SDP answer from the remote peer"}},
				Doc: "Processes the SDP answer of the remote peer to an offer from generateOffer; returns the local SDP (the offer).",
				Call: sdp(func(c *Call, e SDPEndpoint, a Args) (string, error) {
					return e.ProcessAnswer(c, a.String("answer"))
				})},
			{Name: "getLocalSessionDescriptor", Return: "String",
				Doc:  "Returns the local SDP (SDP_END_POINT_NO_LOCAL_SDP_ERROR before negotiation).",
				Call: sdp(func(_ *Call, e SDPEndpoint, _ Args) (string, error) { return e.LocalSessionDescriptor() })},
			{Name: "getRemoteSessionDescriptor", Return: "String",
				Doc:  "Returns the remote SDP (SDP_END_POINT_NO_REMOTE_SDP_ERROR before negotiation).",
				Call: sdp(func(_ *Call, e SDPEndpoint, _ Args) (string, error) { return e.RemoteSessionDescriptor() })},
		},
	}
}

func baseRTPEndpointClass() *Class {
	bw := func(name, doc string, field func(r *RTPEndpointBase) *int) Property {
		return Property{Name: name, Type: "int", Access: ReadWrite, Doc: doc,
			Get: Get(func(e RTPEndpoint) any {
				r := e.RTPBase()
				r.rmu.Lock()
				defer r.rmu.Unlock()
				return *field(r)
			}),
			Set: Set(func(e RTPEndpoint, v int) error {
				if v < 0 {
					return NewError(CodeIllegalParam, "%s must not be negative", name)
				}
				r := e.RTPBase()
				r.rmu.Lock()
				*field(r) = v
				r.rmu.Unlock()
				return nil
			})}
	}
	ev := func(name, doc, typ string) *EventType {
		return &EventType{Name: name, Module: "core", Extends: "Media", Doc: doc,
			Fields: []Param{{Name: "oldState", Type: typ}, {Name: "newState", Type: typ}}}
	}
	return &Class{
		Name: "BaseRtpEndpoint", Module: "core", Extends: "SdpEndpoint", Abstract: true,
		Doc: "Base class for RTP-based communication endpoints (RtpEndpoint, WebRtcEndpoint): connection and media state, bandwidth settings.",
		Properties: []Property{
			bw("minVideoRecvBandwidth", "Minimum inbound video bitrate requested by this endpoint (kbps).",
				func(r *RTPEndpointBase) *int { return &r.minVideoRecvBW }),
			bw("minVideoSendBandwidth", "Minimum outbound video bitrate (kbps; default 100).",
				func(r *RTPEndpointBase) *int { return &r.minVideoSendBW }),
			bw("maxVideoSendBandwidth", "Maximum outbound video bitrate (kbps; default 500; 0 = unlimited).",
				func(r *RTPEndpointBase) *int { return &r.maxVideoSendBW }),
			{Name: "mediaState", Type: "MediaState", Access: ReadOnly,
				Doc: "CONNECTED while RTCP packets arrive from the remote peer; DISCONNECTED before, and after 5 s without any.",
				Get: Get(func(e RTPEndpoint) any { _, m := e.RTPBase().States(); return connState(m) })},
			{Name: "connectionState", Type: "ConnectionState", Access: ReadOnly,
				Doc: "CONNECTED while the transport (ICE + DTLS) with the remote peer is up.",
				Get: Get(func(e RTPEndpoint) any { c, _ := e.RTPBase().States(); return connState(c) })},
			bw("mtu", "Maximum Transmission Unit used for RTP (bytes; default 1200).",
				func(r *RTPEndpointBase) *int { return &r.mtu }),
			{Name: "rembParams", Type: "RembParams", Access: ReadWrite,
				Doc: "Advanced parameters of the congestion control algorithm. Stored and returned; Miksilo's congestion control (TWCC and REMB by pion) does not use them.",
				Get: Get(func(e RTPEndpoint) any {
					r := e.RTPBase()
					r.rmu.Lock()
					defer r.rmu.Unlock()
					out := map[string]any{"__module__": "kurento", "__type__": "RembParams"}
					maps.Copy(out, r.remb)
					return out
				}),
				Set: Set(func(e RTPEndpoint, v map[string]any) error {
					r := e.RTPBase()
					r.rmu.Lock()
					r.remb = maps.Clone(v)
					r.rmu.Unlock()
					return nil
				})},
		},
		Methods: []Method{
			{Name: "requestKeyframe",
				Doc: "Sends a keyframe request to the upstream elements, towards the producer of the video this endpoint receives.",
				Call: Do(func(_ *Call, e RTPEndpoint, _ Args) (any, error) {
					e.Elem().Input(Video, "default").RequestKeyframe()
					return nil, nil
				})},
		},
		Events: []string{"MediaStateChanged", "ConnectionStateChanged"},
		EventTypes: []*EventType{
			ev("MediaStateChanged", "The media state (RTCP flow from the remote peer) changed.", "MediaState"),
			ev("ConnectionStateChanged", "The connection state with the remote peer changed.", "ConnectionState"),
		},
		Types: endpointTypes(),
	}
}

// endpointTypes are the complex types the endpoint classes use (core module).
func endpointTypes() []*ComplexType {
	enum := func(name, doc string, values ...string) *ComplexType {
		return &ComplexType{Name: name, Module: "core", Format: Enum, Values: values, Doc: doc}
	}
	reg := func(name, extends, doc string, fields ...Param) *ComplexType {
		return &ComplexType{Name: name, Module: "core", Format: Register, Extends: extends, Fields: fields, Doc: doc}
	}
	f := func(name, typ string) Param { return Param{Name: name, Type: typ} }
	opt := func(name, typ string) Param { return Param{Name: name, Type: typ, Optional: true} }
	return []*ComplexType{
		enum("ConnectionState", "State of the connection with the remote peer.", "DISCONNECTED", "CONNECTED"),
		enum("MediaState", "State of the media session (RTCP flow).", "DISCONNECTED", "CONNECTED"),
		reg("OfferOptions", "", "Options of generateOffer: whether the offer asks to receive audio and video (default true).",
			opt("offerToReceiveAudio", "boolean"), opt("offerToReceiveVideo", "boolean")),
		reg("RembParams", "", "Parameters of the REMB congestion control algorithm.",
			opt("packetsRecvIntervalTop", "int"), opt("exponentialFactor", "float"), opt("linealFactorMin", "int"),
			opt("linealFactorGrade", "float"), opt("decrementFactor", "float"), opt("thresholdFactor", "float"),
			opt("upLosses", "int"), opt("rembOnConnect", "int")),
		reg("EndpointStats", "ElementStats", "Statistics of an endpoint.", f("E2ELatency", "MediaLatencyStat[]")),
		reg("RTCStats", "Stats", "Base of the WebRTC statistics."),
		reg("RTCRTPStreamStats", "RTCStats", "Statistics of an RTP stream.",
			f("ssrc", "String"), f("associateStatsId", "String"), f("isRemote", "boolean"), f("mediaTrackId", "String"),
			f("transportId", "String"), f("codecId", "String"), f("firCount", "int64"), f("pliCount", "int64"),
			f("nackCount", "int64"), f("sliCount", "int64"), f("remb", "int64"), f("packetsLost", "int64"),
			f("fractionLost", "double")),
		reg("RTCInboundRTPStreamStats", "RTCRTPStreamStats", "Statistics of an incoming RTP stream.",
			f("packetsReceived", "int64"), f("bytesReceived", "int64"), f("jitter", "double")),
		reg("RTCOutboundRTPStreamStats", "RTCRTPStreamStats", "Statistics of an outgoing RTP stream.",
			f("packetsSent", "int64"), f("bytesSent", "int64"), f("targetBitrate", "double"), f("roundTripTime", "double")),
		enum("RTCStatsIceCandidatePairState", "State of an ICE candidate pair.",
			"frozen", "waiting", "inprogress", "failed", "succeeded", "cancelled"),
		reg("RTCIceCandidatePairStats", "RTCStats", "Statistics of an ICE candidate pair.",
			f("transportId", "String"), f("localCandidateId", "String"), f("remoteCandidateId", "String"),
			f("state", "RTCStatsIceCandidatePairState"), f("priority", "int64"), f("nominated", "boolean"),
			f("writable", "boolean"), f("readable", "boolean"), f("bytesSent", "int64"), f("bytesReceived", "int64"),
			f("roundTripTime", "double"), f("availableOutgoingBitrate", "double"), f("availableIncomingBitrate", "double")),
		enum("RTCDataChannelState", "State of a data channel.", "connecting", "open", "closing", "closed"),
		reg("RTCDataChannelStats", "RTCStats", "Statistics of a data channel.",
			f("label", "String"), f("protocol", "String"), f("datachannelid", "int64"), f("state", "RTCDataChannelState"),
			f("messagesSent", "int64"), f("bytesSent", "int64"), f("messagesReceived", "int64"), f("bytesReceived", "int64")),
		reg("RTCPeerConnectionStats", "RTCStats", "Statistics of a peer connection.",
			f("dataChannelsOpened", "int64"), f("dataChannelsClosed", "int64")),
	}
}
