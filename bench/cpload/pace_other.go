//go:build !linux

package main

import "time"

// pacer is time.Sleep outside Linux (millisecond-grade wake-ups when the process is idle).
type pacer struct{}

func newPacer() *pacer { return &pacer{} }

func (*pacer) sleep(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

func (*pacer) close() {}
