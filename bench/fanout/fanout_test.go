package main

import (
	"strings"
	"testing"
	"time"
)

func TestViewerStatsLossAndWrap(t *testing.T) {
	var v viewerStats
	v.packet(65530, 0, 100) // before the window: ignored
	v.setOpen(true)
	for seq := uint16(65532); seq != 10; seq++ { // crosses the wrap
		if seq == 2 || seq == 3 {
			continue // lost
		}
		v.packet(seq, 0, 100)
	}
	v.packet(2, 0, 100)     // late retransmission of a lost packet
	v.packet(5, 0, 100)     // duplicate
	v.packet(65000, 0, 100) // far behind the window's first packet: ignored
	v.setOpen(false)
	v.packet(11, 0, 100) // after the window: ignored
	got, want, bytes := v.window()
	if want != 14 || got != 13 || bytes != 1300 || v.dups != 1 {
		t.Fatalf("received %d of %d, %d bytes, %d dups; want 13 of 14, 1300 bytes, 1 dup", got, want, bytes, v.dups)
	}
}

func TestJudge(t *testing.T) {
	ok := result{Viewers: 4, Connected: 4, PubPackets: 100, LossPct: 0.5, DeliveredPct: 97, WorstDeliveredPct: 93}
	cases := []struct {
		mod  func(*result)
		pass bool
	}{
		{func(*result) {}, true},
		{func(r *result) { r.Connected = 3 }, false},
		{func(r *result) { r.LossPct = 1 }, false},
		{func(r *result) { r.DeliveredPct = 94.9 }, false},
		{func(r *result) { r.WorstDeliveredPct = 80 }, false},
		{func(r *result) { r.PubPackets = 0 }, false},
	}
	for i, c := range cases {
		r := ok
		c.mod(&r)
		r.judge()
		if r.Pass != c.pass || (r.Fail == "") != c.pass {
			t.Errorf("case %d: pass %v (%q), want %v", i, r.Pass, r.Fail, c.pass)
		}
	}
}

func TestFindCapacity(t *testing.T) {
	step := func(n int, pass, sat bool) *result {
		return &result{Viewers: n, Connected: n, PubPackets: 1, Pass: pass, LoaderSaturated: sat, Fail: map[bool]string{false: "loss"}[pass]}
	}
	c := findCapacity([]*result{step(10, true, false), step(20, true, false), step(40, false, false), step(30, true, false), step(35, false, false)})
	if c.best.Viewers != 30 || c.limit.Viewers != 35 || !c.reached || c.label != "30" {
		t.Errorf("got best %d limit %d reached %v label %q", c.best.Viewers, c.limit.Viewers, c.reached, c.label)
	}
	// The repeat of the largest passing step fails: the capacity falls to the step below.
	c = findCapacity([]*result{step(10, true, false), step(20, true, false), step(40, false, false), step(20, false, false), step(10, true, false)})
	if c.best.Viewers != 10 || c.limit.Viewers != 20 || c.limit.Pass || c.label != "10" {
		t.Errorf("failed repeat: got best %d limit %d (pass %v) label %q", c.best.Viewers, c.limit.Viewers, c.limit.Pass, c.label)
	}
	c = findCapacity([]*result{step(10, true, false), step(20, false, true)})
	if c.reached || !strings.HasPrefix(c.label, "≥ 10") {
		t.Errorf("loader-bound: got reached %v label %q", c.reached, c.label)
	}
	c = findCapacity([]*result{step(10, true, false)})
	if c.reached || !strings.HasPrefix(c.label, "≥ 10") {
		t.Errorf("no failure: got reached %v label %q", c.reached, c.label)
	}
}

func TestSpliceSectionKeepsTheRest(t *testing.T) {
	doc := "# Benchmarks\n\nintro\n\n<!-- BEGIN controlplane -->\ncp\n<!-- END controlplane -->\n"
	sec := beginMarker + "\nfirst\n" + endMarker + "\n"
	out := string(spliceSection([]byte(doc), sec))
	if out != doc+"\n"+sec {
		t.Fatalf("append: got %q", out)
	}
	out2 := string(spliceSection([]byte(out+"tail\n"), beginMarker+"\nsecond\n"+endMarker+"\n"))
	if want := doc + "\n" + beginMarker + "\nsecond\n" + endMarker + "\ntail\n"; out2 != want {
		t.Fatalf("replace: got %q, want %q", out2, want)
	}
}

func TestRenderWithoutMiksilo(t *testing.T) {
	steps := map[string][]*result{"forwarder": {
		{Target: "forwarder", Viewers: 5, Connected: 5, PubPackets: 10, Pass: true, CPUPerViewer: 0.5, KBPerViewer: 2048},
		{Target: "forwarder", Viewers: 10, Connected: 10, PubPackets: 10, Fail: "loss 2% ≥ 1%"},
	}}
	s, err := renderSection(renderConfig{command: "make bench", missing: "miksilo=no WebRtcEndpoint"}, steps)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{beginMarker, endMarker, "not measured: no WebRtcEndpoint", "**Not assessed**", "| forwarder | 10 | **fail** |"} {
		if !strings.Contains(s, want) {
			t.Errorf("section lacks %q:\n%s", want, s)
		}
	}
}

func TestDelayTracker(t *testing.T) {
	var d delayTracker
	const frame = int64(time.Second) / 30
	now := int64(1e12)
	for i := 0; i < 30; i++ { // on time
		d.frame(uint32(i*3000), now+int64(i)*frame)
	}
	if got := d.current(now + 29*frame); got != 0 {
		t.Fatalf("on time: delay %v, want 0", got)
	}
	for i := 30; i < 90; i++ { // each frame 10 ms later than the one before
		d.frame(uint32(i*3000), now+int64(i)*frame+int64(i-29)*int64(10*time.Millisecond))
	}
	at := now + 89*frame + 60*int64(10*time.Millisecond)
	if got := d.current(at); got < 360*time.Millisecond || got > 380*time.Millisecond {
		t.Fatalf("falling behind: delay %v, want 370ms (frame 66, the oldest of the last second)", got)
	}
	d.frame(uint32(89*3000), at+int64(time.Second)) // same timestamp: not a new frame
	if got := d.current(at + 2*int64(time.Second)); got != -1 {
		t.Fatalf("nothing in the last second: %v, want -1", got)
	}
}
