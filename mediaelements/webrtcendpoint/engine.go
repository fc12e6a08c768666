package webrtcendpoint

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/miksilo/miksilo/internal/sendbatch"
)

// engine is the pion side shared by every WebRtcEndpoint of a server: one
// webrtc.API (codecs, interceptors, network settings), the single-port UDP
// mux, the ICE-TCP listener and the DTLS certificates. It exists while
// endpoints do: the first endpoint builds it, the last one released closes
// the shared sockets, so a registry that never creates an endpoint (docs,
// tests) opens nothing. Endpoints whose network properties differ from the
// server's (externalIPv4/6, networkInterfaces, iceTcp=false, their own
// qosDscp) get an API of their own over the same shared sockets.
type engine struct {
	s   Settings
	log *slog.Logger

	// pcMu serialises peer connection creation, so that the statistics
	// interceptor's per-connection getter can be handed to its endpoint.
	pcMu      sync.Mutex
	handoff   stats.Getter
	srHandoff *srTranslator
	srCount   srCounts // all translators' (miksilo_webrtc_sender_reports_total)

	mu      sync.Mutex
	refs    int
	api     *webrtc.API
	mux     ice.UDPMux
	muxConn net.PacketConn // the UDP mux socket, for its drop counter
	drops   uint64         // drops of mux sockets already closed
	socks   *socketSet     // the endpoints' own UDP sockets (socketNet), for their drops
	tcpMux  ice.TCPMux
	certs   map[string]webrtc.Certificate // by CertificateKeyType; kept across generations
}

func newEngine(s Settings) *engine {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &engine{s: s, log: log, certs: map[string]webrtc.Certificate{}, socks: newSocketSet()}
	if s.Registerer != nil {
		s.Registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "miksilo_webrtc_udp_mux_drops_total",
			Help: "Datagrams the kernel dropped on the UDP mux socket (its receive buffer was full: see webrtc.udp_mux_buffer).",
		}, func() float64 { return float64(g.muxDrops()) }))
		s.Registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "miksilo_webrtc_udp_endpoint_drops_total",
			Help: "Datagrams the kernel dropped on WebRTC endpoints' own UDP sockets (a receive buffer was full: see webrtc.udp_endpoint_buffer).",
		}, func() float64 { return float64(g.socks.drops()) }))
		for _, m := range []struct {
			name, help string
			value      func(calls, datagrams, errors uint64) uint64
		}{
			{"miksilo_webrtc_udp_batch_sends_total", "sendmmsg calls that sent bursts of WebRTC datagrams (a Composite frame's packets for one receiver: internal/sendbatch).",
				func(c, _, _ uint64) uint64 { return c }},
			{"miksilo_webrtc_udp_batched_datagrams_total", "WebRTC datagrams sent in bursts by sendmmsg (over miksilo_webrtc_udp_batch_sends_total: the mean burst).",
				func(_, d, _ uint64) uint64 { return d }},
			{"miksilo_webrtc_udp_batch_errors_total", "Datagrams of bursts that failed to send (each lost, as a failed single send would be).",
				func(_, _, e uint64) uint64 { return e }},
		} {
			s.Registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help}, func() float64 {
				return float64(m.value(sendbatch.Stats()))
			}))
		}
		for clock, n := range map[string]*atomic.Uint64{"source": &g.srCount.translated, "send": &g.srCount.kept} {
			s.Registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "miksilo_webrtc_sender_reports_total",
				Help:        "RTCP sender reports sent about media the server forwards, by the clock their RTP time came from: the source's (its sampling time, keeping its audio and video in sync) or the send time (the source has no clock).",
				ConstLabels: prometheus.Labels{"clock": clock},
			}, func() float64 { return float64(n.Load()) }))
		}
	}
	return g
}

// muxDrops is the UDP mux sockets' drop count since the engine began.
func (g *engine) muxDrops() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.drops
	if g.muxConn != nil {
		if n, ok := socketDrops(g.muxConn); ok {
			d += n
		}
	}
	return d
}

// overrides are an endpoint's own network properties.
type overrides struct {
	externalIPv4, externalIPv6 string
	interfaces                 string // comma-separated names; "" = all
	noTCP                      bool   // iceTcp=false: no ICE-TCP candidates
	dscp                       string // DSCPValue name; "" = the server's webrtc.qos_dscp
}

func (o overrides) zero() bool { return o == overrides{} }

// endpointDSCP is the overrides.dscp of an endpoint created with qosDscp:
// "" when it marks like the server does (NO_VALUE, or the same code point),
// so that it shares the server's API.
func (g *engine) endpointDSCP(qos string) string {
	if qos == "" || qos == "NO_VALUE" {
		return ""
	}
	own, ownOK := DSCPCode(qos)
	srv, srvOK := DSCPCode(g.s.DSCP)
	if own == srv && ownOK == srvOK {
		return ""
	}
	return qos
}

// acquire returns an API for an endpoint with the given overrides and
// takes a reference on the shared resources; release gives it back.
func (g *engine) acquire(o overrides) (*webrtc.API, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refs == 0 {
		if err := g.openShared(); err != nil {
			return nil, err
		}
	}
	api := g.api
	if api == nil || !o.zero() {
		var err error
		if api, err = g.newAPI(o); err != nil {
			if g.refs == 0 {
				g.closeShared()
			}
			return nil, err
		}
		if o.zero() {
			g.api = api
		}
	}
	g.refs++
	return api, nil
}

// openShared opens the sockets every endpoint shares: the single-port UDP
// mux and the ICE-TCP listener, when configured. They carry the server's
// DSCP (webrtc.qos_dscp), if any. Called with mu held.
func (g *engine) openShared() error {
	host, udp, tcp := "", "udp", "tcp"
	if g.s.LoopbackOnly {
		host, udp, tcp = "127.0.0.1", "udp4", "tcp4"
	}
	code, marked := DSCPCode(g.s.DSCP)
	if g.s.UDPMuxPort != 0 {
		conn, err := net.ListenPacket(udp, net.JoinHostPort(host, fmt.Sprint(g.s.UDPMuxPort)))
		if err != nil {
			return fmt.Errorf("webrtc.udp_mux_port: %w", err)
		}
		if sc, ok := conn.(syscall.Conn); ok && marked {
			if err := setTOS(sc, code<<2); err != nil {
				g.log.Warn("cannot set DSCP on the UDP mux socket", "err", err)
			}
		}
		if n := g.s.UDPMuxBuffer; n > 0 {
			g.sizeMuxBuffers(conn, n)
		}
		g.muxConn = conn
		var pc net.PacketConn = conn
		if u, ok := conn.(*net.UDPConn); ok && !g.s.NoSendBatching {
			pc = sendbatch.NewConn(u) // bursts leave in one sendmmsg, as on endpoints' own sockets
		}
		g.mux = webrtc.NewICEUDPMux(pionLogger{g.log}.NewLogger("udpmux"), pc)
	}
	if g.s.TCPPort != 0 {
		ln, err := net.Listen(tcp, net.JoinHostPort(host, fmt.Sprint(g.s.TCPPort)))
		if err != nil {
			g.closeShared()
			return fmt.Errorf("webrtc.tcp_port: %w", err)
		}
		if marked {
			ln = markingListener{Listener: ln, tos: code << 2}
		}
		g.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: ln, Logger: pionLogger{g.log}.NewLogger("tcpmux"),
			ReadBufferSize: 128, WriteBufferSize: 4 << 20})
	}
	return nil
}

// sizeMuxBuffers asks for n bytes of receive and send buffer on the UDP mux
// socket and says when the kernel granted less.
func (g *engine) sizeMuxBuffers(conn net.PacketConn, n int) {
	rcv, snd, err := setSocketBuffers(conn, n)
	switch {
	case err != nil:
		g.log.Warn("cannot size the UDP mux socket's buffers (webrtc.udp_mux_buffer)", "err", err)
	case rcv == 0 && snd == 0:
		// Not readable back on this system.
	case rcv < n || snd < n:
		g.log.Warn("the kernel capped the UDP mux socket's buffers below webrtc.udp_mux_buffer: bursts may be dropped "+
			"(miksilo_webrtc_udp_mux_drops_total); raise net.core.rmem_max and net.core.wmem_max to at least the setting",
			"asked", n, "receive", rcv, "send", snd, "sysctl", fmt.Sprintf("sysctl -w net.core.rmem_max=%d net.core.wmem_max=%d", n, n))
	default:
		g.log.Info("UDP mux socket buffers", "receive", rcv, "send", snd)
	}
}

// closeShared closes the shared sockets. Called with mu held.
func (g *engine) closeShared() {
	if g.muxConn != nil {
		if n, ok := socketDrops(g.muxConn); ok {
			g.drops += n
		}
		g.muxConn = nil
	}
	if g.mux != nil {
		_ = g.mux.Close()
		g.mux = nil
	}
	if g.tcpMux != nil {
		_ = g.tcpMux.Close() // closes the listener
		g.tcpMux = nil
	}
}

func (g *engine) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refs--
	if g.refs > 0 {
		return
	}
	g.api = nil
	g.closeShared()
}

// certificate returns a DTLS certificate of the key type (RSA or ECDSA),
// shared by endpoints and renewed a day before it expires.
func (g *engine) certificate(keyType string) (webrtc.Certificate, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.certs[keyType]; ok && time.Until(c.Expires()) > 24*time.Hour {
		return c, nil
	}
	var key crypto.PrivateKey
	var err error
	if keyType == "ECDSA" {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return webrtc.Certificate{}, err
	}
	c, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return webrtc.Certificate{}, err
	}
	g.certs[keyType] = *c
	return *c, nil
}

// Payload types Miksilo offers (what Chrome uses for the same codecs).
const (
	ptVP8     = 96
	ptVP8RTX  = 97
	ptVP9     = 98
	ptVP9RTX  = 99
	ptH264    = 102
	ptH264RTX = 103
	ptOpus    = 111
)

// h264Fmtp is the one H.264 format Miksilo negotiates: constrained baseline,
// packetization mode 1.
const h264Fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"

// registerCodecs puts exactly Miksilo's codecs in the media engine: VP8,
// VP9 (profile 0), H.264 constrained baseline and Opus, with RTX for video.
// NACK, PLI and transport-cc feedback are added by the interceptors' setup.
func registerCodecs(m *webrtc.MediaEngine) error {
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}}
	video := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: ptVP8},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", ptVP8)}, PayloadType: ptVP8RTX},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: fb}, PayloadType: ptVP9},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", ptVP9)}, PayloadType: ptVP9RTX},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264Fmtp, RTCPFeedback: fb}, PayloadType: ptH264},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", ptH264)}, PayloadType: ptH264RTX},
	}
	for _, c := range video {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        ptOpus,
	}
	return m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio)
}

// newPeerConnection creates a peer connection and returns it with the
// statistics getter of its stats interceptor and its sender-report
// translator.
func (g *engine) newPeerConnection(api *webrtc.API, cfg webrtc.Configuration) (*webrtc.PeerConnection, stats.Getter, *srTranslator, error) {
	g.pcMu.Lock()
	defer g.pcMu.Unlock()
	g.handoff, g.srHandoff = nil, nil
	pc, err := api.NewPeerConnection(cfg)
	getter, sr := g.handoff, g.srHandoff
	g.handoff, g.srHandoff = nil, nil
	if sr == nil {
		sr = newSRTranslator(nil) // not registered: reports stay as pion writes them
	}
	return pc, getter, sr, err
}

// newAPI composes the media engine, the interceptors and the setting engine.
func (g *engine) newAPI(o overrides) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	// NACK generator (+ nack, nack pli feedback), sender and receiver
	// reports, transport-wide congestion control feedback for what remote
	// peers send us (+ transport-cc), and RTP statistics (read by the
	// endpoint's getStats: pion's GetStats has no outbound RTP entries).
	// REMB: pion negotiates goog-remb (above) but has no REMB generator; the
	// endpoint sends REMB itself from maxVideoRecvBandwidth.
	//
	// Not pion's NACK responder: each sending track answers NACKs from its
	// own store of references to the source's packets (track.go), where
	// the responder copied every packet of every viewer; nor the statistics
	// interceptor on the send path (the track counts what it sends): with
	// a hundred viewers of one source those two were ~16 % of the server's
	// CPU (profile at 80 viewers: 11 % copying into the responder's
	// buffers, 5.5 % recording sent packets).
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	ir.Add(gen)
	// Before the report interceptor: its sender reports pass through the
	// translator's writer (senderclock.go).
	ir.Add(srTranslators{g})
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
		return nil, err
	}
	sf, err := stats.NewInterceptor()
	if err != nil {
		return nil, err
	}
	sf.OnNewPeerConnection(func(_ string, getter stats.Getter) { g.handoff = getter }) // under pcMu
	ir.Add(receiveStats{sf})

	se := webrtc.SettingEngine{LoggerFactory: pionLogger{g.log}}
	// OnTrack at negotiation, not after pion has peeked at the track's first
	// packet: a first packet with a payload type pion does not know made it
	// drop the track silently (endpoint.go, badPackets).
	se.SetFireOnTrackBeforeFirstRTP(true)
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	tcp := g.tcpMux != nil && !o.noTCP
	if tcp {
		// Passive ICE-TCP host candidates on the shared port; the remote
		// side connects (browsers do when UDP fails).
		se.SetICETCPMux(g.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	switch {
	case g.mux != nil:
		se.SetICEUDPMux(g.mux)
	case g.s.UDPPortMin != 0:
		if err := se.SetEphemeralUDPPortRange(g.s.UDPPortMin, g.s.UDPPortMax); err != nil {
			return nil, err
		}
	}
	if g.s.LoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
		if tcp {
			networks = append(networks, webrtc.NetworkTypeTCP4)
		}
	}
	se.SetNetworkTypes(networks)
	dscp := g.s.DSCP
	if o.dscp != "" {
		dscp = o.dscp
	}
	tos := -1
	if code, ok := DSCPCode(dscp); ok {
		tos = code << 2
	}
	// Every API opens its sockets through a socketNet (socketnet.go): DSCP,
	// buffer sizes, drop counting, interfaces listed at each gathering.
	n, err := newSocketNet(tos, g.s.UDPEndpointBuffer, !g.s.NoSendBatching, g.socks, g.log)
	if err != nil {
		return nil, err
	}
	se.SetNet(n)
	if o.interfaces != "" {
		names := map[string]bool{}
		for _, n := range strings.Split(o.interfaces, ",") {
			names[strings.TrimSpace(n)] = true
		}
		se.SetInterfaceFilter(func(name string) bool { return names[name] })
	}
	if rules := rewriteRules(g.s.NAT1To1IPs, o); len(rules) > 0 {
		if err := se.SetICEAddressRewriteRules(rules...); err != nil {
			return nil, err
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// rewriteRules maps local host candidates to the public addresses of a 1:1
// NAT: the server's nat1to1_ips, or an endpoint's externalIPv4/IPv6 (which
// win for their address family).
func rewriteRules(nat []string, o overrides) []webrtc.ICEAddressRewriteRule {
	var v4, v6 []string
	for _, ip := range nat {
		if p := net.ParseIP(ip); p != nil && p.To4() != nil {
			v4 = append(v4, ip)
		} else if p != nil {
			v6 = append(v6, ip)
		}
	}
	if o.externalIPv4 != "" {
		v4 = []string{o.externalIPv4}
	}
	if o.externalIPv6 != "" {
		v6 = []string{o.externalIPv6}
	}
	var rules []webrtc.ICEAddressRewriteRule
	if len(v4) > 0 {
		rules = append(rules, webrtc.ICEAddressRewriteRule{External: v4, AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode: webrtc.ICEAddressRewriteReplace, Networks: []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4}})
	}
	if len(v6) > 0 {
		rules = append(rules, webrtc.ICEAddressRewriteRule{External: v6, AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode: webrtc.ICEAddressRewriteReplace, Networks: []webrtc.NetworkType{webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP6}})
	}
	return rules
}

// pionLogger sends pion's log lines to slog: errors at Warn (pion reports
// routine network failures as errors), the rest at Debug, trace dropped.
type pionLogger struct{ log *slog.Logger }

func (f pionLogger) NewLogger(scope string) logging.LeveledLogger {
	return scopedLogger{f.log.With("pion", scope)}
}

type scopedLogger struct{ log *slog.Logger }

func (l scopedLogger) logf(level slog.Level, format string, a ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, a...))
	}
}

func (l scopedLogger) Trace(string)              {}
func (l scopedLogger) Tracef(string, ...any)     {}
func (l scopedLogger) Debug(msg string)          { l.logf(slog.LevelDebug, "%s", msg) }
func (l scopedLogger) Debugf(f string, a ...any) { l.logf(slog.LevelDebug, f, a...) }
func (l scopedLogger) Info(msg string)           { l.logf(slog.LevelDebug, "%s", msg) }
func (l scopedLogger) Infof(f string, a ...any)  { l.logf(slog.LevelDebug, f, a...) }
func (l scopedLogger) Warn(msg string)           { l.logf(slog.LevelDebug, "%s", msg) }
func (l scopedLogger) Warnf(f string, a ...any)  { l.logf(slog.LevelDebug, f, a...) }
func (l scopedLogger) Error(msg string)          { l.logf(slog.LevelWarn, "%s", msg) }
func (l scopedLogger) Errorf(f string, a ...any) { l.logf(slog.LevelWarn, f, a...) }

// receiveStats is pion's statistics interceptor without its per-packet
// recording of outgoing RTP: a sent stream still gets its recorder (which
// reads the remote's RTCP about it: reports, NACK, PLI, FIR counts), and the
// packets and bytes sent come from the sending track's counters.
type receiveStats struct{ f *stats.InterceptorFactory }

func (r receiveStats) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := r.f.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return sendFreeStats{i}, nil
}

type sendFreeStats struct{ interceptor.Interceptor }

func (s sendFreeStats) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	_ = s.Interceptor.BindLocalStream(info, w) // creates the stream's recorder
	return w
}
