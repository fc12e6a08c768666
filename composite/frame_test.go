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
