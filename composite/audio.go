package composite

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"

	"github.com/miksilo/miksilo/composite/internal/audiomix"
	me "github.com/miksilo/miksilo/mediaelements"
)

// Audio: each port's Opus goes into the mixer (package audiomix); what a
// port should hear (the shared mix, or its mix-minus) comes back as Opus
// RTP and leaves through the port's audio output.
//
// The mixer (a live GStreamer pipeline with an encoder per mix) starts with
// the first audio packet any port receives, not with the Composite: a
// video-only Composite never runs it. Until then the ports' settings
// (gain, mute, mix-minus) are only recorded; the loop starts the mixer,
// adds every port and applies them.

// audioState is the Composite's audio part.
type audioState struct {
	audio       atomic.Pointer[audiomix.Mixer] // nil until an audio packet arrives
	audioWanted atomic.Bool                    // a packet arrived (set once, from a handler)
	audioFailed bool                           // loop-owned: the mixer could not start

	audioMu    sync.Mutex // guards audioPorts and the mixer's port set
	audioPorts map[string]*audioPort
}

// audioPort is a port's audio settings, kept while the mixer is not running.
type audioPort struct {
	out      *me.Output
	gain     float64
	muted    bool
	mixMinus bool
}

func (c *Composite) addAudio(id string, in *me.Input, out *me.Output) {
	c.audioMu.Lock()
	c.audioPorts[id] = &audioPort{out: out, gain: 1}
	if am := c.audio.Load(); am != nil {
		c.addToMixer(am, id, c.audioPorts[id])
	}
	c.audioMu.Unlock()
	in.SetHandler(func(p *rtp.Packet) {
		if am := c.audio.Load(); am != nil {
			am.Push(id, p)
		} else if !c.audioWanted.Swap(true) {
			c.wake() // the loop starts the mixer
		}
	})
}

// addToMixer adds a port to the running mixer with its settings (audioMu held).
func (c *Composite) addToMixer(am *audiomix.Mixer, id string, ap *audioPort) {
	out := ap.out
	if err := am.AddInput(id, func(p *rtp.Packet) { out.WriteRTP(p) }); err != nil {
		c.log.Warn("composite: audio input not mixed", "port", id, "err", err)
		return
	}
	// The mix's timestamps against when its audio arrived, so receivers
	// line it up with the video (see Composite.videoSenderClock).
	clock := am.Clock(id)
	out.SetClock(func() (me.SenderClock, bool) {
		cl, ok := clock()
		return me.SenderClock{SSRC: cl.SSRC, RTP: cl.RTP, At: cl.At}, ok
	})
	for _, err := range []error{am.SetGain(id, ap.gain), am.SetMute(id, ap.muted), am.SetMixMinus(id, ap.mixMinus)} {
		if err != nil {
			c.log.Warn("composite: audio setting not applied", "port", id, "err", err)
		}
	}
}

func (c *Composite) removeAudio(id string) {
	c.audioMu.Lock()
	defer c.audioMu.Unlock()
	delete(c.audioPorts, id)
	if am := c.audio.Load(); am != nil {
		am.RemoveInput(id)
	}
}

// startAudio runs on the loop when the first audio packet has arrived.
func (c *Composite) startAudio() {
	if c.audioFailed || c.audio.Load() != nil || !c.audioWanted.Load() {
		return
	}
	am, err := audiomix.New(audiomix.Config{Log: c.log.With("part", "audiomix"), OnError: func(err error) {
		c.EmitError("STREAM_ERROR_FAILED", me.CodeUnexpected, "Composite audio: "+err.Error())
	}})
	if err != nil {
		c.audioFailed = true
		c.log.Error("composite: audio mixer did not start", "err", err)
		c.EmitError("STREAM_ERROR_FAILED", me.CodeUnexpected, "Composite audio mixer: "+err.Error())
		return
	}
	c.audioMu.Lock()
	for id, ap := range c.audioPorts {
		c.addToMixer(am, id, ap)
	}
	c.audio.Store(am)
	c.audioMu.Unlock()
	c.log.Debug("composite: audio mixer started")
}

func (c *Composite) portOf(o me.Object) (*me.HubPort, error) {
	hp, ok := o.(*me.HubPort)
	if !ok || hp.HubOf() != me.Hub(c) {
		id := "?"
		if o != nil {
			id = o.Base().ID()
		}
		return nil, me.NewError(me.CodeIllegalParam, "'port' %s is not a port of %s", id, c.ID())
	}
	return hp, nil
}

func audioErr(method string, err error) error {
	if err == nil {
		return nil
	}
	if de := me.AsError(err); de != nil {
		return de
	}
	return me.NewError(me.CodeIllegalParam, "%s: %v", method, err)
}

// withAudioPort records a setting of hp's audio and, when the mixer runs,
// applies it there.
func (c *Composite) withAudioPort(method string, hp *me.HubPort, set func(*audioPort), apply func(*audiomix.Mixer, string) error) error {
	c.audioMu.Lock()
	defer c.audioMu.Unlock()
	ap, ok := c.audioPorts[hp.ID()]
	if !ok {
		return audioErr(method, fmt.Errorf("%w: %q", audiomix.ErrUnknownInput, hp.ID()))
	}
	set(ap)
	if am := c.audio.Load(); am != nil {
		return audioErr(method, apply(am, hp.ID()))
	}
	return nil
}

// SetMixMinus leaves the port's own audio out of what it receives.
func (c *Composite) SetMixMinus(hp *me.HubPort, on bool) error {
	return c.withAudioPort("setMixMinus", hp, func(ap *audioPort) { ap.mixMinus = on },
		func(am *audiomix.Mixer, id string) error { return am.SetMixMinus(id, on) })
}

// SetGain sets the port's audio gain (linear, 0..10).
func (c *Composite) SetGain(hp *me.HubPort, gain float64) error {
	if math.IsNaN(gain) || gain < 0 || gain > 10 {
		return me.NewError(me.CodeIllegalParam, "setGain: gain must be from 0 to 10, not %v", gain)
	}
	return c.withAudioPort("setGain", hp, func(ap *audioPort) { ap.gain = gain },
		func(am *audiomix.Mixer, id string) error { return am.SetGain(id, gain) })
}

// SetMute mutes or unmutes the port's audio in the mix.
func (c *Composite) SetMute(hp *me.HubPort, muted bool) error {
	return c.withAudioPort("setMute", hp, func(ap *audioPort) { ap.muted = muted },
		func(am *audiomix.Mixer, id string) error { return am.SetMute(id, muted) })
}
