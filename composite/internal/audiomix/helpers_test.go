package audiomix

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	igst "github.com/miksilo/miksilo/internal/gst"
)

// Source modes: what a tone source does with each packet it produces.
const (
	modeSend    = iota // push it into the mixer
	modeDrop           // the input's media stops
	modeGarbage        // push it with an undecodable Opus payload
	modeHold           // keep it, to be pushed in a burst by modeSend
)

// toneSources encodes one live sine tone per input with GStreamer and
// pushes the Opus RTP into a mixer (payload type 96, like a browser might).
type toneSources struct {
	pipe  *igst.Pipeline
	sinks []*igst.AppSink
	modes []atomic.Int32
}

func startTones(t *testing.T, m *Mixer, ids []string, freqs []float64) *toneSources {
	t.Helper()
	var desc []string
	for i, f := range freqs {
		desc = append(desc, fmt.Sprintf("audiotestsrc is-live=true wave=sine freq=%g volume=0.15 samplesperbuffer=960 "+
			"! audio/x-raw,rate=48000,channels=2 ! opusenc bitrate=64000 frame-size=20 ! rtpopuspay pt=96 "+
			"! appsink name=s%d sync=false", f, i))
	}
	p, err := igst.Parse("tones", strings.Join(desc, "  "), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := &toneSources{pipe: p, modes: make([]atomic.Int32, len(ids))}
	if err := p.Start(); err != nil {
		p.Close()
		t.Fatal(err)
	}
	if err := p.WaitPlaying(5 * time.Second); err != nil {
		p.Close()
		t.Fatal(err)
	}
	for i, id := range ids {
		e, err := p.Element(fmt.Sprintf("s%d", i))
		if err != nil {
			t.Fatal(err)
		}
		mode := &ts.modes[i]
		var held []*rtp.Packet
		sink, err := igst.RunAppSink(e, func(s igst.Sample) {
			var pkt rtp.Packet
			if err := pkt.Unmarshal(s.Data); err != nil {
				return
			}
			switch mode.Load() {
			case modeDrop:
				return
			case modeHold:
				held = append(held, &pkt)
				return
			case modeSend:
				for _, h := range held {
					m.Push(id, h)
				}
				held = nil
			case modeGarbage:
				// TOC config 31 code 3 with 63 frames of 20 ms: longer than
				// 120 ms, so opus_decode fails with OPUS_INVALID_PACKET.
				pkt.Payload = []byte{0xff, 0xff, 1, 2, 3, 4}
			}
			m.Push(id, &pkt)
		})
		if err != nil {
			t.Fatal(err)
		}
		ts.sinks = append(ts.sinks, sink)
	}
	return ts
}

func (ts *toneSources) setMode(i int, mode int32) { ts.modes[i].Store(mode) }

func (ts *toneSources) close() {
	for _, s := range ts.sinks {
		s.Stop()
	}
	ts.pipe.Close()
}

// recorder is a port's out function: it checks the RTP stream and decodes
// it live to mono PCM for spectrum checks.
type recorder struct {
	t    *testing.T
	name string
	pipe *igst.Pipeline
	src  *igst.AppSrc
	sink *igst.AppSink

	mu       sync.Mutex
	maxStep  uint32 // largest timestamp step accepted (default 5 frames)
	count    int
	ssrc     uint32
	lastSeq  uint16
	lastTS   uint32
	lastAt   time.Time
	maxGap   time.Duration // longest wall-clock gap between packets
	tsSteps  map[uint32]int
	problems []string
	pcm      []float64
	grew     chan struct{}
}

func newRecorder(t *testing.T, name string) *recorder {
	t.Helper()
	p, err := igst.Parse("rec-"+name, "appsrc name=src is-live=true format=time do-timestamp=true block=false "+
		"caps=application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111 "+
		"! rtpopusdepay ! opusdec ! audioconvert ! audio/x-raw,format=S16LE,rate=48000,channels=1 "+
		"! appsink name=sink sync=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	els, err := p.Elements("src", "sink")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	r := &recorder{t: t, name: name, pipe: p, src: igst.NewAppSrc(els[0]), maxStep: 5 * 960, tsSteps: map[uint32]int{}, grew: make(chan struct{}, 1)}
	var err2 error
	r.sink, err2 = igst.RunAppSink(els[1], func(s igst.Sample) {
		r.mu.Lock()
		for i := 0; i+1 < len(s.Data); i += 2 {
			r.pcm = append(r.pcm, float64(int16(binary.LittleEndian.Uint16(s.Data[i:])))/32768)
		}
		r.mu.Unlock()
		select {
		case r.grew <- struct{}{}:
		default:
		}
	})
	if err2 != nil {
		p.Close()
		t.Fatal(err2)
	}
	return r
}

// out is given to AddInput.
func (r *recorder) out(p *rtp.Packet) {
	now := time.Now()
	r.mu.Lock()
	if p.PayloadType != PayloadType {
		r.problems = append(r.problems, fmt.Sprintf("payload type %d", p.PayloadType))
	}
	if r.count > 0 {
		if p.SSRC != r.ssrc {
			r.problems = append(r.problems, fmt.Sprintf("SSRC changed %x → %x", r.ssrc, p.SSRC))
		}
		if p.SequenceNumber != r.lastSeq+1 {
			r.problems = append(r.problems, fmt.Sprintf("sequence %d after %d", p.SequenceNumber, r.lastSeq))
		}
		step := p.Timestamp - r.lastTS
		r.tsSteps[step]++
		if int32(step) <= 0 || step > r.maxStep {
			r.problems = append(r.problems, fmt.Sprintf("timestamp step %d", int32(step)))
		}
		if gap := now.Sub(r.lastAt); gap > r.maxGap {
			r.maxGap = gap
		}
	}
	r.count++
	r.ssrc, r.lastSeq, r.lastTS, r.lastAt = p.SSRC, p.SequenceNumber, p.Timestamp, now
	r.mu.Unlock()
	b, err := p.Marshal()
	if err == nil {
		_ = r.src.Push(b)
	}
}

// stats returns packets seen, the longest gap and stream problems so far,
// and resets the gap.
func (r *recorder) stats() (int, time.Duration, []string, map[uint32]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.maxGap
	r.maxGap = 0
	steps := map[uint32]int{}
	for k, v := range r.tsSteps {
		steps[k] = v
	}
	return r.count, g, append([]string(nil), r.problems...), steps
}

func (r *recorder) pcmLen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pcm)
}

// next waits for skip then n more samples of decoded audio and returns the
// last n (deadline: a generous multiple of real time).
func (r *recorder) next(skip, n time.Duration) []float64 {
	r.t.Helper()
	start := r.pcmLen()
	from := start + int(skip.Seconds()*ClockRate)
	want := from + int(n.Seconds()*ClockRate)
	deadline := time.After(10*(skip+n) + 5*time.Second)
	for r.pcmLen() < want {
		select {
		case <-r.grew:
		case <-deadline:
			r.t.Fatalf("%s: decoded audio stalled: %d of %d samples", r.name, r.pcmLen()-start, want-start)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]float64(nil), r.pcm[from:want]...)
}

func (r *recorder) close() {
	r.sink.Stop()
	r.pipe.Close()
}

// level is the amplitude of the sine at f in pcm, in dBFS (a full-scale
// sine is 0 dB), by the Goertzel algorithm over a Hann window.
func level(pcm []float64, f float64) float64 {
	n := len(pcm)
	w := 2 * math.Pi * f / ClockRate
	coeff := 2 * math.Cos(w)
	var s1, s2, wsum float64
	for i, x := range pcm {
		h := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		wsum += h
		s0 := x*h + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	re := s1 - s2*math.Cos(w)
	im := s2 * math.Sin(w)
	amp := 2 * math.Hypot(re, im) / wsum
	return 20 * math.Log10(amp+1e-12)
}

func levels(pcm []float64, freqs []float64) []float64 {
	out := make([]float64, len(freqs))
	for i, f := range freqs {
		out[i] = level(pcm, f)
	}
	return out
}

func fmtLevels(freqs, lv []float64) string {
	var b strings.Builder
	for i := range freqs {
		fmt.Fprintf(&b, "%g Hz %.1f dB  ", freqs[i], lv[i])
	}
	return b.String()
}
