// Package composite is Kurento's Composite hub on GStreamer: every port's
// video is decoded and placed on one canvas, every port's audio is mixed,
// and the result is encoded once and sent out of every HubPort (see
// docs/composite.md).
package composite

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
	"github.com/pion/rtp"

	"github.com/miksilo/miksilo/composite/internal/audiomix"
	"github.com/miksilo/miksilo/internal/gst"
	me "github.com/miksilo/miksilo/mediaelements"
)

// Settings are a Composite's construction parameters.
type Settings struct {
	Width, Height int // canvas, pixels (Kurento default 800×600)
	Framerate     int // output frames per second (Kurento default 15)
	Codec         string
	Bitrate       int           // output bits per second
	Background    string        // "#RRGGBB"
	InputTimeout  time.Duration // no packets for this long: the input leaves the layout
	Log           *slog.Logger
	Metrics       *Metrics // nil: not counted

	background uint32
	// extraElements are factories required on top of the usual ones
	// (tests use it to simulate a missing plugin).
	extraElements []string
}

// Defaults of the constructor parameters.
const (
	DefaultWidth        = 800
	DefaultHeight       = 600
	DefaultFramerate    = 15
	DefaultBitrate      = 1_000_000
	DefaultBackground   = "#000000"
	DefaultInputTimeout = time.Second
)

// Validate fills defaults and checks ranges.
func (s *Settings) Validate() error {
	if s.Width == 0 {
		s.Width = DefaultWidth
	}
	if s.Height == 0 {
		s.Height = DefaultHeight
	}
	if s.Framerate == 0 {
		s.Framerate = DefaultFramerate
	}
	if s.Bitrate == 0 {
		s.Bitrate = DefaultBitrate
	}
	if s.Codec == "" {
		s.Codec = CodecVP8
	}
	if s.Background == "" {
		s.Background = DefaultBackground
	}
	if s.InputTimeout == 0 {
		s.InputTimeout = DefaultInputTimeout
	}
	switch {
	case s.Width < 16 || s.Width > 7680 || s.Width%2 != 0:
		return me.NewError(me.CodeIllegalParam, "width must be an even number of pixels from 16 to 7680, not %d", s.Width)
	case s.Height < 16 || s.Height > 4320 || s.Height%2 != 0:
		return me.NewError(me.CodeIllegalParam, "height must be an even number of pixels from 16 to 4320, not %d", s.Height)
	case s.Framerate < 1 || s.Framerate > 60:
		return me.NewError(me.CodeIllegalParam, "framerate must be from 1 to 60, not %d", s.Framerate)
	case s.Bitrate < 10_000 || s.Bitrate > 50_000_000:
		return me.NewError(me.CodeIllegalParam, "bitrate must be from 10000 to 50000000 bps, not %d", s.Bitrate)
	case s.InputTimeout < 50*time.Millisecond || s.InputTimeout > time.Minute:
		return me.NewError(me.CodeIllegalParam, "inputTimeout must be from 50 to 60000 ms, not %d", s.InputTimeout.Milliseconds())
	}
	switch c := strings.ToUpper(s.Codec); c {
	case CodecVP8, CodecH264:
		s.Codec = c
	default:
		return me.NewError(me.CodeIllegalParam, "codec must be VP8 or H264, not %q", s.Codec)
	}
	bg, err := parseColour(s.Background)
	if err != nil {
		return me.NewError(me.CodeIllegalParam, "background: %v", err)
	}
	s.background = bg
	return nil
}

func parseColour(s string) (uint32, error) {
	h, ok := strings.CutPrefix(s, "#")
	if !ok || len(h) != 6 {
		return 0, fmt.Errorf("%q is not a colour #RRGGBB", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a colour #RRGGBB", s)
	}
	return uint32(v), nil
}

// Codecs of the ports' pads.
var (
	vp8Codec  = me.Codec{MimeType: "video/VP8", ClockRate: 90000, PayloadType: PayloadVP8}
	h264Codec = me.Codec{MimeType: "video/H264", ClockRate: 90000, PayloadType: PayloadH264,
		Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	opusCodec = me.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2, PayloadType: 111, Fmtp: "minptime=10;useinbandfec=1"}
)

// videoAccepts lists what a port's video input decodes: VP8 and the usual
// H.264 profiles in both packetization modes.
func videoAccepts() []me.Codec {
	out := []me.Codec{vp8Codec}
	for _, prof := range []string{"42e01f", "42001f", "4d001f", "64001f"} {
		for _, mode := range []string{"1", "0"} {
			c := h264Codec
			c.Fmtp = "level-asymmetry-allowed=1;packetization-mode=" + mode + ";profile-level-id=" + prof
			out = append(out, c)
		}
	}
	return out
}

const (
	tick             = 50 * time.Millisecond
	keyframeInterval = 300 * time.Millisecond
	stallTimeout     = time.Second
)

// Composite is the hub.
type Composite struct {
	me.HubBase
	set   Settings
	log   *slog.Logger
	start time.Time

	pipe    *gst.Pipeline
	mix     *gogst.Element
	pads    *padBatch // the inputs' placements, applied per output frame
	enc     *gogst.Element
	sink    *gst.AppSink
	gate    *gogst.Element               // valve before the encoder: closed while no port has a sink (idle.go)
	pace    *gogst.Element               // identity before the gate: synchronised to the clock while it is closed
	latency atomic.Int64                 // ns; the pipeline's latency, queried by the loop once frames flow
	outputs atomic.Pointer[[]*me.Output] // video outputs of the ports (copy-on-write)
	// videoClock: the video output's RTP time against wall-clock time
	// (videoSenderClock), from the running pipeline.
	videoClock atomic.Pointer[me.SenderClock]

	mu      sync.Mutex // guards the fields below
	ports   []*port    // live ports in creation order
	removed []*port    // released ports whose bins the loop must drop
	custom  []Region   // setLayout; nil = automatic grid
	applied map[string]Region
	closed  bool
	kfDue   bool
	lastKF  time.Time
	nextBin int

	busMsgs chan gst.Message
	calls   chan func() // run on the loop (inLoop)
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}

	lastOutput atomic.Int64 // since start, ns
	outFrames  atomic.Uint64
	maxGap     atomic.Int64 // largest gap between output frames after the first, ns
	stalled    bool         // loop-owned
	restarts   atomic.Uint64
	restartAt  int64 // loop-owned: when the video pipeline was last rebuilt, since start
	// idle.go: the encoder is not fed (set by the loop, read by Stats);
	// loop-owned: since when no port has had a sink (0: one has), when the
	// encoder was last fed again.
	idle      atomic.Bool
	idleSince int64
	resumedAt int64

	audioState // the audio mixer and the ports' audio settings (audio.go)
	closeOnce  sync.Once
}

// port is the Composite's state for one HubPort.
type port struct {
	hp    *me.HubPort
	id    string
	start time.Time // the Composite's

	lastPacket atomic.Int64 // since Composite start, ns; 0 = never
	src        atomic.Pointer[gst.AppSrc]
	// handler-only (the Input runs one handler at a time): the packets of
	// the frame being received, marshalled back to back, pushed as one
	// buffer list when the frame's last packet (marker) arrives.
	frame     []byte
	frameEnds []int32
	frameTS   uint32
	frameSrc  *gst.AppSrc
	kfAsked   atomic.Bool

	// guarded by Composite.mu
	codec string // declared by the source; "" = unknown (VP8 assumed)

	// loop-owned
	bin     *inputBin
	retryAt int64 // since Composite start, ns
	wake    func()
}

// New builds and starts a Composite. in comes from the store.
func New(in me.ObjectInit, s Settings) (*Composite, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := gst.Require(append(requiredElements(s.Codec), s.extraElements...)...); err != nil {
		return nil, me.NewError(me.CodeNotAvailable, "Composite: %v", err)
	}
	if err := audiomix.Require(); err != nil { // the mixer itself starts with the first audio packet
		return nil, me.NewError(me.CodeNotAvailable, "Composite audio: %v", err)
	}
	c := &Composite{set: s, start: time.Now(), applied: map[string]Region{},
		busMsgs: make(chan gst.Message, 64), calls: make(chan func()), kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	c.audioPorts = map[string]*audioPort{}
	c.Init(in)
	c.log = orDiscard(s.Log).With("object", in.ID)
	c.outputs.Store(&[]*me.Output{})
	if err := c.startPipeline(); err != nil {
		return nil, err
	}
	go c.loop()
	return c, nil
}

// inputNice is the nice value of the inputs' decoding threads. When the CPU
// is short (a burst of joins: new decoders starting on key frames, DTLS
// handshakes, pipeline changes), every runnable thread gets an equal share,
// and the output frame, due every 33 ms, waited for its share behind them:
// the soak saw output gaps of 100–400 ms on one CPU (2–26 in 150 s runs).
// At nice 5 a decoder weighs about a third of the compositor and encoder,
// which then finish their frame first; a starved decoder only makes its own
// input skip a frame (the compositor takes the newest it has). Without
// contention it changes nothing. (0 gaps in the same runs.)
const inputNice = 5

func (c *Composite) startPipeline() error {
	p, err := gst.Parse("composite", mixerLaunch(c.set), c.log)
	if err != nil {
		return me.NewError(me.CodeUnexpected, "Composite pipeline: %v", err)
	}
	els, err := p.Elements("enc", "out", "gate", "pace")
	if err != nil {
		p.Close()
		return me.NewError(me.CodeUnexpected, "Composite pipeline: %v", err)
	}
	mix, err := newCompositor(p, c.set)
	if err != nil {
		p.Close()
		return me.NewError(me.CodeUnexpected, "Composite pipeline: %v", err)
	}
	pads, err := newPadBatch(mix)
	if err != nil {
		p.Close()
		return me.NewError(me.CodeUnexpected, "Composite pipeline: %v", err)
	}
	// Input decoding threads (owned by each input's appsrc, p<N>_src) yield
	// to the compositor and encoder when the CPU is short: see inputNice.
	if err := p.SetThreadNice(gst.ThreadNice{Prefix: "p", Suffix: "_src", Nice: inputNice}); err != nil {
		p.Close()
		return me.NewError(me.CodeUnexpected, "Composite pipeline: %v", err)
	}
	c.pipe, c.mix, c.pads = p, mix, pads
	c.mu.Lock() // requestKeyframe reads enc from other goroutines
	c.enc = els[0]
	c.mu.Unlock()
	// A new pipeline's gate is open: the Composite is not idle (the
	// watchdog rebuilds only a pipeline that is fed, but keep the gauge
	// right whatever calls this).
	if c.idle.Swap(false) {
		c.set.Metrics.idle(-1)
	}
	c.gate, c.pace, c.idleSince = els[2], els[3], 0
	p.OnError(func(m gst.Message) {
		select {
		case c.busMsgs <- m:
		default: // the loop is behind; the message was logged by the bus reader
		}
	})
	if err := p.Start(); err == nil {
		err = p.WaitPlaying(5 * time.Second)
	}
	if err != nil {
		p.Close()
		return me.NewError(me.CodeUnexpected, "Composite pipeline did not start: %v", err)
	}
	if c.sink, err = gst.RunAppSinkBursts(els[1], c.outputOf(els[1])); err != nil {
		p.Close()
		return me.NewError(me.CodeUnexpected, "Composite pipeline: %v", err)
	}
	return nil
}

// stopPipeline stops the video pipeline and lets go of it: the inputs' probes
// and the compositor's signal handler hold Go callbacks in go-gst's and
// go-glib's process-wide tables, which would keep everything alive. Called
// from the loop (rebuild) or after it ended (Close).
func (c *Composite) stopPipeline() {
	if c.sink != nil {
		c.sink.Stop()
		c.sink = nil
	}
	c.pipe.Close()
	c.mu.Lock()
	ports := append(append([]*port(nil), c.ports...), c.removed...)
	c.mu.Unlock()
	for _, p := range ports {
		if p.bin != nil {
			p.bin.unprobe()
		}
	}
	c.pads.close()
}

func (c *Composite) now() int64 { return int64(time.Since(c.start)) }

// outputOf is the appsink handler of one video pipeline (sink is its
// appsink): the packets of each encoded frame go to every port's output
// as one burst (a viewer's packets of the frame leave in one sendmmsg),
// and the outputs' clock is kept up to date.
func (c *Composite) outputOf(sink *gogst.Element) func([]gst.Sample) {
	var clockAt time.Time // when the clock was last taken from this pipeline
	var pkts []rtp.Packet // reused: sinks keep payloads, not packets
	var ptrs []*rtp.Packet
	return func(ss []gst.Sample) {
		pkts, ptrs = pkts[:0], ptrs[:0]
		var pts time.Duration = -1
		for _, s := range ss {
			pkts = append(pkts, rtp.Packet{})
			if !c.parseOutput(s, &pkts[len(pkts)-1]) {
				pkts = pkts[:len(pkts)-1]
				continue
			}
			if s.PTS >= 0 {
				pts = s.PTS
			}
		}
		if len(pkts) == 0 {
			return
		}
		for i := range pkts {
			ptrs = append(ptrs, &pkts[i])
		}
		for _, o := range *c.outputs.Load() {
			o.WriteBurst(ptrs)
		}
		if last := pkts[len(pkts)-1]; pts >= 0 && time.Since(clockAt) >= clockRefresh {
			if rt := gst.RunningTime(sink); rt >= 0 {
				// The packets' timestamp is the payloader's offset plus their
				// buffer's running time (the canvas frame's); that running
				// time was rt-PTS ago.
				now := time.Now()
				c.videoClock.Store(&me.SenderClock{SSRC: last.SSRC, RTP: last.Timestamp, At: now.Add(pts - rt)})
				clockAt = now
			}
		}
	}
}

// clockRefresh is how often an output's SenderClock is taken afresh from
// the pipeline's clock (it moves only with the wall clock's slewing).
const clockRefresh = time.Second

// videoSenderClock is the SenderClock of the ports' video outputs: their
// timestamps against the time the canvas frame was composed, which is the
// arrival time of the input frames on it (the inputs are stamped on
// arrival). Receivers then line it up with the audio mix by when both
// were captured, not by when each left (the audio leaves later).
func (c *Composite) videoSenderClock() (me.SenderClock, bool) {
	sc := c.videoClock.Load()
	if sc == nil {
		return me.SenderClock{}, false
	}
	return *sc, true
}

// lateFrame: an output interval beyond it is logged (debug): a viewer sees a freeze.
const lateFrame = 100 * time.Millisecond

// parseOutput parses one RTP packet of the encoded canvas (on the appsink
// goroutine) and counts output frames and their gaps.
func (c *Composite) parseOutput(s gst.Sample, pkt *rtp.Packet) bool {
	if err := pkt.Unmarshal(s.Data); err != nil {
		c.log.Warn("composite: bad RTP from payloader", "err", err)
		return false
	}
	if pkt.Marker {
		c.set.Metrics.frame()
		now := c.now()
		if prev := c.lastOutput.Swap(now); prev != 0 && c.outFrames.Load() > 1 {
			gap := now - prev
			if gap > c.maxGap.Load() {
				c.maxGap.Store(gap)
			}
			c.set.Metrics.frameInterval(float64(gap) / 1e9)
			if time.Duration(gap) > lateFrame {
				c.log.Debug("composite: output frame late", "interval", time.Duration(gap), "pts", time.Duration(pkt.Timestamp)*time.Second/90000)
			}
		}
		c.outFrames.Add(1)
	}
	return true
}

// PortAdded implements mediaelements.PortObserver.
func (c *Composite) PortAdded(hp *me.HubPort) {
	p := &port{hp: hp, id: hp.ID(), start: c.start, wake: c.wake}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.ports = append(c.ports, p)
	c.mu.Unlock()

	vin := hp.Input(me.Video, "default")
	vin.Accept(videoAccepts()...)
	vin.OnCodec(func(codec me.Codec) {
		name := CodecVP8
		if strings.EqualFold(codec.MimeType, "video/H264") {
			name = CodecH264
		}
		c.mu.Lock()
		p.codec = name
		c.mu.Unlock()
		c.wake()
	})
	vin.SetHandler(p.onVideo)

	vout := hp.Output(me.Video, "default")
	if c.set.Codec == CodecH264 {
		vout.SetCodec(h264Codec)
	} else {
		vout.SetCodec(vp8Codec)
	}
	vout.OnKeyframeRequest(c.requestKeyframe)
	vout.SetClock(c.videoSenderClock)
	c.addOutput(vout)

	ain := hp.Input(me.Audio, "default")
	ain.Accept(opusCodec)
	aout := hp.Output(me.Audio, "default")
	aout.SetCodec(opusCodec)
	c.addAudio(p.id, ain, aout)
	c.wake()
}

// PortRemoved implements mediaelements.PortObserver: the port leaves the
// layout at the loop's next turn (woken now).
func (c *Composite) PortRemoved(hp *me.HubPort) {
	c.removeOutput(hp.Output(me.Video, "default"))
	c.removeAudio(hp.ID())
	c.mu.Lock()
	for i, p := range c.ports {
		if p.hp == hp {
			c.ports = append(c.ports[:i:i], c.ports[i+1:]...)
			c.removed = append(c.removed, p)
			break
		}
	}
	c.mu.Unlock()
	c.wake()
}

func (c *Composite) addOutput(o *me.Output) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.outputs.Load()
	next := append(old[:len(old):len(old)], o)
	c.outputs.Store(&next)
}

func (c *Composite) removeOutput(o *me.Output) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.outputs.Load()
	next := make([]*me.Output, 0, len(old))
	for _, x := range old {
		if x != o {
			next = append(next, x)
		}
	}
	c.outputs.Store(&next)
}

// onVideo is the port's video Input handler (the producer's goroutine).
// The packets of a frame are collected and queued together, without
// blocking, when its last one (RTP marker) arrives: the decoder cannot
// use a frame before that anyway, and one buffer list per frame costs one
// cgo call and one wake-up of the input's streaming thread instead of one
// per packet. A new timestamp also ends the frame being collected (its
// marker packet was lost: the depayloader drops what is incomplete).
func (p *port) onVideo(pkt *rtp.Packet) {
	p.lastPacket.Store(int64(time.Since(p.start)))
	src := p.src.Load()
	if src == nil {
		p.frame, p.frameEnds, p.frameSrc = p.frame[:0], p.frameEnds[:0], nil
		p.wake() // the loop builds the input bin
		return
	}
	if p.frameSrc != src { // a new input bin: what was collected for the old one goes
		p.frame, p.frameEnds, p.frameSrc = p.frame[:0], p.frameEnds[:0], src
	}
	if len(p.frameEnds) > 0 && pkt.Timestamp != p.frameTS {
		p.pushFrame()
	}
	start := len(p.frame)
	n := pkt.MarshalSize()
	p.frame = slices.Grow(p.frame, n)[:start+n]
	if _, err := pkt.MarshalTo(p.frame[start:]); err != nil {
		p.frame = p.frame[:start]
		return
	}
	p.frameEnds = append(p.frameEnds, int32(start+n))
	p.frameTS = pkt.Timestamp
	if pkt.Marker || len(p.frameEnds) >= maxFramePackets {
		p.pushFrame()
	}
}

// maxFramePackets bounds what onVideo collects for one frame (a 1.2 MB
// keyframe at the 1200-byte MTU).
const maxFramePackets = 1024

// pushFrame queues the collected packets; a full or stopping appsrc drops
// them: live media.
func (p *port) pushFrame() {
	_ = p.frameSrc.PushList(p.frame, p.frameEnds)
	p.frame, p.frameEnds = p.frame[:0], p.frameEnds[:0]
}

// requestKeyframe forces a keyframe from the encoder, at most once per
// keyframeInterval; requests in between are merged into one the loop
// sends when the interval ends.
func (c *Composite) requestKeyframe() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if time.Since(c.lastKF) < keyframeInterval {
		c.kfDue = true
		c.mu.Unlock()
		return
	}
	c.lastKF = time.Now()
	c.kfDue = false
	enc := c.enc
	c.mu.Unlock()
	gst.ForceKeyUnit(enc)
}

func (c *Composite) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// SetLayout replaces the automatic grid with regions (nil or empty: back to
// the grid). The loop applies it at once.
func (c *Composite) SetLayout(js string) error {
	regs, err := ParseLayout(js, c.set.Width, c.set.Height, func(id string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, p := range c.ports {
			if p.id == id {
				return true
			}
		}
		return false
	})
	if err != nil {
		return me.NewError(me.CodeIllegalParam, "setLayout: %v", err)
	}
	c.mu.Lock()
	c.custom = regs
	c.mu.Unlock()
	c.wake()
	return nil
}

// Regions is the placement currently applied, by port id (for tests and
// diagnostics).
func (c *Composite) Regions() map[string]Region {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Region, len(c.applied))
	for k, v := range c.applied {
		out[k] = v
	}
	return out
}

// Stats are output counters.
type Stats struct {
	Frames   uint64        // encoded frames sent
	MaxGap   time.Duration // largest time between two output frames
	Restarts uint64        // video pipelines rebuilt after a stall
	// Latency is the pipeline's latency (0 until frames flow): a frame
	// leaves the encoder this long after the start of its interval.
	Latency time.Duration
	// Idle: no port's output has a sink, so nothing is encoded (idle.go).
	Idle bool
}

// Stats returns the output counters.
func (c *Composite) Stats() Stats {
	return Stats{Frames: c.outFrames.Load(), MaxGap: time.Duration(c.maxGap.Load()), Restarts: c.restarts.Load(), Latency: time.Duration(c.latency.Load()), Idle: c.idle.Load()}
}

// Settings returns the validated construction settings.
func (c *Composite) Settings() Settings { return c.set }

// OnRelease stops the loop, the mixers and the pipeline (the ports have
// already been released: children go first).
func (c *Composite) OnRelease() { c.Close() }

// Close stops everything and waits. Safe to call more than once.
func (c *Composite) Close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.stop)
		<-c.done
		if c.idle.Load() {
			c.set.Metrics.idle(-1)
		}
		if am := c.audio.Load(); am != nil {
			am.Close()
		}
		c.stopPipeline()
	})
}
