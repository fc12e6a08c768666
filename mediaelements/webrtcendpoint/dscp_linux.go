package webrtcendpoint

import (
	"syscall"
)

// setTOS sets the IPv4 TOS byte and, on IPv6 sockets, the traffic class.
func setTOS(c syscall.Conn, tos int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		domain, e := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN)
		if e != nil {
			serr = e
			return
		}
		if domain == syscall.AF_INET6 {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_TCLASS, tos)
			// Dual-stack sockets send IPv4 too: mark that as well (fails
			// harmlessly on IPv6-only sockets).
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS, tos)
			return
		}
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS, tos)
	})
	if err != nil {
		return err
	}
	return serr
}
