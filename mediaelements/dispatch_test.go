package mediaelements

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// dispatchEnv is a media env with a dispatcher and helpers to drive it.
type dispatchEnv struct {
	*mediaEnv
	hubID string
}

func newDispatchEnv(t *testing.T, class string) *dispatchEnv {
	m := newMediaEnv(t)
	return &dispatchEnv{mediaEnv: m, hubID: m.hub("S", class, m.pipe)}
}

func (d *dispatchEnv) newPort() *HubPort {
	return d.obj(d.port("S", d.hubID)).(*HubPort)
}

// route is Dispatcher.connect(source, sink).
func (d *dispatchEnv) route(src, sink *HubPort) error {
	_, err := d.invoke("S", d.hubID, "connect", map[string]any{"source": src.id, "sink": sink.id})
	return err
}

func (d *dispatchEnv) setSource(src *HubPort) error {
	_, err := d.invoke("S", d.hubID, "setSource", map[string]any{"source": src.id})
	return err
}

// publisher is an upstream element feeding a port, with its own numbering.
type publisher struct {
	*PassThrough
	ssrc uint32
	seq  uint16
	ts   uint32
	kf   chan struct{} // keyframe requests that reached it
}

func (d *dispatchEnv) publisher(port *HubPort, ssrc uint32) *publisher {
	d.t.Helper()
	p := &publisher{PassThrough: d.node(), ssrc: ssrc, seq: uint16(ssrc), ts: ssrc * 7, kf: make(chan struct{}, 100)}
	d.connect(p, port, Video)
	d.connect(p, port, Audio)
	// Set after connecting: the request a new connection makes is not
	// counted, only what the tests cause.
	p.Output(Video, "default").OnKeyframeRequest(func() { p.kf <- struct{}{} })
	return p
}

func (p *publisher) send(n int) {
	for range n {
		p.seq++
		p.ts += 3000
		p.Output(Video, "default").WriteRTP(pkt(p.ssrc, p.seq, p.ts, []byte{byte(p.ssrc)}))
	}
}

// viewer is a downstream element fed by a port.
func (d *dispatchEnv) viewer(port *HubPort) (*PassThrough, *recorder) {
	d.t.Helper()
	v := d.node()
	d.connect(port, v, Video)
	return v, record(v.Input(Video, "default"))
}

// payloads lists the first payload byte of each packet (who sent it).
func payloads(ps []rtp.Packet) []byte {
	var out []byte
	for _, p := range ps {
		out = append(out, p.Payload[0])
	}
	return out
}

func wantKeyframe(t *testing.T, p *publisher, why string) {
	t.Helper()
	select {
	case <-p.kf:
	case <-time.After(wait):
		t.Fatalf("no keyframe request reached publisher %d: %s", p.ssrc, why)
	}
}

func drainKeyframes(p *publisher) {
	for len(p.kf) > 0 {
		<-p.kf
	}
}

// checkContinuous fails unless the packets form one stream: one SSRC,
// sequence numbers one apart, timestamps moving on.
func checkContinuous(t *testing.T, got []rtp.Packet, ssrc uint32) {
	t.Helper()
	for i, p := range got {
		if p.SSRC != ssrc {
			t.Fatalf("packet %d SSRC %d, want %d", i, p.SSRC, ssrc)
		}
		if i == 0 {
			continue
		}
		if d := p.SequenceNumber - got[i-1].SequenceNumber; d != 1 {
			t.Fatalf("packet %d: sequence jumps by %d (%d → %d)", i, d, got[i-1].SequenceNumber, p.SequenceNumber)
		}
		if int32(p.Timestamp-got[i-1].Timestamp) <= 0 {
			t.Fatalf("packet %d: timestamp %d does not move on from %d", i, p.Timestamp, got[i-1].Timestamp)
		}
	}
}

func TestDispatcherMovesMedia(t *testing.T) {
	d := newDispatchEnv(t, "Dispatcher")
	pa, pb, out, other := d.newPort(), d.newPort(), d.newPort(), d.newPort()
	vp8 := Codec{MimeType: "video/VP8", ClockRate: 90000, PayloadType: 96}
	a, b := d.publisher(pa, 1), d.publisher(pb, 2)
	a.Output(Video, "default").SetCodec(vp8)
	b.Output(Video, "default").SetCodec(vp8)
	v, rv := d.viewer(out)
	_, rOther := d.viewer(other)
	// The viewer negotiated VP8 under its own payload type.
	v.Input(Video, "default").Accept(Codec{MimeType: "video/VP8", ClockRate: 90000, PayloadType: 100})

	t.Run("no route, no media", func(t *testing.T) {
		a.send(3)
		if n := len(rv.packets()); n != 0 {
			t.Fatalf("viewer got %d packets without a route", n)
		}
	})
	t.Run("route a to the viewer's port", func(t *testing.T) {
		if err := d.route(pa, out); err != nil {
			t.Fatal(err)
		}
		wantKeyframe(t, a, "a new route")
		if c, ok := out.Output(Video, "default").Codec(); !ok || !c.Same(vp8) {
			t.Fatalf("destination port declares %+v %v, want VP8", c, ok)
		}
		a.send(5)
		b.send(5) // not routed anywhere
		got := rv.packets()
		if string(payloads(got)) != string([]byte{1, 1, 1, 1, 1}) {
			t.Fatalf("viewer got payloads %v, want five from a", payloads(got))
		}
		if got[0].PayloadType != 100 {
			t.Fatalf("payload type %d, want the viewer's 100", got[0].PayloadType)
		}
		if len(rOther.packets()) != 0 {
			t.Fatal("an unrouted port received media")
		}
	})
	t.Run("viewer keyframe requests reach the routed source", func(t *testing.T) {
		drainKeyframes(a)
		drainKeyframes(b)
		v.Input(Video, "default").RequestKeyframe()
		wantKeyframe(t, a, "viewer request")
		if len(b.kf) != 0 {
			t.Fatal("the unrouted publisher was asked")
		}
	})
	t.Run("switch to b: same SSRC, continuous numbering, keyframe from b", func(t *testing.T) {
		drainKeyframes(b)
		if err := d.route(pb, out); err != nil {
			t.Fatal(err)
		}
		wantKeyframe(t, b, "switch")
		a.send(3) // no longer reaches the viewer
		b.send(5)
		got := rv.packets()
		if want := []byte{1, 1, 1, 1, 1, 2, 2, 2, 2, 2}; string(payloads(got)) != string(want) {
			t.Fatalf("viewer got payloads %v, want %v", payloads(got), want)
		}
		checkContinuous(t, got, v.Input(Video, "default").SSRC())
		drainKeyframes(b)
		// Inside the port's merge window the request is sent when the
		// window ends, to the source routed then.
		v.Input(Video, "default").RequestKeyframe()
		wantKeyframe(t, b, "viewer request after the switch")
	})
	t.Run("one source, two destinations", func(t *testing.T) {
		if err := d.route(pb, other); err != nil {
			t.Fatal(err)
		}
		before := len(rv.packets())
		b.send(2)
		if len(rv.packets()) != before+2 || len(rOther.packets()) != 2 {
			t.Fatalf("fan-out: viewer %d new, other %d", len(rv.packets())-before, len(rOther.packets()))
		}
		// Both destinations share the payload (no copy per destination).
		gv, go2 := rv.packets(), rOther.packets()
		if &gv[len(gv)-1].Payload[0] != &go2[len(go2)-1].Payload[0] {
			t.Fatal("payload copied per destination")
		}
	})
	t.Run("audio follows the route", func(t *testing.T) {
		av := d.node()
		d.connect(out, av, Audio)
		ra := record(av.Input(Audio, "default"))
		b.Output(Audio, "default").WriteRTP(pkt(9, 1, 1, []byte{2}))
		a.Output(Audio, "default").WriteRTP(pkt(9, 1, 1, []byte{1}))
		if got := payloads(ra.packets()); string(got) != string([]byte{2}) {
			t.Fatalf("audio viewer got %v, want b's packet only", got)
		}
	})
}

func TestDispatcherCodecRefusalDownstream(t *testing.T) {
	d := newDispatchEnv(t, "Dispatcher")
	src, dst := d.newPort(), d.newPort()
	pub := d.publisher(src, 1)
	pub.Output(Video, "default").SetCodec(Codec{MimeType: "video/VP8", ClockRate: 90000, PayloadType: 96})
	h264 := d.node()
	d.subscribe("S", h264.id, "Error")
	in := h264.Input(Video, "default")
	in.Accept(Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "profile-level-id=42e01f;packetization-mode=1", PayloadType: 102})
	r := record(in)
	d.connect(dst, h264, Video)
	if err := d.route(src, dst); err != nil {
		t.Fatal(err)
	}
	pub.send(2)
	if len(r.packets()) != 0 {
		t.Fatal("an H.264-only sink received VP8 through the dispatcher")
	}
	errs := 0
	for _, ev := range ktOfType(d.sink.take(), "Error") {
		if ev.Object == h264.id {
			errs++
		}
	}
	if errs != 1 {
		t.Fatalf("%d Error events on the refusing sink, want 1", errs)
	}
}

func TestDispatcherOneToManyFansOut(t *testing.T) {
	d := newDispatchEnv(t, "DispatcherOneToMany")
	p1, p2, p3 := d.newPort(), d.newPort(), d.newPort()
	a, b := d.publisher(p1, 1), d.publisher(p2, 2)
	v1, r1 := d.viewer(p1)
	v2, r2 := d.viewer(p2)
	v3, r3 := d.viewer(p3)
	_ = v1
	if err := d.setSource(p1); err != nil {
		t.Fatal(err)
	}
	wantKeyframe(t, a, "setSource")
	a.send(3)
	if len(r1.packets()) != 0 {
		t.Fatal("the source port got its own media back")
	}
	if string(payloads(r2.packets())) != "\x01\x01\x01" || string(payloads(r3.packets())) != "\x01\x01\x01" {
		t.Fatalf("fan-out: %v %v", payloads(r2.packets()), payloads(r3.packets()))
	}
	// A port added while a source is set receives it.
	p4 := d.newPort()
	_, r4 := d.viewer(p4)
	a.send(1)
	if len(r4.packets()) != 1 {
		t.Fatalf("late port got %d packets", len(r4.packets()))
	}
	// Switching the source: the others keep their stream continuous; the
	// new source's own port gets nothing, the old one now receives.
	drainKeyframes(b)
	if err := d.setSource(p2); err != nil {
		t.Fatal(err)
	}
	wantKeyframe(t, b, "switch")
	b.send(3)
	if got := payloads(r3.packets()); string(got) != "\x01\x01\x01\x01\x02\x02\x02" {
		t.Fatalf("p3 viewer got %v", got)
	}
	checkContinuous(t, r3.packets(), v3.Input(Video, "default").SSRC())
	if got := payloads(r1.packets()); string(got) != "\x02\x02\x02" {
		t.Fatalf("old source's port got %v", got)
	}
	if n := len(r2.packets()); n != 4 {
		t.Fatalf("new source's port got %d packets, want its 4 from before", n)
	}
	_ = v2
	// removeSource stops everything.
	if _, err := d.invoke("S", d.hubID, "removeSource", nil); err != nil {
		t.Fatal(err)
	}
	counts := func() [4]int {
		return [4]int{len(r1.packets()), len(r2.packets()), len(r3.packets()), len(r4.packets())}
	}
	before := counts()
	a.send(2)
	b.send(2)
	if counts() != before {
		t.Fatalf("media flowed after removeSource: %v → %v", before, counts())
	}
}

func TestDispatcherRefusesLoops(t *testing.T) {
	video, audio := []MediaType{Video}, []MediaType{Audio}
	setup := func(t *testing.T) (*dispatchEnv, *HubPort, *HubPort, *HubPort) {
		d := newDispatchEnv(t, "Dispatcher")
		return d, d.newPort(), d.newPort(), d.newPort()
	}
	mustRoute := func(t *testing.T, d *dispatchEnv, src, dst *HubPort) {
		t.Helper()
		if err := d.route(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("connect b's output back to a's input", func(t *testing.T) {
		d, a, b, _ := setup(t)
		mustRoute(t, d, a, b)
		ktWantCode(t, Connect(b, a, video, "default", "default"), CodeConnect)
		if got := a.SourceConnections(nil, nil); len(got) != 0 {
			t.Fatalf("refused connect left %v", got)
		}
	})
	t.Run("through a PassThrough", func(t *testing.T) {
		d, a, b, _ := setup(t)
		mustRoute(t, d, a, b)
		pt := d.passThrough()
		d.connect(b, pt, Video)
		ktWantCode(t, Connect(pt, a, audio, "default", "default"), CodeConnect)
	})
	t.Run("through two routes", func(t *testing.T) {
		d, a, b, c := setup(t)
		mustRoute(t, d, a, b)
		pt := d.passThrough()
		d.connect(b, pt, Video)
		d.connect(pt, c, Video)
		mustRoute(t, d, c, c)
		ktWantCode(t, Connect(c, a, video, "default", "default"), CodeConnect)
	})
	t.Run("a port routed onto itself", func(t *testing.T) {
		d, _, _, c := setup(t)
		mustRoute(t, d, c, c)
		ktWantCode(t, Connect(c, c, video, "default", "default"), CodeConnect)
		pt := d.passThrough()
		d.connect(c, pt, Video)
		ktWantCode(t, Connect(pt, c, video, "default", "default"), CodeConnect)
	})
	t.Run("a route that would close a loop", func(t *testing.T) {
		d, a, b, c := setup(t)
		mustRoute(t, d, b, c)
		pt := d.passThrough()
		d.connect(c, pt, Video)
		d.connect(pt, a, Video)
		_, err := d.invoke("S", d.hubID, "connect", map[string]any{"source": a.id, "sink": c.id})
		ktWantCode(t, err, CodeConnect)
		if src, _ := d.obj(d.hubID).(*Dispatcher).SourceFor(c); src != b {
			t.Fatalf("refused route changed c's source to %v", src)
		}
		mustRoute(t, d, a, b) // b's output goes nowhere: no loop
		mustRoute(t, d, c, c) // c → pt → a → b: no way back to c's input
		_, err = d.invoke("S", d.hubID, "connect", map[string]any{"source": a.id, "sink": c.id})
		ktWantCode(t, err, CodeConnect)
		if src, _ := d.obj(d.hubID).(*Dispatcher).SourceFor(c); src != c {
			t.Fatalf("refused route changed c's source to %v", src)
		}
	})
	t.Run("endpoints close no loop and media moves", func(t *testing.T) {
		d, a, b, _ := setup(t)
		n := d.node() // does not forward, like a WebRtcEndpoint
		d.connect(b, n, Video)
		d.connect(n, b, Video)
		mustRoute(t, d, a, b)
		mustRoute(t, d, b, b)
		mustRoute(t, d, a, b)
		pub := d.publisher(a, 7)
		r := record(n.Input(Video, "default"))
		done := make(chan struct{})
		go func() { pub.send(3); close(done) }()
		select {
		case <-done:
		case <-time.After(wait):
			t.Fatal("sending through the dispatcher deadlocked")
		}
		if len(r.packets()) != 3 {
			t.Fatalf("endpoint behind the route got %d packets, want 3", len(r.packets()))
		}
	})
}

func TestDispatcherOneToManyRefusesLoops(t *testing.T) {
	d := newDispatchEnv(t, "DispatcherOneToMany")
	p1, p2 := d.newPort(), d.newPort()
	pt := d.passThrough()
	d.connect(p2, pt, Video)
	d.connect(pt, p1, Video)
	ktWantCode(t, d.setSource(p1), CodeConnect)
	if _, ok := d.obj(d.hubID).(*DispatcherOneToMany).Source(); ok {
		t.Fatal("refused source was set")
	}
	if err := d.setSource(p2); err != nil { // p2 → p1 → (pt) → … p1's output goes nowhere
		t.Fatalf("setSource p2: %v", err)
	}
	// Now p2's media reaches p1's output: connecting it back to p2 loops.
	ktWantCode(t, Connect(p1, p2, []MediaType{Video}, "default", "default"), CodeConnect)
	// A port added later is fed too, so it cannot close a loop either.
	p3 := d.newPort()
	ktWantCode(t, Connect(p3, p2, []MediaType{Video}, "default", "default"), CodeConnect)
}

func TestDispatcherReleaseStopsFlow(t *testing.T) {
	d := newDispatchEnv(t, "Dispatcher")
	src, dst1, dst2 := d.newPort(), d.newPort(), d.newPort()
	pub := d.publisher(src, 1)
	_, r1 := d.viewer(dst1)
	_, r2 := d.viewer(dst2)
	for _, dst := range []*HubPort{dst1, dst2} {
		if err := d.route(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	pub.send(1)
	if len(r1.packets()) != 1 || len(r2.packets()) != 1 {
		t.Fatal("no media before release")
	}
	if err := d.store.Release(d.call("S"), dst1.id); err != nil {
		t.Fatal(err)
	}
	pub.send(1)
	if len(r1.packets()) != 1 || len(r2.packets()) != 2 {
		t.Fatalf("after releasing one destination: %d, %d", len(r1.packets()), len(r2.packets()))
	}
	// Keyframe requests of a released destination go nowhere, and do not panic.
	dst1.Output(Video, "default").RequestKeyframe()
	if err := d.store.Release(d.call("S"), src.id); err != nil {
		t.Fatal(err)
	}
	pub.send(1)
	if len(r2.packets()) != 2 {
		t.Fatal("media flowed after the source port was released")
	}
	if _, ok := d.obj(d.hubID).(*Dispatcher).SourceFor(dst2); ok {
		t.Fatal("route from a released port survives")
	}
	// Releasing the hub releases its ports: a new source stops at once.
	src2 := d.newPort()
	pub2 := d.publisher(src2, 2)
	if err := d.route(src2, dst2); err != nil {
		t.Fatal(err)
	}
	pub2.send(1)
	if len(r2.packets()) != 3 {
		t.Fatal("new route carries nothing")
	}
	if err := d.store.Release(d.call("S"), d.hubID); err != nil {
		t.Fatal(err)
	}
	pub2.send(1)
	if len(r2.packets()) != 3 {
		t.Fatal("media flowed after the hub was released")
	}
}

// Routes change while media flows (run with -race): no deadlock, no race,
// and every packet the viewer gets continues its stream.
func TestDispatcherSwitchUnderLoad(t *testing.T) {
	d := newDispatchEnv(t, "Dispatcher")
	out := d.newPort()
	var srcs []*HubPort
	var pubs []*publisher
	for i := range 3 {
		p := d.newPort()
		srcs = append(srcs, p)
		pubs = append(pubs, d.publisher(p, uint32(10+i)))
	}
	v := d.node()
	d.connect(out, v, Video)
	var mu sync.Mutex
	var got []rtp.Packet
	v.Input(Video, "default").SetHandler(func(p *rtp.Packet) {
		mu.Lock()
		got = append(got, *p)
		mu.Unlock()
	})
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				p.send(1)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 60 {
			if err := d.route(srcs[i%len(srcs)], out); err != nil {
				t.Error(err)
				return
			}
			extra := d.newPort() // ports come and go meanwhile
			if err := d.route(srcs[(i+1)%len(srcs)], extra); err != nil {
				t.Error(err)
			}
			if err := d.store.Release(d.call("S"), extra.id); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(4 * wait):
		t.Fatal("route changes stalled")
	}
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 10 {
		t.Fatalf("viewer got only %d packets", len(got))
	}
	// Continuous numbering; timestamps may repeat inside one publisher's
	// frame only, never go back.
	ssrc := v.Input(Video, "default").SSRC()
	for i, p := range got {
		if p.SSRC != ssrc {
			t.Fatalf("packet %d SSRC %d, want %d", i, p.SSRC, ssrc)
		}
		if i > 0 && p.SequenceNumber-got[i-1].SequenceNumber != 1 {
			for j := max(0, i-4); j < i+2 && j < len(got); j++ {
				t.Logf("%d: seq %d ts %d payload %d", j, got[j].SequenceNumber, got[j].Timestamp, got[j].Payload[0])
			}
			t.Fatalf("packet %d: sequence jumps by %d", i, p.SequenceNumber-got[i-1].SequenceNumber)
		}
	}
}

// A route adds no allocation per packet: the per-destination header copy
// stays on the stack and payloads are shared.
func TestDispatcherAllocatesNothingPerPacket(t *testing.T) {
	d := newDispatchEnv(t, "DispatcherOneToMany")
	src := d.newPort()
	pub := d.publisher(src, 1)
	for range 10 {
		port := d.newPort()
		v := d.node()
		d.connect(port, v, Video)
		v.Input(Video, "default").SetHandler(func(*rtp.Packet) {})
	}
	if err := d.setSource(src); err != nil {
		t.Fatal(err)
	}
	pub.send(1)
	out := pub.Output(Video, "default")
	p := pkt(5, 0, 0, make([]byte, 100))
	allocs := testing.AllocsPerRun(200, func() {
		p.SequenceNumber++
		out.WriteRTP(p)
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per packet for 10 destinations", allocs)
	}
}

func BenchmarkDispatcherOneToMany100(b *testing.B) {
	d := newDispatchEnv(&testing.T{}, "DispatcherOneToMany")
	src := d.newPort()
	pub := d.node()
	if err := Connect(pub, src, []MediaType{Video}, "default", "default"); err != nil {
		b.Fatal(err)
	}
	for range 100 {
		port := d.newPort()
		v := d.node()
		if err := Connect(port, v, []MediaType{Video}, "default", "default"); err != nil {
			b.Fatal(err)
		}
		v.Input(Video, "default").SetHandler(func(*rtp.Packet) {})
	}
	if err := d.setSource(src); err != nil {
		b.Fatal(err)
	}
	out := pub.Output(Video, "default")
	p := pkt(5, 0, 0, make([]byte, 1200))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.SequenceNumber++
		out.WriteRTP(p)
	}
}

// Going back to a source whose numbering moved on while it was routed
// elsewhere (and nothing else was sent meanwhile) is still a new segment
// for the viewer: no sequence gap.
func TestDispatcherBackToEarlierSource(t *testing.T) {
	d := newDispatchEnv(t, "Dispatcher")
	pa, pb, out, other := d.newPort(), d.newPort(), d.newPort(), d.newPort()
	a := d.publisher(pa, 1)
	d.publisher(pb, 2)
	v, rv := d.viewer(out)
	for _, step := range []struct {
		src  *HubPort
		send int
	}{{pa, 3}, {pb, 0}, {pa, 3}} {
		if err := d.route(step.src, out); err != nil {
			t.Fatal(err)
		}
		if err := d.route(pa, other); err != nil { // a keeps numbering on for another port
			t.Fatal(err)
		}
		a.send(step.send)
		if step.send == 0 {
			a.send(2) // reaches only the other port
		}
	}
	got := rv.packets()
	if len(got) != 6 {
		t.Fatalf("viewer got %d packets, want 6", len(got))
	}
	checkContinuous(t, got, v.Input(Video, "default").SSRC())
}

// A source's clock passes on through a PassThrough and through a
// Dispatcher's route (under the route's SSRC): the viewer's RTPTimeAt is
// the source's timeline moved by the offsets the rewriting added.
func TestClockThroughForwarders(t *testing.T) {
	d := newDispatchEnv(t, "Dispatcher")
	a, b := d.newPort(), d.newPort()
	pub := d.publisher(a, 0x100)
	t0 := time.Now()
	pub.Output(Video, "default").SetClock(func() (SenderClock, bool) {
		return SenderClock{SSRC: 0x100, RTP: 5000, At: t0}, true
	})
	if err := d.route(a, b); err != nil {
		t.Fatal(err)
	}
	v, rec := d.viewer(b)
	pass := d.passThrough()
	d.connect(pub, pass, Video) // pub → pass → sink, besides the dispatcher
	sink := d.node()
	d.connect(pass, sink, Video)
	passRec := record(sink.Input(Video, "default"))
	pub.send(3)

	for name, c := range map[string]struct {
		in  *Input
		rec *recorder
	}{"dispatcher": {v.Input(Video, "default"), rec}, "passthrough": {sink.Input(Video, "default"), passRec}} {
		got := c.rec.packets()
		if len(got) == 0 {
			t.Fatalf("%s: nothing arrived", name)
		}
		// The offset the chain added: last packet out minus its source timestamp.
		offset := got[len(got)-1].Timestamp - pub.ts
		ts, ok := c.in.RTPTimeAt(t0.Add(time.Second))
		if want := 5000 + 90000 + offset; !ok || ts != want {
			t.Errorf("%s: RTPTimeAt(t0+1s) = %d, %v; want %d", name, ts, ok, want)
		}
	}
}
