package mediaelements

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// fakeTranscoders is a Transcoders factory whose transcoders "convert" by
// prefixing the payload with the target codec's name, on a goroutine of
// their own like a real one.
type fakeTranscoders struct {
	mu      sync.Mutex
	made    []*fakeTranscoder
	refuse  func(from, to Codec) bool
	created chan *fakeTranscoder
}

func newFakeTranscoders() *fakeTranscoders {
	return &fakeTranscoders{created: make(chan *fakeTranscoder, 10)}
}

func (f *fakeTranscoders) New(from, to Codec, _ *slog.Logger) (Transcoder, error) {
	if f.refuse != nil && f.refuse(from, to) {
		return nil, ErrUnsupportedTranscoding
	}
	t := &fakeTranscoder{from: from, to: to, in: make(chan []byte, 100), stop: make(chan struct{}), done: make(chan struct{}),
		forced: make(chan struct{}, 100)}
	f.mu.Lock()
	f.made = append(f.made, t)
	f.mu.Unlock()
	select {
	case f.created <- t:
	default:
	}
	return t, nil
}

func (f *fakeTranscoders) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.made)
}

type fakeTranscoder struct {
	from, to Codec
	in       chan []byte
	stop     chan struct{}
	done     chan struct{}
	started  atomic.Bool
	closed   atomic.Bool
	forced   chan struct{}

	mu       sync.Mutex
	onPacket func([]*rtp.Packet)
	onKF     func()
	onErr    func(error)
	seq      uint16
}

func (t *fakeTranscoder) Write(p *rtp.Packet) {
	if t.closed.Load() {
		panic("Write after Close")
	}
	if t.started.CompareAndSwap(false, true) {
		go t.run()
	}
	select {
	case t.in <- bytes.Clone(p.Payload):
	default:
	}
}

func (t *fakeTranscoder) run() {
	defer close(t.done)
	for {
		select {
		case <-t.stop:
			return
		case payload := <-t.in:
			t.mu.Lock()
			fn := t.onPacket
			t.seq++
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 4242, SequenceNumber: t.seq, Timestamp: uint32(t.seq) * 3000, PayloadType: 111},
				Payload: append([]byte(t.to.MimeType+":"), payload...)}
			t.mu.Unlock()
			if fn != nil {
				fn([]*rtp.Packet{p})
			}
		}
	}
}

func (t *fakeTranscoder) OnPackets(fn func([]*rtp.Packet)) {
	t.mu.Lock()
	t.onPacket = fn
	t.mu.Unlock()
}
func (t *fakeTranscoder) OnKeyframeNeeded(fn func()) { t.mu.Lock(); t.onKF = fn; t.mu.Unlock() }
func (t *fakeTranscoder) ForceKeyframe()             { t.forced <- struct{}{} }
func (t *fakeTranscoder) OnError(fn func(error))     { t.mu.Lock(); t.onErr = fn; t.mu.Unlock() }

// fail plays the transcoder's pipeline failing.
func (t *fakeTranscoder) fail(err error) {
	t.mu.Lock()
	fn := t.onErr
	t.mu.Unlock()
	fn(err)
}

// needKeyframe plays the decoder asking its source for a keyframe.
func (t *fakeTranscoder) needKeyframe() {
	t.mu.Lock()
	fn := t.onKF
	t.mu.Unlock()
	fn()
}

func (t *fakeTranscoder) Close() {
	if t.closed.Swap(true) {
		panic("closed twice")
	}
	close(t.stop)
	if t.started.Load() {
		<-t.done
	}
}

var (
	tVP8  = Codec{MimeType: "video/VP8", ClockRate: 90000, PayloadType: 96}
	tH264 = Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "profile-level-id=42e01f;packetization-mode=1", PayloadType: 102}
)

func newTranscodeEnv(t *testing.T, f *fakeTranscoders) *mediaEnv {
	e := newKtEnv(t, func(o *Options) {
		o.FlowTimeout = 50 * time.Millisecond
		o.Now = time.Now
		o.Transcoders = f
	})
	t.Cleanup(e.store.ReleaseAll) // stops the transcoders a test left running
	return &mediaEnv{ktEnv: e, pipe: e.pipeline("S")}
}

// events collects deliveries of the env's sink across polls.
type events struct {
	m   *mediaEnv
	all []ktDelivery
}

func (ev *events) poll() { ev.all = append(ev.all, ev.m.sink.take()...) }

// find returns the deliveries of an event type to an object whose data has
// the given state (any state if "").
func (ev *events) find(obj, typ, state string) []ktDelivery {
	ev.poll()
	var out []ktDelivery
	for _, d := range ev.all {
		if d.Object == obj && d.Type == typ && (state == "" || d.Data["state"] == state) {
			out = append(out, d)
		}
	}
	return out
}

func (ev *events) waitFor(t *testing.T, obj, typ, state string) ktDelivery {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if got := ev.find(obj, typ, state); len(got) > 0 {
			return got[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s %s on %s", typ, state, obj)
	return ktDelivery{}
}

// waitPackets waits until the recorder holds at least n packets.
func waitPackets(t *testing.T, r *recorder, n int) []rtp.Packet {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if got := r.packets(); len(got) >= n {
			return got
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("got %d packets, want %d", len(r.packets()), n)
	return nil
}

func waitSignal(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(wait):
		t.Fatal("no " + what)
	}
}

func TestTranscoderSharedBySinksThatNeedIt(t *testing.T) {
	f := newFakeTranscoders()
	m := newTranscodeEnv(t, f)
	ev := &events{m: m}
	src, h1, h2, v := m.node(), m.node(), m.node(), m.node()
	for _, n := range []*PassThrough{h1, h2, v} {
		m.subscribe("S", n.id, "MediaTranscodingStateChanged")
		m.subscribe("S", n.id, "Error")
	}
	out := src.Output(Video, "default")
	out.SetCodec(tVP8)
	askedSource := make(chan struct{}, 100)
	out.OnKeyframeRequest(func() { askedSource <- struct{}{} })

	var rs []*recorder
	for _, n := range []*PassThrough{h1, h2} {
		in := n.Input(Video, "default")
		in.Accept(tH264, Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2, PayloadType: 111})
		rs = append(rs, record(in))
		m.connect(src, n, Video)
	}
	vIn := v.Input(Video, "default")
	vIn.Accept(tVP8)
	rv := record(vIn)
	m.connect(src, v, Video)

	if n := f.count(); n != 1 {
		t.Fatalf("%d transcoders for two H.264 sinks of one VP8 source, want 1", n)
	}
	tc := <-f.created
	if !tc.from.Same(tVP8) || !tc.to.Same(tH264) {
		t.Fatalf("transcoder %s → %s", tc.from.MimeType, tc.to.MimeType)
	}
	for _, n := range []*PassThrough{h1, h2} {
		d := ev.waitFor(t, n.id, "MediaTranscodingStateChanged", "TRANSCODING")
		if d.Data["mediaType"] != "VIDEO" || d.Data["binName"] != "default" {
			t.Fatalf("event data %v", d.Data)
		}
		if got := m.mustInvoke("S", n.id, "isMediaTranscoding", map[string]any{"mediaType": "VIDEO"}); got != true {
			t.Fatalf("isMediaTranscoding(VIDEO) = %v", got)
		}
		if got := m.mustInvoke("S", n.id, "isMediaTranscoding", map[string]any{"mediaType": "AUDIO"}); got != false {
			t.Fatalf("isMediaTranscoding(AUDIO) = %v", got)
		}
		if c, ok := n.Input(Video, "default").Codec(); !ok || !c.Same(tH264) || c.PayloadType != 102 {
			t.Fatalf("sink input codec %+v", c)
		}
		// The graph still shows the real source.
		if cs := n.SourceConnections(nil, nil); len(cs) != 1 || cs[0].Source.Base().id != src.id {
			t.Fatalf("source connections %v", cs)
		}
	}
	if got := m.mustInvoke("S", v.id, "isMediaTranscoding", map[string]any{"mediaType": "VIDEO"}); got != false {
		t.Fatal("the VP8 sink reports transcoding")
	}
	if len(ev.find(v.id, "MediaTranscodingStateChanged", "")) != 0 || len(ev.find(h1.id, "Error", "")) != 0 {
		t.Fatal("unexpected Error or transcoding event")
	}
	if n := out.Sinks(); n != 3 {
		t.Fatalf("source has %d sinks, want 3 (the transcoder's feed is not one)", n)
	}

	for i := range 10 {
		out.WriteRTP(pkt(1, uint16(100+i), uint32(i*3000), []byte{byte(i)}))
	}
	if got := waitPackets(t, rv, 10); len(got) != 10 || got[0].Payload[0] != 0 || got[0].PayloadType != 96 {
		t.Fatalf("VP8 sink got %d packets %+v", len(got), got[0])
	}
	for i, r := range rs {
		got := waitPackets(t, r, 10)
		ssrc := []*PassThrough{h1, h2}[i].Input(Video, "default").SSRC()
		for j, p := range got {
			if !strings.HasPrefix(string(p.Payload), "video/H264:") || p.Payload[len(p.Payload)-1] != byte(j) {
				t.Fatalf("sink %d packet %d payload %q", i, j, p.Payload)
			}
			if p.SSRC != ssrc || p.PayloadType != 102 {
				t.Fatalf("sink %d packet %d: SSRC %d PT %d, want %d/102", i, j, p.SSRC, p.PayloadType, ssrc)
			}
			if j > 0 && p.SequenceNumber != got[j-1].SequenceNumber+1 {
				t.Fatalf("sink %d: sequence %d after %d", i, p.SequenceNumber, got[j-1].SequenceNumber)
			}
		}
	}

	// Keyframes: a sink's request goes to the transcoder's encoder, not to
	// the source; the transcoder's decoder asks the source.
	time.Sleep(KeyframeInterval) // leave the rate-limit windows (not an assertion)
	// Requests made before (merged ones fire when their window ends, each on
	// a goroutine of its own, late on a loaded machine): wait until none
	// has arrived for a while.
	quiet := func(ch <-chan struct{}) {
		deadline := time.After(5 * time.Second)
		for {
			select {
			case <-ch:
			case <-time.After(200 * time.Millisecond):
				return
			case <-deadline:
				t.Fatal("keyframe requests kept coming for 5 s with no one asking")
			}
		}
	}
	quiet(askedSource)
	quiet(tc.forced)
	h1.Input(Video, "default").RequestKeyframe()
	waitSignal(t, tc.forced, "ForceKeyframe after a sink asked for a keyframe")
	select {
	case <-askedSource:
		t.Fatal("a transcoded sink's keyframe request reached the source")
	case <-time.After(100 * time.Millisecond):
	}
	tc.needKeyframe()
	waitSignal(t, askedSource, "keyframe request to the source when the decoder needs one")

	// One sink leaves: the other keeps the transcoder.
	if err := Disconnect(src, h1, []MediaType{Video}, "default", "default"); err != nil {
		t.Fatal(err)
	}
	ev.waitFor(t, h1.id, "MediaTranscodingStateChanged", "NOT_TRANSCODING")
	if tc.closed.Load() {
		t.Fatal("transcoder closed while a sink still uses it")
	}
	if got := m.mustInvoke("S", h1.id, "isMediaTranscoding", map[string]any{"mediaType": "VIDEO"}); got != false {
		t.Fatal("disconnected sink still reports transcoding")
	}
	out.WriteRTP(pkt(1, 200, 90000, []byte{99}))
	waitPackets(t, rs[1], 11)
	if n := len(rs[0].packets()); n != 10 {
		t.Fatalf("disconnected sink got %d packets", n)
	}
	// The last one leaves: the transcoder stops.
	if err := m.store.Release(m.call("S"), h2.id); err != nil {
		t.Fatal(err)
	}
	if !tc.closed.Load() {
		t.Fatal("transcoder still running after its last sink left")
	}
	if n := out.Sinks(); n != 1 {
		t.Fatalf("source has %d sinks left, want 1", n)
	}
	if n := len(*out.sinks.Load()); n != 1 {
		t.Fatalf("%d inputs attached to the source, want 1: the transcoder's feed stayed", n)
	}
	// A new H.264 sink gets a new transcoder.
	h3 := m.node()
	h3.Input(Video, "default").Accept(tH264)
	m.connect(src, h3, Video)
	if n := f.count(); n != 2 {
		t.Fatalf("%d transcoders made, want 2", n)
	}
	tc2 := <-f.created
	// Releasing the source stops it.
	if err := m.store.Release(m.call("S"), src.id); err != nil {
		t.Fatal(err)
	}
	if !tc2.closed.Load() {
		t.Fatal("transcoder still running after its source was released")
	}
	if got := m.mustInvoke("S", h3.id, "isMediaTranscoding", map[string]any{"mediaType": "VIDEO"}); got != false {
		t.Fatal("sink of a released source still reports transcoding")
	}
}

// When the source switches to a codec the sink takes, the transcoder goes
// and the sink's stream stays continuous.
func TestTranscoderEndsWhenSourceCodecBecomesAcceptable(t *testing.T) {
	f := newFakeTranscoders()
	m := newTranscodeEnv(t, f)
	ev := &events{m: m}
	src, h := m.node(), m.node()
	m.subscribe("S", h.id, "MediaTranscodingStateChanged")
	out := src.Output(Video, "default")
	out.SetCodec(tVP8)
	in := h.Input(Video, "default")
	in.Accept(tH264)
	r := record(in)
	codecs := make(chan Codec, 10)
	in.OnCodec(func(c Codec) { codecs <- c })
	m.connect(src, h, Video)
	ev.waitFor(t, h.id, "MediaTranscodingStateChanged", "TRANSCODING")
	if c := <-codecs; !c.Same(tH264) {
		t.Fatalf("OnCodec %+v", c)
	}
	tc := <-f.created
	for i := range 5 {
		out.WriteRTP(pkt(1, uint16(i), uint32(i*3000), []byte{byte(i)}))
	}
	waitPackets(t, r, 5)

	out.SetCodec(Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "packetization-mode=1;profile-level-id=42e01f", PayloadType: 125})
	ev.waitFor(t, h.id, "MediaTranscodingStateChanged", "NOT_TRANSCODING")
	if !tc.closed.Load() {
		t.Fatal("transcoder kept after the source became acceptable")
	}
	for i := range 5 {
		out.WriteRTP(pkt(77, uint16(5000+i), uint32(500000+i*3000), []byte("direct")))
	}
	got := waitPackets(t, r, 10)
	if string(got[9].Payload) != "direct" || got[9].PayloadType != 102 {
		t.Fatalf("after the switch: %+v", got[9])
	}
	for i := 1; i < len(got); i++ {
		if got[i].SSRC != got[0].SSRC || got[i].SequenceNumber != got[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: SSRC %d seq %d after %d", i, got[i].SSRC, got[i].SequenceNumber, got[i-1].SequenceNumber)
		}
	}
	if f.count() != 1 {
		t.Fatal("a transcoder was made for an acceptable codec")
	}
}

// No factory, or a factory that cannot do the pair: the sink is refused
// (Error event), as without transcoding.
func TestTranscoderRefusedFallsBackToError(t *testing.T) {
	f := newFakeTranscoders()
	f.refuse = func(from, to Codec) bool { return true }
	m := newTranscodeEnv(t, f)
	ev := &events{m: m}
	src, h := m.node(), m.node()
	m.subscribe("S", h.id, "MediaTranscodingStateChanged")
	m.subscribe("S", h.id, "Error")
	src.Output(Video, "default").SetCodec(tVP8)
	in := h.Input(Video, "default")
	in.Accept(tH264)
	r := record(in)
	m.connect(src, h, Video)
	d := ev.waitFor(t, h.id, "Error", "")
	if !strings.Contains(d.Data["description"].(string), ErrUnsupportedTranscoding.Error()) {
		t.Fatalf("Error event %v", d.Data)
	}
	ev.waitFor(t, h.id, "MediaTranscodingStateChanged", "NOT_TRANSCODING")
	src.Output(Video, "default").WriteRTP(pkt(1, 1, 1, []byte{1}))
	if len(r.packets()) != 0 {
		t.Fatal("a refused sink received media")
	}
	if len(ev.find(h.id, "MediaTranscodingStateChanged", "TRANSCODING")) != 0 {
		t.Fatal("TRANSCODING without a transcoder")
	}
	// An audio sink offered only video codecs is not sent to the factory.
	f.refuse = nil
	a := m.node()
	src.Output(Audio, "default").SetCodec(Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2, PayloadType: 111})
	a.Input(Audio, "default").Accept(tH264)
	m.subscribe("S", a.id, "Error")
	m.connect(src, a, Audio)
	ev.waitFor(t, a.id, "Error", "")
	if f.count() != 0 {
		t.Fatal("the factory was asked for a cross-media transcoder")
	}
}

// A transcoder's failure is an Error event on the source element, whose
// stream it converts; the sink keeps its connection.
func TestTranscoderFailureRaisesError(t *testing.T) {
	f := newFakeTranscoders()
	m := newTranscodeEnv(t, f)
	ev := &events{m: m}
	src, h := m.node(), m.node()
	m.subscribe("S", src.id, "Error")
	m.subscribe("S", h.id, "Error")
	src.Output(Video, "default").SetCodec(tVP8)
	h.Input(Video, "default").Accept(tH264)
	m.connect(src, h, Video)
	tc := <-f.created
	tc.fail(errors.New("transcoder VP8 to H264 failed (enc: boom); restarted"))
	d := ev.waitFor(t, src.id, "Error", "")
	if d.Data["type"] != "STREAM_ERROR_FAILED" || !strings.Contains(d.Data["description"].(string), "enc: boom") {
		t.Fatalf("Error event %v", d.Data)
	}
	if got := ev.find(h.id, "Error", ""); len(got) != 0 {
		t.Fatalf("the sink got the source's error: %v", got)
	}
	if tc.closed.Load() {
		t.Fatal("the failure closed the transcoder (restarting is its own business)")
	}
	// A restarted transcoder is still shared with a sink that connects now.
	h2 := m.node()
	h2.Input(Video, "default").Accept(tH264)
	m.connect(src, h2, Video)
	if f.count() != 1 {
		t.Fatalf("%d transcoders after a restart, want the one shared", f.count())
	}
	// One that gave up is not: the next sink gets a fresh transcoder.
	tc.fail(fmt.Errorf("transcoder VP8 to H264 failed (enc: boom) for the 4. time within 1m0s; %w", ErrTranscoderStopped))
	ev.waitFor(t, src.id, "Error", "")
	h3 := m.node()
	h3.Input(Video, "default").Accept(tH264)
	m.connect(src, h3, Video)
	var fresh *fakeTranscoder
	select {
	case fresh = <-f.created:
	case <-time.After(wait):
	}
	if fresh == nil || fresh == tc || f.count() != 2 {
		t.Fatalf("%d transcoders after one stopped, want a second", f.count())
	}
}

// Fan-out from a transcoder allocates nothing per sink either.
func TestTranscodedFanOutAllocatesNothingPerSink(t *testing.T) {
	f := newFakeTranscoders()
	m := newTranscodeEnv(t, f)
	src := m.node()
	src.Output(Video, "default").SetCodec(tVP8)
	for range 20 {
		s := m.node()
		s.Input(Video, "default").Accept(tH264)
		s.Input(Video, "default").SetHandler(func(*rtp.Packet) {})
		m.connect(src, s, Video)
	}
	tc := <-f.created
	tc.mu.Lock()
	write := tc.onPacket
	tc.mu.Unlock()
	p := pkt(5, 0, 0, make([]byte, 100))
	burst := []*rtp.Packet{p}
	allocs := testing.AllocsPerRun(200, func() {
		p.SequenceNumber++
		write(burst)
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per transcoded packet for 20 sinks", allocs)
	}
	if err := m.store.Release(m.call("S"), m.pipe); err != nil {
		t.Fatal(err)
	}
	if !tc.closed.Load() {
		t.Fatal("transcoder survived the pipeline")
	}
}

// A WebRTC sink negotiates after it was connected: Accept then starts the
// transcoder, and what the sink forwards (a PassThrough) declares the
// target codec downstream.
func TestTranscoderStartsWhenSinkNegotiatesLater(t *testing.T) {
	f := newFakeTranscoders()
	m := newTranscodeEnv(t, f)
	ev := &events{m: m}
	src, pt, end := m.node(), m.passThrough(), m.node()
	m.subscribe("S", pt.id, "MediaTranscodingStateChanged")
	src.Output(Video, "default").SetCodec(tVP8)
	m.connect(src, pt, Video)
	m.connect(pt, end, Video)
	r := record(end.Input(Video, "default"))
	if c, _ := pt.Output(Video, "default").Codec(); !c.Same(tVP8) {
		t.Fatalf("before: PassThrough declares %+v", c)
	}
	pt.Input(Video, "default").Accept(tH264)
	ev.waitFor(t, pt.id, "MediaTranscodingStateChanged", "TRANSCODING")
	if c, _ := pt.Output(Video, "default").Codec(); !c.Same(tH264) {
		t.Fatalf("after: PassThrough declares %+v", c)
	}
	src.Output(Video, "default").WriteRTP(pkt(1, 1, 1, []byte{7}))
	if got := waitPackets(t, r, 1); string(got[0].Payload) != "video/H264:\x07" {
		t.Fatalf("downstream got %q", got[0].Payload)
	}
}

// Sinks joining and leaving, negotiating and the source switching codecs,
// all at once with packets flowing: no deadlock, no race, and every
// transcoder closed at the end.
func TestTranscodingConcurrency(t *testing.T) {
	f := newFakeTranscoders()
	m := newTranscodeEnv(t, f)
	src := m.node()
	out := src.Output(Video, "default")
	out.SetCodec(tVP8)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			out.WriteRTP(pkt(1, uint16(i), uint32(i*3000), []byte{byte(i)}))
			if i%200 == 0 {
				if i%400 == 0 {
					out.SetCodec(tVP8)
				} else {
					out.SetCodec(Codec{MimeType: "video/VP9", ClockRate: 90000, PayloadType: 98})
				}
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	sinks := make([]*PassThrough, 6)
	for i := range sinks {
		sinks[i] = m.node()
		record(sinks[i].Input(Video, "default"))
	}
	var workers sync.WaitGroup
	for i, s := range sinks {
		workers.Add(1)
		go func() {
			defer workers.Done()
			in := s.Input(Video, "default")
			for j := range 400 {
				switch (i + j) % 4 {
				case 0:
					_ = Connect(src, s, []MediaType{Video}, "default", "default")
				case 1:
					in.Accept(tH264)
				case 2:
					in.RequestKeyframe()
					in.Accept(tVP8, tH264)
				case 3:
					_ = Disconnect(src, s, []MediaType{Video}, "default", "default")
				}
			}
		}()
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	for _, s := range sinks {
		_ = Disconnect(src, s, []MediaType{Video}, "default", "default")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.made) == 0 {
		t.Fatal("no transcoder was ever made")
	}
	t.Logf("%d transcoders made and closed", len(f.made))
	for i, tc := range f.made {
		if !tc.closed.Load() {
			t.Fatalf("transcoder %d of %d still open after every sink left", i, len(f.made))
		}
	}
	if n := len(*out.sinks.Load()); n != 0 {
		t.Fatalf("%d inputs still attached", n)
	}
}
