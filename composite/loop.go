package composite

import (
	"fmt"
	"strings"
	"time"

	"github.com/miksilo/miksilo/internal/gst"
	me "github.com/miksilo/miksilo/mediaelements"
)

// retryAfter is how long a port whose input bin failed waits before a new
// bin is built for it.
const retryAfter = 500 * time.Millisecond

// loop is the Composite's one goroutine: it owns the pipeline's graph
// (input bins, compositor pads), the layout, merged keyframe requests,
// bus errors and the input and output watchdogs. It wakes on every change
// (wake) and every tick.
func (c *Composite) loop() {
	defer close(c.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	owners := map[string]*port{} // input bin prefix → port
	for {
		select {
		case <-c.stop:
			c.mu.Lock()
			ports := append(append([]*port(nil), c.ports...), c.removed...)
			c.mu.Unlock()
			for _, p := range ports {
				p.src.Store(nil)
				if p.bin != nil {
					c.set.Metrics.inputUp(-1) // the bins go with the pipeline (Close)
				}
			}
			return
		case m := <-c.busMsgs:
			c.onBusMessage(m, owners)
		case fn := <-c.calls:
			fn()
		case <-c.kick:
		case <-t.C:
		}
		c.turn(owners)
	}
}

func (c *Composite) turn(owners map[string]*port) {
	type portState struct {
		p     *port
		codec string
	}
	c.mu.Lock()
	removed := c.removed
	c.removed = nil
	states := make([]portState, len(c.ports))
	for i, p := range c.ports {
		states[i] = portState{p: p, codec: p.codec}
	}
	custom := c.custom
	kf := c.kfDue && time.Since(c.lastKF) >= keyframeInterval
	if kf {
		c.kfDue = false
		c.lastKF = time.Now()
	}
	c.mu.Unlock()
	if kf {
		gst.ForceKeyUnit(c.enc)
	}

	for _, p := range removed {
		c.dropBin(p, owners)
	}
	c.startAudio()
	now := c.now()
	var active []string
	for _, s := range states {
		p := s.p
		last := p.lastPacket.Load()
		codec := s.codec
		if codec == "" {
			codec = CodecVP8 // undeclared: the usual WebRTC codec
		}
		recent := last != 0 && time.Duration(now-last) < c.set.InputTimeout
		if p.bin != nil && (p.bin.codec != codec || !recent) {
			// A stopped input leaves the compositor entirely: a pad that
			// had data and stops would make the compositor wait for it
			// until its deadline on every frame (a visible output gap
			// when it stops, and latency while it stays).
			c.dropBin(p, owners)
			if !recent {
				c.log.Debug("composite: input inactive", "port", p.id)
			}
		}
		if p.bin == nil && recent && now >= p.retryAt {
			c.nextBin++
			prefix := fmt.Sprintf("p%d", c.nextBin)
			ib, err := addInput(c.pipe, c.mix, prefix, codec, func() {
				p.kfAsked.Store(true)
				c.wake()
			})
			if err != nil {
				p.retryAt = now + int64(retryAfter)
				c.EmitError("STREAM_ERROR_FAILED", me.CodeUnexpected, fmt.Sprintf("Composite: cannot add the input of %s: %v", p.id, err))
			} else {
				p.bin = ib
				c.set.Metrics.inputUp(1)
				owners[prefix] = p
				p.src.Store(ib.src)
				p.kfAsked.Store(true) // a new decoder starts with a keyframe
				c.log.Debug("composite: input added", "port", p.id, "codec", codec, "bin", prefix)
			}
		}
		isActive := p.bin != nil && recent
		if p.kfAsked.Swap(false) && p.bin != nil {
			p.hp.Input(me.Video, "default").RequestKeyframe() // rate-limited by the source's Output
		}
		if isActive {
			active = append(active, p.id)
		}
	}
	placement := Place(active, custom, c.set.Width, c.set.Height)
	for _, s := range states {
		if s.p.bin == nil {
			continue
		}
		if r, ok := placement[s.p.id]; ok {
			s.p.bin.place(c.pads, &r)
		} else {
			s.p.bin.place(c.pads, nil)
		}
	}
	c.mu.Lock()
	c.applied = placement
	c.mu.Unlock()
	c.gateEncoder(now)
	c.watchOutput(now, owners)
}

// dropBin removes a port's input bin from the running pipeline.
func (c *Composite) dropBin(p *port, owners map[string]*port) {
	if p.bin == nil {
		return
	}
	p.src.Store(nil)
	delete(owners, p.bin.prefix)
	c.pads.forget(p.bin)
	p.bin.remove(c.pipe, c.mix)
	c.log.Debug("composite: input removed", "port", p.id, "bin", p.bin.prefix)
	p.bin = nil
	c.set.Metrics.inputUp(-1)
}

// watchOutput raises an Error event when the encoder stops producing, and
// logs the pipeline latency once frames flow (it is known once the
// compositor has negotiated).
func (c *Composite) watchOutput(now int64, owners map[string]*port) {
	last := c.lastOutput.Load()
	if last != 0 && c.latency.Load() == 0 {
		if lat, live := pipelineLatency(c.pipe); live && lat > 0 {
			c.latency.Store(int64(lat))
			c.log.Debug("composite: pipeline latency", "latency", lat, "framerate", c.set.Framerate)
		}
	}
	if c.idle.Load() {
		return // nothing is encoded on purpose (idle.go)
	}
	var idle time.Duration
	switch {
	case c.resumedAt > last:
		idle = time.Duration(now - c.resumedAt) // fed again after an idle spell
	case last == 0:
		idle = time.Duration(now) - 2*stallTimeout // allow for start-up
	default:
		idle = time.Duration(now - last)
	}
	switch {
	case idle > stallTimeout && !c.stalled:
		c.stalled = true
		c.set.Metrics.stall()
		c.log.Error("composite: output stalled", "idle", idle)
		c.EmitError("STREAM_ERROR_FAILED", me.CodeUnexpected, fmt.Sprintf("Composite: no output frame for %v", idle.Round(time.Millisecond)))
	case idle <= stallTimeout && c.stalled:
		c.stalled = false
		c.log.Info("composite: output flowing again")
	}
	if c.stalled && idle > restartAfter && time.Duration(now-c.restartAt) > restartAfter {
		c.restartVideo(now, owners)
	}
}

// inLoop runs fn on the loop's goroutine, which owns the pipeline, and
// waits for it (diagnostics and tests). False if the Composite is closed.
func (c *Composite) inLoop(fn func()) bool {
	done := make(chan struct{})
	select {
	case c.calls <- func() { fn(); close(done) }:
	case <-c.done:
		return false
	}
	select {
	case <-done:
		return true
	case <-c.done:
		return false
	}
}

// restartAfter is how long the output may stay stalled before the video
// pipeline is rebuilt (and the least time between two rebuilds).
const restartAfter = 2 * time.Second

// restartVideo rebuilds the video pipeline after a stall: GStreamer 1.22's
// live compositor has been seen (rarely, under load, with two inputs added
// a few ms apart) to stop producing for good without posting any error. The
// inputs are rebuilt by the next turns from their ports' packets and ask
// their sources for keyframes; the ports' outputs carry on, and every sink's
// Input keeps its SSRC and continuous numbering across the new payloader's
// stream (it sees a new upstream SSRC: a new segment).
func (c *Composite) restartVideo(now int64, owners map[string]*port) {
	c.restartAt = now
	c.restarts.Add(1)
	c.set.Metrics.restart()
	c.log.Warn("composite: rebuilding the video pipeline after a stall", "restart", c.restarts.Load())
	c.mu.Lock()
	ports := append(append([]*port(nil), c.ports...), c.removed...)
	c.mu.Unlock()
	for _, p := range ports {
		p.src.Store(nil) // packets wake the loop until a new bin exists
		if p.bin != nil {
			c.set.Metrics.inputUp(-1)
			p.bin.unprobe()
		}
		p.bin = nil // the bin dies with the old pipeline
		p.retryAt = 0
	}
	clear(owners)
	c.stopPipeline()
	c.latency.Store(0)
	if err := c.startPipeline(); err != nil {
		c.log.Error("composite: video pipeline rebuild failed", "err", err)
		c.EmitError("STREAM_ERROR_FAILED", me.CodeUnexpected, "Composite: rebuilding the stalled video pipeline failed: "+err.Error())
		return
	}
	c.mu.Lock()
	c.lastKF = time.Time{}
	c.mu.Unlock()
}

// onBusMessage handles an error from the pipeline: an input's element
// fails only that input (its bin is rebuilt); anything else is reported.
func (c *Composite) onBusMessage(m gst.Message, owners map[string]*port) {
	if m.Warning {
		return // logged by the bus reader
	}
	prefix, _, _ := strings.Cut(m.Source, "_")
	if p, ok := owners[prefix]; ok {
		c.set.Metrics.inputError()
		c.EmitError("STREAM_ERROR_DECODE", me.CodeUnexpected, fmt.Sprintf("Composite: input of %s failed (%s); restarting it", p.id, m.Error()))
		c.dropBin(p, owners)
		p.retryAt = c.now() + int64(retryAfter)
		return
	}
	if strings.HasPrefix(m.Source, "p") && strings.Contains(m.Source, "_") {
		return // a bin already removed: its last words
	}
	c.EmitError("STREAM_ERROR_FAILED", me.CodeUnexpected, "Composite: "+m.Error())
}
