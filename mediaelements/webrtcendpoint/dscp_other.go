//go:build !linux

package webrtcendpoint

import (
	"errors"
	"syscall"
)

// setTOS is only implemented on Linux.
func setTOS(syscall.Conn, int) error { return errors.New("DSCP marking is only supported on Linux") }
