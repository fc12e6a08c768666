package composite

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/miksilo/miksilo/internal/gst"
)

// TestFramePush: a port queues each frame's packets as one buffer list
// when the marker packet arrives; a frame whose marker packet was lost is
// pushed when the next frame's first packet arrives; a new input bin never
// gets what was collected for the one before.
func TestFramePush(t *testing.T) {
	newSrc := func(name string) (*gst.AppSrc, chan []byte) {
		p, err := gst.Parse(name, "appsrc name=src is-live=true format=time caps=application/x-rtp ! appsink name=sink sync=false", nil)
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
		got := make(chan []byte, 64)
		s, err := gst.RunAppSink(els[1], func(smp gst.Sample) { got <- smp.Data })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		return gst.NewAppSrc(els[0]), got
	}
	pkt := func(seq uint16, ts uint32, marker bool) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: PayloadVP8, SequenceNumber: seq, Timestamp: ts, Marker: marker, SSRC: 1}, Payload: []byte{byte(seq)}}
	}
	seqOf := func(b []byte) uint16 {
		var p rtp.Packet
		if err := p.Unmarshal(b); err != nil {
			t.Fatalf("not RTP: %v", err)
		}
		return p.SequenceNumber
	}
	expect := func(got chan []byte, what string, seqs ...uint16) {
		t.Helper()
		for _, want := range seqs {
			select {
			case b := <-got:
				if s := seqOf(b); s != want {
					t.Fatalf("%s: packet %d, want %d", what, s, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: packet %d never arrived", what, want)
			}
		}
		select {
		case b := <-got:
			t.Fatalf("%s: packet %d arrived early", what, seqOf(b))
		case <-time.After(50 * time.Millisecond):
		}
	}

	src, got := newSrc("frames")
	p := &port{start: time.Now(), wake: func() {}}
	p.src.Store(src)
	p.onVideo(pkt(1, 100, false))
	p.onVideo(pkt(2, 100, false))
	expect(got, "an incomplete frame")
	p.onVideo(pkt(3, 100, true))
	expect(got, "a complete frame", 1, 2, 3)
	p.onVideo(pkt(4, 200, false)) // its marker packet (5) is lost
	expect(got, "a frame without its marker")
	p.onVideo(pkt(6, 300, false))
	expect(got, "the next frame's first packet", 4)
	p.onVideo(pkt(7, 300, true))
	expect(got, "the next frame", 6, 7)

	p.onVideo(pkt(8, 400, false))
	src2, got2 := newSrc("frames2")
	p.src.Store(src2) // the input bin was rebuilt
	p.onVideo(pkt(9, 500, true))
	expect(got2, "a new input bin", 9)
	expect(got, "the old input bin")
}

// TestPadBatch: placements wait for the compositor's next frame and are
// applied there together (one batch for every pad queued before it); the
// signal is only on while something waits; a forgotten input's placement
// is never applied. Fails if place sets the pad's properties at once.
func TestPadBatch(t *testing.T) {
	p, err := gst.Parse("pads", "compositor name=mix ! video/x-raw,width=64,height=48 ! fakesink sync=false "+
		"videotestsrc is-live=true ! video/x-raw,width=32,height=24,framerate=30/1 ! mix.sink_0 "+
		"videotestsrc is-live=true ! video/x-raw,width=32,height=24,framerate=30/1 ! mix.sink_1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	mix, err := p.Element("mix")
	if err != nil {
		t.Fatal(err)
	}
	a, b := &inputBin{pad: mix.GetStaticPad("sink_0")}, &inputBin{pad: mix.GetStaticPad("sink_1")}
	if a.pad == nil || b.pad == nil {
		t.Fatal("no compositor sink pads")
	}
	pads, err := newPadBatch(mix)
	if err != nil {
		t.Fatal(err)
	}
	applied := func() int {
		pads.mu.Lock()
		defer pads.mu.Unlock()
		return pads.applied
	}
	prop := func(ib *inputBin, name string) any {
		t.Helper()
		v, err := ib.pad.GetProperty(name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	emitting := func() bool {
		v, err := mix.GetProperty("emit-signals")
		if err != nil {
			t.Fatal(err)
		}
		return v.(bool)
	}
	checkRegion := func(ib *inputBin, r Region) {
		t.Helper()
		got := []any{prop(ib, "xpos"), prop(ib, "ypos"), prop(ib, "width"), prop(ib, "height"), prop(ib, "zorder"), prop(ib, "alpha")}
		want := []any{r.X, r.Y, r.W, r.H, uint(r.Z + 1), float64(1)}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("pad %s: xpos, ypos, width, height, zorder, alpha = %v, want %v", ib.pad.GetName(), got, want)
			}
		}
	}

	ra, rb := Region{X: 32, Y: 0, W: 32, H: 24, Z: 1}, Region{X: 0, Y: 24, W: 16, H: 12, Z: 0}
	a.place(pads, &ra)
	b.place(pads, &rb)
	if x := prop(a, "xpos"); x != 0 || applied() != 0 || !emitting() {
		t.Fatalf("before any frame: xpos %v, %d batches applied, emit-signals %v", x, applied(), emitting())
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool { return applied() > 0 }) {
		t.Fatal("the queued placements were never applied")
	}
	if n := applied(); n != 1 {
		t.Fatalf("%d batches applied for one queued layout", n)
	}
	checkRegion(a, ra)
	checkRegion(b, rb)
	if emitting() {
		t.Error("emit-signals still on with nothing queued")
	}

	// A placement queued for an input that then goes is never applied.
	ra2 := Region{X: 8, Y: 8, W: 16, H: 12, Z: 2}
	a.place(pads, &ra2)
	pads.forget(a)
	b.place(pads, nil)
	if !eventually(5*time.Second, func() bool { return applied() > 1 }) {
		t.Fatal("the second batch was never applied")
	}
	checkRegion(a, ra)
	if alpha := prop(b, "alpha"); alpha != float64(0) {
		t.Fatalf("hidden pad's alpha %v", alpha)
	}
}
