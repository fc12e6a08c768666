package kurento

import (
	"net"
	"syscall"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
	"github.com/pion/webrtc/v4"
)

// NewLoopbackAPI is the pion configuration of the load generators' peers: VP8 (+ RTX) and Opus
// (used only by peers that add an audio transceiver), the
// interceptors a browser-like endpoint runs (NACK generator and responder, RTCP sender and
// receiver reports) and ICE restricted to IPv4 loopback host candidates (no mDNS, no STUN).
func NewLoopbackAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=96"},
		PayloadType:        97,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, reg); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(LoopbackSettings())), nil
}

// LoopbackSettings restricts ICE to IPv4 loopback host candidates: no mDNS, no STUN, udp4 only.
// The peers' UDP sockets get a 4 MB receive buffer where the kernel allows it, as browsers ask
// for large ones: with the default (212 kB) a viewer on a busy load-generator CPU dropped up to
// ~50 packets of a 720p key frame burst in about one start-up in three.
func LoopbackSettings() webrtc.SettingEngine {
	var s webrtc.SettingEngine
	if n, err := stdnet.NewNet(); err == nil {
		s.SetNet(bigBufferNet{n})
	}
	s.SetIncludeLoopbackCandidate(true)
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	return s
}

// rcvBuf is the receive buffer the load generators' sockets ask for.
const rcvBuf = 4 << 20

// bigBufferNet opens UDP sockets with a large receive buffer: SO_RCVBUFFORCE (root, as the
// benchmarks run to get a network namespace) beyond net.core.rmem_max, else SO_RCVBUF.
type bigBufferNet struct{ *stdnet.Net }

func (n bigBufferNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err == nil {
		if sc, ok := c.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				_ = rc.Control(func(fd uintptr) {
					if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, rcvBuf) != nil {
						_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
					}
				})
			}
		}
	}
	return c, err
}
