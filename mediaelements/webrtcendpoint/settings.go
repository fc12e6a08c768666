package webrtcendpoint

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultSTUNPort is the STUN port used when none is given.
const DefaultSTUNPort = 3478

// Settings are the server-wide network settings of WebRTC endpoints (from
// the webrtc.* configuration). The zero value gathers host candidates on
// every interface and any UDP port.
type Settings struct {
	// UDPPortMin and UDPPortMax bound the local ports of ICE sockets; 0/0 = any.
	UDPPortMin, UDPPortMax uint16
	// UDPMuxPort, when not 0, serves every endpoint on this one UDP port.
	UDPMuxPort int
	// UDPMuxBuffer, when not 0, is the receive and send buffer (bytes) the
	// UDP mux socket asks for (SO_RCVBUF, SO_SNDBUF).
	UDPMuxBuffer int
	// UDPEndpointBuffer, when not 0, is the receive and send buffer (bytes)
	// each endpoint's own ICE UDP sockets ask for (without the mux).
	UDPEndpointBuffer int
	// TCPPort, when not 0, accepts ICE-TCP for every endpoint on this one
	// TCP port (passive host candidates); endpoints with iceTcp=false
	// gather none.
	TCPPort int
	// DSCP is the DSCPValue name marking what endpoints created with
	// qosDscp=NO_VALUE send, and everything sent from the shared sockets
	// (UDP mux, ICE-TCP); "" or NO_DSCP = no marking.
	DSCP string
	// NAT1To1IPs replace the local addresses in host candidates (1:1 NAT).
	NAT1To1IPs []string
	// STUNServer is host[:port]; endpoints may override it.
	STUNServer string
	// TURNURL is in Kurento's format user:password@host:port[?transport=udp|tcp|tls].
	TURNURL string
	// LoopbackOnly gathers only 127.0.0.1 candidates (UDP, and TCP with
	// TCPPort), without mDNS (tests).
	LoopbackOnly bool
	// NoSendBatching makes every UDP write its own system call: bursts
	// (Output.WriteBurst) are then not sent with one sendmmsg
	// (internal/sendbatch).
	NoSendBatching bool
	// Logger receives pion's own log lines (at Debug, errors at Warn).
	Logger *slog.Logger
	// Registerer, when not nil, gets the endpoints' metrics
	// (miksilo_webrtc_udp_mux_drops_total, miksilo_webrtc_udp_endpoint_drops_total).
	Registerer prometheus.Registerer
}

// splitSTUN splits host[:port] into its parts (port 3478 when omitted).
func splitSTUN(s string) (string, int) {
	if s == "" {
		return "", DefaultSTUNPort
	}
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return s, DefaultSTUNPort
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return host, DefaultSTUNPort
	}
	return host, port
}

var errTURNFormat = errors.New("turnUrl must be user:password@host:port[?transport=udp|tcp|tls]")

// parseTURN turns Kurento's turnUrl into a pion ICE server.
func parseTURN(s string) (webrtc.ICEServer, error) {
	i := strings.LastIndex(s, "@") // the password may contain @
	if i < 0 {
		return webrtc.ICEServer{}, errTURNFormat
	}
	user, pass, ok := strings.Cut(s[:i], ":")
	if !ok || user == "" {
		return webrtc.ICEServer{}, errTURNFormat
	}
	addr, query, _ := strings.Cut(s[i+1:], "?")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return webrtc.ICEServer{}, errTURNFormat
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return webrtc.ICEServer{}, errTURNFormat
	}
	scheme, transport := "turn", "udp"
	if query != "" {
		t, ok := strings.CutPrefix(query, "transport=")
		if !ok {
			return webrtc.ICEServer{}, errTURNFormat
		}
		switch t {
		case "udp", "tcp":
			transport = t
		case "tls":
			scheme, transport = "turns", "tcp"
		default:
			return webrtc.ICEServer{}, errTURNFormat
		}
	}
	return webrtc.ICEServer{
		URLs:     []string{fmt.Sprintf("%s:%s?transport=%s", scheme, net.JoinHostPort(host, port), transport)},
		Username: user, Credential: pass,
	}, nil
}

// iceServers builds the ICE server list from an endpoint's STUN and TURN settings.
func iceServers(stunHost string, stunPort int, turn string) ([]webrtc.ICEServer, error) {
	var out []webrtc.ICEServer
	if stunHost != "" {
		out = append(out, webrtc.ICEServer{URLs: []string{"stun:" + net.JoinHostPort(stunHost, strconv.Itoa(stunPort))}})
	}
	if turn != "" {
		t, err := parseTURN(turn)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
