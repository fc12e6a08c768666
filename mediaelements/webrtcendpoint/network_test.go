package webrtcendpoint

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/miksilo/miksilo/internal/config"
)

// freeTCPPort finds a loopback TCP port nobody listens on.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func hasTCP(cands []string) bool {
	for _, c := range cands {
		if strings.Contains(c, " tcp ") {
			return true
		}
	}
	return false
}

// ICE-TCP candidates: passive, on the server's port, unless the endpoint
// or the server turns them off.
func TestICETCPCandidates(t *testing.T) {
	port := freeTCPPort(t)
	withTCP := Settings{LoopbackOnly: true, TCPPort: port}
	t.Run("on by default", func(t *testing.T) {
		cands := candidatesOf(t, withTCP, nil, nil)
		var tcp []string
		for _, c := range cands {
			if strings.Contains(c, " tcp ") {
				tcp = append(tcp, c)
			}
		}
		if len(tcp) == 0 {
			t.Fatalf("no TCP candidate in %q", cands)
		}
		for _, c := range tcp {
			if !strings.Contains(c, " 127.0.0.1 "+strconv.Itoa(port)+" ") || !strings.Contains(c, "tcptype passive") {
				t.Errorf("TCP candidate %q: want passive on port %d", c, port)
			}
		}
		if !slices.ContainsFunc(cands, func(c string) bool { return strings.Contains(c, " udp ") }) {
			t.Errorf("no UDP candidate besides TCP: %q", cands)
		}
	})
	t.Run("NAT 1:1 rewrites TCP candidates too", func(t *testing.T) {
		s := withTCP
		s.NAT1To1IPs = []string{"203.0.113.7"}
		cands := candidatesOf(t, s, nil, nil)
		if !hasTCP(cands) {
			t.Fatalf("no TCP candidate in %q", cands)
		}
		for _, c := range cands {
			if !strings.Contains(c, " 203.0.113.7 ") {
				t.Errorf("candidate %q keeps the local address", c)
			}
		}
	})
	t.Run("iceTcp false", func(t *testing.T) {
		if cands := candidatesOf(t, withTCP, nil, map[string]any{"iceTcp": false}); hasTCP(cands) {
			t.Fatalf("TCP candidates with iceTcp=false: %q", cands)
		}
	})
	t.Run("no server port", func(t *testing.T) {
		if cands := candidatesOf(t, Settings{LoopbackOnly: true}, nil, nil); hasTCP(cands) {
			t.Fatalf("TCP candidates without webrtc.tcp_port: %q", cands)
		}
	})
	// The listener is closed with the last endpoint.
	if err := eventually(wait, func() bool {
		l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = l.Close()
		}
		return err == nil
	}); err != nil {
		t.Errorf("ICE-TCP port %d still in use after release", port)
	}
}

// A peer that can only use TCP connects over ICE-TCP and gets media.
func TestICETCPConnects(t *testing.T) {
	port := freeTCPPort(t)
	e := newEnvWith(t, Settings{LoopbackOnly: true, TCPPort: port})
	ep := e.endpoint(e.pipeline(), nil)
	if got := e.invoke(ep, "getIceTcp", nil); got != true {
		t.Fatalf("iceTcp = %v, want Kurento's default true", got)
	}
	e.connect(ep, ep)
	se := loopbackSettings()
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	peer := newPeerWith(t, se)
	peer.addMedia()
	e.negotiate(ep, peer)
	peer.send()
	peer.awaitRx("media back over ICE-TCP", wait, gotMedia(20, 20))
	ev, _ := e.sink.AwaitFrom(t, 0, wait, "NewCandidatePairSelected", isEvent(ep, "NewCandidatePairSelected"))
	local, _ := ev.Data["candidatePair"].(map[string]any)["localCandidate"].(string)
	if !strings.Contains(local, " tcp ") || !strings.Contains(local, " "+strconv.Itoa(port)+" ") {
		t.Fatalf("selected local candidate %q: want TCP on port %d", local, port)
	}
}

func TestDSCPNames(t *testing.T) {
	if !slices.Equal(DSCPNames, config.DSCPValues) {
		t.Fatal("webrtc.qos_dscp's values differ from the DSCPValue enum")
	}
	for _, n := range DSCPNames {
		_, ok := DSCPCode(n)
		if ok == (n == "NO_DSCP" || n == "NO_VALUE") {
			t.Errorf("DSCPCode(%s) ok = %v", n, ok)
		}
	}
	if c, _ := DSCPCode("EF"); c != 46 {
		t.Errorf("EF = %d", c)
	}
	if c, _ := DSCPCode("AF41"); c != 34 {
		t.Errorf("AF41 = %d", c)
	}
}
