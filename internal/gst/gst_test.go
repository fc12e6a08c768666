package gst

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
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
	src, sinkEl := startAppPipeline(t, "roundtrip", "is-live=true do-timestamp=true", "")
	got := make(chan Sample, 16)
	runSink(t, sinkEl, func(s Sample) { got <- s })
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
	sink, err := RunAppSink(els[1], func(s Sample) { keys <- !s.Delta })
	if err != nil {
		t.Fatal(err)
	}
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

// TestEOSEveryTime: short pipelines one after another each report their
// end of stream. (A bus hand-off that woke Go from the sync handler and
// let the bus queue the message lost it about once in a few runs: the
// handler runs before the message is queued.)
func TestEOSEveryTime(t *testing.T) {
	for i := 0; i < 40; i++ {
		p, err := Parse("eos", "videotestsrc num-buffers=2 ! video/x-raw,width=16,height=16 ! fakesink", nil)
		if err != nil {
			t.Fatal(err)
		}
		eos := make(chan struct{})
		p.OnEOS(func() { close(eos) })
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-eos:
		case <-time.After(5 * time.Second):
			p.Close()
			t.Fatalf("run %d: no end of stream", i)
		}
		p.Close()
	}
}

// TestAppSinkBufferList: a payloader's packets of one frame arrive as one
// buffer list (appsink buffer-list=true) and are delivered one by one, in
// order, as with buffer-list=false.
func TestAppSinkBufferList(t *testing.T) {
	count := func(lists bool) (packets, frames int) {
		desc := fmt.Sprintf("videotestsrc num-buffers=10 pattern=snow ! video/x-raw,width=320,height=240,framerate=30/1 ! "+
			"vp8enc deadline=1 target-bitrate=4000000 ! rtpvp8pay mtu=400 ! appsink name=sink sync=false buffer-list=%v", lists)
		p, err := Parse("lists", desc, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		eos := make(chan struct{})
		p.OnEOS(func() { close(eos) })
		sinkEl, err := p.Element("sink")
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var seqs []uint16
		markers := 0
		sink, err := RunAppSink(sinkEl, func(s Sample) {
			if len(s.Data) < 12 {
				t.Errorf("a %d-byte buffer is no RTP packet", len(s.Data))
				return
			}
			mu.Lock()
			seqs = append(seqs, binary.BigEndian.Uint16(s.Data[2:]))
			if s.Data[1]&0x80 != 0 {
				markers++
			}
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-eos:
		case <-time.After(10 * time.Second):
			t.Fatal("no end of stream")
		}
		// Everything is queued for the goroutine by now; let it deliver.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := markers
			mu.Unlock()
			if n >= 10 {
				break
			}
		}
		sink.Stop()
		mu.Lock()
		defer mu.Unlock()
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("buffer-list=%v: sequence %d after %d", lists, seqs[i], seqs[i-1])
			}
		}
		return len(seqs), markers
	}
	pl, fl := count(true)
	pb, fb := count(false)
	if fl != 10 || fb != 10 || pl < 5*fl || pb < 5*fb {
		t.Fatalf("lists: %d packets in %d frames; buffers: %d packets in %d frames; want 10 frames of several packets each", pl, fl, pb, fb)
	}
}

// TestAppSinkDropsOldest: with drop=true and max-buffers, a goroutine that
// falls behind loses the oldest samples, not the newest, and Dropped
// counts them; the streaming thread is never held.
func TestAppSinkDropsOldest(t *testing.T) {
	src, sinkEl := startAppPipeline(t, "drop", "", "max-buffers=3 drop=true")
	holding := make(chan struct{}, 1)
	release := make(chan struct{})
	got := make(chan byte, 100)
	sink := runSink(t, sinkEl, func(s Sample) {
		select {
		case holding <- struct{}{}:
		default:
		}
		<-release
		got <- s.Data[0]
	})
	push := func(i byte) {
		if err := src.Push([]byte{i}); err != nil {
			t.Fatal(err)
		}
	}
	push(0)
	select {
	case <-holding: // the goroutine holds sample 0
	case <-time.After(5 * time.Second):
		t.Fatal("sample 0 not delivered")
	}
	for i := byte(1); i < 20; i++ {
		push(i)
	}
	for deadline := time.Now().Add(5 * time.Second); sink.Dropped() < 16 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // the streaming thread queues what was pushed
	}
	close(release)
	var seen []byte
	for len(seen) < 4 {
		select {
		case b := <-got:
			seen = append(seen, b)
		case <-time.After(5 * time.Second):
			t.Fatalf("delivered %v, dropped %d", seen, sink.Dropped())
		}
	}
	// The goroutine held sample 0; of the rest the newest three were kept.
	if seen[0] != 0 || seen[1] != 17 || seen[2] != 18 || seen[3] != 19 || sink.Dropped() != 16 {
		t.Fatalf("delivered %v, dropped %d; want [0 17 18 19], 16", seen, sink.Dropped())
	}
}

// TestAppSinkHoldsWithoutDrop: with drop=false and max-buffers, nothing is
// lost while the goroutine is slow: the streaming thread waits for room.
// TestAppSrcPushList: the packets of a list arrive as separate buffers, in
// order, byte for byte, all stamped with one running time; a second list
// comes after the first; malformed offsets are refused without a push.
func TestAppSrcPushList(t *testing.T) {
	src, sinkEl := startAppPipeline(t, "list", "is-live=true", "")
	got := make(chan Sample, 16)
	runSink(t, sinkEl, func(s Sample) { got <- s })
	want := [][]byte{[]byte("first"), bytes.Repeat([]byte{9}, 3000), []byte("x")}
	var data []byte
	var ends []int32
	for _, w := range want {
		data = append(data, w...)
		ends = append(ends, int32(len(data)))
	}
	if err := src.PushList(data, ends); err != nil {
		t.Fatal(err)
	}
	if err := src.PushList([]byte("later"), []int32{5}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]int32{{6}, {3, 2}, {-1}} {
		if err := src.PushList([]byte("abcde"), bad); err == nil {
			t.Errorf("PushList with ends %v: no error", bad)
		}
	}
	want = append(want, []byte("later"))
	var pts []time.Duration
	for i, w := range want {
		select {
		case s := <-got:
			if !bytes.Equal(s.Data, w) {
				t.Fatalf("buffer %d: %q…, want %q…", i, s.Data[:min(8, len(s.Data))], w[:min(8, len(w))])
			}
			pts = append(pts, s.PTS)
		case <-time.After(5 * time.Second):
			t.Fatalf("buffer %d never arrived", i)
		}
	}
	if pts[0] < 0 || pts[1] != pts[0] || pts[2] != pts[0] {
		t.Errorf("one list's buffers stamped %v, want one running time", pts[:3])
	}
	if pts[3] < pts[0] {
		t.Errorf("the second list is stamped %v, before the first (%v)", pts[3], pts[0])
	}
	select {
	case s := <-got:
		t.Errorf("unexpected buffer %q (a refused list was pushed)", s.Data)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestAppSinkHoldsWithoutDrop(t *testing.T) {
	src, sinkEl := startAppPipeline(t, "hold", "", "max-buffers=2 drop=false")
	release := make(chan struct{})
	got := make(chan byte, 100)
	sink := runSink(t, sinkEl, func(s Sample) {
		<-release
		got <- s.Data[0]
	})
	for i := byte(0); i < 20; i++ {
		if err := src.Push([]byte{i}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // let the streaming thread run into the bound
	close(release)
	for want := byte(0); want < 20; want++ {
		select {
		case b := <-got:
			if b != want {
				t.Fatalf("got sample %d, want %d (dropped %d)", b, want, sink.Dropped())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("sample %d not delivered (dropped %d)", want, sink.Dropped())
		}
	}
	if d := sink.Dropped(); d != 0 {
		t.Fatalf("dropped %d with drop=false", d)
	}
}

// startAppPipeline starts "appsrc (srcProps) ! appsink (sinkProps)" for
// opaque buffers and returns the source and the sink element; the pipeline
// is closed when the test ends.
func startAppPipeline(t *testing.T, name, srcProps, sinkProps string) (*AppSrc, *gogst.Element) {
	t.Helper()
	p, err := Parse(name, fmt.Sprintf("appsrc name=src format=time %s caps=application/x-miksilo ! appsink name=sink sync=false %s", srcProps, sinkProps), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	els, err := p.Elements("src", "sink")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	return NewAppSrc(els[0]), els[1]
}

// runSink runs an AppSink on el, stopped when the test ends (before the
// pipeline closes).
func runSink(t *testing.T, el *gogst.Element, fn func(Sample)) *AppSink {
	t.Helper()
	s, err := RunAppSink(el, fn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}
