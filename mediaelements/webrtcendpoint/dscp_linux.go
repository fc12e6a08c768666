package webrtcendpoint

import (
	"syscall"
)

// setTOS sets the IPv4 TOS byte and, on IPv6 sockets, the traffic class.
func setTOS(c syscall.Conn, tos int) error {
	return controlFD(c, func(fd int) error {
		domain, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_DOMAIN)
		if err != nil {
			return err
		}
		if domain == syscall.AF_INET6 {
			// Dual-stack sockets send IPv4 too: mark that as well (fails
			// harmlessly on IPv6-only sockets).
			_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, syscall.IP_TOS, tos)
			return syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_TCLASS, tos)
		}
		return syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, syscall.IP_TOS, tos)
	})
}
