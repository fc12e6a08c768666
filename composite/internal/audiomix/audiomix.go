// Package audiomix is the Composite's audio mixer: Opus RTP in per port,
// Opus RTP out per port, mixed live in one GStreamer pipeline.
//
// # Graph
//
// One live pipeline (internal/gst) holds:
//
//	audiotestsrc is-live wave=silence ! F32 48k stereo ! tee "silence"
//
//	per input (a "chain", elements named in<N>-…):
//	  appsrc (live, do-timestamp, block=false, leaky) ! rtpjitterbuffer latency=20ms do-lost
//	  ! rtpopusdepay ! opusdec plc max-errors=0 ! audioconvert ! audioresample ! F32 48k stereo ! tee
//
//	per mix (a "mixOut", elements named mix<N>-…):
//	  audiomixer (force-live, start-time first, 20 ms blocks, + pacer pad) ! F32 48k stereo
//	  ! audioconvert (to S16 for opusenc, no dither) ! opusenc 64 kb/s 20 ms ! rtpopuspay pt=111 ! appsink
//
//	branches: tee ! queue (leaky, 200 ms) ! audiomixer request pad
//
// There is always one mixOut, the main mix, fed by the silence tee and every
// input. A port with mix-minus on gets a mixOut of its own fed by the
// silence tee and every input except its own. Ports without mix-minus share
// the main mix's single encode: its packets are fanned out in Go. Gain and
// mute are the audiomixer sink pads' volume/mute, set on every branch of the
// input (so they apply in every mix). Each mixer always has the silent live
// source, so output flows with zero inputs.
//
// # Timing
//
// Every audiomixer runs live (force-live) and has one extra request pad
// that is never linked (the "pacer"), so it never finds all pads ready and
// always produces a block when its deadline passes: running time of the
// block's end + latency, where latency = max(upstream latency,
// min-upstream-latency 40 ms) + 20 ms; measured about 85 ms from a block's
// start to its packet at the appsink. So an input whose packets stop is
// simply missing from the mix from then on (nothing ever waits for it),
// inputs joining or leaving never change the output's pacing, and all
// mixers emit the same block at the same moment, which keeps switching a
// port between mixes seamless. Input packets are stamped on arrival
// (appsrc do-timestamp) and smoothed by the jitter buffer (20 ms); data
// arriving after the deadline is dropped by the mixer (a dropout for that
// input only).
//
// # Dynamic changes
//
// All graph changes run under one mutex (m.mu). Adding: elements are added
// and linked, then set to the pipeline's state downstream first, and only
// then is the branch linked to its tee (so data never reaches an element
// that is not PLAYING). Removing an input: its appsrc is withdrawn from Push
// (pushMu), the chain and its queues go to NULL upstream first, then the
// mixer pads are released and the elements removed. Removing a mixOut: its
// appsink loop is stopped, the tee request pads feeding it are released
// (tee handles that while streaming), then its elements go to NULL and are
// removed. The audiomixers keep running throughout; a removed pad is just
// no longer mixed.
//
// # Errors
//
// Push drops malformed Opus packets (RFC 6716 §3.2 checks, the same ones
// libopus applies), so garbage on one input is a gap for its jitter buffer
// and nothing else. Bus errors are handed (non-blocking) to a supervisor
// goroutine. An error from an input's chain (a decoder failing) is reported
// through Config.OnError and the chain is rebuilt, so the input comes back
// with its next packets; the other inputs never notice. An error from a
// mix (mixer, encoder, payloader) rebuilds that mix in the same way, its
// ports keeping their output streams. Errors from elements already removed
// are ignored.
//
// # Output streams
//
// Each port has one sender with its own SSRC and sequence counter.
// Timestamps come from the mix buffers' running time (PTS × 48 kHz plus a
// random base): every mixer runs on the same pipeline clock, so switching
// a port between the main mix and its own mix-minus keeps timestamps on one
// timeline; sequence numbers just count up. When mix-minus is switched on
// the port keeps the main mix until its own mix delivers a packet that
// follows on (within two frames) from the last one sent; when it is
// switched off the port takes the main mix at once. Packets whose
// timestamp would not advance are dropped at a switch.
package audiomix

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/pion/rtp"

	igst "github.com/miksilo/miksilo/internal/gst"
	"github.com/miksilo/miksilo/internal/opus"
)

const (
	// PayloadType of the Opus RTP the mixer sends.
	PayloadType = 111
	// ClockRate of the Opus RTP clock.
	ClockRate = 48000
	// MaxGain is the largest linear gain SetGain accepts.
	MaxGain = 10.0

	rawCaps = "audio/x-raw,format=F32LE,rate=48000,channels=2,layout=interleaved"
	rtpCaps = "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111"

	jitterLatencyMS = 20
	mixLatency      = 20 * time.Millisecond // margin for late inputs beyond their reported latency
	minUpstream     = 40 * time.Millisecond // ≥ jitter buffer + decode, for inputs added later
	blockDuration   = 20 * time.Millisecond // audiomixer output block (= one Opus frame)
	branchQueue     = 200 * time.Millisecond
	// decoderMaxErrors: opusdec fails at its first decoding error, and the
	// chain is rebuilt. Push already drops malformed packets, so this is
	// rare; skipping errors instead would leave the decoder stamping every
	// later buffer too early (GstAudioDecoder keeps the failed frames'
	// timestamps), and the mixer would drop that input as late for good.
	decoderMaxErrors = 0
	bitrate          = 64000

	frameTicks = int32(blockDuration * ClockRate / time.Second) // 960
)

var requiredPlugins = []string{
	"audiotestsrc", "tee", "queue", "audiomixer", "capsfilter", "opusenc", "opusdec",
	"rtpopuspay", "rtpopusdepay", "rtpjitterbuffer", "appsrc", "appsink", "audioconvert", "audioresample",
}

// Require reports the GStreamer elements New needs that are missing, so a
// caller that starts the mixer later can check them up front.
func Require() error { return igst.Require(requiredPlugins...) }

// Config holds the mixer's dependencies.
type Config struct {
	Log *slog.Logger
	// OnError is told about failures the mixer recovers from on its own
	// (an input's decoder failed and was restarted, …). It runs on a
	// goroutine of the mixer's and must not block or call back into it.
	OnError func(error)
}

// Mixer mixes Opus RTP inputs into one Opus RTP stream per port.
type Mixer struct {
	log     *slog.Logger
	onError func(error)
	pipe    *igst.Pipeline
	silence *gst.Element // tee after the live silent source

	mu     sync.Mutex // graph changes and port state
	closed bool
	ports  map[string]*port
	main   *mixOut
	named  map[string]any // element-name prefix → *chain or *mixOut currently in the graph
	nextID int

	pushMu  sync.RWMutex
	srcs    map[string]*igst.AppSrc // id → appsrc of its current chain
	invalid atomic.Uint64           // malformed Opus packets dropped by Push

	failures chan igst.Message // bus goroutine → supervisor
	stop     chan struct{}
	done     chan struct{}
}

type port struct {
	id       string
	gain     float64
	muted    bool
	mixMinus bool
	chain    *chain  // nil only while being rebuilt
	mm       *mixOut // own mix-minus output while mixMinus
	out      *sender
}

// chain is one input's decoding chain up to its tee, with its branches.
type chain struct {
	prefix string
	elems  []*gst.Element // appsrc … tee, upstream first
	tee    *gst.Element
	src    *igst.AppSrc
	feeds  map[*mixOut]*branch
}

// branch feeds a mixer from a tee through a queue.
type branch struct {
	tee    *gst.Element
	teePad *gst.Pad
	queue  *gst.Element
	mixer  *gst.Element
	mixPad *gst.Pad
}

// mixOut is one audiomixer with its encoder and appsink.
type mixOut struct {
	prefix  string
	elems   []*gst.Element // audiomixer … appsink, upstream first
	mixer   *gst.Element
	pacer   *gst.Pad // an unlinked mixer pad that never has data (see package doc)
	appsink *gst.Element
	sink    *igst.AppSink
	silence *branch
	subs    atomic.Pointer[[]*sender]

	// Owned by the appsink goroutine (fanOut): the wall-clock time of
	// running time 0, taken afresh every clockRefresh.
	zero   time.Time
	zeroAt time.Time
}

// clockRefresh is how often a mix's running time is tied to the wall clock
// afresh (the tie moves only with the wall clock's slewing).
const clockRefresh = time.Second

// New builds the pipeline and starts it; the main mix flows (silence)
// before any input is added.
func New(cfg Config) (*Mixer, error) {
	if err := igst.Require(requiredPlugins...); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	onError := cfg.OnError
	if onError == nil {
		onError = func(error) {}
	}
	desc := fmt.Sprintf("audiotestsrc name=silence-src is-live=true wave=silence samplesperbuffer=%d ! capsfilter caps=%s ! tee name=silence allow-not-linked=true",
		int(blockDuration*ClockRate/time.Second), rawCaps)
	pipe, err := igst.Parse("audiomix", desc, log)
	if err != nil {
		return nil, err
	}
	silence, err := pipe.Element("silence")
	if err != nil {
		pipe.Close()
		return nil, err
	}
	m := &Mixer{
		log: log, onError: onError, pipe: pipe, silence: silence,
		ports: map[string]*port{}, named: map[string]any{}, srcs: map[string]*igst.AppSrc{},
		failures: make(chan igst.Message, 64), stop: make(chan struct{}), done: make(chan struct{}),
	}
	main, err := m.newMixOut(nil)
	if err != nil {
		pipe.Close()
		return nil, err
	}
	m.main = main
	pipe.OnError(func(msg igst.Message) {
		if msg.Warning {
			return
		}
		select {
		case m.failures <- msg:
		default: // a storm of errors: the first ones already trigger the restarts
		}
	})
	if err := pipe.Start(); err != nil {
		pipe.Close()
		return nil, err
	}
	if err := pipe.WaitPlaying(5 * time.Second); err != nil {
		pipe.Close()
		return nil, err
	}
	if err := m.startSink(main); err != nil {
		pipe.Close()
		return nil, err
	}
	go m.supervise()
	return m, nil
}

// AddInput adds a port: its input joins the main mix and every other port's
// mix-minus mix, and out starts receiving the main mix. out is called on a
// goroutine of the mixer's, must not block, must not modify the packet (the
// payload is shared between ports) and must not call back into the Mixer.
func (m *Mixer) AddInput(id string, out func(*rtp.Packet)) error {
	if out == nil {
		return ErrNilOutput
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, ok := m.ports[id]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateInput, id)
	}
	p := &port{id: id, gain: 1, out: newSender(out, m.main)}
	c, err := m.buildChain(p)
	if err != nil {
		return err
	}
	p.chain = c
	m.ports[id] = p
	addSub(m.main, p.out)
	return nil
}

// RemoveInput removes a port at once: its input leaves every mix and out is
// not called any more once RemoveInput returns. Unknown ids are ignored.
func (m *Mixer) RemoveInput(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.ports[id]
	if !ok || m.closed {
		return
	}
	delete(m.ports, id)
	p.out.close()
	removeSub(m.main, p.out)
	if p.chain != nil {
		m.teardownChain(p)
	}
	if p.mm != nil {
		m.removeMixOut(p.mm)
		p.mm = nil
	}
}

// Push queues an incoming Opus RTP packet of input id (any payload type).
// It never blocks on the pipeline, copies p and is safe from any goroutine.
// Packets for unknown ids and malformed Opus packets (see opus.Valid) are
// dropped.
func (m *Mixer) Push(id string, p *rtp.Packet) {
	if p == nil {
		return
	}
	if !opus.Valid(p.Payload) {
		m.invalid.Add(1)
		return
	}
	h := p.Header
	h.PayloadType = PayloadType
	h.Padding = false
	n := h.MarshalSize() + len(p.Payload)
	bp := pushBufs.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	buf := (*bp)[:n]
	if hn, err := h.MarshalTo(buf); err == nil {
		copy(buf[hn:], p.Payload)
		m.pushMu.RLock()
		if src := m.srcs[id]; src != nil {
			_ = src.Push(buf) // copies; a full queue drops its oldest packet
		}
		m.pushMu.RUnlock()
	}
	pushBufs.Put(bp)
}

var pushBufs = sync.Pool{New: func() any { b := make([]byte, 1500); return &b }}

// SetMixMinus switches id between the shared mix and a mix of everyone but
// itself. The output stream (SSRC, sequence numbers, timestamps) carries on.
func (m *Mixer) SetMixMinus(id string, on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	p, ok := m.ports[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownInput, id)
	}
	if p.mixMinus == on {
		return nil
	}
	if on {
		mo, err := m.newMixOut(p)
		if err != nil {
			return err
		}
		if err := m.startSink(mo); err != nil {
			m.removeMixOut(mo)
			return err
		}
		addSub(mo, p.out)
		p.out.switchTo(mo, false)
		p.mm = mo
	} else {
		p.out.switchTo(m.main, true)
		m.removeMixOut(p.mm)
		p.mm = nil
	}
	p.mixMinus = on
	return nil
}

// SetGain sets the linear gain (0..10) of id's input in every mix.
func (m *Mixer) SetGain(id string, gain float64) error {
	if math.IsNaN(gain) || gain < 0 || gain > MaxGain {
		return fmt.Errorf("%w: %v", ErrGain, gain)
	}
	return m.withPort(id, func(p *port) {
		p.gain = gain
		if p.chain != nil {
			for _, b := range p.chain.feeds {
				setPadLevel(b.mixPad, p.gain, p.muted)
			}
		}
	})
}

// SetMute silences (or restores) id's input in every mix.
func (m *Mixer) SetMute(id string, muted bool) error {
	return m.withPort(id, func(p *port) {
		p.muted = muted
		if p.chain != nil {
			for _, b := range p.chain.feeds {
				setPadLevel(b.mixPad, p.gain, p.muted)
			}
		}
	})
}

func (m *Mixer) withPort(id string, fn func(*port)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	p, ok := m.ports[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownInput, id)
	}
	fn(p)
	return nil
}

// Close stops the pipeline and every goroutine of the mixer and waits for
// them; no out function is called after it returns.
func (m *Mixer) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	var outs []*mixOut
	outs = append(outs, m.main)
	for _, p := range m.ports {
		p.out.close()
		if p.mm != nil {
			outs = append(outs, p.mm)
		}
	}
	m.mu.Unlock()

	close(m.stop)
	<-m.done
	m.pushMu.Lock()
	m.srcs = map[string]*igst.AppSrc{}
	m.pushMu.Unlock()
	for _, mo := range outs {
		if mo.sink != nil {
			mo.sink.Stop()
		}
	}
	m.pipe.Close()
}

// supervise handles bus errors off the bus goroutine.
func (m *Mixer) supervise() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		case msg := <-m.failures:
			if err := m.handleFailure(msg); err != nil {
				m.onError(err)
			}
		}
	}
}

func (m *Mixer) handleFailure(msg igst.Message) error {
	prefix, _, _ := strings.Cut(msg.Source, "-")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	switch obj := m.named[prefix].(type) {
	case *chain:
		var p *port
		for _, q := range m.ports {
			if q.chain == obj {
				p = q
			}
		}
		if p == nil {
			return nil
		}
		m.log.Warn("audiomix: input failed, restarting it", "input", p.id, "element", msg.Source, "err", msg.Text)
		m.teardownChain(p)
		c, err := m.buildChain(p)
		if err != nil {
			m.log.Error("audiomix: input restart failed", "input", p.id, "err", err)
			return fmt.Errorf("audiomix: input %q: %s; restart failed: %w", p.id, msg.Error(), err)
		}
		p.chain = c
		return fmt.Errorf("audiomix: input %q failed and was restarted: %s", p.id, msg.Error())
	case *mixOut:
		m.log.Warn("audiomix: mix failed, rebuilding it", "mix", obj.prefix, "element", msg.Source, "err", msg.Text)
		if err := m.rebuildMixOut(obj); err != nil {
			m.log.Error("audiomix: mix rebuild failed", "mix", obj.prefix, "err", err)
			return fmt.Errorf("audiomix: mix %s: %s; rebuild failed: %w", obj.prefix, msg.Error(), err)
		}
		return fmt.Errorf("audiomix: mix %s failed and was rebuilt: %s", obj.prefix, msg.Error())
	}
	return nil // an element already removed
}

// rebuildMixOut replaces a failed mix (the main mix or a port's mix-minus)
// with a new one; its ports carry on with the same output streams.
func (m *Mixer) rebuildMixOut(old *mixOut) error {
	var owner *port
	if old != m.main {
		for _, p := range m.ports {
			if p.mm == old {
				owner = p
			}
		}
		if owner == nil {
			return nil // already gone
		}
	}
	mo, err := m.newMixOut(owner)
	if err != nil {
		return err
	}
	if err := m.startSink(mo); err != nil {
		m.removeMixOut(mo)
		return err
	}
	for _, s := range *old.subs.Load() {
		addSub(mo, s)
		s.replace(old, mo)
	}
	if owner == nil {
		m.main = mo
	} else {
		owner.mm = mo
	}
	m.removeMixOut(old)
	return nil
}

// ---- graph building (callers hold m.mu) ----

func (m *Mixer) newName(kind string) string {
	m.nextID++
	return fmt.Sprintf("%s%d", kind, m.nextID)
}

// mk creates an element and sets properties given as key=value strings
// (deserialised by GStreamer, so enums, caps and numbers all work).
func mk(factory, name string, props ...string) (*gst.Element, error) {
	e, err := gst.NewElementWithName(factory, name)
	if err != nil {
		return nil, fmt.Errorf("audiomix: %s: %w", factory, err)
	}
	for _, kv := range props {
		k, v, _ := strings.Cut(kv, "=")
		e.SetArg(k, v)
	}
	return e, nil
}

func (m *Mixer) addLinked(elems []*gst.Element) error {
	if err := m.pipe.AddMany(elems...); err != nil {
		return fmt.Errorf("audiomix: add: %w", err)
	}
	for _, e := range elems {
		igst.Track(e.Object, igst.KindElement)
	}
	for i := 0; i+1 < len(elems); i++ {
		if err := elems[i].Link(elems[i+1]); err != nil {
			m.drop(elems)
			return fmt.Errorf("audiomix: link %s → %s: %w", elems[i].GetName(), elems[i+1].GetName(), err)
		}
	}
	return nil
}

// drop sets elements to NULL (in order) and removes them from the pipeline.
func (m *Mixer) drop(elems []*gst.Element) {
	for _, e := range elems {
		if err := e.SetState(gst.StateNull); err != nil {
			m.log.Warn("audiomix: element did not stop", "element", e.GetName(), "err", err)
		}
	}
	for _, e := range elems {
		if err := m.pipe.Remove(e); err != nil {
			m.log.Warn("audiomix: remove", "element", e.GetName(), "err", err)
		}
	}
}

func syncDownstreamFirst(elems []*gst.Element) {
	for i := len(elems) - 1; i >= 0; i-- {
		elems[i].SyncStateWithParent()
	}
}

// newMixOut builds a mixer with encoder and appsink, fed by the silence tee
// and every input except owner's (owner nil: the main mix, every input). The
// appsink loop is started separately (startSink) once the caller is ready.
func (m *Mixer) newMixOut(owner *port) (*mixOut, error) {
	prefix := m.newName("mix")
	mixer, err := gst.NewElementWithProperties("audiomixer", map[string]interface{}{
		"name": prefix + "-mixer", "force-live": true,
	})
	if err != nil {
		return nil, fmt.Errorf("audiomix: audiomixer: %w", err)
	}
	mixer.SetArg("latency", fmt.Sprint(int64(mixLatency)))
	mixer.SetArg("min-upstream-latency", fmt.Sprint(int64(minUpstream)))
	mixer.SetArg("output-buffer-duration", fmt.Sprint(int64(blockDuration)))
	mixer.SetArg("start-time-selection", "first")
	caps, err := mk("capsfilter", prefix+"-caps", "caps="+rawCaps)
	if err != nil {
		return nil, err
	}
	conv, err := mk("audioconvert", prefix+"-conv", "dithering=none") // F32 mix → S16 for opusenc
	if err != nil {
		return nil, err
	}
	enc, err := mk("opusenc", prefix+"-enc", fmt.Sprintf("bitrate=%d", bitrate), "frame-size=20", "audio-type=voice")
	if err != nil {
		return nil, err
	}
	pay, err := mk("rtpopuspay", prefix+"-pay", fmt.Sprintf("pt=%d", PayloadType))
	if err != nil {
		return nil, err
	}
	sink, err := mk("appsink", prefix+"-sink", "sync=false", "async=false", "max-buffers=50", "drop=true", "enable-last-sample=false")
	if err != nil {
		return nil, err
	}
	mo := &mixOut{prefix: prefix, mixer: mixer, appsink: sink, elems: []*gst.Element{mixer, caps, conv, enc, pay, sink}}
	if mo.pacer = mixer.GetRequestPad("sink_%u"); mo.pacer == nil {
		return nil, fmt.Errorf("audiomix: %s: no mixer pad", prefix)
	}
	mo.subs.Store(&[]*sender{})
	if err := m.addLinked(mo.elems); err != nil {
		return nil, err
	}
	syncDownstreamFirst(mo.elems)
	mo.silence, err = m.linkBranch(m.silence, mo, prefix+"-silence", 1, false)
	if err != nil {
		m.drop(mo.elems)
		return nil, err
	}
	for _, p := range m.ports {
		if p == owner || p.chain == nil {
			continue
		}
		b, err := m.linkBranch(p.chain.tee, mo, fmt.Sprintf("%s-q%s", p.chain.prefix, prefix), p.gain, p.muted)
		if err != nil {
			m.removeMixOut(mo)
			return nil, err
		}
		p.chain.feeds[mo] = b
	}
	m.named[prefix] = mo
	return mo, nil
}

func (m *Mixer) startSink(mo *mixOut) error {
	s, err := igst.RunAppSink(mo.appsink, func(s igst.Sample) { fanOut(mo, s) })
	mo.sink = s
	return err
}

// removeMixOut stops a mix-minus output and takes it out of the graph.
func (m *Mixer) removeMixOut(mo *mixOut) {
	delete(m.named, mo.prefix)
	if mo.sink != nil {
		mo.sink.Stop()
	}
	branches := []*branch{mo.silence}
	for _, p := range m.ports {
		if p.chain == nil {
			continue
		}
		if b, ok := p.chain.feeds[mo]; ok {
			branches = append(branches, b)
			delete(p.chain.feeds, mo)
		}
	}
	var queues []*gst.Element
	for _, b := range branches {
		if b == nil {
			continue
		}
		b.tee.ReleaseRequestPad(b.teePad) // the tee stops feeding this queue
		queues = append(queues, b.queue)
	}
	m.drop(append(queues, mo.elems...))
}

// linkBranch connects tee → new queue → new request pad of mo's mixer, with
// the input's gain and mute on that pad.
func (m *Mixer) linkBranch(tee *gst.Element, mo *mixOut, name string, gain float64, muted bool) (*branch, error) {
	q, err := mk("queue", name, "max-size-buffers=0", "max-size-bytes=0",
		fmt.Sprintf("max-size-time=%d", int64(branchQueue)), "leaky=downstream")
	if err != nil {
		return nil, err
	}
	if err := m.pipe.Add(q); err != nil {
		return nil, fmt.Errorf("audiomix: add %s: %w", name, err)
	}
	b := &branch{tee: tee, queue: q, mixer: mo.mixer}
	b.mixPad = mo.mixer.GetRequestPad("sink_%u")
	if b.mixPad == nil {
		m.drop([]*gst.Element{q})
		return nil, fmt.Errorf("audiomix: %s: no mixer pad", name)
	}
	setPadLevel(b.mixPad, gain, muted)
	if r := q.GetStaticPad("src").Link(b.mixPad); r != gst.PadLinkOK {
		mo.mixer.ReleaseRequestPad(b.mixPad)
		m.drop([]*gst.Element{q})
		return nil, fmt.Errorf("audiomix: link %s → mixer: %s", name, r)
	}
	q.SyncStateWithParent()
	b.teePad = tee.GetRequestPad("src_%u")
	if b.teePad == nil {
		m.dropBranch(b)
		return nil, fmt.Errorf("audiomix: %s: no tee pad", name)
	}
	if r := b.teePad.Link(q.GetStaticPad("sink")); r != gst.PadLinkOK {
		tee.ReleaseRequestPad(b.teePad)
		b.teePad = nil
		m.dropBranch(b)
		return nil, fmt.Errorf("audiomix: link tee → %s: %s", name, r)
	}
	return b, nil
}

func (m *Mixer) dropBranch(b *branch) {
	m.drop([]*gst.Element{b.queue})
	b.mixer.ReleaseRequestPad(b.mixPad)
}

func setPadLevel(pad *gst.Pad, gain float64, muted bool) {
	_ = pad.SetProperty("volume", gain)
	_ = pad.SetProperty("mute", muted)
}

// buildChain builds p's decoding chain and links it into the main mix and
// every other port's mix-minus mix, then makes its appsrc available to Push.
func (m *Mixer) buildChain(p *port) (*chain, error) {
	prefix := m.newName("in")
	type spec struct {
		factory string
		props   []string
	}
	specs := []spec{
		{"appsrc", []string{"is-live=true", "format=time", "do-timestamp=true", "block=false",
			"max-bytes=0", "max-buffers=25", "leaky-type=downstream", "caps=" + rtpCaps}},
		{"rtpjitterbuffer", []string{fmt.Sprintf("latency=%d", jitterLatencyMS), "do-lost=true"}},
		{"rtpopusdepay", nil},
		{"opusdec", []string{"plc=true", fmt.Sprintf("max-errors=%d", decoderMaxErrors)}},
		{"audioconvert", nil},
		{"audioresample", nil},
		{"capsfilter", []string{"caps=" + rawCaps}},
		{"tee", []string{"allow-not-linked=true"}},
	}
	c := &chain{prefix: prefix, feeds: map[*mixOut]*branch{}}
	for i, s := range specs {
		e, err := mk(s.factory, fmt.Sprintf("%s-%d%s", prefix, i, s.factory), s.props...)
		if err != nil {
			return nil, err
		}
		c.elems = append(c.elems, e)
	}
	c.tee = c.elems[len(c.elems)-1]
	if err := m.addLinked(c.elems); err != nil {
		return nil, err
	}
	// Branches first (their queues PLAYING, tee pads linked), then the chain
	// from its tee up to the appsrc.
	targets := []*mixOut{m.main}
	for _, q := range m.ports {
		if q != p && q.mm != nil {
			targets = append(targets, q.mm)
		}
	}
	for _, mo := range targets {
		b, err := m.linkBranch(c.tee, mo, fmt.Sprintf("%s-q%s", prefix, mo.prefix), p.gain, p.muted)
		if err != nil {
			m.dropChain(c)
			return nil, err
		}
		c.feeds[mo] = b
	}
	syncDownstreamFirst(c.elems)
	c.src = igst.NewAppSrc(c.elems[0])
	m.named[prefix] = c
	m.pushMu.Lock()
	m.srcs[p.id] = c.src
	m.pushMu.Unlock()
	return c, nil
}

// teardownChain takes p's input out of every mix at once.
func (m *Mixer) teardownChain(p *port) {
	c := p.chain
	p.chain = nil
	m.pushMu.Lock() // waits for pushes in flight into this appsrc
	if m.srcs[p.id] == c.src {
		delete(m.srcs, p.id)
	}
	m.pushMu.Unlock()
	delete(m.named, c.prefix)
	m.dropChain(c)
}

func (m *Mixer) dropChain(c *chain) {
	elems := append([]*gst.Element(nil), c.elems...)
	for _, b := range c.feeds {
		elems = append(elems, b.queue)
	}
	m.drop(elems) // upstream first: nothing pushes into a stopped element
	for _, b := range c.feeds {
		b.mixer.ReleaseRequestPad(b.mixPad)
	}
	c.feeds = map[*mixOut]*branch{}
}

// ---- output fan-out ----

func addSub(mo *mixOut, s *sender) {
	old := *mo.subs.Load()
	n := append(append(make([]*sender, 0, len(old)+1), old...), s)
	mo.subs.Store(&n)
}

func removeSub(mo *mixOut, s *sender) {
	old := *mo.subs.Load()
	n := make([]*sender, 0, len(old))
	for _, x := range old {
		if x != s {
			n = append(n, x)
		}
	}
	mo.subs.Store(&n)
}

// fanOut runs on mo's appsink goroutine for every encoded packet.
func fanOut(mo *mixOut, s igst.Sample) {
	var pkt rtp.Packet
	if err := pkt.Unmarshal(s.Data); err != nil {
		return
	}
	if now := time.Now(); now.Sub(mo.zeroAt) >= clockRefresh {
		if rt := igst.RunningTime(mo.appsink); rt >= 0 {
			mo.zero, mo.zeroAt = now.Add(-rt), now
		}
	}
	for _, snd := range *mo.subs.Load() {
		snd.deliver(mo, pkt.Payload, s.PTS)
	}
}

// sender is one port's output stream: one SSRC, its own sequence numbers,
// timestamps on the pipeline's running-time line.
type sender struct {
	mu     sync.Mutex
	out    func(*rtp.Packet)
	closed bool
	cur    *mixOut // forwarded now
	next   *mixOut // switch to it at its first packet
	ssrc   uint32
	seq    uint16
	tsBase uint32
	sent   bool
	lastTS uint32
	lastAt time.Time // when the media of lastTS was mixed (zero: unknown)
}

// Clock ties a port's output timestamps to wall-clock time: the audio with
// timestamp RTP on stream SSRC was mixed at At — the arrival time of the
// input audio in it (inputs are stamped on arrival), not the later time
// the packet leaves.
type Clock struct {
	SSRC uint32
	RTP  uint32
	At   time.Time
}

// Clock returns the function that tells port id's current Clock (false
// before its first packet, after RemoveInput, or for an unknown id). It is
// cheap and never waits for graph changes.
func (m *Mixer) Clock(id string) func() (Clock, bool) {
	m.mu.Lock()
	p := m.ports[id]
	m.mu.Unlock()
	if p == nil {
		return func() (Clock, bool) { return Clock{}, false }
	}
	return p.out.clock
}

func (s *sender) clock() (Clock, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.sent || s.lastAt.IsZero() {
		return Clock{}, false
	}
	return Clock{SSRC: s.ssrc, RTP: s.lastTS, At: s.lastAt}, true
}

func newSender(out func(*rtp.Packet), from *mixOut) *sender {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return &sender{
		out: out, cur: from,
		ssrc:   binary.BigEndian.Uint32(b[0:4]) | 1,
		seq:    binary.BigEndian.Uint16(b[4:6]),
		tsBase: binary.BigEndian.Uint32(b[6:10]),
	}
}

// switchTo makes mo the sender's source, now or at mo's first packet.
func (s *sender) switchTo(mo *mixOut, now bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now {
		s.cur, s.next = mo, nil
	} else {
		s.next = mo
	}
}

// ticks converts a running time to 48 kHz RTP clock ticks (mod 2^32),
// rounded to the nearest tick: the mixers' timestamps are sample counts
// scaled to nanoseconds and truncated, so rounding recovers the count.
func ticks(d time.Duration) uint32 {
	sec, rem := int64(d/time.Second), int64(d%time.Second)
	return uint32(sec*ClockRate + (rem*ClockRate+int64(time.Second)/2)/int64(time.Second))
}

// replace makes the sender take mo wherever it took old.
func (s *sender) replace(old, mo *mixOut) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == old {
		s.cur = mo
	}
	if s.next == old {
		s.next = mo
	}
}

func (s *sender) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (s *sender) deliver(from *mixOut, payload []byte, pts time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || (from != s.cur && from != s.next) {
		return
	}
	var ts uint32
	if pts >= 0 {
		ts = s.tsBase + ticks(pts)
	} else {
		ts = s.lastTS + uint32(frameTicks)
	}
	if from != s.cur {
		if s.sent && int32(ts-s.lastTS) > 2*frameTicks {
			// The current mix is behind (its appsink goroutine has a
			// backlog): keep it until it catches up rather than skip audio.
			return
		}
		s.cur, s.next = from, nil
	}
	if s.sent && int32(ts-s.lastTS) <= 0 {
		return // overlaps what was sent (a switch between mixes)
	}
	s.seq++
	pkt := &rtp.Packet{
		Header: rtp.Header{
			Version: 2, PayloadType: PayloadType, SequenceNumber: s.seq,
			Timestamp: ts, SSRC: s.ssrc, Marker: !s.sent,
		},
		Payload: payload,
	}
	s.sent, s.lastTS, s.lastAt = true, ts, time.Time{}
	if pts >= 0 && !from.zero.IsZero() {
		s.lastAt = from.zero.Add(pts)
	}
	s.out(pkt)
}
