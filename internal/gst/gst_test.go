package gst

import (
	"bytes"
	"testing"
	"time"

	gogst "github.com/go-gst/go-gst/gst"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMissing(t *testing.T) {
	if m := Missing("fakesink", "no-such-element-miksilo"); len(m) != 1 || m[0] != "no-such-element-miksilo" {
		t.Fatalf("Missing = %v", m)
	}
	if err := Require("no-such-element-miksilo"); err == nil {
		t.Fatal("Require of a missing element succeeded")
	}
}

func TestAppSrcToAppSink(t *testing.T) {
	p, err := Parse("roundtrip", "appsrc name=src format=time is-live=true do-timestamp=true caps=application/x-miksilo ! appsink name=sink sync=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	els, err := p.Elements("src", "sink")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	got := make(chan Sample, 16)
	sink := RunAppSink(els[1], func(s Sample) { got <- s })
	defer sink.Stop()
	src := NewAppSrc(els[0])
	want := [][]byte{[]byte("one"), bytes.Repeat([]byte{7}, 5000), []byte("three")}
	for _, w := range want {
		if err := src.Push(w); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range want {
		select {
		case s := <-got:
			if !bytes.Equal(s.Data, w) {
				t.Fatalf("sample %d: %d bytes, want %d", i, len(s.Data), len(w))
			}
			if s.PTS < 0 {
				t.Fatalf("sample %d not timestamped by the live appsrc", i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("sample %d never arrived", i)
		}
	}
}

func TestForceKeyUnit(t *testing.T) {
	p, err := Parse("fku", "videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=30/1 ! vp8enc name=enc deadline=1 keyframe-max-dist=100000 ! appsink name=sink sync=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	els, err := p.Elements("enc", "sink")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	keys := make(chan bool, 1000)
	sink := RunAppSink(els[1], func(s Sample) { keys <- !s.Delta })
	defer sink.Stop()
	// The first frame is a keyframe; then none until one is forced.
	waitFrames := func(n int) (kf int) {
		for i := 0; i < n; i++ {
			select {
			case k := <-keys:
				if k {
					kf++
				}
			case <-time.After(5 * time.Second):
				t.Fatal("encoder stalled")
			}
		}
		return kf
	}
	if kf := waitFrames(10); kf != 1 {
		t.Fatalf("%d keyframes in the first 10 frames, want 1", kf)
	}
	if !ForceKeyUnit(els[0]) {
		t.Fatal("force-key-unit event not handled")
	}
	if kf := waitFrames(10); kf != 1 {
		t.Fatalf("%d keyframes in 10 frames after ForceKeyUnit, want 1", kf)
	}
}

func TestBusError(t *testing.T) {
	// H.264 caps into a VP8 decoder: the streaming thread fails with not-negotiated.
	p, err := Parse("err", "appsrc name=src format=time is-live=true caps=video/x-h264,stream-format=byte-stream ! vp8dec ! fakesink", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	errs := make(chan Message, 10)
	p.OnError(func(m Message) { errs <- m })
	src, _ := p.Element("src")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		_ = NewAppSrc(src).Push(bytes.Repeat([]byte{0xff}, 100))
	}
	select {
	case m := <-errs:
		if m.Text == "" || m.Source == "" {
			t.Fatalf("bus message without text or source: %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a not-negotiated stream posted no error")
	}
}

func TestParseError(t *testing.T) {
	if _, err := Parse("bad", "no-such-element-miksilo ! fakesink", nil); err == nil {
		t.Fatal("parsing an unknown element succeeded")
	}
}

// TestBaseTimeBeforePlaying: every element has the pipeline's clock base
// time before the first PLAYING, and the pipeline keeps it (start time
// NONE), so an aggregator's task never sees the clock with base time 0.
func TestBaseTimeBeforePlaying(t *testing.T) {
	const desc = "videotestsrc is-live=true ! video/x-raw,width=16,height=16,framerate=30/1 ! compositor name=mix ! fakesink name=out sync=true"
	p, err := Parse("basetime", desc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.distributeClock()
	base := p.GetBaseTime()
	if base == 0 {
		t.Fatal("pipeline base time still 0")
	}
	els, err := p.GetElementsRecursive()
	if err != nil || len(els) < 4 {
		t.Fatalf("elements: %d, %v", len(els), err)
	}
	for _, e := range els {
		if got := e.GetBaseTime(); got != base {
			t.Errorf("%s: base time %v before PLAYING, want the pipeline's %v", e.GetName(), got, base)
		}
	}

	// Start does it: PLAYING keeps the base time it was given.
	q, err := Parse("basetime-start", desc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Start(); err != nil {
		t.Fatal(err)
	}
	if err := q.WaitPlaying(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if st := q.GetStartTime(); st != gogst.ClockTimeNone {
		t.Errorf("pipeline start time %v after Start, want NONE (base time given before PLAYING)", st)
	}
	mix, err := q.Element("mix")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mix.GetBaseTime(), q.GetBaseTime(); got != want || got == 0 {
		t.Errorf("compositor base time %v, pipeline %v", got, want)
	}
}
