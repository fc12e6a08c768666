//go:build linux

package main

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// pacer sleeps with microsecond precision. Go timers wake a process idling in the netpoller with
// millisecond granularity (epoll_wait takes a timeout in ms), which would make the open loop send up
// to ~1 ms late and charge that to the server. A one-shot timerfd registered with the same netpoller
// wakes the goroutine when the kernel's hrtimer fires instead.
type pacer struct {
	f   *os.File
	fd  uintptr // f's descriptor; f.Fd() would switch it to blocking mode
	buf [8]byte
}

const (
	clockMonotonic = 1
	tfdNonblock    = syscall.O_NONBLOCK
	tfdCloexec     = syscall.O_CLOEXEC
)

// newPacer falls back to time.Sleep when timerfd is unavailable.
func newPacer() *pacer {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if errno != 0 {
		return &pacer{}
	}
	return &pacer{f: os.NewFile(fd, "timerfd"), fd: fd}
}

func (p *pacer) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if p.f == nil {
		time.Sleep(d)
		return
	}
	spec := [2]syscall.Timespec{1: syscall.NsecToTimespec(int64(d))} // it_interval 0: one-shot
	if _, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, p.fd, 0,
		uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
		time.Sleep(d)
		return
	}
	if _, err := p.f.Read(p.buf[:]); err != nil {
		time.Sleep(d)
	}
}

func (p *pacer) close() {
	if p.f != nil {
		_ = p.f.Close()
	}
}
