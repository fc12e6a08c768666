package audiomix

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want uint32
	}{
		{0, 0},
		{20 * time.Millisecond, 960},
		{337083333, 16180},           // sample 16180 = 337.083333… ms, truncated to ns
		{time.Second + 20833, 48001}, // 1 s + one sample (20833.3 ns)
		{100000 * time.Second, 4800000000 % (1 << 32)},
	} {
		if got := ticks(tc.d); got != tc.want {
			t.Errorf("ticks(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// TestSenderSwitch: one SSRC, consecutive sequence numbers and timestamps
// from the mixes' running time across switches; packets of a mix that is
// not the port's source, and packets that would not advance the
// timestamp, are not sent; nothing is sent after close.
func TestSenderSwitch(t *testing.T) {
	main, own := &mixOut{prefix: "main"}, &mixOut{prefix: "own"}
	var got []*rtp.Packet
	s := newSender(func(p *rtp.Packet) { got = append(got, p) }, main)
	frame := 20 * time.Millisecond
	at := func(i int) time.Duration { return time.Duration(i) * frame }

	s.deliver(main, []byte{1}, at(10))
	s.deliver(own, []byte{9}, at(10)) // not the source: dropped
	s.deliver(main, []byte{2}, at(11))
	s.switchTo(own, false)
	s.deliver(own, []byte{9}, at(15))  // main is behind: not yet
	s.deliver(main, []byte{3}, at(12)) // still main until own follows on
	s.deliver(own, []byte{4}, at(13))  // switch happens here
	s.deliver(main, []byte{9}, at(14)) // main no longer the source
	s.deliver(own, []byte{5}, at(14))
	s.switchTo(main, true)
	s.deliver(main, []byte{9}, at(14)) // does not advance: dropped
	s.deliver(main, []byte{6}, at(15))
	s.close()
	s.deliver(main, []byte{9}, at(16))

	want := []struct {
		payload byte
		frames  uint32 // timestamp minus the first one, in frames
	}{{1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 4}, {6, 5}}
	if len(got) != len(want) {
		t.Fatalf("sent %d packets, want %d", len(got), len(want))
	}
	for i, w := range want {
		p := got[i]
		if p.Payload[0] != w.payload {
			t.Errorf("packet %d: payload %d, want %d", i, p.Payload[0], w.payload)
		}
		if p.SSRC != got[0].SSRC || p.PayloadType != PayloadType {
			t.Errorf("packet %d: SSRC %x PT %d", i, p.SSRC, p.PayloadType)
		}
		if p.SequenceNumber != got[0].SequenceNumber+uint16(i) {
			t.Errorf("packet %d: sequence %d, want %d", i, p.SequenceNumber, got[0].SequenceNumber+uint16(i))
		}
		if d := p.Timestamp - got[0].Timestamp; d != w.frames*960 {
			t.Errorf("packet %d: timestamp +%d, want +%d", i, d, w.frames*960)
		}
		if p.Marker != (i == 0) {
			t.Errorf("packet %d: marker %v", i, p.Marker)
		}
	}
}

// TestSenderClock: a port's clock ties its last timestamp to the wall-clock
// time of the mix's running time (the mix's zero plus the buffer's PTS);
// nothing before the first packet, while the mix's zero is unknown, or
// after close.
func TestSenderClock(t *testing.T) {
	main := &mixOut{prefix: "main"}
	var got []*rtp.Packet
	s := newSender(func(p *rtp.Packet) { got = append(got, p) }, main)
	if _, ok := s.clock(); ok {
		t.Fatal("a clock before the first packet")
	}
	s.deliver(main, []byte{1}, 200*time.Millisecond)
	if _, ok := s.clock(); ok {
		t.Fatal("a clock without the mix's zero")
	}
	zero := time.Now().Add(-time.Hour)
	main.zero = zero
	s.deliver(main, []byte{2}, 220*time.Millisecond)
	c, ok := s.clock()
	if !ok {
		t.Fatal("no clock after a packet")
	}
	last := got[len(got)-1]
	if c.SSRC != last.SSRC || c.RTP != last.Timestamp || !c.At.Equal(zero.Add(220*time.Millisecond)) {
		t.Errorf("clock %+v, want SSRC %x RTP %d at %v", c, last.SSRC, last.Timestamp, zero.Add(220*time.Millisecond))
	}
	s.close()
	if _, ok := s.clock(); ok {
		t.Error("a clock after close")
	}
}
