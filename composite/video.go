package composite

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	gogst "github.com/go-gst/go-gst/gst"

	"github.com/miksilo/miksilo/internal/gst"
)

// The video mixer: one live GStreamer pipeline per Composite.
//
//	videotestsrc (live, solid background colour) ─┐
//	input bin 1: appsrc ! depay ! dec ────────────┤ compositor ! caps(w,h,fps) ! encoder ! payloader ! appsink → Go
//	input bin N: …                   ─────────────┘
//
// Input bins are added to and removed from the running pipeline; the live
// background source keeps the compositor producing frames at the
// framerate whatever the inputs do, so output timestamps stay continuous.

// aggregatorLatency is extra time the compositor waits for inputs past each
// output frame's deadline (decode time of late inputs). The compositor's
// pipeline latency is this plus the background source's (one frame) plus
// one output frame (videoaggregator): frame [T, T+d) leaves at about
// T + 2d + aggregatorLatency.
const aggregatorLatency = 10 * time.Millisecond

// backgroundFPS is the background source's framerate. A live source's
// latency is one of its frames and the compositor waits for it on every
// output frame, so the background runs faster than the output (the
// compositor takes the latest): 17 ms instead of a whole output frame.
const backgroundFPS = 60

// mixerLaunch is the gst-launch description of the pipeline around the
// compositor, which newCompositor adds: the background branch ends in
// capsfilter "bgcaps", the output branch starts at capsfilter "outcaps".
//
// The live background source makes the compositor live: it produces a
// frame every 1/framerate on the clock with or without inputs. (A non-live
// background with force-live=true, which would save the background's frame
// of latency, stalled the output for over 1 s in one of two test runs with
// GStreamer 1.22.) The appsink syncs on the clock: the live compositor
// sends a frame early when every input has data and at its deadline when
// one is late or has just stopped, so unsynced output jitters by up to the
// pipeline latency (measured: 150 ms gaps when a publisher stops); synced,
// frames leave one frame interval apart, at a constant latency.
func mixerLaunch(s Settings) string {
	caps := fmt.Sprintf("video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1", s.Width, s.Height, s.Framerate)
	bgCaps := fmt.Sprintf("video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1", s.Width, s.Height, backgroundFPS)
	return fmt.Sprintf("videotestsrc name=bg is-live=true pattern=solid-color foreground-color=%d ! capsfilter name=bgcaps caps=%s "+
		"capsfilter name=outcaps caps=%s ! %s ! %s ! appsink name=out sync=true async=false max-buffers=1000 drop=true",
		0xff000000|s.background, bgCaps, caps, VideoEncoderLaunch(s.Codec, s.Bitrate, s.Framerate), VideoPayloaderLaunch(s.Codec))
}

// newCompositor creates the compositor and links it between the
// background and output branches of p.
func newCompositor(p *gst.Pipeline) (*gogst.Element, error) {
	mix, err := gogst.NewElementWithProperties("compositor", map[string]interface{}{
		"name": "mix", "ignore-inactive-pads": true, "latency": uint64(aggregatorLatency.Nanoseconds()),
	})
	if err != nil {
		return nil, fmt.Errorf("compositor: %w", err)
	}
	mix.SetArg("background", "black")
	if err := p.Add(mix); err != nil {
		return nil, err
	}
	els, err := p.Elements("bgcaps", "outcaps")
	if err != nil {
		return nil, err
	}
	pad := mix.GetRequestPad("sink_%u")
	src := els[0].GetStaticPad("src")
	if pad == nil || src == nil {
		return nil, fmt.Errorf("compositor: no background pad")
	}
	if r := src.Link(pad); r != gogst.PadLinkOK {
		return nil, fmt.Errorf("compositor: link background: %s", r)
	}
	pad.SetProperty("zorder", uint(0))
	if err := mix.Link(els[1]); err != nil {
		return nil, fmt.Errorf("compositor: link output: %w", err)
	}
	return mix, nil
}

// requiredElements are the factories a Composite with codec needs.
func requiredElements(codec string) []string {
	names := []string{"compositor", "videotestsrc", "appsrc", "appsink", "rtpvp8depay", "vp8dec", "rtph264depay", "h264parse", "avdec_h264"}
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

// place applies a region (or hides the input when r is nil).
func (ib *inputBin) place(r *Region) {
	if r == nil {
		if ib.shown {
			ib.pad.SetProperty("alpha", float64(0))
			ib.shown = false
		}
		return
	}
	if ib.shown && ib.placed == *r {
		return
	}
	ib.pad.SetProperty("xpos", r.X)
	ib.pad.SetProperty("ypos", r.Y)
	ib.pad.SetProperty("width", r.W)
	ib.pad.SetProperty("height", r.H)
	ib.pad.SetProperty("zorder", uint(r.Z+1)) // the background is zorder 0
	if !ib.shown {
		ib.pad.SetProperty("alpha", float64(1))
	}
	ib.placed, ib.shown = *r, true
}

// remove takes the bin out of the running pipeline: the compositor pad is
// released first (waking a streaming thread waiting in it), then the bin
// is stopped and dropped. The rest of the pipeline keeps playing.
func (ib *inputBin) remove(p *gst.Pipeline, mix *gogst.Element) {
	if ib.pad != nil {
		mix.ReleaseRequestPad(ib.pad)
		ib.pad = nil
	}
	_ = ib.bin.SetState(gogst.StateNull)
	_ = p.Remove(ib.bin.Element)
}

// silence is a logger that discards, for nil loggers.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
