package mediaelements

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/miksilo/miksilo/internal/sendbatch"
)

// The media plane: how RTP moves between elements, in Go.
//
// Every element has, per media type and pad description, an Output (its
// source pad) and an Input (its sink pad). connect(sink) attaches the
// sink's Input to the source's Output. A producer writes each packet once
// to its Output, which hands it to every attached Input from a snapshot
// of the attachment list: no lock, no payload copy and no goroutine per
// sink per packet. Inputs rewrite only the header (a struct copy): they
// keep one SSRC and continuous sequence numbers and timestamps whatever
// source feeds them, so a receiver never notices a switch. Keyframe
// requests travel the other way, merged and rate-limited at each Output.

// Codec describes the RTP stream a pad carries.
type Codec struct {
	MimeType    string // e.g. "video/VP8", "audio/opus"
	ClockRate   uint32
	Channels    uint16
	Fmtp        string // SDP fmtp line (parameters)
	PayloadType uint8
}

// Same reports whether two codecs are the same format (payload types may differ).
func (c Codec) Same(o Codec) bool {
	if !strings.EqualFold(c.MimeType, o.MimeType) || c.ClockRate != o.ClockRate {
		return false
	}
	if c.Channels != o.Channels && c.Channels != 0 && o.Channels != 0 {
		return false
	}
	if strings.EqualFold(c.MimeType, "video/H264") {
		return h264Compatible(c.Fmtp, o.Fmtp)
	}
	return true
}

// h264Compatible compares packetization-mode and the profile part of
// profile-level-id (level may differ: a decoder handles lower levels).
func h264Compatible(a, b string) bool {
	pa, pb := fmtpParams(a), fmtpParams(b)
	mode := func(p map[string]string) string {
		if m, ok := p["packetization-mode"]; ok {
			return m
		}
		return "0"
	}
	if mode(pa) != mode(pb) {
		return false
	}
	profile := func(p map[string]string) string {
		id := strings.ToLower(p["profile-level-id"])
		if len(id) < 4 {
			return "42e0" // default: constrained baseline
		}
		return id[:4]
	}
	return profile(pa) == profile(pb)
}

func fmtpParams(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "" {
			out[strings.ToLower(k)] = v
		}
	}
	return out
}

// KeyframeInterval is the least time between two keyframe requests an
// Output passes upstream; requests inside it are merged into one that is
// sent when the interval ends.
const KeyframeInterval = 300 * time.Millisecond

// Output is an element's source pad for one media type.
type Output struct {
	elem *Element
	typ  MediaType
	desc string

	sinks atomic.Pointer[[]*Input] // copy-on-write
	mu    sync.Mutex               // guards writes to sinks and the fields below
	codec *Codec
	// onKeyframe asks whatever produces this output for a keyframe.
	onKeyframe func()
	lastKF     time.Time
	kfPending  bool
	kfTimer    *time.Timer

	packets atomic.Uint64
	flow    flow
	clock   atomic.Pointer[func() (SenderClock, bool)] // SetClock

	// Transcoders fed by this output (transcode.go).
	txMu sync.Mutex // serialises creating and tearing down transcoders
	tx   []*txLink  // guarded by txMu
}

// Input is an element's sink pad for one media type.
type Input struct {
	elem *Element
	typ  MediaType
	desc string

	cmu      sync.Mutex // serialises source changes and codec checks (never held on the packet path)
	mu       sync.Mutex // held while the handler runs (see deliver)
	scratch  rtp.Packet // the rewritten header handed to the handler
	source   *Output    // the connected source (graph, events)
	feed     *Output    // what packets come from: source, or a transcoder's output
	tx       *txLink    // the transcoder feeding this input, if any
	hidden   bool       // a transcoder's feed (not a pad of the element)
	handler  func(p *rtp.Packet)
	accepts  []Codec // empty: anything
	rw       rewriter
	refused  bool // the current source's codec is not accepted
	codecOut *Codec
	onCodec  func(Codec)

	packets atomic.Uint64
	flow    flow
}

// Output returns the element's source pad (created on first use).
func (e *Element) Output(t MediaType, desc string) *Output {
	e.emu.Lock()
	defer e.emu.Unlock()
	k := padKey{t, desc}
	o, ok := e.outputs[k]
	if !ok {
		o = &Output{elem: e, typ: t, desc: desc}
		o.sinks.Store(&[]*Input{})
		o.flow.onChange = func(f bool) { e.SetFlowingOut(t, desc, f) }
		o.flow.timeout = e.store.flowTO
		e.outputs[k] = o
	}
	return o
}

// Input returns the element's sink pad (created on first use).
func (e *Element) Input(t MediaType, desc string) *Input {
	e.emu.Lock()
	defer e.emu.Unlock()
	k := padKey{t, desc}
	in, ok := e.inputs[k]
	if !ok {
		in = &Input{elem: e, typ: t, desc: desc}
		in.rw.ssrc = randomSSRC()
		in.flow.onChange = func(f bool) { e.SetFlowingIn(t, desc, f) }
		in.flow.timeout = e.store.flowTO
		e.inputs[k] = in
	}
	return in
}

// SetCodec declares what the output carries; attached inputs that cannot
// take it are refused (Error event on the sink element).
func (o *Output) SetCodec(c Codec) {
	o.mu.Lock()
	o.codec = &c
	o.mu.Unlock()
	for _, in := range *o.sinks.Load() {
		in.checkCodec(o)
	}
}

// Codec returns the declared codec, if any.
func (o *Output) Codec() (Codec, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.codec == nil {
		return Codec{}, false
	}
	return *o.codec, true
}

// OnKeyframeRequest sets how this output obtains a keyframe from its producer.
func (o *Output) OnKeyframeRequest(fn func()) {
	o.mu.Lock()
	o.onKeyframe = fn
	o.mu.Unlock()
}

// Attached is the number of attached inputs, transcoders' feeds included:
// whether anything consumes what this output carries.
func (o *Output) Attached() int { return len(*o.sinks.Load()) }

// Sinks is the number of attached inputs (transcoders' feeds not counted).
func (o *Output) Sinks() int {
	n := 0
	for _, in := range *o.sinks.Load() {
		if !in.hidden {
			n++
		}
	}
	return n
}

// WriteRTP hands a packet to every attached input. The packet and its
// payload must not be modified afterwards, nor the payload's memory reused:
// sinks may keep a reference to the payload (a WebRtcEndpoint's
// retransmission store keeps the last 1024 video payloads it sent).
func (o *Output) WriteRTP(p *rtp.Packet) {
	// One clock read and one codec lookup per packet, not per sink: with
	// many sinks they were most of the fan-out's own cost.
	now := time.Now()
	clock := o.codecClock()
	o.packets.Add(1)
	o.flow.packetAt(now)
	for _, in := range *o.sinks.Load() {
		in.deliver(o, p, now, clock)
	}
}

// WriteBurst hands packets that leave together (the RTP packets of one
// encoded frame) to every attached input, as WriteRTP would one by one,
// except that each input gets all of them back to back inside a
// sendbatch hold: a sink that sends them over UDP does so with one
// sendmmsg(2) instead of one system call per packet. The hold lasts one
// input's burst, so a receiver's packets leave as soon as they are
// written, not after every receiver's. The same rules as WriteRTP's hold
// for the packets.
func (o *Output) WriteBurst(ps []*rtp.Packet) {
	if len(ps) == 0 {
		return
	}
	now := time.Now()
	clock := o.codecClock()
	o.packets.Add(uint64(len(ps)))
	o.flow.packetAt(now)
	for _, in := range *o.sinks.Load() {
		in.deliverBurst(o, ps, now, clock)
	}
}

func (in *Input) deliverBurst(from *Output, ps []*rtp.Packet, now time.Time, clock uint32) {
	defer sendbatch.Hold()()
	for _, p := range ps {
		in.deliver(from, p, now, clock)
	}
}

// SenderClock ties a stream's RTP timestamps to wall-clock time: media
// with timestamp RTP on stream SSRC was sampled at At (this server's clock).
// It is what an RTCP sender report says, and what a sink needs to write
// sender reports that keep audio and video of one source in sync at the
// receiver (see Input.RTPTimeAt).
type SenderClock struct {
	SSRC uint32
	RTP  uint32
	At   time.Time
}

// SetClock sets how this output's producer tells the sampling time of what
// it writes (nil: it cannot). fn is called when a sink writes a sender
// report (about once a second per sink), from any goroutine; it must be
// cheap and must not block.
func (o *Output) SetClock(fn func() (SenderClock, bool)) {
	if fn == nil {
		o.clock.Store(nil)
		return
	}
	o.clock.Store(&fn)
}

// senderClock is the producer's current mapping, if it has one.
func (o *Output) senderClock() (SenderClock, bool) {
	fn := o.clock.Load()
	if fn == nil {
		return SenderClock{}, false
	}
	return (*fn)()
}

// RTPTimeAt is the timestamp that media sampled at t has on this input's
// rewritten stream, from its source's SenderClock moved by the input's own
// timestamp offset; false when the source has no clock, or its clock is
// about another stream than the one this input forwards now (a switch
// whose first packet has not arrived yet). A sink writes it into its
// sender reports, so a receiver lines up audio and video by when they were
// sampled, not by when each left the server (a mixer's audio leaves later
// than its video of the same instant).
func (in *Input) RTPTimeAt(t time.Time) (uint32, bool) {
	in.mu.Lock()
	feed, rw, switched := in.feed, in.rw, in.rw.switched
	var clock uint32 = 90000
	if in.codecOut != nil {
		clock = in.codecOut.ClockRate
	}
	in.mu.Unlock()
	if feed == nil || !rw.started || switched || clock == 0 {
		return 0, false
	}
	c, ok := feed.senderClock()
	if !ok || c.SSRC != rw.inSSRC {
		return 0, false
	}
	ticks := int64(math.Round(t.Sub(c.At).Seconds() * float64(clock)))
	return c.RTP + rw.tsOffset + uint32(ticks), true
}

// ForwardedClock is the SenderClock of what this input hands its handler
// (its rewritten stream), for an element that forwards it unchanged to an
// output (Output.SetClock): the source's clock passes on along a chain of
// elements.
func (in *Input) ForwardedClock() (SenderClock, bool) {
	now := time.Now()
	ts, ok := in.RTPTimeAt(now)
	if !ok {
		return SenderClock{}, false
	}
	return SenderClock{SSRC: in.SSRC(), RTP: ts, At: now}, true
}

// RequestKeyframe asks the producer for a keyframe, at most once per
// KeyframeInterval; requests in between are merged into one sent when the
// interval ends.
func (o *Output) RequestKeyframe() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.onKeyframe == nil || o.kfPending {
		return
	}
	if wait := KeyframeInterval - time.Since(o.lastKF); wait > 0 {
		o.kfPending = true
		o.kfTimer = time.AfterFunc(wait, func() {
			o.mu.Lock()
			o.kfPending = false
			o.lastKF = time.Now()
			fn := o.onKeyframe
			o.mu.Unlock()
			if fn != nil {
				fn()
			}
		})
		return
	}
	o.lastKF = time.Now()
	go o.onKeyframe() // never call out under the lock or on the requester's goroutine
}

func (o *Output) attach(in *Input) {
	o.addSink(in)
	in.setSource(o)
	if o.typ == Video && in.ready() {
		in.RequestKeyframe() // a new viewer needs a keyframe to start decoding
	}
}

func (o *Output) detach(in *Input) {
	o.removeSink(in)
	in.clearSource(o)
}

func (o *Output) addSink(in *Input) {
	o.mu.Lock()
	old := *o.sinks.Load()
	next := make([]*Input, 0, len(old)+1)
	next = append(next, old...)
	next = append(next, in)
	o.sinks.Store(&next)
	o.mu.Unlock()
}

func (o *Output) removeSink(in *Input) {
	o.mu.Lock()
	old := *o.sinks.Load()
	next := make([]*Input, 0, len(old))
	for _, x := range old {
		if x != in {
			next = append(next, x)
		}
	}
	o.sinks.Store(&next)
	o.mu.Unlock()
}

func (o *Output) stop() {
	o.mu.Lock()
	if o.kfTimer != nil {
		o.kfTimer.Stop()
	}
	o.onKeyframe = nil
	o.mu.Unlock()
	o.flow.stop()
}

// SetHandler sets the consumer of the packets arriving at this input (the
// element's own processing). Packets arrive already rewritten; the handler
// must not keep the packet (or modify its payload) after it returns, and
// must not block: it runs on the producer's goroutine.
func (in *Input) SetHandler(fn func(p *rtp.Packet)) {
	in.mu.Lock()
	starting := in.handler == nil && fn != nil
	in.handler = fn
	src := in.feed
	in.mu.Unlock()
	// A sink that starts consuming video needs a keyframe now; asking when
	// it was merely attached would spend the merge window before it could
	// use one.
	if starting && src != nil && in.typ == Video {
		src.RequestKeyframe()
	}
}

func (in *Input) ready() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.handler != nil
}

// Accept restricts the codecs this input takes (e.g. what a WebRTC peer
// negotiated). Inputs accept anything by default.
func (in *Input) Accept(codecs ...Codec) {
	in.mu.Lock()
	in.accepts = codecs
	src := in.source
	in.mu.Unlock()
	if src != nil {
		in.checkCodec(src)
	}
}

// OnCodec is called whenever the codec of what arrives becomes known or
// changes (e.g. a PassThrough declares it on its own output).
func (in *Input) OnCodec(fn func(Codec)) {
	in.mu.Lock()
	in.onCodec = fn
	c := in.codecOut
	in.mu.Unlock()
	if c != nil && fn != nil {
		fn(*c)
	}
}

// SSRC is the SSRC this input writes, whatever feeds it.
func (in *Input) SSRC() uint32 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rw.ssrc
}

// SetSSRC fixes the SSRC this input writes (e.g. the one an SDP announced).
func (in *Input) SetSSRC(ssrc uint32) {
	in.mu.Lock()
	in.rw.ssrc = ssrc
	in.mu.Unlock()
}

// Codec is the codec of what arrives (the source's, with this input's
// payload type when it declared one), if known.
func (in *Input) Codec() (Codec, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.codecOut == nil {
		return Codec{}, false
	}
	return *in.codecOut, true
}

// RequestKeyframe asks whatever feeds this input (its source, or the
// transcoder in between) for a keyframe.
func (in *Input) RequestKeyframe() {
	in.mu.Lock()
	src := in.feed
	in.mu.Unlock()
	if src != nil {
		src.RequestKeyframe()
	}
}

func (in *Input) setSource(o *Output) {
	in.cmu.Lock()
	in.mu.Lock()
	in.source = o
	in.feed = o
	in.rw.switched = true
	in.mu.Unlock()
	in.cmu.Unlock()
	in.checkCodec(o)
}

func (in *Input) clearSource(o *Output) {
	in.cmu.Lock()
	defer in.cmu.Unlock()
	in.mu.Lock()
	if in.source != o {
		in.mu.Unlock()
		return
	}
	in.source = nil
	in.feed = nil
	in.refused = false
	cur := in.tx
	in.tx = nil
	in.mu.Unlock()
	if cur != nil {
		cur.out.removeSink(in)
		cur.release()
		in.emitTranscoding(false)
	}
}

// checkCodec decides how this input takes its source's codec: as it is,
// through a transcoder (transcode.go), or not at all (refused: Error event
// on the sink element).
func (in *Input) checkCodec(o *Output) {
	in.cmu.Lock()
	defer in.cmu.Unlock()
	c, known := o.Codec()
	in.mu.Lock()
	if in.source != o || !known {
		in.mu.Unlock()
		return
	}
	var match *Codec
	if len(in.accepts) == 0 {
		match = &c
	} else {
		for _, a := range in.accepts {
			if a.Same(c) {
				m := c
				m.PayloadType = a.PayloadType
				match = &m
				break
			}
		}
	}
	accepts := in.accepts
	cur := in.tx
	ready := in.handler != nil
	in.mu.Unlock()

	// Source changes take cmu, so in.source stays o until we return.
	var link *txLink
	var target Codec
	var txErr error
	if match == nil {
		link, target, txErr = in.elem.store.transcoderFor(o, c, accepts, in.typ)
		if link != nil {
			match = &target
		}
	}

	in.mu.Lock()
	feed := o
	if link != nil {
		feed = link.out
	}
	if in.feed != feed {
		in.rw.switched = true
	}
	in.feed = feed
	in.tx = link
	wasRefused := in.refused
	in.refused = match == nil
	changed := match != nil && (in.codecOut == nil || *in.codecOut != *match)
	in.codecOut = match
	onCodec := in.onCodec
	in.mu.Unlock()

	if link != cur {
		if link != nil {
			link.out.addSink(in)
		}
		if cur != nil {
			cur.out.removeSink(in)
		}
	}
	if cur != nil {
		cur.release() // the reference taken when it was acquired (link holds its own)
	}
	if changed && onCodec != nil {
		onCodec(*match)
	}
	switch {
	case link != nil && cur == nil:
		in.emitTranscoding(true)
	case link == nil && cur != nil:
		in.emitTranscoding(false)
	}
	if link != cur && ready && in.typ == Video {
		feed.RequestKeyframe() // the new feed must start with a keyframe
	}
	if match == nil && !wasRefused {
		why := "no transcoder available"
		if txErr != nil {
			why = txErr.Error()
		}
		in.elem.EmitError("MEDIA_OBJECT_ILLEGAL_PARAM_ERROR", CodeIllegalParam,
			"cannot receive "+c.MimeType+" from "+o.elem.id+": "+why+"; sink accepts "+codecNames(accepts))
		if cur == nil {
			in.emitTranscoding(false)
		}
	}
}

func codecNames(cs []Codec) string {
	var names []string
	for _, c := range cs {
		names = append(names, c.MimeType)
	}
	return strings.Join(names, ", ")
}

// deliver rewrites the header for this input and hands it to the handler.
// The rewritten header lives in the input's scratch packet, so fan-out
// allocates nothing per sink; the input's lock is held while the handler
// runs, which is safe because connect refuses forwarding loops.
func (in *Input) deliver(from *Output, p *rtp.Packet, now time.Time, clock uint32) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.feed != from || in.refused || in.handler == nil {
		return
	}
	in.scratch = *p // header copy; the payload is shared and read-only
	in.rw.rewriteAt(&in.scratch.Header, clock, now)
	if in.codecOut != nil {
		in.scratch.PayloadType = in.codecOut.PayloadType
	}
	in.packets.Add(1)
	in.flow.packetAt(now)
	in.handler(&in.scratch)
}

func (o *Output) codecClock() uint32 {
	if c, ok := o.Codec(); ok {
		return c.ClockRate
	}
	return 90000
}
