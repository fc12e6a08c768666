package mediaelements

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultFlowTimeout is how long a pad may go without packets before it
// reports NOT_FLOWING.
const DefaultFlowTimeout = 2 * time.Second

// flow tracks whether packets pass a pad. The packet path costs one atomic
// store and one atomic load; a timer exists only while media flows.
type flow struct {
	last     atomic.Int64 // unix nanoseconds of the last packet
	active   atomic.Bool
	mu       sync.Mutex
	timer    *time.Timer
	stopped  bool
	timeout  time.Duration
	onChange func(flowing bool)
}

// packetAt records a packet handled at now.
func (f *flow) packetAt(now time.Time) {
	f.last.Store(now.UnixNano())
	if f.active.Load() {
		return
	}
	f.mu.Lock()
	if f.active.Load() || f.stopped {
		f.mu.Unlock()
		return
	}
	f.active.Store(true)
	f.timer = time.AfterFunc(f.timeout, f.check)
	fn := f.onChange
	f.mu.Unlock()
	if fn != nil {
		fn(true)
	}
}

func (f *flow) check() {
	f.mu.Lock()
	if f.stopped || !f.active.Load() {
		f.mu.Unlock()
		return
	}
	idle := time.Since(time.Unix(0, f.last.Load()))
	if idle < f.timeout {
		f.timer.Reset(f.timeout - idle)
		f.mu.Unlock()
		return
	}
	f.active.Store(false)
	fn := f.onChange
	f.mu.Unlock()
	if fn != nil {
		fn(false)
	}
}

func (f *flow) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	if f.timer != nil {
		f.timer.Stop()
	}
}
