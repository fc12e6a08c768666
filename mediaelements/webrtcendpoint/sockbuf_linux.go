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
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, 0, syscall.ENOTSOCK
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size); serr != nil {
			return
		}
		if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, size); serr != nil {
			return
		}
		if rcv, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF); serr != nil {
			return
		}
		snd, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	if err == nil {
		err = serr
	}
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
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info [skMeminfoVars]uint32
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		l := uint32(unsafe.Sizeof(info))
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, soMeminfo,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&l)), 0)
	})
	if err != nil || errno != 0 {
		return 0, false
	}
	return uint64(info[skMeminfoDrop]), true
}
