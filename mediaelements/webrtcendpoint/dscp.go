package webrtcendpoint

import (
	"net"
	"syscall"
)

// DSCP marking. Kurento's qosDscp sets the DSCP code point of what an
// endpoint sends. pion has no such setting, but it opens its sockets
// through a transport.Net: socketNet (socketnet.go) wraps the standard one
// and sets the IP TOS byte (IPv4) or traffic class (IPv6) of every socket
// it creates to dscp<<2. An endpoint with its own DSCP therefore needs its own
// webrtc.API (engine.newAPI); endpoints with the server's value share one.
//
// Sockets shared by every endpoint carry the server's value (webrtc.qos_dscp)
// only: the single-port UDP mux socket and the connections accepted on the
// ICE-TCP port. With the UDP mux on, an endpoint's own qosDscp marks only
// what it sends through its other sockets (STUN/TURN), not its media.

// dscpValues maps Kurento's DSCPValue names to code points, as Kurento's
// media server does; NO_DSCP and NO_VALUE are absent (no marking / the
// server's default).
var dscpValues = map[string]int{
	"AUDIO_VERYLOW": 1, "AUDIO_LOW": 0, "AUDIO_MEDIUM": 46, "AUDIO_HIGH": 46,
	"VIDEO_VERYLOW": 1, "VIDEO_LOW": 0, "VIDEO_MEDIUM": 36, "VIDEO_MEDIUM_THROUGHPUT": 38,
	"VIDEO_HIGH": 36, "VIDEO_HIGH_THROUGHPUT": 34,
	"DATA_VERYLOW": 1, "DATA_LOW": 0, "DATA_MEDIUM": 10, "DATA_HIGH": 18,
	"CHROME_HIGH": 56, "CHROME_MEDIUM": 56, "CHROME_LOW": 0, "CHROME_VERYLOW": 8,
	"CS0": 0, "CS1": 8, "CS2": 16, "CS3": 24, "CS4": 32, "CS5": 40, "CS6": 48, "CS7": 56,
	"AF11": 10, "AF12": 12, "AF13": 14, "AF21": 18, "AF22": 20, "AF23": 22,
	"AF31": 26, "AF32": 28, "AF33": 30, "AF41": 34, "AF42": 36, "AF43": 38,
	"EF": 46, "VOICEADMIT": 44, "LE": 1,
}

// DSCPNames lists the DSCPValue names in Kurento's order (the enum).
var DSCPNames = []string{
	"NO_DSCP", "NO_VALUE", "AUDIO_VERYLOW", "AUDIO_LOW", "AUDIO_MEDIUM", "AUDIO_HIGH", "VIDEO_VERYLOW", "VIDEO_LOW",
	"VIDEO_MEDIUM", "VIDEO_MEDIUM_THROUGHPUT", "VIDEO_HIGH", "VIDEO_HIGH_THROUGHPUT", "DATA_VERYLOW", "DATA_LOW",
	"DATA_MEDIUM", "DATA_HIGH", "CHROME_HIGH", "CHROME_MEDIUM", "CHROME_LOW", "CHROME_VERYLOW", "CS0", "CS1", "CS2",
	"CS3", "CS4", "CS5", "CS6", "CS7", "AF11", "AF12", "AF13", "AF21", "AF22", "AF23", "AF31", "AF32", "AF33", "AF41",
	"AF42", "AF43", "EF", "VOICEADMIT", "LE",
}

// DSCPCode returns the code point of a DSCPValue name; ok is false for
// NO_DSCP, NO_VALUE, "" and unknown names (no marking).
func DSCPCode(name string) (code int, ok bool) {
	code, ok = dscpValues[name]
	return code, ok
}

// markingListener marks the connections it accepts (the ICE-TCP port).
type markingListener struct {
	net.Listener
	tos int
}

func (l markingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		if sc, ok := c.(syscall.Conn); ok {
			_ = setTOS(sc, l.tos)
		}
	}
	return c, err
}
