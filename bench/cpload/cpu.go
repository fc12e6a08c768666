package main

import (
	"context"
	"time"

	"github.com/miksilo/miksilo/bench/internal/procstat"
)

// sampleCPU snapshots CPU time at from and at to and sends the usage in between (nil when /proc
// is unreadable or ctx ends first).
func sampleCPU(ctx context.Context, serverPID int, from, to time.Time) <-chan *procstat.Usage {
	out := make(chan *procstat.Usage, 1)
	go func() {
		defer close(out)
		wait := func(t time.Time) bool {
			timer := time.NewTimer(time.Until(t))
			defer timer.Stop()
			select {
			case <-timer.C:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if !wait(from) {
			return
		}
		a, err := procstat.TakeSnap(serverPID)
		if err != nil || !wait(to) {
			return
		}
		b, err := procstat.TakeSnap(serverPID)
		if err != nil {
			return
		}
		out <- procstat.Between(a, b)
	}()
	return out
}
