package composite

import (
	"time"

	"github.com/miksilo/miksilo/internal/gst"
)

// An idle Composite encodes nothing. While no port's video output has a
// sink (nobody is connected to the Composite's output: a room created
// before its audience, or whose viewers all left), composing and encoding
// the canvas is work for no one — 12–15 % of a CPU at 720p30, almost all
// of it the encoder (docs/composite.md). After idleAfter without a sink the
// loop closes a valve between the compositor and the encoder; the
// compositor keeps running on the clock (inputs stay placed, the output's
// caps and timing stay negotiated), only its frames are dropped before the
// encoder. The first sink to attach reopens it with a keyframe, at the
// loop's next turn: the encoder carries on where it was, its timestamps
// moved on by the time it was idle. The output watchdog ignores the idle
// spell, and frame gaps are counted from the first frame after it.

// idleAfter is how long the outputs must have had no sink before the
// encoder stops being fed (so a viewer reconnecting does not flap it).
const idleAfter = 2 * time.Second

// gateEncoder opens or closes the valve before the encoder (loop-owned).
func (c *Composite) gateEncoder(now int64) {
	consumed := false
	for _, o := range *c.outputs.Load() {
		if o.Attached() > 0 {
			consumed = true
			break
		}
	}
	switch {
	case consumed:
		c.idleSince = 0
		if c.idle.Swap(false) {
			c.resumedAt = now
			c.lastOutput.Store(0) // the gap across the idle spell is not one
			c.gate.SetProperty("drop", false)
			c.pace.SetProperty("sync", false)
			gst.ForceKeyUnit(c.enc)
			c.set.Metrics.idle(-1)
			c.log.Debug("composite: output has a sink, encoding again")
		}
	case c.idle.Load():
	case c.stalled:
		c.idleSince = 0 // the watchdog rebuilds a stalled pipeline first
	case c.idleSince == 0:
		c.idleSince = now
	case time.Duration(now-c.idleSince) >= idleAfter:
		c.idle.Store(true)
		c.pace.SetProperty("sync", true)
		c.gate.SetProperty("drop", true)
		c.set.Metrics.idle(1)
		c.log.Debug("composite: no sink on any port, encoding stopped")
	}
}
