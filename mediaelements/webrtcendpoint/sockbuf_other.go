//go:build !linux

package webrtcendpoint

import (
	"net"
)

// setSocketBuffers asks for size bytes of receive and send buffer on c; the
// granted sizes are only read back on Linux (0 here).
func setSocketBuffers(c net.PacketConn, size int) (rcv, snd int, err error) {
	u, ok := c.(*net.UDPConn)
	if !ok {
		return 0, 0, nil
	}
	if err := u.SetReadBuffer(size); err != nil {
		return 0, 0, err
	}
	return 0, 0, u.SetWriteBuffer(size)
}

// socketDrops is only implemented on Linux.
func socketDrops(net.PacketConn) (uint64, bool) { return 0, false }
