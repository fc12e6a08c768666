package mediaelements

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/miksilo/miksilo/internal/sendbatch"
)

// mediaEnv builds elements straight from the store for media-plane tests.
type mediaEnv struct {
	*ktEnv
	pipe string
}

func newMediaEnv(t *testing.T) *mediaEnv {
	e := newKtEnv(t, func(o *Options) { o.FlowTimeout = 50 * time.Millisecond; o.Now = time.Now })
	return &mediaEnv{ktEnv: e, pipe: e.pipeline("S")}
}

func (m *mediaEnv) passThrough() *PassThrough {
	id := m.create("S", "PassThrough", map[string]any{"mediaPipeline": m.pipe})
	o, _ := m.store.Get(id)
	return o.(*PassThrough)
}

func (m *mediaEnv) node() *PassThrough { // does not forward
	id := m.element("S", m.pipe)
	o, _ := m.store.Get(id)
	return o.(*PassThrough)
}

func (m *mediaEnv) connect(src, sink MediaElement, t MediaType) {
	m.t.Helper()
	if err := Connect(src, sink, []MediaType{t}, "default", "default"); err != nil {
		m.t.Fatal(err)
	}
}

// recorder collects what reaches an input.
type recorder struct {
	mu   sync.Mutex
	pkts []rtp.Packet
	got  chan struct{}
}

func record(in *Input) *recorder {
	r := &recorder{got: make(chan struct{}, 1000)}
	in.SetHandler(func(p *rtp.Packet) {
		r.mu.Lock()
		r.pkts = append(r.pkts, *p) // copy: the input reuses its packet
		r.mu.Unlock()
		r.got <- struct{}{}
	})
	return r
}

func (r *recorder) packets() []rtp.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pkts)
}

func pkt(ssrc uint32, seq uint16, ts uint32, payload []byte) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}, Payload: payload}
}

func TestFanOutSharesPayloadAndRewritesHeaders(t *testing.T) {
	m := newMediaEnv(t)
	src, a, b := m.node(), m.node(), m.node()
	m.connect(src, a, Video)
	m.connect(src, b, Video)
	ra, rb := record(a.Input(Video, "default")), record(b.Input(Video, "default"))
	payload := []byte{1, 2, 3}
	out := src.Output(Video, "default")
	if out.Sinks() != 2 {
		t.Fatalf("sinks = %d", out.Sinks())
	}
	p := pkt(1111, 10, 9000, payload)
	out.WriteRTP(p)
	if p.SSRC != 1111 || p.SequenceNumber != 10 {
		t.Fatal("the source packet was modified")
	}
	ga, gb := ra.packets(), rb.packets()
	if len(ga) != 1 || len(gb) != 1 {
		t.Fatalf("delivered %d and %d", len(ga), len(gb))
	}
	if &ga[0].Payload[0] != &payload[0] || &gb[0].Payload[0] != &payload[0] {
		t.Fatal("payload was copied")
	}
	if ga[0].SSRC != a.Input(Video, "default").SSRC() || gb[0].SSRC != b.Input(Video, "default").SSRC() || ga[0].SSRC == gb[0].SSRC {
		t.Fatalf("SSRCs %d %d: each input has its own", ga[0].SSRC, gb[0].SSRC)
	}
	// Audio connected nowhere: a video sink gets nothing from it.
	src.Output(Audio, "default").WriteRTP(pkt(1, 1, 1, payload))
	if len(ra.packets()) != 1 {
		t.Fatal("audio reached a video input")
	}
}

func TestFanOutAllocatesNothingPerSink(t *testing.T) {
	m := newMediaEnv(t)
	src := m.node()
	for range 20 {
		s := m.node()
		m.connect(src, s, Audio)
		s.Input(Audio, "default").SetHandler(func(*rtp.Packet) {})
	}
	out := src.Output(Audio, "default")
	p := pkt(5, 0, 0, make([]byte, 100))
	allocs := testing.AllocsPerRun(200, func() {
		p.SequenceNumber++
		out.WriteRTP(p)
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per packet for 20 sinks", allocs)
	}
}

// WriteBurst: each sink gets the whole burst back to back, rewritten as
// WriteRTP's packets are, inside a send hold that ends with its burst (a
// PassThrough's own sinks included).
func TestWriteBurstHoldsEachSinksBurst(t *testing.T) {
	m := newMediaEnv(t)
	src, a, b, pt := m.node(), m.node(), m.node(), m.passThrough()
	c := m.node()
	m.connect(src, a, Video)
	m.connect(src, pt, Video)
	m.connect(pt, c, Video)
	m.connect(src, b, Video)
	type got struct {
		sink string
		seq  uint16
		held bool
	}
	var mu sync.Mutex
	var order []got
	for name, el := range map[string]*PassThrough{"a": a, "b": b, "c": c} {
		el.Input(Video, "default").SetHandler(func(p *rtp.Packet) {
			mu.Lock()
			order = append(order, got{name, p.SequenceNumber, sendbatch.Holding()})
			mu.Unlock()
		})
	}
	out := src.Output(Video, "default")
	burst := []*rtp.Packet{pkt(7, 100, 3000, nil), pkt(7, 101, 3000, nil), pkt(7, 102, 3000, nil)}
	out.WriteBurst(burst)
	if sendbatch.Holding() {
		t.Fatal("a hold is left open after the burst")
	}
	if len(order) != 9 {
		t.Fatalf("%d packets delivered, want 3 to each of 3 sinks", len(order))
	}
	for i := 0; i < 9; i += 3 {
		sink := order[i].sink
		for k, g := range order[i : i+3] {
			if g.sink != sink {
				t.Fatalf("deliveries %v: a sink's burst was interleaved with another's", order)
			}
			if !g.held {
				t.Errorf("%s got packet %d outside a send hold", g.sink, k)
			}
			if k > 0 && g.seq != order[i+k-1].seq+1 {
				t.Errorf("%s: sequence %d after %d", g.sink, g.seq, order[i+k-1].seq)
			}
		}
	}
	if n := out.packets.Load(); n != 3 {
		t.Errorf("output counted %d packets, want 3", n)
	}
	out.WriteBurst(nil) // nothing: no hold, no count
	if n := out.packets.Load(); n != 3 || len(order) != 9 {
		t.Errorf("an empty burst counted or delivered something")
	}
}

// A sink whose source changes keeps its SSRC and continues sequence numbers
// and timestamps.
func TestSourceSwitchKeepsStreamContinuous(t *testing.T) {
	m := newMediaEnv(t)
	a, b, sink := m.node(), m.node(), m.node()
	in := sink.Input(Video, "default")
	r := record(in)
	m.connect(a, sink, Video)
	for i := range 5 {
		a.Output(Video, "default").WriteRTP(pkt(100, uint16(65533+i), uint32(1000+i*3000), nil)) // wraps past 65535
	}
	m.connect(b, sink, Video)                                    // replaces a
	a.Output(Video, "default").WriteRTP(pkt(100, 3, 99999, nil)) // the old source no longer reaches it
	for i := range 3 {
		b.Output(Video, "default").WriteRTP(pkt(200, uint16(5000+i), uint32(777000+i*3000), nil))
	}
	got := r.packets()
	if len(got) != 8 {
		t.Fatalf("got %d packets, want 8", len(got))
	}
	ssrc := in.SSRC()
	for i, p := range got {
		if p.SSRC != ssrc {
			t.Fatalf("packet %d SSRC %d, want %d", i, p.SSRC, ssrc)
		}
		if i > 0 {
			if d := p.SequenceNumber - got[i-1].SequenceNumber; d != 1 {
				t.Fatalf("packet %d: sequence jumps by %d", i, d)
			}
			if int32(p.Timestamp-got[i-1].Timestamp) <= 0 {
				t.Fatalf("packet %d: timestamp %d does not move on from %d", i, p.Timestamp, got[i-1].Timestamp)
			}
		}
	}
}

func TestKeyframeRequests(t *testing.T) {
	m := newMediaEnv(t)
	pub, pt, viewer := m.node(), m.passThrough(), m.node()
	asked := make(chan time.Time, 10)
	pub.Output(Video, "default").OnKeyframeRequest(func() { asked <- time.Now() })
	m.connect(pub, pt, Video)
	// Connecting a video sink asks for a keyframe: a new viewer can decode at once.
	select {
	case <-asked:
	case <-time.After(wait):
		t.Fatal("no keyframe request when a viewer joined")
	}
	m.connect(pt, viewer, Video)
	// The viewer's requests travel up through the PassThrough; a burst is
	// merged, and what reaches the publisher is at least an interval apart.
	start := time.Now()
	for range 20 {
		viewer.Input(Video, "default").RequestKeyframe()
	}
	var got []time.Time
	window := time.After(4 * KeyframeInterval)
collect:
	for {
		select {
		case at := <-asked:
			got = append(got, at)
		case <-window:
			break collect
		}
	}
	if len(got) == 0 || got[0].Sub(start) > KeyframeInterval+200*time.Millisecond {
		t.Fatalf("keyframe request did not reach the publisher in time: %v", got)
	}
	if len(got) > 3 {
		t.Fatalf("20 requests became %d at the publisher", len(got))
	}
	for i := 1; i < len(got); i++ {
		if d := got[i].Sub(got[i-1]); d < KeyframeInterval-20*time.Millisecond {
			t.Fatalf("publisher asked twice within %v", d)
		}
	}
	// A sink attached before it consumes anything is asked for when its
	// handler is set, not on attach (that would spend the merge window).
	late := m.node()
	time.Sleep(KeyframeInterval) // leave the publisher's rate-limit window (not an assertion)
	drain := func() {
		for len(asked) > 0 {
			<-asked
		}
	}
	drain()
	m.connect(pt, late, Video)
	select {
	case <-asked:
		t.Fatal("asked for a keyframe for a sink that consumes nothing yet")
	case <-time.After(KeyframeInterval + 100*time.Millisecond):
	}
	record(late.Input(Video, "default"))
	select {
	case <-asked:
	case <-time.After(wait):
		t.Fatal("no keyframe request when the sink started consuming")
	}
	// Audio connections do not ask for keyframes.
	pub.Output(Audio, "default").OnKeyframeRequest(func() { t.Error("keyframe asked of audio") })
	m.connect(pub, m.node(), Audio)
}

const wait = 5 * time.Second

func TestCodecNegotiationAlongConnections(t *testing.T) {
	m := newMediaEnv(t)
	vp8 := Codec{MimeType: "video/VP8", ClockRate: 90000, PayloadType: 96}
	pub, pt := m.node(), m.passThrough()
	pub.Output(Video, "default").SetCodec(vp8)
	m.connect(pub, pt, Video)
	if c, ok := pt.Output(Video, "default").Codec(); !ok || !c.Same(vp8) {
		t.Fatalf("PassThrough output codec = %+v %v", c, ok)
	}
	// A sink that negotiated VP8 under another payload type gets its own PT.
	ok := m.node()
	okIn := ok.Input(Video, "default")
	okIn.Accept(Codec{MimeType: "video/vp8", ClockRate: 90000, PayloadType: 100})
	rOK := record(okIn)
	m.connect(pt, ok, Video)
	// A sink that only takes H.264 is refused: Error + MediaTranscodingStateChanged.
	h264 := m.node()
	m.subscribe("S", h264.id, "Error")
	m.subscribe("S", h264.id, "MediaTranscodingStateChanged")
	hIn := h264.Input(Video, "default")
	hIn.Accept(Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "profile-level-id=42e01f;packetization-mode=1", PayloadType: 102})
	rH := record(hIn)
	m.connect(pt, h264, Video)
	pub.Output(Video, "default").WriteRTP(pkt(1, 1, 1, nil))
	if got := rOK.packets(); len(got) != 1 || got[0].PayloadType != 100 {
		t.Fatalf("VP8 sink got %+v", got)
	}
	if len(rH.packets()) != 0 {
		t.Fatal("H.264-only sink received VP8")
	}
	var kinds []string
	for _, d := range m.sink.take() {
		if d.Object == h264.id {
			kinds = append(kinds, d.Type)
		}
	}
	if !slices.Contains(kinds, "Error") || !slices.Contains(kinds, "MediaTranscodingStateChanged") {
		t.Fatalf("events on the refusing sink: %v", kinds)
	}
}

func TestH264Compatibility(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"profile-level-id=42e01f;packetization-mode=1", "packetization-mode=1;profile-level-id=42e034", true},
		{"profile-level-id=42e01f;packetization-mode=1", "profile-level-id=42e01f", false},
		{"profile-level-id=640c1f;packetization-mode=1", "profile-level-id=42e01f;packetization-mode=1", false},
		{"", "profile-level-id=42e01f", true},
	} {
		a := Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: tc.a}
		b := Codec{MimeType: "video/h264", ClockRate: 90000, Fmtp: tc.b}
		if a.Same(b) != tc.same {
			t.Errorf("%q ~ %q = %v", tc.a, tc.b, !tc.same)
		}
	}
}

func TestMediaFlowEvents(t *testing.T) {
	m := newMediaEnv(t)
	src, sink := m.node(), m.node()
	m.subscribe("S", src.id, "MediaFlowOutStateChanged")
	m.subscribe("S", sink.id, "MediaFlowInStateChanged")
	m.connect(src, sink, Video)
	record(sink.Input(Video, "default"))
	src.Output(Video, "default").WriteRTP(pkt(1, 1, 1, nil))
	var seen []ktDelivery // every event so far: the two sides' events may come in either order
	want := func(obj, state string) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			seen = append(seen, m.sink.take()...)
			for _, d := range seen {
				if d.Object == obj && d.Data["state"] == state && d.Data["mediaType"] == "VIDEO" && d.Data["padName"] == "default" {
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("no %s event from %s", state, obj)
	}
	want(src.id, "FLOWING")
	want(sink.id, "FLOWING")
	if !src.isFlowing(false, Video, "default") || !sink.isFlowing(true, Video, "default") {
		t.Fatal("isMediaFlowingOut/In false while flowing")
	}
	// No packets for the flow timeout: NOT_FLOWING on both sides (each
	// side's own timer: their events may come in either order).
	want(sink.id, "NOT_FLOWING")
	want(src.id, "NOT_FLOWING")
	if src.isFlowing(false, Video, "default") || sink.isFlowing(true, Video, "default") {
		t.Fatal("still flowing after the timeout")
	}
}

func TestDisconnectAndReleaseStopTheFlow(t *testing.T) {
	m := newMediaEnv(t)
	src, a, b := m.node(), m.node(), m.node()
	m.connect(src, a, Video)
	m.connect(src, b, Video)
	ra, rb := record(a.Input(Video, "default")), record(b.Input(Video, "default"))
	if err := Disconnect(src, a, []MediaType{Video}, "default", "default"); err != nil {
		t.Fatal(err)
	}
	if err := m.store.Release(m.call("S"), b.id); err != nil {
		t.Fatal(err)
	}
	src.Output(Video, "default").WriteRTP(pkt(1, 1, 1, nil))
	if len(ra.packets())+len(rb.packets()) != 0 {
		t.Fatal("media reached a disconnected or released sink")
	}
	if n := src.Output(Video, "default").Sinks(); n != 0 {
		t.Fatalf("%d sinks left attached", n)
	}
}

// Forwarding elements must not form loops: media would circle forever.
func TestConnectRefusesForwardingLoops(t *testing.T) {
	m := newMediaEnv(t)
	a, b, c := m.passThrough(), m.passThrough(), m.passThrough()
	if err := Connect(a, a, AllMediaTypes, "default", "default"); AsError(err) == nil || AsError(err).Code != CodeConnect {
		t.Fatalf("self-loop of a PassThrough: %v", err)
	}
	m.connect(a, b, Video)
	m.connect(b, c, Video)
	if err := Connect(c, a, []MediaType{Audio}, "default", "default"); AsError(err) == nil || AsError(err).Code != CodeConnect {
		t.Fatalf("three-element loop: %v", err)
	}
	// An element that does not forward (an endpoint) may be connected to itself.
	n := m.node()
	m.connect(n, n, Video)
	// Nothing half-done: the refused connections are not in the graph.
	if got := a.SourceConnections(nil, nil); len(got) != 0 {
		t.Fatalf("refused loop left %v", got)
	}
}

func BenchmarkFanOut100(b *testing.B) {
	m := newMediaEnv(&testing.T{})
	src := m.node()
	for range 100 {
		s := m.node()
		if err := Connect(src, s, []MediaType{Video}, "default", "default"); err != nil {
			b.Fatal(err)
		}
		s.Input(Video, "default").SetHandler(func(*rtp.Packet) {})
	}
	out := src.Output(Video, "default")
	p := pkt(5, 0, 0, make([]byte, 1200))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.SequenceNumber++
		out.WriteRTP(p)
	}
}

// RTPTimeAt: a sink's timestamps for a sampling time come from its source's
// clock moved by the sink's own offset, across a switch of source; not
// before the new source's first packet, nor from a clock about another
// stream, nor without a clock.
func TestRTPTimeAtFollowsTheSource(t *testing.T) {
	m := newMediaEnv(t)
	a, b, sink := m.node(), m.node(), m.node()
	in := sink.Input(Video, "default")
	r := record(in)
	m.connect(a, sink, Video)
	if _, ok := in.RTPTimeAt(time.Now()); ok {
		t.Fatal("a time before any packet")
	}
	t0 := time.Now()
	// a: timestamp 1000 was sampled at t0.
	a.Output(Video, "default").SetClock(func() (SenderClock, bool) { return SenderClock{SSRC: 100, RTP: 1000, At: t0}, true })
	a.Output(Video, "default").WriteRTP(pkt(100, 1, 1000, nil))
	ts, ok := in.RTPTimeAt(t0.Add(time.Second))
	if !ok || ts != 91000 {
		t.Fatalf("RTPTimeAt(t0+1s) = %d, %v; want 91000 (no offset on the first source)", ts, ok)
	}
	if ts, _ := in.RTPTimeAt(t0.Add(-time.Second)); int32(ts) != 1000-90000 {
		t.Errorf("RTPTimeAt(t0-1s) = %d, want %d (mod 2^32)", int32(ts), 1000-90000)
	}

	// b: another stream (SSRC 200), timestamp 500000 sampled at t0+2s.
	b.Output(Video, "default").SetClock(func() (SenderClock, bool) {
		return SenderClock{SSRC: 200, RTP: 500000, At: t0.Add(2 * time.Second)}, true
	})
	m.connect(b, sink, Video)
	if _, ok := in.RTPTimeAt(t0); ok {
		t.Fatal("a time from the new source before its first packet")
	}
	b.Output(Video, "default").WriteRTP(pkt(200, 9, 500000, nil))
	got := r.packets()
	offset := got[len(got)-1].Timestamp - 500000 // what the sink added to b's timestamps
	ts, ok = in.RTPTimeAt(t0.Add(3 * time.Second))
	if want := 500000 + 90000 + offset; !ok || ts != want {
		t.Fatalf("RTPTimeAt(t0+3s) = %d, %v; want %d (b's clock plus the sink's offset %d)", ts, ok, want, offset)
	}

	// b's clock about a stream b no longer sends; then no clock at all.
	b.Output(Video, "default").SetClock(func() (SenderClock, bool) { return SenderClock{SSRC: 300, RTP: 1, At: t0}, true })
	if _, ok := in.RTPTimeAt(t0); ok {
		t.Error("a time from a clock about another stream")
	}
	b.Output(Video, "default").SetClock(nil)
	if _, ok := in.RTPTimeAt(t0); ok {
		t.Error("a time without a clock")
	}
}
