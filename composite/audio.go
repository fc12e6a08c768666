package composite

import (
	"github.com/pion/rtp"

	me "github.com/miksilo/miksilo/mediaelements"
)

// Audio: each port's Opus goes into the mixer (package audiomix); what a
// port should hear (the shared mix, or its mix-minus) comes back as Opus
// RTP and leaves through the port's audio output.

func (c *Composite) addAudio(id string, in *me.Input, out *me.Output) {
	if err := c.audio.AddInput(id, func(p *rtp.Packet) { out.WriteRTP(p) }); err != nil {
		c.log.Warn("composite: audio input not mixed", "port", id, "err", err)
		return
	}
	in.SetHandler(func(p *rtp.Packet) { c.audio.Push(id, p) })
}

func (c *Composite) removeAudio(id string) { c.audio.RemoveInput(id) }

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

// SetMixMinus leaves the port's own audio out of what it receives.
func (c *Composite) SetMixMinus(hp *me.HubPort, on bool) error {
	return audioErr("setMixMinus", c.audio.SetMixMinus(hp.ID(), on))
}

// SetGain sets the port's audio gain (linear, 0..10).
func (c *Composite) SetGain(hp *me.HubPort, gain float64) error {
	if gain < 0 || gain > 10 {
		return me.NewError(me.CodeIllegalParam, "setGain: gain must be from 0 to 10, not %v", gain)
	}
	return audioErr("setGain", c.audio.SetGain(hp.ID(), gain))
}

// SetMute mutes or unmutes the port's audio in the mix.
func (c *Composite) SetMute(hp *me.HubPort, muted bool) error {
	return audioErr("setMute", c.audio.SetMute(hp.ID(), muted))
}
