package webrtcendpoint

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"

	"github.com/miksilo/miksilo/internal/ntp"
	me "github.com/miksilo/miksilo/mediaelements"
)

// Sender reports that keep a source's audio and video in sync.
//
// A receiver lines up the audio and video of one source by their RTCP
// sender reports: each maps an RTP timestamp to a wall-clock (NTP) time.
// pion's report interceptor maps the last packet's timestamp to the time
// it was sent. That is right for media sent the moment it is sampled, and
// wrong for anything that delays one kind more than the other: the
// Composite's audio leaves ~55 ms after its video of the same instant (the
// audio mixer's deadline), so receivers kept that offset; a forwarded
// publisher's own reports (its capture clock) were lost altogether.
//
// So pion still writes the reports (when, packet and octet counts) and
// srTranslator, an interceptor placed before it, replaces their RTP time
// with the one the media plane derives from the source's own clock
// (mediaelements.Output.SetClock → Input.RTPTimeAt): the sampling time, on
// this sink's rewritten timestamps. A source without a clock, a switch not
// yet settled, or a result implausibly far from pion's (maxClockShift)
// leaves pion's value.

// maxClockShift bounds how far a source's clock may move a report's RTP
// time from pion's send-time value; beyond it the source clock is taken
// to be broken (a publisher's reports about another timeline) and pion's
// value stays.
const maxClockShift = 3 * time.Second

// sinkClock gives the RTP time a sending track's media sampled at t has,
// and the track's clock rate.
type sinkClock func(t time.Time) (rtpTime, clockRate uint32, ok bool)

// srTranslator is one peer connection's sender-report rewriter.
type srTranslator struct {
	interceptor.NoOp
	mu     sync.Mutex
	clocks map[uint32]sinkClock // by local SSRC
	count  *srCounts
}

// srCounts counts reports rewritten from a source clock / left as pion
// wrote them.
type srCounts struct{ translated, kept atomic.Uint64 }

func newSRTranslator(count *srCounts) *srTranslator {
	if count == nil {
		count = &srCounts{}
	}
	return &srTranslator{clocks: map[uint32]sinkClock{}, count: count}
}

// set registers the clock of the local stream ssrc (nil removes it).
func (t *srTranslator) set(ssrc uint32, c sinkClock) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c == nil {
		delete(t.clocks, ssrc)
		return
	}
	t.clocks[ssrc] = c
}

func (t *srTranslator) clock(ssrc uint32) sinkClock {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.clocks[ssrc]
}

// BindRTCPWriter wraps the writer the report interceptor (registered after
// this one) writes its sender reports through.
func (t *srTranslator) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, attrs interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				t.translate(sr)
			}
		}
		return w.Write(pkts, attrs)
	})
}

func (t *srTranslator) translate(sr *rtcp.SenderReport) {
	c := t.clock(sr.SSRC)
	if c == nil {
		return
	}
	ts, rate, ok := c(ntp.Time(sr.NTPTime))
	if !ok || rate == 0 {
		t.count.kept.Add(1)
		return
	}
	shift := int64(int32(ts - sr.RTPTime))
	if shift < 0 {
		shift = -shift
	}
	if time.Duration(shift)*time.Second/time.Duration(rate) > maxClockShift {
		t.count.kept.Add(1)
		return
	}
	sr.RTPTime = ts
	t.count.translated.Add(1)
}

// inputClock is the sinkClock of a sending track fed by in.
func inputClock(in *me.Input) sinkClock {
	return func(t time.Time) (uint32, uint32, bool) {
		c, ok := in.Codec()
		if !ok {
			return 0, 0, false
		}
		ts, ok := in.RTPTimeAt(t)
		return ts, c.ClockRate, ok
	}
}

// srTranslators hands each new peer connection's translator to its
// endpoint (under engine.pcMu, like the statistics getter).
type srTranslators struct{ g *engine }

func (f srTranslators) NewInterceptor(string) (interceptor.Interceptor, error) {
	t := newSRTranslator(&f.g.srCount)
	f.g.srHandoff = t
	return t, nil
}

// remoteClock is an inbound stream's SenderClock, from the remote
// sender's reports. Its NTP times are on the remote's clock, which may be
// off from ours by any amount; the endpoint's clockOffset moves them onto
// ours, the same for all of the endpoint's streams, so their relation
// (audio to video) is kept exactly.
type remoteClock struct {
	ssrc   uint32
	offset *clockOffset
	last   atomic.Pointer[me.SenderClock] // the last report, At on the remote's clock
}

// report takes a sender report of the stream, received at arrival.
func (r *remoteClock) report(sr *rtcp.SenderReport, arrival time.Time) {
	if sr.SSRC != r.ssrc || sr.NTPTime == 0 {
		return
	}
	at := ntp.Time(sr.NTPTime)
	r.offset.sample(arrival.Sub(at), arrival)
	r.last.Store(&me.SenderClock{SSRC: sr.SSRC, RTP: sr.RTPTime, At: at})
}

// get is the stream's SenderClock on this server's clock.
func (r *remoteClock) get() (me.SenderClock, bool) {
	c := r.last.Load()
	off, ok := r.offset.get()
	if c == nil || !ok {
		return me.SenderClock{}, false
	}
	moved := *c
	moved.At = c.At.Add(off)
	return moved, true
}

// clockOffset estimates how far the remote's NTP clock is behind ours:
// the least (arrival − NTP time) over the recent reports of all of an
// endpoint's inbound streams (network delay and its jitter only ever add;
// the least is the delay's floor plus the clocks' offset). Old samples age
// out, so a drifting or stepped remote clock is followed.
type clockOffset struct {
	mu      sync.Mutex
	samples []offsetSample
}

type offsetSample struct {
	d  time.Duration
	at time.Time
}

// offsetWindow is how long a report's offset sample counts.
const offsetWindow = 30 * time.Second

func (c *clockOffset) sample(d time.Duration, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := c.samples[:0]
	for _, s := range c.samples {
		if at.Sub(s.at) < offsetWindow {
			keep = append(keep, s)
		}
	}
	c.samples = append(keep, offsetSample{d, at})
}

func (c *clockOffset) get() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) == 0 {
		return 0, false
	}
	least := c.samples[0].d
	for _, s := range c.samples[1:] {
		least = min(least, s.d)
	}
	return least, true
}
