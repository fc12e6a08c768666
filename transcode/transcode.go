// Package transcode is the media plane's transcoder on GStreamer: the
// mediaelements.Transcoders a server passes to its store, so that a sink
// that cannot take its source's codec (an H.264-only viewer of a VP8
// publisher) gets the stream converted instead of being refused.
//
// One transcoder is one pipeline:
//
//	appsrc (RTP of the source codec; live, do-timestamp, non-blocking, leaky)
//	! rtpjitterbuffer ! depayloader ! decoder ! convert ! encoder ! payloader
//	! appsink → RTP packets, a frame's together → OnPackets
//
// Video: VP8 ↔ H.264 (constrained baseline, packetization-mode=1), VP9 →
// VP8/H.264. Audio: Opus ↔ PCMU/PCMA. The video encoders run real-time
// settings at DefaultVideoBitrate (1 Mb/s) unless WithVideoBitrate says
// otherwise; a sink's keyframe request forces a keyframe, and the
// depayloader's or decoder's requests (and a watchdog: packets in, no
// frames out) ask the source for one.
package transcode

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
	"github.com/pion/rtp"

	"github.com/miksilo/miksilo/internal/gst"
	me "github.com/miksilo/miksilo/mediaelements"
)

// Defaults of the encoders (bits per second).
const (
	DefaultVideoBitrate = 1_000_000
	DefaultAudioBitrate = 32_000
)

// ErrUnsupported is returned (wrapping mediaelements.ErrUnsupportedTranscoding)
// for pairs of codecs this package cannot convert.
var ErrUnsupported = fmt.Errorf("transcode: %w", me.ErrUnsupportedTranscoding)

// Factory creates transcoders; it implements mediaelements.Transcoders.
type Factory struct {
	videoBitrate int
	audioBitrate int
	jitter       time.Duration
}

// Option configures a Factory.
type Option func(*Factory)

// WithVideoBitrate sets the video encoders' target bitrate (bps).
func WithVideoBitrate(bps int) Option { return func(f *Factory) { f.videoBitrate = bps } }

// WithAudioBitrate sets the Opus encoder's bitrate (bps).
func WithAudioBitrate(bps int) Option { return func(f *Factory) { f.audioBitrate = bps } }

// WithJitterBuffer sets the latency of the jitter buffer in front of the
// depayloader (default 50 ms), which puts retransmitted packets back in order.
func WithJitterBuffer(d time.Duration) Option { return func(f *Factory) { f.jitter = d } }

// NewFactory returns a transcoder factory.
func NewFactory(opts ...Option) *Factory {
	f := &Factory{videoBitrate: DefaultVideoBitrate, audioBitrate: DefaultAudioBitrate, jitter: 50 * time.Millisecond}
	for _, o := range opts {
		o(f)
	}
	return f
}

var _ me.Transcoders = (*Factory)(nil)

// codecSpec is how one RTP codec is taken apart and put together.
type codecSpec struct {
	video    bool
	encoding string // RTP encoding-name
	depay    string
	decoders []string // first present wins
	encoders []string // launch fragments naming the encoder "enc"; the first installed wins
	pay      string   // %d: payload type
	raw      string   // caps before the audio encoder
}

func (f *Factory) spec(c me.Codec) (codecSpec, bool) {
	kbps := f.videoBitrate / 1000
	switch strings.ToLower(c.MimeType) {
	case "video/vp8":
		return codecSpec{video: true, encoding: "VP8",
			depay:    "rtpvp8depay request-keyframe=true wait-for-keyframe=true",
			decoders: []string{"vp8dec max-errors=-1"},
			encoders: []string{fmt.Sprintf("vp8enc name=enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate=%d lag-in-frames=0 keyframe-max-dist=150 error-resilient=partitions threads=2", f.videoBitrate)},
			pay:      "rtpvp8pay picture-id-mode=15-bit mtu=1200 pt=%d"}, true
	case "video/h264":
		return codecSpec{video: true, encoding: "H264",
			depay:    "rtph264depay request-keyframe=true wait-for-keyframe=true",
			decoders: []string{"avdec_h264 max-errors=-1 output-corrupt=false thread-type=slice", "openh264dec max-errors=-1"},
			encoders: []string{
				fmt.Sprintf("x264enc name=enc tune=zerolatency speed-preset=ultrafast bitrate=%d vbv-buf-capacity=500 key-int-max=150 ! video/x-h264,profile=constrained-baseline", kbps),
				fmt.Sprintf("openh264enc name=enc bitrate=%d rate-control=bitrate complexity=low gop-size=150 ! video/x-h264,profile=constrained-baseline", f.videoBitrate),
			},
			pay: "rtph264pay config-interval=-1 aggregate-mode=zero-latency mtu=1200 pt=%d"}, true
	case "video/vp9":
		return codecSpec{video: true, encoding: "VP9",
			depay:    "rtpvp9depay request-keyframe=true wait-for-keyframe=true",
			decoders: []string{"vp9dec max-errors=-1"}}, true // decode only: VP9 encoding is too slow for real time
	case "audio/opus":
		return codecSpec{encoding: "OPUS", depay: "rtpopusdepay", decoders: []string{"opusdec plc=true"},
			encoders: []string{fmt.Sprintf("opusenc name=enc bitrate=%d frame-size=20", f.audioBitrate)},
			pay:      "rtpopuspay pt=%d", raw: "audio/x-raw,rate=48000,channels=2"}, true
	case "audio/pcmu":
		return codecSpec{encoding: "PCMU", depay: "rtppcmudepay", decoders: []string{"mulawdec"},
			encoders: []string{"mulawenc name=enc"}, pay: "rtppcmupay pt=%d", raw: "audio/x-raw,rate=8000,channels=1"}, true
	case "audio/pcma":
		return codecSpec{encoding: "PCMA", depay: "rtppcmadepay", decoders: []string{"alawdec"},
			encoders: []string{"alawenc name=enc"}, pay: "rtppcmapay pt=%d", raw: "audio/x-raw,rate=8000,channels=1"}, true
	}
	return codecSpec{}, false
}

// firstName is the element factory a launch fragment starts with.
func firstName(fragment string) string {
	name, _, _ := strings.Cut(fragment, " ")
	return name
}

// pick returns the first fragment whose element is installed.
func pick(fragments []string) (string, error) {
	var names []string
	for _, fr := range fragments {
		if len(gst.Missing(firstName(fr))) == 0 {
			return fr, nil
		}
		names = append(names, firstName(fr))
	}
	if len(names) == 0 {
		return "", ErrUnsupported
	}
	return "", gst.Require(names[0])
}

// Describe returns the pipeline description for a pair of codecs, or an
// error wrapping ErrUnsupported or gst.ErrMissingPlugin.
func (f *Factory) Describe(from, to me.Codec) (string, error) {
	in, ok1 := f.spec(from)
	out, ok2 := f.spec(to)
	if !ok1 || !ok2 || in.video != out.video || len(out.encoders) == 0 {
		return "", fmt.Errorf("%w: %s to %s", ErrUnsupported, from.MimeType, to.MimeType)
	}
	if strings.EqualFold(to.MimeType, "video/H264") {
		if mode := fmtp(to.Fmtp, "packetization-mode"); mode != "1" {
			return "", fmt.Errorf("%w: H.264 with packetization-mode=%q (only 1)", ErrUnsupported, mode)
		}
	}
	for _, e := range []string{"appsrc", "rtpjitterbuffer", "appsink", firstName(in.depay), firstName(out.pay)} {
		if err := gst.Require(e); err != nil {
			return "", err
		}
	}
	dec, err := pick(in.decoders)
	if err != nil {
		return "", err
	}
	enc, err := pick(out.encoders)
	if err != nil {
		return "", err
	}
	clock := from.ClockRate
	if clock == 0 {
		clock = 90000
	}
	caps := fmt.Sprintf("application/x-rtp,media=%s,clock-rate=%d,encoding-name=%s,payload=%d",
		map[bool]string{true: "video", false: "audio"}[in.video], clock, in.encoding, from.PayloadType)
	convert := "videoconvert"
	if !in.video {
		convert = "audioconvert ! audioresample ! " + out.raw
	}
	return fmt.Sprintf(
		"appsrc name=src format=time is-live=true do-timestamp=true block=false max-bytes=4000000 leaky-type=downstream caps=%q"+
			" ! rtpjitterbuffer latency=%d do-lost=true"+
			" ! %s name=depay ! %s name=dec ! %s ! %s ! %s name=pay"+
			" ! appsink name=sink sync=false async=false max-buffers=500 drop=true buffer-list=true",
		caps, f.jitter.Milliseconds(), in.depay, dec, convert, enc, fmt.Sprintf(out.pay, to.PayloadType)), nil
}

func fmtp(s, key string) string {
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// New starts a transcoder from one codec to another (mediaelements.Transcoders).
func (f *Factory) New(from, to me.Codec, log *slog.Logger) (me.Transcoder, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	desc, err := f.Describe(from, to)
	if err != nil {
		return nil, err
	}
	name := "transcode-" + strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(from.MimeType, "video/"), "audio/")) +
		"-" + strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(to.MimeType, "video/"), "audio/"))
	t := &Transcoder{
		log: log, name: name, desc: desc, what: codecName(from) + " to " + codecName(to),
		video:  strings.HasPrefix(strings.ToLower(from.MimeType), "video/"),
		pt:     from.PayloadType & 0x7f,
		failed: make(chan failure, 1),
		stop:   make(chan struct{}), done: make(chan struct{}),
	}
	pp, err := t.start(1)
	if err != nil {
		return nil, err
	}
	t.cur.Store(pp)
	go t.run()
	log.Debug("transcoder pipeline", "description", desc)
	return t, nil
}

func codecName(c me.Codec) string {
	_, n, ok := strings.Cut(c.MimeType, "/")
	if !ok {
		return c.MimeType
	}
	return strings.ToUpper(n)
}

// pipe is one incarnation of a transcoder's pipeline; a restart replaces it.
type pipe struct {
	gen   int
	p     *gst.Pipeline
	src   *gst.AppSrc
	enc   *gogst.Element
	sink  *gst.AppSink
	watch *gst.KeyUnitWatch
}

// failure is a fatal error of one pipeline incarnation.
type failure struct {
	gen int
	msg gst.Message
}

// start builds and starts a pipeline incarnation.
func (t *Transcoder) start(gen int) (*pipe, error) {
	p, err := gst.Parse(fmt.Sprintf("%s-%d", t.name, gen), t.desc, t.log)
	if err != nil {
		return nil, err
	}
	els, err := p.Elements("src", "enc", "sink")
	if err != nil {
		p.Close()
		return nil, err
	}
	pp := &pipe{gen: gen, p: p, src: gst.NewAppSrc(els[0]), enc: els[1]}
	if t.video {
		if pp.watch, err = gst.WatchKeyUnitRequests(els[0], "src"); err != nil {
			p.Close()
			return nil, err
		}
	}
	p.OnError(func(m gst.Message) {
		if m.Warning {
			return
		}
		t.errors.Add(1)
		t.report(failure{gen, m})
	})
	err = p.Start()
	if err == nil {
		err = p.WaitPlaying(2 * time.Second)
	}
	if err != nil {
		pp.close()
		return nil, err
	}
	var burst []*rtp.Packet // this incarnation's appsink goroutine's
	if pp.sink, err = gst.RunAppSinkBursts(els[2], func(ss []gst.Sample) { burst = t.pulled(ss, burst[:0]) }); err != nil {
		pp.close()
		return nil, err
	}
	return pp, nil
}

// report hands a failure to the run loop without blocking. The newest
// wins: a stale one (an earlier incarnation's, or a second message about the
// same failure) must not keep the current incarnation's from being seen.
func (t *Transcoder) report(f failure) {
	for {
		select {
		case t.failed <- f:
			return
		default:
		}
		select {
		case <-t.failed:
		default:
		}
	}
}

// close stops the incarnation's pipeline (its appsink first, if running).
func (pp *pipe) close() {
	if pp.sink != nil {
		pp.sink.Stop()
	}
	pp.p.Close()
	if pp.watch != nil {
		pp.watch.Close()
	}
}

// Restarts after pipeline errors: at most maxRestarts within restartWindow;
// the next error within the window stops the transcoder for good.
const (
	maxRestarts   = 3
	restartWindow = time.Minute
)

// Transcoder is one running transcoding pipeline (mediaelements.Transcoder).
// A fatal error of its pipeline (one the decoders' max-errors=-1 does not
// absorb: an encoder or negotiation failure) is reported through OnError
// and the pipeline is rebuilt; repeated failures stop it.
type Transcoder struct {
	log   *slog.Logger
	name  string
	desc  string // the pipeline description (gst-launch syntax)
	what  string // "VP8 to H264", for error reports
	video bool
	pt    byte // the source payload type in the appsrc caps

	// cur is the running incarnation; nil while it is being replaced or
	// after the transcoder gave up. Write reads it under wmu, which a
	// swap holds, so no push reaches a pipeline that is stopping.
	cur    atomic.Pointer[pipe]
	failed chan failure

	onPacket atomic.Pointer[func([]*rtp.Packet)]
	onKF     atomic.Pointer[func()]
	onErr    atomic.Pointer[func(error)]

	wmu sync.Mutex // serialises Write's scratch buffer
	buf []byte

	closeOnce sync.Once
	closed    atomic.Bool
	stop      chan struct{}
	done      chan struct{}

	in, out, bad, errors, keyframesAsked, restarts atomic.Uint64
	gaveUp                                         atomic.Bool
}

// Write copies a source packet into the pipeline; it never blocks.
func (t *Transcoder) Write(p *rtp.Packet) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.closed.Load() {
		return
	}
	n := p.MarshalSize()
	if cap(t.buf) < n {
		t.buf = make([]byte, n)
	}
	b := t.buf[:n]
	pp := t.cur.Load()
	if pp == nil {
		return // restarting, or stopped after repeated failures
	}
	if _, err := p.MarshalTo(b); err == nil {
		// The payload type the pipeline's caps name, whatever the source
		// uses now (the jitter buffer drops packets of unknown types).
		b[1] = b[1]&0x80 | t.pt
		if pp.src.Push(b) == nil {
			t.in.Add(1)
		}
	}
}

// OnPackets sets the consumer of transcoded packets (called on the
// transcoder's appsink goroutine with the packets the payloader pushed
// together: one encoded frame's, or one; fresh packets each time, the
// slice reused).
func (t *Transcoder) OnPackets(fn func(ps []*rtp.Packet)) { t.onPacket.Store(&fn) }

// OnKeyframeNeeded sets how the transcoder asks its source for a keyframe.
func (t *Transcoder) OnKeyframeNeeded(fn func()) { t.onKF.Store(&fn) }

// OnError sets the consumer of pipeline failures (called on the
// transcoder's goroutine). The error says whether the pipeline was rebuilt
// or the transcoder stopped.
func (t *Transcoder) OnError(fn func(error)) { t.onErr.Store(&fn) }

// ForceKeyframe makes the encoder send a keyframe soon.
func (t *Transcoder) ForceKeyframe() {
	if t.closed.Load() || !t.video {
		return
	}
	if pp := t.cur.Load(); pp != nil {
		gst.ForceKeyUnit(pp.enc)
	}
}

// Stats are the transcoder's counters.
type Stats struct {
	PacketsIn, PacketsOut, Malformed, Errors, KeyframesAsked uint64
	Restarts                                                 uint64 // pipelines rebuilt after an error
	Stopped                                                  bool   // gave up after repeated errors
}

// Stats returns the counters so far.
func (t *Transcoder) Stats() Stats {
	return Stats{PacketsIn: t.in.Load(), PacketsOut: t.out.Load(), Malformed: t.bad.Load(),
		Errors: t.errors.Load(), KeyframesAsked: t.keyframesAsked.Load(),
		Restarts: t.restarts.Load(), Stopped: t.gaveUp.Load()}
}

// pulled parses what the appsink delivered together (a buffer list: one
// frame's packets) into ps and hands it on as one burst; it returns ps for
// reuse.
func (t *Transcoder) pulled(ss []gst.Sample, ps []*rtp.Packet) []*rtp.Packet {
	for _, s := range ss {
		p := &rtp.Packet{}
		if err := p.Unmarshal(s.Data); err != nil {
			t.bad.Add(1)
			continue
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return ps
	}
	t.out.Add(uint64(len(ps)))
	if fn := t.onPacket.Load(); fn != nil {
		(*fn)(ps)
	}
	clear(ps) // the packets belong to fn now
	return ps
}

// Keyframe requests towards the source: what the depayloader or decoder
// asks for, and a watchdog for a decoder that gets packets but makes no
// frames (it started without a keyframe or lost one).
const (
	pollInterval = 100 * time.Millisecond
	stallAfter   = time.Second
	minAskGap    = 500 * time.Millisecond
)

func (t *Transcoder) run() {
	defer close(t.done)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var seen int
	lastOut, lastIn := t.out.Load(), t.in.Load()
	lastProgress := time.Now()
	var lastAsk time.Time
	var restarts []time.Time
	for {
		select {
		case <-t.stop:
			return
		case f := <-t.failed:
			if pp := t.cur.Load(); pp == nil || pp.gen != f.gen {
				continue // from an incarnation already replaced
			}
			restarts = t.recover(f, restarts)
			seen = 0 // a new incarnation counts its requests from 0
			lastProgress, lastOut, lastIn = time.Now(), t.out.Load(), t.in.Load()
			continue
		case <-tick.C:
		}
		if !t.video || t.cur.Load() == nil {
			continue
		}
		watch := t.cur.Load().watch
		now := time.Now()
		ask := false
		if n := watch.Count(); n != seen {
			seen = n
			ask = true
		}
		in, out := t.in.Load(), t.out.Load()
		if out != lastOut || in == lastIn {
			lastProgress = now // frames come out, or nothing goes in
		} else if now.Sub(lastProgress) > stallAfter {
			ask = true
		}
		lastIn, lastOut = in, out
		if ask && now.Sub(lastAsk) >= minAskGap {
			lastAsk = now
			lastProgress = now
			t.keyframesAsked.Add(1)
			if fn := t.onKF.Load(); fn != nil {
				(*fn)()
			}
		}
	}
}

// recover handles a fatal error of the running pipeline: it is replaced by
// a new one (the source is asked for a keyframe, the new decoder starts on
// it) unless maxRestarts happened within restartWindow, in which case the
// transcoder stops: its sinks get nothing until they are reconnected.
// recent holds the times of the restarts so far; the updated list is
// returned.
func (t *Transcoder) recover(f failure, recent []time.Time) []time.Time {
	now := time.Now()
	kept := recent[:0]
	for _, at := range recent {
		if now.Sub(at) < restartWindow {
			kept = append(kept, at)
		}
	}
	recent = kept
	t.wmu.Lock()
	old := t.cur.Swap(nil) // Write drops packets from here on
	t.wmu.Unlock()
	old.close()
	var err error
	if len(recent) >= maxRestarts {
		t.gaveUp.Store(true)
		err = fmt.Errorf("transcoder %s failed (%s) for the %d. time within %v; %w",
			t.what, f.msg.Error(), len(recent)+1, restartWindow, me.ErrTranscoderStopped)
		t.log.Error("transcoder stopped after repeated errors", "err", f.msg.Error(), "restarts", len(recent))
	} else {
		pp, serr := t.start(old.gen + 1)
		if serr != nil {
			t.gaveUp.Store(true)
			err = fmt.Errorf("transcoder %s failed (%s) and could not be restarted (%v); %w", t.what, f.msg.Error(), serr, me.ErrTranscoderStopped)
			t.log.Error("transcoder restart failed", "err", serr)
		} else {
			t.wmu.Lock()
			if !t.closed.Load() {
				t.cur.Store(pp)
				pp = nil
			}
			t.wmu.Unlock()
			if pp != nil { // closed meanwhile
				pp.close()
				return recent
			}
			recent = append(recent, now)
			t.restarts.Add(1)
			err = fmt.Errorf("transcoder %s failed (%s); restarted", t.what, f.msg.Error())
			t.log.Warn("transcoder restarted after an error", "err", f.msg.Error(), "restarts", len(recent))
			if fn := t.onKF.Load(); fn != nil {
				t.keyframesAsked.Add(1)
				(*fn)()
			}
		}
	}
	if fn := t.onErr.Load(); fn != nil {
		(*fn)(err)
	}
	return recent
}

// Close stops the transcoder and waits for its goroutines. Not to be called
// from inside an OnPackets callback.
func (t *Transcoder) Close() {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		close(t.stop)
		<-t.done
		t.wmu.Lock() // no Push in flight while the pipeline stops
		pp := t.cur.Swap(nil)
		t.wmu.Unlock()
		if pp != nil {
			pp.close()
		}
		if n := t.errors.Load(); n > 0 {
			t.log.Warn("transcoder had pipeline errors", "errors", n, "restarts", t.restarts.Load())
		}
	})
}
