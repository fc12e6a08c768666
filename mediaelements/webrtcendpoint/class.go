// Package webrtcendpoint is Kurento's WebRtcEndpoint on pion/webrtc: ICE,
// DTLS-SRTP, data channels, NACK/RTX, PLI/FIR, REMB and TWCC, plugged into
// the media plane of package mediaelements (see docs/webrtc.md).
package webrtcendpoint

import (
	"net"

	"github.com/pion/webrtc/v4"

	me "github.com/miksilo/miksilo/mediaelements"
)

// Class is the WebRtcEndpoint class. Endpoints of one class value share one
// pion API built from s (created with the first endpoint, dropped with the
// last one).
func Class(s Settings) *me.Class {
	eng := newEngine(s)
	str := func(name, doc string, field func(p *netProps) *string, check func(string) error) me.Property {
		return me.Property{Name: name, Type: "String", Access: me.ReadWrite, Doc: doc,
			Get: me.Get(func(e *Endpoint) any {
				e.mu.Lock()
				defer e.mu.Unlock()
				return *field(&e.props)
			}),
			Set: me.Set(func(e *Endpoint, v string) error {
				if check != nil {
					if err := check(v); err != nil {
						return err
					}
				}
				e.mu.Lock()
				*field(&e.props) = v
				e.mu.Unlock()
				return nil
			})}
	}
	ipCheck := func(v4 bool) func(string) error {
		return func(v string) error {
			ip := net.ParseIP(v)
			if v != "" && (ip == nil || (ip.To4() != nil) != v4) {
				fam := "IPv6"
				if v4 {
					fam = "IPv4"
				}
				return me.NewError(me.CodeIllegalParam, "%q is not an %s address", v, fam)
			}
			return nil
		}
	}
	return &me.Class{
		Name: "WebRtcEndpoint", Module: "elements", Extends: "BaseRtpEndpoint",
		Doc: "Endpoint that provides bidirectional WebRTC capabilities: one side of a peer-to-peer WebRTC communication whose other peer is a browser, a native WebRTC app or another media server. Implemented with pion/webrtc; see docs/webrtc.md.",
		Constructor: []me.Param{
			{Name: "mediaPipeline", Type: "MediaPipeline", Doc: "the parent MediaPipeline"},
			{Name: "recvonly", Type: "boolean", Optional: true, Default: false, Doc: "only receive media from the remote peer"},
			{Name: "sendonly", Type: "boolean", Optional: true, Default: false, Doc: "only send media to the remote peer"},
			{Name: "useDataChannels", Type: "boolean", Optional: true, Default: false, Doc: "negotiate data channels"},
			{Name: "certificateKeyType", Type: "CertificateKeyType", Optional: true, Default: "RSA", Doc: "key type of the DTLS certificate"},
			{Name: "qosDscp", Type: "DSCPValue", Optional: true, Default: "NO_VALUE", Doc: "DSCP value of outgoing packets (NO_VALUE: the server's webrtc.qos_dscp; NO_DSCP: none). With webrtc.udp_mux_port set, media leaves through the shared mux socket, which carries the server's value only; see docs/webrtc.md"},
		},
		New: func(_ *me.Call, in me.ObjectInit, a me.Args) (me.Object, error) {
			opts := ctorOptions{recvonly: a.Bool("recvonly"), sendonly: a.Bool("sendonly"), useDataChannels: a.Bool("useDataChannels"),
				keyType: a.String("certificateKeyType"), dscp: a.String("qosDscp")}
			if opts.recvonly && opts.sendonly {
				return nil, me.NewError(me.CodeIllegalParam, "recvonly and sendonly cannot both be true")
			}
			return newEndpoint(eng, in, opts), nil
		},
		Properties: []me.Property{
			str("stunServerAddress", "STUN server host (the server's webrtc.stun_server unless set). Takes effect at the next negotiation.",
				func(p *netProps) *string { return &p.stunHost }, nil),
			{Name: "stunServerPort", Type: "int", Access: me.ReadWrite, Doc: "Port of the STUN server (default 3478).",
				Get: me.Get(func(e *Endpoint) any {
					e.mu.Lock()
					defer e.mu.Unlock()
					return e.props.stunPort
				}),
				Set: me.Set(func(e *Endpoint, v int) error {
					if v < 1 || v > 65535 {
						return me.NewError(me.CodeIllegalParam, "stunServerPort must be from 1 to 65535")
					}
					e.mu.Lock()
					e.props.stunPort = v
					e.mu.Unlock()
					return nil
				})},
			str("turnUrl", "TURN server as user:password@host:port[?transport=udp|tcp|tls] (the server's webrtc.turn_url unless set). Takes effect at the next negotiation.",
				func(p *netProps) *string { return &p.turnURL }, func(v string) error {
					if v == "" {
						return nil
					}
					if _, err := parseTURN(v); err != nil {
						return me.NewError(me.CodeIllegalParam, "%v", err)
					}
					return nil
				}),
			str("externalIPv4", "Public IPv4 address announced instead of the local ones in host candidates (1:1 NAT). Takes effect at the next negotiation.",
				func(p *netProps) *string { return &p.externalIPv4 }, ipCheck(true)),
			str("externalIPv6", "Public IPv6 address announced instead of the local ones in host candidates (1:1 NAT). Takes effect at the next negotiation.",
				func(p *netProps) *string { return &p.externalIPv6 }, ipCheck(false)),
			str("networkInterfaces", "Comma-separated names of the network interfaces used for ICE (all when empty). Takes effect at the next negotiation.",
				func(p *netProps) *string { return &p.interfaces }, nil),
			{Name: "iceTcp", Type: "boolean", Access: me.ReadWrite, Doc: "ICE-TCP candidate gathering (default true): passive TCP host candidates on the server's webrtc.tcp_port (none when it is 0). Set it before generateOffer/processOffer, which start gathering.",
				Get: me.Get(func(e *Endpoint) any {
					e.mu.Lock()
					defer e.mu.Unlock()
					return e.props.iceTCP
				}),
				Set: me.Set(func(e *Endpoint, v bool) error {
					e.mu.Lock()
					e.props.iceTCP = v
					e.mu.Unlock()
					return nil
				})},
			{Name: "ICECandidatePairs", Type: "IceCandidatePair[]", Access: me.ReadOnly, Doc: "The selected ICE candidate pair (bundled: one stream).",
				Get: me.Get(func(e *Endpoint) any {
					e.mu.Lock()
					defer e.mu.Unlock()
					if e.pair == nil {
						return []any{}
					}
					return []any{candidatePair(e.pair)}
				})},
			{Name: "IceConnectionState", Type: "IceConnection[]", Access: me.ReadOnly, Doc: "The ICE connection state (bundled: one stream).",
				Get: me.Get(func(e *Endpoint) any {
					e.mu.Lock()
					defer e.mu.Unlock()
					if e.iceState == webrtc.ICEConnectionStateUnknown {
						return []any{}
					}
					state := iceComponentState(e.iceState)
					if state == "" {
						state = "GATHERING"
					}
					return []any{map[string]any{"__module__": "kurento", "__type__": "IceConnection", "streamId": "1", "componentId": 1, "state": state}}
				})},
			{Name: "DtlsConnectionState", Type: "DtlsConnection[]", Access: me.ReadOnly, Doc: "The DTLS connection state (bundled: one connection).",
				Get: me.Get(func(e *Endpoint) any {
					e.mu.Lock()
					defer e.mu.Unlock()
					if e.dtlsState == webrtc.DTLSTransportState(0) {
						return []any{}
					}
					return []any{map[string]any{"__module__": "kurento", "__type__": "DtlsConnection", "streamId": "1", "componentId": "1",
						"connectionId": e.ID(), "state": dtlsState(e.dtlsState)}}
				})},
		},
		Methods: []me.Method{
			{Name: "gatherCandidates", Doc: "Starts emitting IceCandidateFound events (trickle ICE), then IceGatheringDone.",
				Call: me.Do(func(_ *me.Call, e *Endpoint, _ me.Args) (any, error) { return nil, e.GatherCandidates() })},
			{Name: "addIceCandidate", Params: []me.Param{{Name: "candidate", Type: "IceCandidate", Doc: "remote ICE candidate"}},
				Doc: "Adds a remote ICE candidate; candidates arriving before the remote SDP are buffered and applied after it.",
				Call: me.Do(func(_ *me.Call, e *Endpoint, a me.Args) (any, error) {
					m := a.Map("candidate")
					c, _ := m["candidate"].(string)
					mid, _ := m["sdpMid"].(string)
					idx, _ := m["sdpMLineIndex"].(int)
					return nil, e.AddICECandidate(c, mid, idx)
				})},
			{Name: "createDataChannel",
				Params: []me.Param{
					{Name: "label", Type: "String", Optional: true, Default: ""},
					{Name: "ordered", Type: "boolean", Optional: true, Default: true},
					{Name: "maxPacketLifeTime", Type: "int", Optional: true, Default: -1},
					{Name: "maxRetransmits", Type: "int", Optional: true, Default: -1},
					{Name: "protocol", Type: "String", Optional: true, Default: ""},
				},
				Doc: "Creates a data channel towards the remote peer (the endpoint must have been created with useDataChannels); DataChannelOpened follows.",
				Call: me.Do(func(_ *me.Call, e *Endpoint, a me.Args) (any, error) {
					return nil, e.CreateDataChannel(a.String("label"), a.Bool("ordered"), a.Int("maxPacketLifeTime"), a.Int("maxRetransmits"), a.String("protocol"))
				})},
			{Name: "closeDataChannel", Params: []me.Param{{Name: "channelId", Type: "int"}},
				Doc: "Closes an open data channel; DataChannelClosed follows.",
				Call: me.Do(func(_ *me.Call, e *Endpoint, a me.Args) (any, error) {
					return nil, e.CloseDataChannel(a.Int("channelId"))
				})},
		},
		Events:     []string{"IceCandidateFound", "IceGatheringDone", "IceComponentStateChanged", "DtlsConnectionStateChange", "DataChannelOpened", "DataChannelClosed", "NewCandidatePairSelected"},
		Types:      types(),
		EventTypes: events(),
	}
}

func types() []*me.ComplexType {
	enum := func(name, doc string, values ...string) *me.ComplexType {
		return &me.ComplexType{Name: name, Module: "elements", Format: me.Enum, Values: values, Doc: doc}
	}
	reg := func(name, doc string, fields ...me.Param) *me.ComplexType {
		return &me.ComplexType{Name: name, Module: "elements", Format: me.Register, Fields: fields, Doc: doc}
	}
	f := func(name, typ string) me.Param { return me.Param{Name: name, Type: typ} }
	return []*me.ComplexType{
		reg("IceCandidate", "An ICE candidate (as in the browser's RTCIceCandidate).",
			f("candidate", "String"), f("sdpMid", "String"), f("sdpMLineIndex", "int")),
		reg("IceCandidatePair", "The local and remote candidates ICE selected for a stream.",
			f("streamId", "String"), f("componentId", "int"), f("localCandidate", "String"), f("remoteCandidate", "String")),
		enum("IceComponentState", "State of an ICE component.", "DISCONNECTED", "GATHERING", "CONNECTING", "CONNECTED", "READY", "FAILED"),
		reg("IceConnection", "The ICE state of a stream component.",
			f("streamId", "String"), f("componentId", "int"), f("state", "IceComponentState")),
		enum("DtlsConnectionState", "State of a DTLS connection.", "NEW", "CLOSED", "FAILED", "CONNECTING", "CONNECTED"),
		reg("DtlsConnection", "The DTLS state of a stream component.",
			f("streamId", "String"), f("componentId", "String"), f("connectionId", "String"), f("state", "DtlsConnectionState")),
		enum("CertificateKeyType", "Key type of the DTLS certificate.", "RSA", "ECDSA"),
		enum("DSCPValue", "DSCP value for the outgoing packets.", DSCPNames...),
	}
}

func events() []*me.EventType {
	ev := func(name, doc string, fields ...me.Param) *me.EventType {
		return &me.EventType{Name: name, Module: "elements", Extends: "Media", Fields: fields, Doc: doc}
	}
	f := func(name, typ string) me.Param { return me.Param{Name: name, Type: typ} }
	return []*me.EventType{
		ev("IceCandidateFound", "A local ICE candidate was found (after gatherCandidates).", f("candidate", "IceCandidate")),
		ev("IceGatheringDone", "All local ICE candidates have been found."),
		ev("IceComponentStateChanged", "The state of an ICE component changed.",
			f("streamId", "int"), f("componentId", "int"), f("state", "IceComponentState")),
		ev("DtlsConnectionStateChange", "The DTLS connection state changed.",
			f("streamId", "String"), f("componentId", "String"), f("connectionId", "String"), f("state", "DtlsConnectionState")),
		ev("DataChannelOpened", "A data channel was opened.", f("channelId", "int")),
		ev("DataChannelClosed", "A data channel was closed.", f("channelId", "int")),
		ev("NewCandidatePairSelected", "ICE selected a new candidate pair.", f("candidatePair", "IceCandidatePair")),
	}
}
