package webrtcendpoint

import "syscall"

// controlFD runs fn on the file descriptor of c, a socket (syscall.Conn).
func controlFD(c any, fn func(fd int) error) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return syscall.ENOTSOCK
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
