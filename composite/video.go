package composite

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	gogst "github.com/go-gst/go-gst/gst"

	"github.com/miksilo/miksilo/internal/gst"
)

// The video mixer: one live GStreamer pipeline per Composite.
//
//	videotestsrc (not live: the base layer, see mixerLaunch) ─┐
//	input bin 1: appsrc ! depay ! dec ───────────────────────┤ compositor (force-live) ! caps(w,h,fps) ! encoder ! payloader ! appsink → Go
//	input bin N: …                   ────────────────────────┘
//
// Input bins are added to and removed from the running pipeline; the
// compositor runs live on the clock by itself (force-live) and produces a
// frame every 1/framerate whatever the inputs do, with none at all, so
// output timestamps stay continuous.

// aggregatorLatency is extra time the compositor waits for inputs past each
// output frame's end (decode time of late inputs). The pipeline latency is
// this plus one output frame (videoaggregator's own) plus the appsink's
// processingDeadline: frame [T, T+d) leaves at T + d + aggregatorLatency +
// processingDeadline (48 ms at 30 fps, 82 ms at 15 fps). The inputs' appsrcs
// are live with no latency of their own (min-latency=0).
const aggregatorLatency = 5 * time.Millisecond

// outputColour is the colorimetry of the canvas: that of the decoders'
// output for standard-definition VP8 and H.264 (what GStreamer assumes for
// caps without colorimetry below 720p), so inputs are blended without a
// colour-matrix conversion, and fixed, so a joining input never changes the
// encoder's caps. (A canvas-sized layer without it was negotiated as BT.709
// and converted on every frame: ~0.1 CPU-s per second at 720p30.)
const outputColour = "colorimetry=bt601,chroma-site=jpeg"

// compositorBackground is the compositor's own background fill for a
// colour it can paint (black and white), "" for any other colour.
func compositorBackground(rgb uint32) string {
	switch rgb {
	case 0x000000:
		return "black"
	case 0xffffff:
		return "white"
	}
	return ""
}

// mixerLaunch is the gst-launch description of the pipeline around the
// compositor, which newCompositor adds: the base layer ends in capsfilter
// "basecaps", the output branch starts at capsfilter "outcaps".
//
// The compositor is live by itself (force-live): it produces a frame every
// 1/framerate on the clock with or without inputs. Until 2026-11-21 a
// 16×16 live videotestsrc at 120 fps with alpha 0 did that; it cost a
// thread waking 120 times a second, the compositor woken by each of its
// buffers (~250 context switches a second in all) and 8 ms of latency (a
// live source's latency is one of its frames). Its reason — a force-live
// compositor with a non-live background stalled for over 1 s in one of two
// runs — was the base-time race that internal/gst fixes (the base time is
// set before PLAYING); the stall watchdog stays as the safety net.
//
// The compositor still always has one pad, the base layer, from a non-live
// videotestsrc at the output framerate: it runs ahead of the clock,
// blocked by the compositor, so it adds no latency. Without it, the output
// caps were renegotiated when the first input joined an empty compositor,
// and that input was then drawn at a slightly wrong scale and offset for
// good (GStreamer 1.22; the benchmark's stamp reader could not read it in
// 5 of 6 runs). The base layer is a canvas-sized solid layer when the
// background colour is one the compositor cannot paint itself (a fill and
// a copy of the canvas per output frame), otherwise 16×16 with alpha 0
// (never blended).
//
// The appsink syncs on the clock: the live compositor sends a frame early
// when every input has data and at its deadline when one is late or has
// just stopped, so unsynced output jitters by up to the pipeline latency
// plus a frame (measured: 150 ms gaps when a publisher stops at 15 fps).
// The pipeline never configures its queried latency on the appsink (it
// stays 0, checked by TestPixels), so the sync holds only frames composed
// before their time and a frame leaves as soon as it is encoded.
func mixerLaunch(s Settings) string {
	caps := fmt.Sprintf("video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1,%s", s.Width, s.Height, s.Framerate, outputColour)
	base := fmt.Sprintf("videotestsrc name=base is-live=false pattern=solid-color foreground-color=%d ! capsfilter name=basecaps caps=%s ", 0xff000000|s.background, caps)
	if compositorBackground(s.background) != "" {
		base = fmt.Sprintf("videotestsrc name=base is-live=false pattern=solid-color foreground-color=0xff000000 ! capsfilter name=basecaps caps=video/x-raw,format=I420,width=16,height=16,framerate=%d/1,pixel-aspect-ratio=1/1,%s ",
			s.Framerate, outputColour)
	}
	return base + fmt.Sprintf("capsfilter name=outcaps caps=%s ! identity name=pace sync=false silent=true ! valve name=gate drop=false drop-mode=forward-sticky-events ! %s ! %s ! appsink name=out sync=true async=false processing-deadline=%d max-buffers=1000 drop=true buffer-list=true",
		caps, VideoEncoderLaunch(s.Codec, s.Bitrate, s.Framerate), VideoPayloaderLaunch(s.Codec), processingDeadline.Nanoseconds())
}

// newCompositor creates the compositor and links it between the base layer
// and the output branch of p.
func newCompositor(p *gst.Pipeline, s Settings) (*gogst.Element, error) {
	mix, err := gogst.NewElementWithProperties("compositor", map[string]interface{}{
		"name": "mix", "force-live": true, "ignore-inactive-pads": true, "latency": uint64(aggregatorLatency.Nanoseconds()),
	})
	if err != nil {
		return nil, fmt.Errorf("compositor: %w", err)
	}
	bg := compositorBackground(s.background)
	if bg == "" {
		bg = "black" // under the colour layer
	}
	mix.SetArg("background", bg)
	gst.Track(mix.Object, gst.KindElement)
	if err := p.Add(mix); err != nil {
		return nil, err
	}
	el, err := p.Element("basecaps") // the base layer, under every input
	if err != nil {
		return nil, err
	}
	pad := mix.GetRequestPad("sink_%u")
	src := el.GetStaticPad("src")
	if pad == nil || src == nil {
		return nil, fmt.Errorf("compositor: no pad for the base layer")
	}
	if r := src.Link(pad); r != gogst.PadLinkOK {
		return nil, fmt.Errorf("compositor: link the base layer: %s", r)
	}
	pad.SetProperty("zorder", uint(0))
	if compositorBackground(s.background) != "" {
		pad.SetProperty("alpha", float64(0)) // the compositor paints the background
	}
	out, err := p.Element("outcaps")
	if err != nil {
		return nil, err
	}
	if err := mix.Link(out); err != nil {
		return nil, fmt.Errorf("compositor: link output: %w", err)
	}
	return mix, nil
}

// processingDeadline is the time the synchronised appsink allows between
// the compositor's deadline and the frame's leaving: composing, encoding
// and payloading a frame the compositor produced at its deadline (an input
// missing). GstBaseSink's default is 20 ms; a 720p VP8 frame takes ~6 ms
// on one core. A frame that takes longer leaves late (a gap of one frame
// plus the overrun), nothing is dropped.
const processingDeadline = 10 * time.Millisecond

// pipelineLatency asks the pipeline for the latency it applies: a frame
// leaves the synchronised appsink this long after the start of its
// interval.
func pipelineLatency(p *gst.Pipeline) (time.Duration, bool) {
	q := gogst.NewLatencyQuery()
	if !p.Query(q) {
		return 0, false
	}
	live, min, _ := q.ParseLatency()
	return time.Duration(min), live
}

// requiredElements are the factories a Composite with codec needs.
func requiredElements(codec string) []string {
	names := []string{"compositor", "videotestsrc", "valve", "identity", "appsrc", "appsink", "rtpvp8depay", "vp8dec", "rtph264depay", "h264parse", "avdec_h264"}
	if strings.EqualFold(codec, CodecH264) {
		return append(names, "x264enc", "rtph264pay")
	}
	return append(names, "vp8enc", "rtpvp8pay")
}

// decoderMaxErrors is how many consecutive frames a decoder may fail to
// decode before it posts an error (the input is then restarted); single
// corrupt frames after loss are only skipped.
const decoderMaxErrors = 30

// inputLaunch is the description of one port's input bin; elements are
// named prefix_<role> so bus messages map back to the port.
func inputLaunch(prefix, codec string) string {
	src := func(enc string, pt int) string {
		return fmt.Sprintf("appsrc name=%s_src is-live=true format=time do-timestamp=true block=false max-bytes=1000000 leaky-type=downstream min-latency=0 max-latency=2000000000 "+
			"caps=\"application/x-rtp,media=video,clock-rate=90000,encoding-name=%s,payload=%d\"", prefix, enc, pt)
	}
	if codec == CodecH264 {
		return src("H264", PayloadH264) + fmt.Sprintf(" ! rtph264depay name=%[1]s_depay request-keyframe=true wait-for-keyframe=true ! h264parse name=%[1]s_parse ! avdec_h264 name=%[1]s_dec max-threads=1 max-errors=%[2]d", prefix, decoderMaxErrors)
	}
	return src("VP8", PayloadVP8) + fmt.Sprintf(" ! rtpvp8depay name=%[1]s_depay request-keyframe=true wait-for-keyframe=true ! vp8dec name=%[1]s_dec threads=1 max-errors=%[2]d", prefix, decoderMaxErrors)
}

// inputBin is one port's decoding branch inside the mixer pipeline.
type inputBin struct {
	prefix string
	codec  string
	bin    *gogst.Bin
	src    *gst.AppSrc
	pad    *gogst.Pad // the compositor's request pad
	probed *gogst.Pad // the appsrc's src pad, which carries probe
	probe  uint64
	placed Region // what is applied to pad (zero: hidden)
	shown  bool
}

// addInput builds a bin for codec, adds it to the running pipeline and
// links it to a new compositor pad (hidden until placed). onKeyframe runs
// on a streaming thread when the depayloader asks for a keyframe.
func addInput(p *gst.Pipeline, mix *gogst.Element, prefix, codec string, onKeyframe func()) (*inputBin, error) {
	bin, err := gogst.NewBinFromString(inputLaunch(prefix, codec), true)
	if err != nil {
		return nil, fmt.Errorf("input bin: %w", err)
	}
	gst.Track(bin.Object, gst.KindElement)
	srcElem, err := bin.GetElementByName(prefix + "_src")
	if err != nil {
		return nil, fmt.Errorf("input bin: %w", err)
	}
	if err := p.Add(bin.Element); err != nil {
		return nil, err
	}
	ib := &inputBin{prefix: prefix, codec: codec, bin: bin, src: gst.NewAppSrc(srcElem)}
	// The depayloader asks for keyframes (after loss, or while waiting for
	// the first one) with an upstream force-key-unit event that ends at the
	// appsrc: pass it to the port's source.
	if sp := srcElem.GetStaticPad("src"); sp != nil {
		ib.probed = sp
		ib.probe = sp.AddProbe(gogst.PadProbeTypeEventUpstream, func(_ *gogst.Pad, info *gogst.PadProbeInfo) gogst.PadProbeReturn {
			if ev := info.GetEvent(); ev != nil && ev.Type() == gogst.EventTypeCustomUpstream && ev.HasName("GstForceKeyUnit") {
				onKeyframe()
			}
			return gogst.PadProbeOK
		})
	}
	pad := mix.GetRequestPad("sink_%u")
	if pad == nil {
		_ = p.Remove(bin.Element)
		return nil, fmt.Errorf("compositor gave no sink pad")
	}
	ib.pad = pad
	pad.SetArg("sizing-policy", "keep-aspect-ratio")
	pad.SetProperty("alpha", float64(0))
	out := bin.GetStaticPad("src")
	if out == nil {
		mix.ReleaseRequestPad(pad)
		_ = p.Remove(bin.Element)
		return nil, fmt.Errorf("input bin has no src pad")
	}
	if r := out.Link(pad); r != gogst.PadLinkOK {
		mix.ReleaseRequestPad(pad)
		_ = p.Remove(bin.Element)
		return nil, fmt.Errorf("link input bin to compositor: %s", r)
	}
	if !bin.SyncStateWithParent() {
		ib.remove(p, mix)
		return nil, fmt.Errorf("input bin did not start")
	}
	return ib, nil
}

// place asks for a region (or hides the input when r is nil); pads
// applies it with the rest of the layout before the next output frame.
func (ib *inputBin) place(pads *padBatch, r *Region) {
	if r == nil {
		if ib.shown {
			pads.set(ib, nil)
			ib.shown = false
		}
		return
	}
	if ib.shown && ib.placed == *r {
		return
	}
	pads.set(ib, r)
	ib.placed, ib.shown = *r, true
}

// padBatch applies the inputs' placements on the compositor's own thread,
// all of them at once, just before it prepares an output frame: the
// aggregator's samples-selected signal, emitted after the frame's input
// buffers are chosen and before any pad property is read for it.
// Properties set one by one from the loop's goroutine could land between
// two reads of one frame: a frame showing an input at its new position
// with its old size, or two inputs overlapping half-way through a
// re-layout. The signal is only emitted while a batch waits
// (emit-signals), so a steady layout costs no call into Go per frame.
type padBatch struct {
	mix    *gogst.Element
	signal *gst.Signal // samples-selected

	mu      sync.Mutex
	pending map[*inputBin]*Region // nil region: hide
	armed   bool                  // emit-signals is on
	applied int                   // batches applied (tests)
}

func newPadBatch(mix *gogst.Element) (*padBatch, error) {
	b := &padBatch{mix: mix, pending: map[*inputBin]*Region{}}
	// Nothing of the signal's parameters is converted into Go values.
	sig, err := gst.ConnectSamplesSelected(mix, b.apply)
	if err != nil {
		return nil, fmt.Errorf("compositor samples-selected: %w", err)
	}
	b.signal = sig
	return b, nil
}

// close disconnects the handler, which refers to b and b to the compositor:
// connected, it would keep the compositor alive after its pipeline is gone.
func (b *padBatch) close() {
	b.signal.Disconnect()
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.pending)
}

// set queues an input's placement (the newest one wins).
func (b *padBatch) set(ib *inputBin, r *Region) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r != nil {
		cp := *r
		r = &cp
	}
	b.pending[ib] = r
	if !b.armed {
		b.mix.SetProperty("emit-signals", true)
		b.armed = true
	}
}

// forget drops what waits for an input whose pad is about to be released.
func (b *padBatch) forget(ib *inputBin) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pending, ib)
}

// apply runs on the compositor's thread (samples-selected).
func (b *padBatch) apply() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ib, r := range b.pending {
		if ib.pad == nil {
			continue
		}
		if r == nil {
			ib.pad.SetProperty("alpha", float64(0))
			continue
		}
		ib.pad.SetProperty("xpos", r.X)
		ib.pad.SetProperty("ypos", r.Y)
		ib.pad.SetProperty("width", r.W)
		ib.pad.SetProperty("height", r.H)
		ib.pad.SetProperty("zorder", uint(r.Z+1)) // the background is zorder 0
		ib.pad.SetProperty("alpha", float64(1))
	}
	clear(b.pending)
	if b.armed {
		b.mix.SetProperty("emit-signals", false)
		b.armed = false
	}
	b.applied++
}

// remove takes the bin out of the running pipeline: the compositor pad is
// released first (waking a streaming thread waiting in it), then the bin
// is stopped and dropped. The rest of the pipeline keeps playing.
func (ib *inputBin) remove(p *gst.Pipeline, mix *gogst.Element) {
	ib.unprobe()
	if ib.pad != nil {
		mix.ReleaseRequestPad(ib.pad)
		ib.pad = nil
	}
	_ = ib.bin.SetState(gogst.StateNull)
	_ = p.Remove(ib.bin.Element)
}

// unprobe removes the keyframe probe. go-gst keeps a probe's Go callback in
// a process-wide table until the probe is removed, and the callback refers
// to the Composite: a probe left in place keeps the Composite, its pipelines
// and every input that ever joined from being freed. Safe to call twice.
func (ib *inputBin) unprobe() {
	if ib.probed != nil {
		ib.probed.RemoveProbe(ib.probe)
		ib.probed = nil
	}
}

// silence is a logger that discards, for nil loggers.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
