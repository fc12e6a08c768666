package transcode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/miksilo/miksilo/internal/gst"
	me "github.com/miksilo/miksilo/mediaelements"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 10 * time.Second

var (
	vp8  = me.Codec{MimeType: "video/VP8", ClockRate: 90000, PayloadType: 96}
	h264 = me.Codec{MimeType: "video/H264", ClockRate: 90000, PayloadType: 102, Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	vp9  = me.Codec{MimeType: "video/VP9", ClockRate: 90000, PayloadType: 98}
	opus = me.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2, PayloadType: 111}
	pcmu = me.Codec{MimeType: "audio/PCMU", ClockRate: 8000, PayloadType: 0}
	pcma = me.Codec{MimeType: "audio/PCMA", ClockRate: 8000, PayloadType: 8}
)

// rtpSource is a GStreamer pipeline in the test producing RTP packets.
type rtpSource struct {
	p    *gst.Pipeline
	enc  *gogst.Element
	sink *gst.AppSink
}

// startSource runs a pipeline producing RTP packets, with an element named
// enc, and hands each packet to fn.
func startSource(t *testing.T, desc string, fn func(*rtp.Packet)) *rtpSource {
	t.Helper()
	p, err := gst.Parse("test-source", desc+" ! appsink name=sink sync=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	els, err := p.Elements("enc", "sink")
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		p.Close()
		t.Fatal(err)
	}
	s := &rtpSource{p: p, enc: els[0]}
	if s.sink, err = gst.RunAppSink(els[1], func(smp gst.Sample) {
		pk := &rtp.Packet{}
		if err := pk.Unmarshal(smp.Data); err == nil {
			fn(pk)
		}
	}); err != nil {
		p.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.sink.Stop()
		s.p.Close()
	})
	return s
}

// decoder depayloads and decodes RTP in GStreamer and yields raw frames.
type decoder struct {
	p      *gst.Pipeline
	src    *gst.AppSrc
	sink   *gst.AppSink
	frames chan []byte
	mu     sync.Mutex
	buf    []byte
	pkts   atomic.Int64
	pt     atomic.Int64
}

func startDecoder(t *testing.T, rtpCaps, chain string) *decoder {
	t.Helper()
	desc := fmt.Sprintf("appsrc name=src format=time is-live=true do-timestamp=true block=false caps=%q ! rtpjitterbuffer latency=50 ! %s ! appsink name=sink sync=false", rtpCaps, chain)
	p, err := gst.Parse("test-decoder", desc, nil)
	if err != nil {
		t.Fatal(err)
	}
	els, err := p.Elements("src", "sink")
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		p.Close()
		t.Fatal(err)
	}
	d := &decoder{p: p, src: gst.NewAppSrc(els[0]), frames: make(chan []byte, 1000)}
	d.pt.Store(-1)
	var err2 error
	if d.sink, err2 = gst.RunAppSink(els[1], func(s gst.Sample) {
		select {
		case d.frames <- s.Data:
		default:
		}
	}); err2 != nil {
		p.Close()
		t.Fatal(err2)
	}
	t.Cleanup(func() {
		d.sink.Stop()
		d.p.Close()
	})
	return d
}

func (d *decoder) write(p *rtp.Packet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pkts.Add(1)
	d.pt.Store(int64(p.PayloadType))
	b, err := p.Marshal()
	if err == nil {
		_ = d.src.Push(b)
	}
}

func (d *decoder) frame(t *testing.T) []byte {
	t.Helper()
	select {
	case f := <-d.frames:
		return f
	case <-time.After(wait):
		t.Fatalf("no decoded frame (%d packets reached the decoder)", d.pkts.Load())
		return nil
	}
}

func newTranscoder(t *testing.T, f *Factory, from, to me.Codec) *Transcoder {
	t.Helper()
	tc, err := f.New(from, to, nil)
	if errors.Is(err, gst.ErrMissingPlugin) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return tc.(*Transcoder)
}

// The colour of the test pattern (videotestsrc foreground-color is ARGB).
const argb = 0xff3070d0

func near(a, b byte) bool { return math.Abs(float64(a)-float64(b)) <= 24 }

// checkSolid checks an RGB frame's size and that its pixels keep the colour.
func checkSolid(t *testing.T, f []byte, w, h int) {
	t.Helper()
	if len(f) != w*h*3 {
		t.Fatalf("frame of %d bytes, want %dx%d RGB (%d)", len(f), w, h, w*h*3)
	}
	r, g, b := byte(argb>>16&0xff), byte(argb>>8&0xff), byte(argb&0xff)
	for _, px := range []int{0, w*h/2 + w/2, w*h - 1} {
		pr, pg, pb := f[px*3], f[px*3+1], f[px*3+2]
		if !near(pr, r) || !near(pg, g) || !near(pb, b) {
			t.Fatalf("pixel %d is %d,%d,%d, want about %d,%d,%d", px, pr, pg, pb, r, g, b)
		}
	}
}

// each adapts a per-packet consumer to OnPackets.
func each(fn func(*rtp.Packet)) func([]*rtp.Packet) {
	return func(ps []*rtp.Packet) {
		for _, p := range ps {
			fn(p)
		}
	}
}

// TestFramesLeaveTogether: a frame the encoder splits over several RTP
// packets reaches OnPackets in one call (the payloader's buffer list: a VP8
// frame, an H.264 NAL unit's fragments), so the media plane sends it to each
// viewer as one burst.
func TestFramesLeaveTogether(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to me.Codec
		encode   string
	}{
		{"VP8 to H264", vp8, h264, "vp8enc name=enc deadline=1 target-bitrate=2000000 ! rtpvp8pay pt=96 mtu=1200"},
		{"H264 to VP8", h264, vp8, "x264enc name=enc tune=zerolatency speed-preset=ultrafast bitrate=2000 ! video/x-h264,profile=constrained-baseline ! rtph264pay pt=102 config-interval=-1 mtu=1200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTranscoder(t, NewFactory(WithVideoBitrate(2_000_000)), tc.from, tc.to)
			var calls, packets, multi atomic.Int64
			tr.OnPackets(func(ps []*rtp.Packet) {
				calls.Add(1)
				packets.Add(int64(len(ps)))
				if len(ps) > 1 {
					multi.Add(1)
					for i, p := range ps {
						// One frame's packets (H.264: one NAL unit's fragments;
						// the frame's marker comes with its last NAL unit).
						if p.Timestamp != ps[0].Timestamp || (p.Marker && i != len(ps)-1) {
							t.Errorf("a burst of %d: packet %d has timestamp %d (first %d), marker %v", len(ps), i, p.Timestamp, ps[0].Timestamp, p.Marker)
						}
					}
				}
			})
			// Noise: every frame takes many packets at 2 Mb/s.
			startSource(t, "videotestsrc is-live=true pattern=snow ! video/x-raw,width=320,height=240,framerate=15/1 ! "+tc.encode, tr.Write)
			deadline := time.Now().Add(wait)
			for multi.Load() < 10 {
				if time.Now().After(deadline) {
					t.Fatalf("%d calls of %d packets, %d of more than one packet, in %v: frames do not leave together", calls.Load(), packets.Load(), multi.Load(), wait)
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("%d calls, %d packets: %.1f per call", calls.Load(), packets.Load(), float64(packets.Load())/float64(calls.Load()))
		})
	}
}

const testPattern = "videotestsrc is-live=true pattern=solid-color foreground-color=%d ! video/x-raw,width=160,height=120,framerate=15/1 ! "

// isKeyframe reports whether an RTP payload starts a keyframe.
func isKeyframe(c me.Codec, payload []byte) bool {
	switch c.MimeType {
	case "video/H264":
		if len(payload) < 1 {
			return false
		}
		switch payload[0] & 0x1f {
		case 5, 7: // IDR, SPS
			return true
		case 24: // STAP-A: look at the aggregated NAL units
			for b := payload[1:]; len(b) > 2; {
				n := int(binary.BigEndian.Uint16(b))
				if len(b) < 2+n || n == 0 {
					return false
				}
				if t := b[2] & 0x1f; t == 5 || t == 7 {
					return true
				}
				b = b[2+n:]
			}
		case 28: // FU-A start of an IDR
			return len(payload) > 1 && payload[1]&0x80 != 0 && payload[1]&0x1f == 5
		}
	case "video/VP8":
		return vp8Keyframe(payload)
	}
	return false
}

// vp8Keyframe parses just enough of the VP8 payload descriptor (RFC 7741).
func vp8Keyframe(p []byte) bool {
	if len(p) < 1 || p[0]&0x10 == 0 { // S bit: start of a partition
		return false
	}
	i := 1
	if p[0]&0x80 != 0 { // X
		if len(p) < 2 {
			return false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L
			i++
		}
		if x&0x30 != 0 { // T or K
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0 // P bit clear: keyframe
}

func TestVideoTranscoding(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to me.Codec
		encode   string // test source encoder and payloader
		decode   string // caps and chain of the checking decoder
		decCaps  string
	}{
		// The source sends VP8 as 96; the transcoder was told 100 (a source
		// that changed its payload type): it still takes the packets.
		{"VP8 to H264", me.Codec{MimeType: "video/VP8", ClockRate: 90000, PayloadType: 100}, h264,
			"vp8enc name=enc deadline=1 keyframe-max-dist=1000 ! rtpvp8pay pt=96 mtu=1200",
			"rtph264depay ! avdec_h264 ! videoconvert ! video/x-raw,format=RGB",
			"application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=102"},
		{"H264 to VP8", h264, vp8,
			"x264enc name=enc tune=zerolatency speed-preset=ultrafast key-int-max=1000 ! video/x-h264,profile=constrained-baseline ! rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency mtu=1200",
			"rtpvp8depay ! vp8dec ! videoconvert ! video/x-raw,format=RGB",
			"application/x-rtp,media=video,clock-rate=90000,encoding-name=VP8,payload=96"},
		{"VP9 to VP8", vp9, vp8,
			"vp9enc name=enc deadline=1 cpu-used=8 keyframe-max-dist=1000 ! rtpvp9pay pt=98 mtu=1200",
			"rtpvp8depay ! vp8dec ! videoconvert ! video/x-raw,format=RGB",
			"application/x-rtp,media=video,clock-rate=90000,encoding-name=VP8,payload=96"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := startDecoder(t, tc.decCaps, tc.decode)
			tr := newTranscoder(t, NewFactory(WithVideoBitrate(300_000)), tc.from, tc.to)
			var keyframes atomic.Int64
			var bursts atomic.Int64 // of more than one packet
			tr.OnPackets(func(ps []*rtp.Packet) {
				if len(ps) > 1 {
					bursts.Add(1)
				}
				for _, p := range ps {
					if isKeyframe(tc.to, p.Payload) {
						keyframes.Add(1)
					}
					dec.write(p)
				}
			})
			startSource(t, fmt.Sprintf(testPattern, argb)+tc.encode, tr.Write)

			// Frames come out in the target codec, the right size and colour.
			for range 5 {
				checkSolid(t, dec.frame(t), 160, 120)
			}
			if pt := dec.pt.Load(); pt != int64(tc.to.PayloadType) {
				t.Fatalf("payload type %d, want %d", pt, tc.to.PayloadType)
			}
			if keyframes.Load() == 0 {
				t.Fatal("no keyframe in the output")
			}
			// A sink's keyframe request: the encoder sends a keyframe (its
			// own interval is far longer than the wait).
			before := keyframes.Load()
			tr.ForceKeyframe()
			deadline := time.Now().Add(wait)
			for keyframes.Load() == before {
				if time.Now().After(deadline) {
					t.Fatal("no keyframe after ForceKeyframe")
				}
				time.Sleep(10 * time.Millisecond)
			}
			st := tr.Stats()
			if st.PacketsIn == 0 || st.PacketsOut == 0 || st.Malformed != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// A transcoder that joins a stream after its keyframe asks the source for
// one, and starts when it comes.
func TestKeyframeNeededAsksTheSource(t *testing.T) {
	dec := startDecoder(t, "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=102",
		"rtph264depay ! avdec_h264 ! videoconvert ! video/x-raw,format=RGB")
	tr := newTranscoder(t, NewFactory(), vp8, h264)
	tr.OnPackets(each(dec.write))
	asked := make(chan struct{}, 100)
	tr.OnKeyframeNeeded(func() { asked <- struct{}{} })
	var skip atomic.Int64
	var src *rtpSource
	started := make(chan struct{})
	src = startSource(t, fmt.Sprintf(testPattern, argb)+"vp8enc name=enc deadline=1 keyframe-max-dist=100000 ! rtpvp8pay pt=96 mtu=1200", func(p *rtp.Packet) {
		// Miss the stream's first second (and its only keyframe).
		if skip.Add(1) < 15 {
			return
		}
		select {
		case <-started:
		default:
			close(started)
		}
		tr.Write(p)
	})
	<-started
	select {
	case <-asked:
	case <-time.After(wait):
		t.Fatal("the transcoder never asked its source for a keyframe")
	}
	select {
	case f := <-dec.frames:
		t.Fatalf("a frame (%d bytes) came out before any keyframe went in", len(f))
	default:
	}
	gst.ForceKeyUnit(src.enc) // the source answers
	checkSolid(t, dec.frame(t), 160, 120)
	if tr.Stats().KeyframesAsked == 0 {
		t.Fatal("KeyframesAsked not counted")
	}
}

func TestAudioTranscoding(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to me.Codec
		encode   string
		decCaps  string
		decode   string
	}{
		{"Opus to PCMU", opus, pcmu, "opusenc name=enc ! rtpopuspay pt=111",
			"application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0", "rtppcmudepay ! mulawdec"},
		{"PCMA to Opus", pcma, opus, "alawenc name=enc ! rtppcmapay pt=8",
			"application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=111", "rtpopusdepay ! opusdec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := startDecoder(t, tc.decCaps, tc.decode+" ! audioconvert ! audio/x-raw,format=S16LE,channels=1")
			tr := newTranscoder(t, NewFactory(), tc.from, tc.to)
			tr.OnPackets(each(dec.write))
			rate := 48000
			if tc.from.ClockRate == 8000 {
				rate = 8000
			}
			startSource(t, fmt.Sprintf("audiotestsrc is-live=true wave=sine freq=440 volume=0.5 samplesperbuffer=%d ! audio/x-raw,rate=%d,channels=1 ! ", rate/50, rate)+tc.encode, tr.Write)
			// Loud audio comes out (a sine at half volume: RMS about 0.35 of full scale).
			deadline := time.Now().Add(wait)
			for {
				f := dec.frame(t)
				var sum float64
				for i := 0; i+1 < len(f); i += 2 {
					v := float64(int16(binary.LittleEndian.Uint16(f[i:]))) / 32768
					sum += v * v
				}
				if n := len(f) / 2; n > 0 && math.Sqrt(sum/float64(n)) > 0.2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("only silence came out")
				}
			}
			if pt := dec.pt.Load(); pt != int64(tc.to.PayloadType) {
				t.Fatalf("payload type %d, want %d", pt, tc.to.PayloadType)
			}
		})
	}
}

func TestUnsupportedPairs(t *testing.T) {
	f := NewFactory()
	for _, tc := range []struct {
		name     string
		from, to me.Codec
	}{
		{"video to audio", vp8, opus},
		{"to VP9", vp8, vp9},
		{"unknown codec", me.Codec{MimeType: "video/AV1", ClockRate: 90000}, vp8},
		{"H264 packetization-mode 0", vp8, me.Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "profile-level-id=42e01f"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := f.New(tc.from, tc.to, nil)
			if err == nil {
				tr.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, me.ErrUnsupportedTranscoding) {
				t.Fatalf("error %v does not wrap ErrUnsupportedTranscoding", err)
			}
		})
	}
}

// Close is prompt and final even while packets arrive.
func TestCloseWhileWriting(t *testing.T) {
	tr := newTranscoder(t, NewFactory(), vp8, h264)
	var out atomic.Int64
	tr.OnPackets(func(ps []*rtp.Packet) { out.Add(int64(len(ps))) })
	startSource(t, fmt.Sprintf(testPattern, argb)+"vp8enc name=enc deadline=1 ! rtpvp8pay pt=96", tr.Write) // goes on after Close: ignored
	deadline := time.Now().Add(wait)
	for out.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no output")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tr.Close()
	n := out.Load()
	tr.ForceKeyframe() // safe after Close
	time.Sleep(200 * time.Millisecond)
	if out.Load() != n {
		t.Fatal("packets after Close")
	}
}

// Every pair docs/webrtc.md lists builds a pipeline that starts (the pairs
// with media tests above also carry data).
func TestSupportedPairsStart(t *testing.T) {
	f := NewFactory()
	for _, p := range [][2]me.Codec{{vp8, h264}, {h264, vp8}, {vp9, vp8}, {vp9, h264},
		{opus, pcmu}, {opus, pcma}, {pcmu, opus}, {pcma, opus}, {pcmu, pcma}, {pcma, pcmu}} {
		t.Run(p[0].MimeType+" to "+p[1].MimeType, func(t *testing.T) {
			tr := newTranscoder(t, f, p[0], p[1])
			tr.Write(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: p[0].PayloadType, SequenceNumber: 1}, Payload: []byte{0, 0, 0, 0}})
			tr.Close()
		})
	}
}

// A fatal pipeline error (here posted by the encoder) is reported through
// OnError and the pipeline is rebuilt: the source is asked for a keyframe
// and frames come out again. The fourth error within a minute stops the
// transcoder; Write goes on without effect.
func TestPipelineErrorRestarts(t *testing.T) {
	dec := startDecoder(t, "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=102",
		"rtph264depay ! avdec_h264 ! videoconvert ! video/x-raw,format=RGB")
	tr := newTranscoder(t, NewFactory(WithVideoBitrate(300_000)), vp8, h264)
	tr.OnPackets(each(dec.write))
	errs := make(chan error, 10)
	tr.OnError(func(err error) { errs <- err })
	var src atomic.Pointer[rtpSource]
	var asked atomic.Int64
	tr.OnKeyframeNeeded(func() {
		asked.Add(1)
		if s := src.Load(); s != nil {
			gst.ForceKeyUnit(s.enc) // the source answers
		}
	})
	// The source's own keyframe interval is far longer than the test: the
	// rebuilt decoder starts only on the keyframe the transcoder asks for.
	src.Store(startSource(t, fmt.Sprintf(testPattern, argb)+"vp8enc name=enc deadline=1 keyframe-max-dist=100000 ! rtpvp8pay pt=96 mtu=1200", tr.Write))
	checkSolid(t, dec.frame(t), 160, 120)

	fail := func() error {
		t.Helper()
		pp := tr.cur.Load()
		if pp == nil {
			t.Fatal("no running pipeline")
		}
		pp.enc.ErrorMessage(gogst.DomainStream, gogst.StreamErrorFailed, "injected failure", "injected failure")
		select {
		case err := <-errs:
			return err
		case <-time.After(wait):
			t.Fatal("no OnError after a pipeline error")
			return nil
		}
	}
	for i := 1; i <= maxRestarts; i++ {
		askedBefore := asked.Load()
		err := fail()
		if !strings.Contains(err.Error(), "injected failure") || !strings.Contains(err.Error(), "restarted") {
			t.Fatalf("error %d: %v", i, err)
		}
		if st := tr.Stats(); st.Restarts != uint64(i) || st.Stopped {
			t.Fatalf("after error %d: %+v", i, st)
		}
		if asked.Load() == askedBefore {
			t.Fatal("the restart did not ask the source for a keyframe")
		}
		// Frames come out of the new pipeline.
		for len(dec.frames) > 0 {
			<-dec.frames
		}
		out := tr.Stats().PacketsOut
		checkSolid(t, dec.frame(t), 160, 120)
		if tr.Stats().PacketsOut == out {
			t.Fatal("a frame without new packets")
		}
	}
	err := fail()
	if !errors.Is(err, me.ErrTranscoderStopped) || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("error %d: %v", maxRestarts+1, err)
	}
	st := tr.Stats()
	if !st.Stopped || st.Restarts != maxRestarts || st.Errors != maxRestarts+1 {
		t.Fatalf("after giving up: %+v", st)
	}
	in := st.PacketsIn
	time.Sleep(300 * time.Millisecond) // the source keeps writing
	if got := tr.Stats().PacketsIn; got != in {
		t.Fatalf("a stopped transcoder took %d packets", got-in)
	}
}

// A failure reported while a stale one waits replaces it: the run loop sees
// the current incarnation's failure.
func TestReportKeepsNewestFailure(t *testing.T) {
	tr := &Transcoder{failed: make(chan failure, 1)}
	tr.report(failure{gen: 1, msg: gst.Message{Text: "old"}})
	tr.report(failure{gen: 2, msg: gst.Message{Text: "new"}})
	if f := <-tr.failed; f.gen != 2 || f.msg.Text != "new" {
		t.Fatalf("got %+v, want the newest", f)
	}
	select {
	case f := <-tr.failed:
		t.Fatalf("a second failure queued: %+v", f)
	default:
	}
}

// TestClosedTranscoderIsFreed: a transcoder that ran and was closed leaves
// no GStreamer pipeline behind once its wrappers are collected.
func TestClosedTranscoderIsFreed(t *testing.T) {
	pipelines := func(want int) int {
		deadline := time.Now().Add(3 * time.Second)
		for gst.Alive(gst.KindPipeline) > want && time.Now().Before(deadline) {
			runtime.GC()
			time.Sleep(20 * time.Millisecond)
		}
		return gst.Alive(gst.KindPipeline)
	}
	base := pipelines(0)                        // whatever earlier tests still hold
	var write atomic.Pointer[func(*rtp.Packet)] // the source outlives the transcoder
	func() {
		tc, err := NewFactory(WithVideoBitrate(300_000)).New(vp8, h264, nil)
		if errors.Is(err, gst.ErrMissingPlugin) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		tr := tc.(*Transcoder)
		var out atomic.Int64
		tr.OnPackets(func(ps []*rtp.Packet) { out.Add(int64(len(ps))) })
		w := tr.Write
		write.Store(&w)
		startSource(t, fmt.Sprintf(testPattern, argb)+"vp8enc name=enc deadline=1 keyframe-max-dist=1000 ! rtpvp8pay pt=96 mtu=1200", func(p *rtp.Packet) {
			if w := write.Load(); w != nil {
				(*w)(p)
			}
		})
		deadline := time.Now().Add(wait)
		for out.Load() < 10 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if out.Load() < 10 {
			t.Fatalf("%d packets out", out.Load())
		}
		if n := gst.Alive(gst.KindPipeline); n < base+2 {
			t.Fatalf("the running transcoder's pipeline is not counted (%d alive, %d before it and the source)", n, base)
		}
		write.Store(nil)
		tr.Close()
	}()
	if n := pipelines(base + 1); n != base+1 { // the source's is left
		t.Fatalf("%d pipelines alive after the transcoder's Close, %d with the source alone: %+v", n, base+1, gst.AliveObjects())
	}
}
