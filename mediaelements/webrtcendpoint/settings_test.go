package webrtcendpoint

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	me "github.com/miksilo/miksilo/mediaelements"
)

func TestParseTURN(t *testing.T) {
	for _, c := range []struct {
		in, url, user, pass string
		ok                  bool
	}{
		{"u:p@turn.example.com:3478", "turn:turn.example.com:3478?transport=udp", "u", "p", true},
		{"u:p@192.0.2.1:443?transport=tcp", "turn:192.0.2.1:443?transport=tcp", "u", "p", true},
		{"u:p@turn.example.com:5349?transport=tls", "turns:turn.example.com:5349?transport=tcp", "u", "p", true},
		{"u:p@ss@[2001:db8::1]:3478", "turn:[2001:db8::1]:3478?transport=udp", "u", "p@ss", true},
		{"turn.example.com:3478", "", "", "", false},
		{"u@turn.example.com:3478", "", "", "", false},
		{"u:p@turn.example.com", "", "", "", false},
		{"u:p@turn.example.com:0", "", "", "", false},
		{"u:p@turn.example.com:3478?transport=sctp", "", "", "", false},
	} {
		t.Run(c.in, func(t *testing.T) {
			s, err := parseTURN(c.in)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
			if c.ok && (s.URLs[0] != c.url || s.Username != c.user || s.Credential != c.pass) {
				t.Errorf("got %v %q %v", s.URLs, s.Username, s.Credential)
			}
		})
	}
}

func TestSplitSTUN(t *testing.T) {
	for in, want := range map[string]string{"": ":3478", "stun.example.com": "stun.example.com:3478",
		"192.0.2.1:19302": "192.0.2.1:19302", "[2001:db8::1]:3479": "2001:db8::1:3479"} {
		h, p := splitSTUN(in)
		if got := h + ":" + strconv.Itoa(p); got != want {
			t.Errorf("splitSTUN(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSupportedCodecs(t *testing.T) {
	for _, c := range []struct {
		codec me.Codec
		want  bool
	}{
		{me.Codec{MimeType: "video/VP8", ClockRate: 90000}, true},
		{me.Codec{MimeType: "video/vp9", ClockRate: 90000, Fmtp: "profile-id=0"}, true},
		{me.Codec{MimeType: "video/VP9", ClockRate: 90000}, true},
		{me.Codec{MimeType: "video/VP9", ClockRate: 90000, Fmtp: "profile-id=2"}, false},
		{me.Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, true},
		{me.Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "packetization-mode=1;profile-level-id=42e034"}, true},
		{me.Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "packetization-mode=0;profile-level-id=42e01f"}, false},
		{me.Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "profile-level-id=42e01f"}, false},
		{me.Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "packetization-mode=1;profile-level-id=640032"}, false},
		{me.Codec{MimeType: "video/H265", ClockRate: 90000}, false},
		{me.Codec{MimeType: "video/AV1", ClockRate: 90000}, false},
		{me.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2}, true},
		{me.Codec{MimeType: "audio/PCMU", ClockRate: 8000}, false},
	} {
		if got := supported(c.codec); got != c.want {
			t.Errorf("supported(%v) = %v, want %v", c.codec, got, c.want)
		}
	}
}

func TestDataEnvelope(t *testing.T) {
	for _, c := range []struct {
		label string
		text  bool
		data  string
	}{{"chat", true, "hi"}, {"", false, "\x00\x01"}, {"x", false, ""}} {
		label, text, data, ok := unwrapData(wrapData(c.label, c.text, []byte(c.data)))
		if !ok || label != c.label || text != c.text || string(data) != c.data {
			t.Errorf("round trip of %+v: %q %v %q %v", c, label, text, data, ok)
		}
	}
	for _, bad := range [][]byte{nil, {0}, {0, 5, 'a'}} {
		if _, _, _, ok := unwrapData(bad); ok {
			t.Errorf("unwrapData(%v) ok", bad)
		}
	}
}

// FuzzInspectSDP: remote SDP is untrusted input.
func FuzzInspectSDP(f *testing.F) {
	f.Add("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n")
	f.Add("v=0\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0\r\na=fmtp:0 \r\n")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		sum, err := inspectSDP("offer", s)
		if err == nil && sum.usable > sum.media {
			t.Fatalf("%+v", sum)
		}
		if err != nil && me.AsError(err) == nil {
			t.Fatalf("not a domain error: %v", err)
		}
	})
}

// freeUDPPort finds a loopback UDP port nobody listens on.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	_ = c.Close()
	return port
}

// candidatesOf generates an offer on a fresh endpoint and returns the
// candidates it announces.
func candidatesOf(t *testing.T, s Settings, ctor map[string]any, props map[string]any) []string {
	t.Helper()
	reg := me.NewRegistry(Class(s))
	st := me.NewStore(me.Options{Registry: reg})
	e := &env{t: t, store: st, sink: newSink()}
	st.SetEventSink(e.sink)
	defer st.ReleaseAll()
	ep := e.endpoint(e.pipeline(), ctor)
	for k, v := range props {
		e.invoke(ep, "set"+strings.ToUpper(k[:1])+k[1:], map[string]any{k: v})
	}
	e.invoke(ep, "generateOffer", nil)
	e.invoke(ep, "gatherCandidates", nil)
	e.sink.AwaitFrom(t, 0, wait, "IceGatheringDone", isEvent(ep, "IceGatheringDone"))
	var out []string
	for _, ev := range e.sink.Events(ep, "IceCandidateFound") {
		out = append(out, ev.Data["candidate"].(map[string]any)["candidate"].(string))
	}
	if len(out) == 0 {
		t.Fatal("no candidates")
	}
	return out
}

func TestNetworkSettings(t *testing.T) {
	port := freeUDPPort(t)
	for _, c := range []struct {
		name  string
		s     Settings
		ctor  map[string]any
		props map[string]any
		check func(cand string) bool
	}{
		{"loopback only", Settings{LoopbackOnly: true}, nil, nil,
			func(c string) bool { return strings.Contains(c, " 127.0.0.1 ") && strings.Contains(c, " udp ") }},
		{"single-port mux", Settings{LoopbackOnly: true, UDPMuxPort: port}, nil, nil,
			func(c string) bool { return strings.Contains(c, " 127.0.0.1 "+strconv.Itoa(port)+" ") }},
		{"port range", Settings{LoopbackOnly: true, UDPPortMin: 45000, UDPPortMax: 45010}, nil, nil,
			func(c string) bool {
				f := strings.Fields(c)
				p, _ := strconv.Atoi(f[5])
				return p >= 45000 && p <= 45010
			}},
		{"NAT 1:1", Settings{LoopbackOnly: true, NAT1To1IPs: []string{"203.0.113.7"}}, nil, nil,
			func(c string) bool { return strings.Contains(c, " 203.0.113.7 ") && !strings.Contains(c, "127.0.0.1") }},
		{"externalIPv4 of the endpoint", Settings{LoopbackOnly: true, NAT1To1IPs: []string{"203.0.113.7"}}, nil,
			map[string]any{"externalIPv4": "198.51.100.9"},
			func(c string) bool { return strings.Contains(c, " 198.51.100.9 ") }},
		{"ECDSA certificate", Settings{LoopbackOnly: true}, map[string]any{"certificateKeyType": "ECDSA"}, nil,
			func(c string) bool { return strings.Contains(c, " 127.0.0.1 ") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, cand := range candidatesOf(t, c.s, c.ctor, c.props) {
				if !c.check(cand) {
					t.Errorf("candidate %q", cand)
				}
			}
		})
	}
	// The mux socket is closed with the last endpoint.
	if err := eventually(wait, func() bool {
		c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}); err != nil {
		t.Errorf("mux port %d still in use after release", port)
	}
}

// The engine builds nothing until an endpoint negotiates, and releases the
// mux with its last endpoint even when the mux port is taken.
func TestMuxPortTaken(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	reg := me.NewRegistry(Class(Settings{LoopbackOnly: true, UDPMuxPort: port}))
	st := me.NewStore(me.Options{Registry: reg})
	defer st.ReleaseAll()
	call := st.NewCall(context.Background(), "S")
	p, err := st.Create(call, "MediaPipeline", nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := st.Create(call, "WebRtcEndpoint", map[string]any{"mediaPipeline": p.Base().ID()})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := st.PrepareInvoke(call, ep.Base().ID(), "generateOffer", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = inv.Run()
	if de := me.AsError(err); de == nil || de.Code != me.CodeSDPGenerateOffer || !strings.Contains(de.Message, "udp_mux_port") {
		t.Fatalf("generateOffer with the mux port taken: %v", err)
	}
}
