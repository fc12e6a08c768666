package composite

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/base"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/miksilo/miksilo/internal/gst"
	"github.com/miksilo/miksilo/internal/rtctest"
	"github.com/miksilo/miksilo/internal/sendbatch"
	me "github.com/miksilo/miksilo/mediaelements"
)

const (
	red    = 0xff0000
	green  = 0x00ff00
	blue   = 0x0000ff
	yellow = 0xffff00
	black  = 0x000000
	tol    = 48 // per channel: VP8 at small sizes and I420 chroma
)

// spot is a colour expected around a canvas point.
type spot struct {
	x, y  int
	color uint32
}

// shows reports whether every spot has its colour (the mean of a 9×9
// square around it) and describes the first one that does not.
func shows(f rtctest.Frame, spots ...spot) (bool, string) {
	for _, s := range spots {
		if got := f.Mean(s.x-4, s.y-4, 9, 9); !rtctest.Near(got, s.color, tol) {
			return false, fmt.Sprintf("(%d,%d) is #%06x, want #%06x", s.x, s.y, got, s.color)
		}
	}
	return true, ""
}

// waitShows waits for a frame that shows the spots and returns when it
// arrived.
func waitShows(t *testing.T, v *rtctest.Viewer, since time.Time, d time.Duration, what string, spots ...spot) rtctest.Frame {
	t.Helper()
	f, err := v.WaitFrame(since, d, func(f rtctest.Frame) bool { ok, _ := shows(f, spots...); return ok })
	if err != nil {
		_, why := shows(f, spots...)
		t.Fatalf("%s: no frame within %v: %s (%d frames decoded)", what, d, why, v.Frames())
	}
	return f
}

// quadrants of a 320×240 canvas and the bottom-centre cell of three.
var (
	topLeft      = func(c uint32) spot { return spot{80, 60, c} }
	topRight     = func(c uint32) spot { return spot{240, 60, c} }
	bottomLeft   = func(c uint32) spot { return spot{80, 180, c} }
	bottomRight  = func(c uint32) spot { return spot{240, 180, c} }
	bottomCentre = func(c uint32) spot { return spot{160, 180, c} }
	cornerBR     = func(c uint32) spot { return spot{310, 230, c} } // outside the bottom-centre cell
)

func savePNG(t *testing.T, f rtctest.Frame, path string) {
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	for y := 0; y < f.Height; y++ {
		for x := 0; x < f.Width; x++ {
			c := f.Pixel(x, y)
			img.Set(x, y, color.RGBA{uint8(c >> 16), uint8(c >> 8), uint8(c), 255})
		}
	}
	out, err := os.Create(path)
	if err != nil {
		t.Errorf("png: %v", err)
		return
	}
	defer out.Close()
	if err := png.Encode(out, img); err != nil {
		t.Errorf("png: %v", err)
	}
}

// TestPixels: four publishers send four colours; a viewer of a fifth port
// checks each quadrant, then the re-layouts when a publisher stops, comes
// back and when a port is released, a custom layout, and the continuity of
// the output.
func TestPixels(t *testing.T) {
	e := newEnv(t)
	pl, comp, c := e.composite(map[string]any{"width": 320, "height": 240, "framerate": 15, "inputTimeout": 400})

	colours := []uint32{red, green, blue, yellow}
	pubs := make([]*rtctest.Publisher, 4)
	ports := make([]string, 4)
	for i, col := range colours {
		pubs[i], ports[i] = e.publisher(pl, comp, col)
	}
	v, viewPort := e.viewer(pl, comp, 320, 240)

	start := time.Now()
	f := waitShows(t, v, start, wait, "four quadrants",
		topLeft(red), topRight(green), bottomLeft(blue), bottomRight(yellow))
	t.Logf("four hosts on screen %v after the viewer connected", time.Since(start).Round(time.Millisecond))
	// Frames leave one output frame (the compositor's window) plus the
	// aggregator's and the appsink's slack after their start: nothing else
	// may add latency (a live background at the output framerate would add
	// a whole frame, the old 120 fps timing source 8 ms).
	frame := time.Second / 15
	if !eventually(wait, func() bool { return c.Stats().Latency > 0 }) {
		t.Fatal("pipeline latency unknown")
	}
	lat := c.Stats().Latency
	t.Logf("pipeline latency %v at 15 fps", lat)
	if want := frame + aggregatorLatency + processingDeadline; lat < frame || lat > want+time.Millisecond {
		t.Errorf("pipeline latency %v, want %v", lat, want)
	}
	// ... which the pipeline never configures on the appsink (its latency
	// stays 0): a frame leaves as soon as it is encoded, not that long
	// after its time (docs/composite.md "Latency and cost"; the measured
	// added latency depends on it).
	c.inLoop(func() {
		el, err := c.pipe.Element("out")
		if err != nil {
			t.Error(err)
			return
		}
		if l := time.Duration(base.ToGstBaseSink(el.Object).GetLatency()); l != 0 {
			t.Errorf("the appsink's configured latency is %v, want 0 (frames would leave that much later)", l)
		}
	})
	if p := os.Getenv("MIKSILO_COMPOSITE_PNG"); p != "" {
		savePNG(t, f, p)
	}
	regs := c.Regions()
	if len(regs) != 4 {
		t.Fatalf("regions = %v, want the four publishers", regs)
	}
	if _, ok := regs[viewPort]; ok {
		t.Fatalf("the viewer's port (no media in) is placed: %v", regs)
	}
	if got := testutil.ToFloat64(e.metrics.inputs); got != 4 {
		t.Errorf("miksilo_composite_inputs = %v with four publishers, want 4", got)
	}
	for i, r := range Grid(4, 320, 240) {
		if got := regs[ports[i]].Rect(); got != r {
			t.Fatalf("port %d at %v, want %v", i, got, r)
		}
	}
	// Audio: the publishers' Opus is mixed and reaches the viewer's port.
	if !eventually(wait, func() bool { return v.AudioPackets() > 25 }) {
		t.Fatalf("viewer got %d audio packets", v.AudioPackets())
	}
	e.invoke(comp, "setMixMinus", map[string]any{"port": ports[0], "enabled": true})
	e.invoke(comp, "setGain", map[string]any{"port": ports[1], "gain": 0.5})
	e.invoke(comp, "setMute", map[string]any{"port": ports[2], "muted": true})
	v.ResetGaps()
	c.maxGap.Store(0)

	t.Run("publisher stops", func(t *testing.T) {
		c.maxGap.Store(0)
		defer func() {
			t.Logf("max output gap at the composite during this step: %v", c.Stats().MaxGap.Round(time.Millisecond))
		}()
		t0 := time.Now()
		pubs[3].Pause()
		if !eventually(2*time.Second, func() bool { return len(c.Regions()) == 3 }) {
			t.Fatalf("layout still %v", c.Regions())
		}
		laid := time.Since(t0)
		three := Grid(3, 320, 240)
		regs := c.Regions()
		for i := 0; i < 3; i++ {
			if got := regs[ports[i]].Rect(); got != three[i] {
				t.Fatalf("port %d at %v, want %v", i, got, three[i])
			}
		}
		waitShows(t, v, t0, 2*time.Second, "three after a stop", topLeft(red), topRight(green), bottomCentre(blue), cornerBR(black))
		t.Logf("re-laid out for three %v after the publisher stopped (inputTimeout 400 ms), on screen after %v",
			laid.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
		if laid > time.Second {
			t.Fatalf("re-layout took %v, want within 1 s", laid)
		}
	})

	t.Run("publisher returns", func(t *testing.T) {
		c.maxGap.Store(0)
		defer func() {
			t.Logf("max output gap at the composite during this step: %v", c.Stats().MaxGap.Round(time.Millisecond))
		}()
		t0 := time.Now()
		pubs[3].Resume()
		waitShows(t, v, t0, 3*time.Second, "four again", topLeft(red), topRight(green), bottomLeft(blue), bottomRight(yellow))
		t.Logf("back to four %v after the publisher resumed", time.Since(t0).Round(time.Millisecond))
	})

	t.Run("port released", func(t *testing.T) {
		c.maxGap.Store(0)
		defer func() {
			t.Logf("max output gap at the composite during this step: %v", c.Stats().MaxGap.Round(time.Millisecond))
		}()
		t0 := time.Now()
		e.release(ports[1])
		if !eventually(time.Second, func() bool { _, in := c.Regions()[ports[1]]; return !in && len(c.Regions()) == 3 }) {
			t.Fatalf("layout still %v", c.Regions())
		}
		laid := time.Since(t0)
		waitShows(t, v, t0, 2*time.Second, "three after a release", topLeft(red), topRight(blue), bottomCentre(yellow), cornerBR(black))
		t.Logf("re-laid out for three %v after the release, on screen after %v", laid.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	})

	t.Run("setLayout", func(t *testing.T) {
		c.maxGap.Store(0)
		defer func() {
			t.Logf("max output gap at the composite during this step: %v", c.Stats().MaxGap.Round(time.Millisecond))
		}()
		// Red fills the canvas; blue is a picture-in-picture on top; yellow
		// has no region so it is not drawn.
		layout := fmt.Sprintf(`[{"port":%q,"x":0,"y":0,"width":320,"height":240,"zOrder":0},{"port":%q,"x":200,"y":150,"width":100,"height":76,"zOrder":5}]`,
			ports[0], ports[2])
		t0 := time.Now()
		e.invoke(comp, "setLayout", map[string]any{"layout": layout})
		waitShows(t, v, t0, 3*time.Second, "custom layout", spot{60, 60, red}, spot{160, 180, red}, spot{250, 188, blue}, spot{300, 20, red})
		// Letterboxing: a 4:3 input in a 2:1 region keeps its aspect ratio,
		// centred, with the background on both sides.
		layout = fmt.Sprintf(`[{"port":%q,"x":0,"y":0,"width":320,"height":120,"zOrder":0}]`, ports[3])
		t0 = time.Now()
		e.invoke(comp, "setLayout", map[string]any{"layout": layout})
		waitShows(t, v, t0, 3*time.Second, "letterboxed", spot{160, 60, yellow}, spot{20, 60, black}, spot{300, 60, black}, spot{160, 180, black})
		t0 = time.Now()
		e.invoke(comp, "setLayout", map[string]any{"layout": ""})
		waitShows(t, v, t0, 3*time.Second, "automatic again", topLeft(red), topRight(blue), bottomCentre(yellow))
	})

	// Output continuity over the joins and leaves above: RTP timestamps of
	// consecutive frames never jump by more than two frame intervals (a
	// freeze of the mixer would), never go back. Arrival gaps (at the
	// composite's appsink, which is paced by the clock, and at the viewer)
	// are reported and bounded generously: they include goroutine
	// scheduling on a loaded machine (measured: one frame, 67 ms).
	st := v.Stats()
	cs := c.Stats()
	t.Logf("output: %d frames, max RTP timestamp step %d (%.0f ms), max gap at the composite %v, max arrival gap at the viewer %v, %d packets lost",
		st.Frames, st.MaxTSGap, float64(st.MaxTSGap)/90, cs.MaxGap.Round(time.Millisecond), st.MaxFrameGap.Round(time.Millisecond), st.Lost)
	if st.TSBackwards != 0 {
		t.Errorf("%d output frames went back in time", st.TSBackwards)
	}
	if st.MaxTSGap > 2*90000/15 {
		t.Errorf("output RTP timestamps jumped by %d (%.0f ms): a frame gap over 100 ms", st.MaxTSGap, float64(st.MaxTSGap)/90)
	}
	if cs.MaxGap > 250*time.Millisecond || st.MaxFrameGap > time.Second {
		t.Errorf("output stalled: %v at the composite, %v at the viewer", cs.MaxGap, st.MaxFrameGap)
	}
	for _, ev := range e.sink.Events(comp, "Error") {
		// The output watchdog may fire before the first frame on a CPU-starved
		// machine (start-up over 3 s: seen with -race, two test packages and
		// three busy loops on two cores); a stall once frames flow is caught by
		// the gap checks above.
		if d, _ := ev.Data["description"].(string); strings.Contains(d, "no output frame") && cs.MaxGap <= 250*time.Millisecond {
			t.Logf("watchdog: %s", d)
			continue
		}
		t.Errorf("Error event: %v", ev)
	}
}

// TestH264Output checks the H.264 paths end to end: a VP8 publisher and an
// H.264 publisher side by side, and a viewer decoding the composite's H.264.
func TestH264Output(t *testing.T) {
	e := newEnv(t)
	pl, comp, c := e.composite(map[string]any{"width": 160, "height": 120, "codec": "H264", "background": "#0000ff", "bitrate": 200000})
	// No input yet: the background colour.
	v, _ := e.viewer(pl, comp, 160, 120)
	waitShows(t, v, time.Time{}, wait, "the background", spot{80, 60, blue})
	// Video only (the audio mixer must not start; see the end).
	_, vp8Port := e.publisherWith(pl, comp, rtctest.PublisherConfig{Width: 160, Height: 120, FPS: 15, Color: green})
	waitShows(t, v, time.Time{}, wait, "the publisher filling the canvas", spot{80, 60, green}, spot{10, 10, green}, spot{150, 110, green})
	// An H.264 publisher joins: side by side, each 4:3 picture letterboxed
	// in its 80×120 half (60 pixels high, centred).
	_, h264Port := e.publisherWith(pl, comp, rtctest.PublisherConfig{Width: 160, Height: 120, FPS: 15, Color: red, Codec: "H264"})
	waitShows(t, v, time.Time{}, wait, "VP8 and H.264 inputs side by side",
		spot{40, 60, green}, spot{120, 60, red}, spot{40, 10, blue}, spot{120, 110, blue})
	if regs := c.Regions(); regs[vp8Port].Rect() != (Rect{0, 0, 80, 120}) || regs[h264Port].Rect() != (Rect{80, 0, 80, 120}) {
		t.Fatalf("regions %v", regs)
	}
	if st := v.Stats(); !strings.EqualFold(st.Codec, "video/H264") {
		t.Fatalf("viewer received %s", st.Codec)
	}
	if c.Stats().Frames == 0 {
		t.Fatal("no output frames counted")
	}
	// Neither publisher sends audio: the audio mixer never started, and a
	// setting made meanwhile is kept for when it does.
	if c.audio.Load() != nil {
		t.Fatal("the audio mixer runs without any audio input")
	}
	e.invoke(comp, "setGain", map[string]any{"port": vp8Port, "gain": 0.25})
	c.audioMu.Lock()
	g := c.audioPorts[vp8Port].gain
	c.audioMu.Unlock()
	if g != 0.25 {
		t.Fatalf("gain recorded as %v", g)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	pl := e.create("MediaPipeline", nil)
	for _, tc := range []struct {
		name  string
		ctor  map[string]any
		code  int
		words string
	}{
		{"unknown codec", map[string]any{"codec": "H265"}, me.CodeIllegalParam, "VP8 or H264"},
		{"odd width", map[string]any{"width": 321}, me.CodeIllegalParam, "even"},
		{"negative height", map[string]any{"height": -2}, me.CodeIllegalParam, "positive"},
		{"framerate", map[string]any{"framerate": 500}, me.CodeIllegalParam, "framerate"},
		{"background", map[string]any{"background": "red"}, me.CodeIllegalParam, "#RRGGBB"},
		{"bitrate type", map[string]any{"bitrate": "fast"}, me.CodeMarshall, "bitrate"},
		{"timeout", map[string]any{"inputTimeout": 5}, me.CodeIllegalParam, "inputTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ctor["mediaPipeline"] = pl
			_, err := e.tryCreate("Composite", tc.ctor)
			de := me.AsError(err)
			if de == nil || de.Code != tc.code || !strings.Contains(de.Message, tc.words) {
				t.Fatalf("create = %v, want code %d mentioning %q", err, tc.code, tc.words)
			}
		})
	}
	t.Run("missing plugin", func(t *testing.T) {
		e2 := newEnv(t, "miksilo-no-such-element")
		pl2 := e2.create("MediaPipeline", nil)
		_, err := e2.tryCreate("Composite", map[string]any{"mediaPipeline": pl2})
		de := me.AsError(err)
		if de == nil || de.Code != me.CodeNotAvailable || !strings.Contains(de.Message, "miksilo-no-such-element") {
			t.Fatalf("create = %v, want 40108 naming the missing element", err)
		}
	})

	comp := e.create("Composite", map[string]any{"mediaPipeline": pl, "width": 160, "height": 120})
	other := e.create("Composite", map[string]any{"mediaPipeline": pl, "width": 160, "height": 120})
	port := e.create("HubPort", map[string]any{"hub": comp})
	foreign := e.create("HubPort", map[string]any{"hub": other})
	for _, tc := range []struct {
		name, op string
		params   map[string]any
		code     int
	}{
		{"layout not JSON", "setLayout", map[string]any{"layout": "{"}, me.CodeIllegalParam},
		{"layout with a foreign port", "setLayout", map[string]any{"layout": fmt.Sprintf(`[{"port":%q,"width":10,"height":10}]`, foreign)}, me.CodeIllegalParam},
		{"layout outside the canvas", "setLayout", map[string]any{"layout": fmt.Sprintf(`[{"port":%q,"width":1000,"height":10}]`, port)}, me.CodeIllegalParam},
		{"gain of a foreign port", "setGain", map[string]any{"port": foreign, "gain": 1.0}, me.CodeIllegalParam},
		{"gain out of range", "setGain", map[string]any{"port": port, "gain": 11.0}, me.CodeIllegalParam},
		{"mute without a port", "setMute", map[string]any{"muted": true}, me.CodeMarshall},
		{"mix-minus of a foreign port", "setMixMinus", map[string]any{"port": foreign, "enabled": true}, me.CodeIllegalParam},
	} {
		t.Run(tc.name, func(t *testing.T) { e.failsWith(tc.code, comp, tc.op, tc.params) })
	}
	e.invoke(comp, "setLayout", map[string]any{"layout": fmt.Sprintf(`[{"port":%q,"width":80,"height":60}]`, port)})
	e.invoke(comp, "setLayout", map[string]any{"layout": "[]"})
	// Releasing the pipeline releases both composites and their ports;
	// goleak (TestMain) checks nothing is left running.
	e.release(pl)
}

// corruptVP8 is an RTP payload that claims to be a 160×120 VP8 keyframe
// whose first partition (100 bytes announced) is truncated garbage: the
// decoder fails on it.
func corruptVP8() []byte {
	p := []byte{0x10, 0x90, 0x0c, 0x00, 0x9d, 0x01, 0x2a, 0xa0, 0x00, 0x78, 0x00}
	for i := 0; i < 40; i++ {
		p = append(p, 0xff)
	}
	return p
}

// TestDecoderError: an input whose decoder fails raises an Error event on
// the Composite and is restarted; the other input stays on the canvas and
// the output keeps flowing.
func TestDecoderError(t *testing.T) {
	e := newEnv(t)
	pl, comp, c := e.composite(map[string]any{"width": 160, "height": 120})
	_, good := e.publisher(pl, comp, green)
	e.consumer(pl, comp)

	pt := e.create("PassThrough", map[string]any{"mediaPipeline": pl})
	bad := e.create("HubPort", map[string]any{"hub": comp})
	e.invoke(pt, "connect", map[string]any{"sink": bad, "mediaType": "VIDEO"})
	out := e.obj(pt).(me.MediaElement).Elem().Output(me.Video, "default")
	out.SetCodec(vp8Codec)

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // 30 corrupt keyframes a second until the test ends
		defer close(done)
		tk := time.NewTicker(33 * time.Millisecond)
		defer tk.Stop()
		for seq, ts := uint16(0), uint32(0); ; seq, ts = seq+1, ts+3000 {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			out.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 1}, Payload: corruptVP8()})
		}
	}()
	defer func() { close(stop); <-done }()

	ev := e.sink.Await(t, wait, "an Error event for the failing input", func(ev event) bool {
		return ev.Object == comp && ev.Type == "Error" && ev.Data["type"] == "STREAM_ERROR_DECODE"
	})
	desc, _ := ev.Data["description"].(string)
	if !strings.Contains(desc, bad) {
		t.Fatalf("error does not name the failing port: %q", desc)
	}
	t.Logf("Error event: %s", desc)
	// The good input is placed and the output keeps going.
	before := c.Stats().Frames
	if !eventually(5*time.Second, func() bool {
		_, placed := c.Regions()[good]
		return placed && c.Stats().Frames >= before+10
	}) {
		t.Fatalf("after the failure: regions %v, %d frames since", c.Regions(), c.Stats().Frames-before)
	}
	for _, ev := range e.sink.Events(comp, "Error") {
		d, _ := ev.Data["description"].(string)
		if strings.Contains(d, "no output frame") {
			// The output watchdog, not the input: a CPU-starved CI machine can
			// hold the pipeline for over a second while the bin is rebuilt.
			t.Logf("watchdog: %s", d)
			continue
		}
		if !strings.Contains(d, bad) {
			t.Fatalf("an Error event about something else: %q", d)
		}
	}
}

// TestStallRecovery: a video pipeline that stops producing without any
// error (seen rarely with GStreamer 1.22's live compositor) is reported
// and rebuilt; the output resumes and its sinks' stream stays continuous.
func TestStallRecovery(t *testing.T) {
	e := newEnv(t)
	pl, comp, c := e.composite(map[string]any{"width": 160, "height": 120, "framerate": 15})
	e.consumer(pl, comp)
	if !eventually(5*time.Second, func() bool { return c.Stats().Frames > 5 }) {
		t.Fatalf("no output from an empty Composite: %+v", c.Stats())
	}
	// Freeze the pipeline the way the stall looks: PLAYING elements that
	// produce nothing and post nothing.
	if !c.inLoop(func() {
		if err := c.pipe.SetState(gogst.StatePaused); err != nil {
			t.Errorf("pause: %v", err)
		}
	}) {
		t.Fatal("composite closed")
	}
	e.sink.Await(t, 5*time.Second, "the stall reported", func(ev event) bool {
		d, _ := ev.Data["description"].(string)
		return ev.Object == comp && ev.Type == "Error" && strings.Contains(d, "no output frame")
	})
	frozen := c.Stats().Frames
	if !eventually(10*time.Second, func() bool { return c.Stats().Restarts >= 1 && c.Stats().Frames > frozen+5 }) {
		t.Fatalf("output did not resume after the stall: %+v (frames when frozen %d)", c.Stats(), frozen)
	}
	if st := c.Stats(); st.MaxGap < stallTimeout {
		t.Errorf("the stall is missing from the largest gap: %+v", st)
	}
	m := e.metrics
	if got := testutil.ToFloat64(m.stalls); got != 1 {
		t.Errorf("miksilo_composite_stalls_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.restarts); got < 1 {
		t.Errorf("miksilo_composite_restarts_total = %v, want ≥ 1", got)
	}
	if got := testutil.ToFloat64(m.frames); got < float64(frozen) {
		t.Errorf("miksilo_composite_frames_total = %v, want ≥ %d", got, frozen)
	}
	e.release(pl)
}

// The ports' outputs carry the Composite's own clocks: a viewer's sender
// reports map each packet to when its media was composed (video: the
// canvas frame's running time) or mixed (audio: the block's, which is when
// its input audio arrived) — not to when it left. A video packet leaves
// the synchronised appsink about processingDeadline after its frame's
// time; an audio packet leaves after the mixer's deadline (≥ 60 ms by
// construction, ~85 ms measured). Reports written from send times (pion's
// own) put both near zero, and receivers then played the audio ~60 ms
// late against the video.
func TestSenderClocks(t *testing.T) {
	e := newEnv(t)
	pl, comp, c := e.composite(map[string]any{"width": 160, "height": 120, "framerate": 30})
	e.publisherWith(pl, comp, rtctest.PublisherConfig{Width: 160, Height: 120, FPS: 30, Color: red, Audio: true, AudioFreq: 440})
	v, _ := e.viewer(pl, comp, 160, 120)
	if !eventually(wait, func() bool { return c.Stats().Latency > 0 }) {
		t.Fatal("pipeline latency unknown")
	}
	lat := c.Stats().Latency
	var video, audio time.Duration
	ok := eventually(3*wait, func() bool {
		var nv, na int
		video, nv = v.ClockLag(webrtc.RTPCodecTypeVideo)
		audio, na = v.ClockLag(webrtc.RTPCodecTypeAudio)
		return nv >= 100 && na >= 100
	})
	if !ok {
		t.Fatal("the viewer got no sender reports for both kinds")
	}
	t.Logf("composed/mixed → arrival at the viewer by the reports: video %v, audio %v (video pipeline latency %v)", video, audio, lat)
	if video < processingDeadline/2 || video > lat+30*time.Millisecond {
		t.Errorf("video arrives %v after its media was composed by the reports, want between %v and %v", video, processingDeadline/2, lat+30*time.Millisecond)
	}
	if audio < 40*time.Millisecond || audio > 300*time.Millisecond {
		t.Errorf("audio arrives %v after its media was mixed by the reports, want the mixer's latency (~85 ms)", audio)
	}
	if audio-video < 20*time.Millisecond {
		t.Errorf("the reports put audio %v and video %v after their media: the audio's later departure is not in them", audio, video)
	}
}

// TestIdleWithoutSinks: with no sink on any port's output the Composite
// stops encoding (after idleAfter), without a stall report; the first sink
// gets frames again at once, starting with a keyframe, and the idle spell
// counts as no gap.
func TestIdleWithoutSinks(t *testing.T) {
	e := newEnv(t)
	pl, comp, c := e.composite(map[string]any{"width": 160, "height": 120, "framerate": 15})
	if !eventually(wait, func() bool { return c.Stats().Idle }) {
		t.Fatalf("not idle without sinks: %+v", c.Stats())
	}
	if got := testutil.ToFloat64(e.metrics.idles); got != 1 {
		t.Errorf("miksilo_composite_idle = %v, want 1", got)
	}
	time.Sleep(200 * time.Millisecond) // a frame in flight at the switch
	frames := c.Stats().Frames
	time.Sleep(stallTimeout + restartAfter + 500*time.Millisecond)
	if st := c.Stats(); st.Frames != frames || st.Restarts != 0 {
		t.Fatalf("idle, yet %d frames encoded (or restarts): %+v", st.Frames-frames, st)
	}
	// The compositor keeps the clock's pace: its output position stays
	// within a frame or so of the running time (composing as fast as it
	// can, unsynchronised, it ran seconds ahead and took a whole CPU).
	var ahead time.Duration
	c.inLoop(func() {
		if ok, pos := c.mix.QueryPosition(gogst.FormatTime); ok {
			ahead = time.Duration(pos) - gst.RunningTime(c.mix)
		}
	})
	t.Logf("idle compositor's position − running time: %v", ahead)
	if ahead > 200*time.Millisecond {
		t.Errorf("idle compositor runs %v ahead of the clock", ahead)
	}
	e.publisher(pl, comp, green) // an input, still nobody watching
	time.Sleep(time.Second)
	if st := c.Stats(); st.Frames != frames || !st.Idle {
		t.Fatalf("idle with an input, yet %d frames encoded: %+v", st.Frames-frames, st)
	}

	v, _ := e.viewer(pl, comp, 160, 120)
	waitShows(t, v, time.Time{}, wait, "the input after the idle spell", spot{80, 60, green})
	if st := c.Stats(); st.Idle || st.MaxGap > time.Second {
		t.Errorf("after a sink came: %+v (the idle spell must not count as a gap)", st)
	}
	if got := testutil.ToFloat64(e.metrics.idles); got != 0 {
		t.Errorf("miksilo_composite_idle = %v, want 0", got)
	}
	if evs := e.sink.Events(comp, "Error"); len(evs) != 0 {
		t.Errorf("Error events: %v", evs)
	}
}

// TestOutputBursts: each encoded frame's packets leave for a viewer in one
// sendmmsg (internal/sendbatch through Output.WriteBurst), and the viewer
// decodes the pictures.
func TestOutputBursts(t *testing.T) {
	e := newEnv(t)
	pl, comp, _ := e.composite(map[string]any{"width": 320, "height": 240, "framerate": 15, "bitrate": 2_000_000})
	// Noise: the encoder spends its whole budget, ~17 KB (~14 packets) a frame.
	e.publisherWith(pl, comp, rtctest.PublisherConfig{Width: 320, Height: 240, FPS: 15, Pattern: "snow"})
	calls0, datagrams0, _ := sendbatch.Stats()
	v, _ := e.viewer(pl, comp, 320, 240)
	if _, err := v.WaitFrame(time.Now(), wait, func(rtctest.Frame) bool { return true }); err != nil {
		t.Fatalf("the viewer decoded nothing: %v", err)
	}
	var calls, datagrams uint64
	if !eventually(wait, func() bool {
		c, d, _ := sendbatch.Stats()
		calls, datagrams = c-calls0, d-datagrams0
		return calls >= 30
	}) {
		t.Fatalf("%d bursts sent with sendmmsg in %v, want 30 (a frame each)", calls, wait)
	}
	mean := float64(datagrams) / float64(calls)
	t.Logf("%d bursts, %d datagrams: %.1f packets per sendmmsg", calls, datagrams, mean)
	if mean < 4 {
		t.Errorf("%.1f datagrams per burst: the frames' packets did not leave together", mean)
	}
	if _, err := v.WaitFrame(time.Now(), wait, func(rtctest.Frame) bool { return true }); err != nil {
		t.Fatalf("the viewer stopped decoding: %v", err)
	}
}
