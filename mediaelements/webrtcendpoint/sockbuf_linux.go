package webrtcendpoint

import (
	"net"
	"syscall"
	"unsafe"
)

// setSocketBuffers asks for size bytes of receive and send buffer on c and
// returns what the kernel granted (its accounting doubles the value asked
// for; the figures returned are halved back, comparable to size). Linux
// caps requests at net.core.rmem_max / wmem_max.
func setSocketBuffers(c net.PacketConn, size int) (rcv, snd int, err error) {
	err = controlFD(c, func(fd int) error {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, size); err != nil {
			return err
		}
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, size); err != nil {
			return err
		}
		var err error
		if rcv, err = syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF); err != nil {
			return err
		}
		snd, err = syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		return err
	})
	return rcv / 2, snd / 2, err
}

// soMeminfo is SO_MEMINFO (linux/socket.h); its result is an array of
// SK_MEMINFO_VARS (9) uint32, SK_MEMINFO_DROPS (8) the last.
const (
	soMeminfo     = 55
	skMeminfoVars = 9
	skMeminfoDrop = 8
)

// socketDrops returns how many datagrams the kernel dropped on c's socket
// (receive buffer full, or memory accounting).
func socketDrops(c net.PacketConn) (uint64, bool) {
	var info [skMeminfoVars]uint32
	err := controlFD(c, func(fd int) error {
		l := uint32(unsafe.Sizeof(info))
		if _, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, soMeminfo,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&l)), 0); errno != 0 {
			return errno
		}
		return nil
	})
	if err != nil {
		return 0, false
	}
	return uint64(info[skMeminfoDrop]), true
}
