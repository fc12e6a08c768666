package audiomix

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/pion/rtp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	// Distinct tones, no one a (near) multiple of another.
	freqs = []float64{440, 620, 910, 1330}
	ids   = []string{"a", "b", "c", "d"}
	// Between the tones: where only noise and coding artefacts are.
	noiseFreqs = []float64{530, 770, 1120}
)

const (
	present    = -26.0 // a tone at volume 0.15 is about -16.5 dBFS
	gone       = 20.0  // a removed tone is at least this far below the weakest present one
	settle     = 500 * time.Millisecond
	window     = 500 * time.Millisecond
	maxWindows = 6
)

func newMixer(t *testing.T) (*Mixer, chan error) {
	t.Helper()
	errs := make(chan error, 16)
	m, err := New(Config{OnError: func(e error) {
		select {
		case errs <- e:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return m, errs
}

// twoSenders is a mixer whose inputs "a" and "b" send the first two tones
// and whose input "obs" (sending nothing) records the full mix.
func twoSenders(t *testing.T) (*Mixer, chan error, *recorder, *toneSources) {
	t.Helper()
	m, errs := newMixer(t)
	obs := newRecorder(t, "obs")
	for _, id := range []string{"a", "b", "obs"} {
		out := obs.out
		if id != "obs" {
			out = func(*rtp.Packet) {}
		}
		if err := m.AddInput(id, out); err != nil {
			m.Close()
			obs.close()
			t.Fatal(err)
		}
	}
	return m, errs, obs, startTones(t, m, []string{"a", "b"}, freqs[:2])
}

// want2 is what expectTones expects of twoSenders' mix: a's and b's tones
// as given, the other two absent.
func want2(a, b int) []int { return []int{a, b, N, N} }

// noError fails the test if the mixer reported an error.
func noError(t *testing.T, errs chan error) {
	t.Helper()
	select {
	case err := <-errs:
		t.Errorf("unexpected OnError: %v", err)
	default:
	}
}

// What expectTones expects of each tone.
const (
	Y = iota // present at its nominal level
	N        // gone
	Q        // present, maybe quieter (not checked)
)

// toneProblems lists how pcm differs from want (nil: it matches).
func toneProblems(lv []float64, noise float64, want []int) []string {
	var problems []string
	minPresent, maxAbsent := math.Inf(1), math.Inf(-1)
	for i, w := range want {
		switch w {
		case Y:
			minPresent = math.Min(minPresent, lv[i])
		case N:
			maxAbsent = math.Max(maxAbsent, lv[i])
		}
	}
	if !math.IsInf(minPresent, 1) {
		if minPresent < present {
			problems = append(problems, fmt.Sprintf("a tone that should be there is at %.1f dB (< %.0f dB)", minPresent, present))
		}
		if noise > minPresent-gone {
			problems = append(problems, fmt.Sprintf("noise %.1f dB not clearly below the tones (%.1f dB)", noise, minPresent))
		}
		if !math.IsInf(maxAbsent, -1) && maxAbsent > minPresent-gone {
			problems = append(problems, fmt.Sprintf("a tone that should be gone is at %.1f dB, only %.1f dB below the others", maxAbsent, minPresent-maxAbsent))
		}
	} else if maxAbsent > present-gone {
		problems = append(problems, fmt.Sprintf("tones at %.1f dB in silence", maxAbsent))
	}
	return problems
}

// expectTones reads successive windows of r's decoded audio (the first
// after skip) until one has the tones want describes and passes extra (if
// given), and fails the test after maxWindows. One matching window proves
// the state (a broken mix never produces one); retrying only tolerates
// transient drop-outs on an overloaded machine, where a live mixer drops
// input that arrives too late.
func expectTones(t *testing.T, r *recorder, what string, skip time.Duration, want []int, extra func(lv []float64) string) []float64 {
	t.Helper()
	var problems []string
	var lv []float64
	for try := 0; try < maxWindows; try++ {
		pcm := r.next(skip, window)
		skip = 0
		lv = levels(pcm, freqs)
		noise := math.Inf(-1)
		for _, l := range levels(pcm, noiseFreqs) {
			noise = math.Max(noise, l)
		}
		problems = toneProblems(lv, noise, want)
		if extra != nil {
			if p := extra(lv); p != "" {
				problems = append(problems, p)
			}
		}
		if len(problems) == 0 {
			t.Logf("%s: %s(noise ≤ %.1f dB)", what, fmtLevels(freqs, lv), noise)
			return lv
		}
		t.Logf("%s: window %d: %s: %s", what, try+1, fmtLevels(freqs, lv), strings.Join(problems, "; "))
	}
	t.Errorf("%s: no matching window in %d: %s", what, maxWindows, strings.Join(problems, "; "))
	return lv
}

// checkStream checks r's RTP stream: one SSRC, no sequence gaps, no
// stall, timestamps always advancing (by at most 5 frames: recorder.out)
// and by one frame per packet except at most odd times (the start and
// switches between mixes, whose first blocks are not on the same grid).
func checkStream(t *testing.T, r *recorder, odd int) {
	t.Helper()
	n, gap, problems, steps := r.stats()
	if n == 0 {
		t.Errorf("%s: no packets", r.name)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", r.name, p)
	}
	// A freeze would be seconds long; 20 ms packets paced by the mix.
	if gap > 2*time.Second {
		t.Errorf("%s: output stalled for %v", r.name, gap)
	}
	frames := 0 // steps of one 20 ms frame (±2 ticks of rounding in the encoder's timestamps)
	for step, k := range steps {
		if step >= 958 && step <= 962 {
			frames += k
		}
	}
	if n-1-frames > odd {
		t.Errorf("%s: only %d of %d timestamp steps are one 20 ms frame: %v", r.name, frames, n-1, steps)
	}
	t.Logf("%s: %d packets, longest gap %v, timestamp steps %v", r.name, n, gap.Round(time.Millisecond), steps)
}

// TestMix is the audio test: four tones in, the full mix holds all
// four, a mix-minus output lacks its own tone, a muted port's tone is gone
// everywhere, gain scales, removal removes, and every output stream stays
// continuous throughout.
func TestMix(t *testing.T) {
	m, errs := newMixer(t)
	recs := map[string]*recorder{}
	for _, id := range ids {
		r := newRecorder(t, id)
		defer r.close()
		recs[id] = r
	}
	defer m.Close()
	for _, id := range ids {
		if err := m.AddInput(id, recs[id].out); err != nil {
			t.Fatal(err)
		}
	}
	tones := startTones(t, m, ids, freqs)
	defer tones.close()
	a, b := recs["a"], recs["b"]

	expectTones(t, b, "full mix (b)", 2*settle, []int{Y, Y, Y, Y}, nil)
	expectTones(t, a, "full mix (a)", 0, []int{Y, Y, Y, Y}, nil)

	if err := m.SetMixMinus("a", true); err != nil {
		t.Fatal(err)
	}
	expectTones(t, a, "a with mix-minus", settle, []int{N, Y, Y, Y}, nil)
	expectTones(t, b, "b while a has mix-minus", 0, []int{Y, Y, Y, Y}, nil)

	if err := m.SetMute("c", true); err != nil {
		t.Fatal(err)
	}
	expectTones(t, b, "b with c muted", settle, []int{Y, Y, N, Y}, nil)
	expectTones(t, a, "a (mix-minus) with c muted", 0, []int{N, Y, N, Y}, nil)
	if err := m.SetMute("c", false); err != nil {
		t.Fatal(err)
	}
	expectTones(t, b, "b with c unmuted", settle, []int{Y, Y, Y, Y}, nil)

	if err := m.SetGain("d", 0.25); err != nil {
		t.Fatal(err)
	}
	// All four tones have the same level at the sources: compare d's with
	// the others' in the same window.
	relD := func(lv []float64) float64 { return lv[3] - (lv[0]+lv[1]+lv[2])/3 }
	lv := expectTones(t, b, "b with d at gain 0.25", settle, []int{Y, Y, Y, Q}, func(lv []float64) string {
		if d := relD(lv); d > -9 || d < -15 {
			return fmt.Sprintf("d's tone is %.1f dB relative to the others, want about -12 dB", d)
		}
		return ""
	})
	t.Logf("gain 0.25: %.1f dB", relD(lv))
	if err := m.SetGain("d", 1); err != nil {
		t.Fatal(err)
	}

	if err := m.SetMixMinus("a", false); err != nil {
		t.Fatal(err)
	}
	expectTones(t, a, "a back on the full mix", settle, []int{Y, Y, Y, Y}, nil)

	m.RemoveInput("d")
	dCount, _, _, _ := recs["d"].stats()
	expectTones(t, b, "b after d left", settle, []int{Y, Y, Y, N}, nil)
	expectTones(t, a, "a after d left", 0, []int{Y, Y, Y, N}, nil)
	if n, _, _, _ := recs["d"].stats(); n != dCount {
		t.Errorf("d's output got %d packets after RemoveInput", n-dCount)
	}

	checkStream(t, recs["a"], 5) // start, two switches
	checkStream(t, recs["b"], 2)
	checkStream(t, recs["c"], 2)
	noError(t, errs)
}

// TestSilenceWithoutInputs: output flows (silence) with no media at all.
func TestSilenceWithoutInputs(t *testing.T) {
	m, _ := newMixer(t)
	r := newRecorder(t, "x")
	defer r.close()
	defer m.Close()
	if err := m.AddInput("x", r.out); err != nil {
		t.Fatal(err)
	}
	expectTones(t, r, "no media", 0, []int{N, N, N, N}, nil)
	// Mix-minus of the only port: its own mix is just the silent base.
	if err := m.SetMixMinus("x", true); err != nil {
		t.Fatal(err)
	}
	expectTones(t, r, "no media, mix-minus", 200*time.Millisecond, []int{N, N, N, N}, nil)
	checkStream(t, r, 3)
}

// TestJoinAndLeaveWithMixMinus: an input joining later is mixed into an
// existing mix-minus output; a port leaving with mix-minus on takes its mix
// with it; joins and leaves over and over never stall the others' output.
func TestJoinAndLeaveWithMixMinus(t *testing.T) {
	m, errs := newMixer(t)
	ra, robs := newRecorder(t, "a"), newRecorder(t, "obs")
	defer ra.close()
	defer robs.close()
	defer m.Close()
	if err := m.AddInput("a", ra.out); err != nil {
		t.Fatal(err)
	}
	if err := m.AddInput("obs", robs.out); err != nil {
		t.Fatal(err)
	}
	if err := m.SetMixMinus("a", true); err != nil {
		t.Fatal(err)
	}
	tones := startTones(t, m, []string{"a", "x", "y"}, freqs[:3])
	defer tones.close()

	expectTones(t, ra, "a alone, mix-minus", 2*settle, []int{N, N, N, N}, nil)
	if err := m.AddInput("x", func(*rtp.Packet) {}); err != nil {
		t.Fatal(err)
	}
	expectTones(t, ra, "a (mix-minus) after x joined", settle, []int{N, Y, N, N}, nil)
	expectTones(t, robs, "obs after x joined", 0, []int{Y, Y, N, N}, nil)

	// y joins and leaves ten times, toggling its own mix-minus, while a and
	// x keep sending.
	for i := 0; i < 10; i++ {
		if err := m.AddInput("y", func(*rtp.Packet) {}); err != nil {
			t.Fatal(err)
		}
		robs.next(0, 60*time.Millisecond)
		if err := m.SetMixMinus("y", i%2 == 0); err != nil {
			t.Fatal(err)
		}
		robs.next(0, 60*time.Millisecond)
		m.RemoveInput("y")
	}
	m.RemoveInput("a") // leaves with its mix-minus output
	expectTones(t, robs, "obs after a left", settle, []int{N, Y, N, N}, nil)
	checkStream(t, robs, 2)
	checkStream(t, ra, 3)
	noError(t, errs)
}

// TestInputStopsAndReturns: an input whose packets stop is simply missing
// from the mix; the others carry on without a stall; it returns with its
// packets.
func TestInputStopsAndReturns(t *testing.T) {
	m, errs, obs, tones := twoSenders(t)
	defer obs.close()
	defer m.Close()
	defer tones.close()

	expectTones(t, obs, "both sending", 2*settle, want2(Y, Y), nil)
	obs.stats() // reset the longest gap
	tones.setMode(1, modeDrop)
	expectTones(t, obs, "b stopped", 300*time.Millisecond, want2(Y, N), nil)
	expectTones(t, obs, "b still stopped", 0, want2(Y, N), nil)
	tones.setMode(1, modeSend)
	expectTones(t, obs, "b back", settle, want2(Y, Y), nil)
	checkStream(t, obs, 2)
	noError(t, errs)
}

// TestUndecodableInput: an input sending malformed Opus is dropped from
// the mix (its packets are ignored), the other input keeps going, and it
// comes back once it sends valid packets again.
func TestUndecodableInput(t *testing.T) {
	m, errs, obs, tones := twoSenders(t)
	defer obs.close()
	defer m.Close()
	defer tones.close()

	expectTones(t, obs, "both valid", 2*settle, want2(Y, Y), nil)
	before := m.invalid.Load()
	tones.setMode(0, modeGarbage)
	expectTones(t, obs, "a sending garbage", 200*time.Millisecond, want2(N, Y), nil)
	if n := m.invalid.Load() - before; n < 20 {
		t.Errorf("only %d malformed packets dropped", n)
	}
	tones.setMode(0, modeSend)
	expectTones(t, obs, "a valid again", settle, want2(Y, Y), nil)
	checkStream(t, obs, 2)
	noError(t, errs)
}

// TestDecoderFailureRestartsInput: an error posted by an input's decoder
// is reported through OnError, the input's chain is rebuilt and the input
// is mixed again; the other input is not interrupted. (The failure is
// simulated by posting the error message a failing opusdec posts: Push
// keeps real decoders from failing on malformed packets.)
func TestDecoderFailureRestartsInput(t *testing.T) {
	m, errs, obs, tones := twoSenders(t)
	defer obs.close()
	defer m.Close()
	defer tones.close()

	expectTones(t, obs, "both valid", 2*settle, want2(Y, Y), nil)
	m.mu.Lock()
	old := m.ports["a"].chain
	dec := old.elems[3]
	m.mu.Unlock()
	if f := dec.GetFactory().GetName(); f != "opusdec" {
		t.Fatalf("element 3 of the chain is %s", f)
	}
	dec.ErrorMessage(gst.DomainStream, gst.StreamErrorDecode, "simulated decoder failure", "")
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), `"a"`) {
			t.Errorf("OnError does not name the input: %v", err)
		}
		t.Logf("OnError: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no OnError for a failing decoder")
	}
	m.mu.Lock()
	restarted := m.ports["a"].chain != nil && m.ports["a"].chain != old
	m.mu.Unlock()
	if !restarted {
		t.Fatal("the input's chain was not rebuilt")
	}
	expectTones(t, obs, "a after restart", settle, want2(Y, Y), nil)
	checkStream(t, obs, 2)
}

// TestMixFailureRebuildsMix: an error posted by the main mix's encoder or
// by a port's mix-minus encoder is reported and that mix is rebuilt; the
// ports keep their output streams and hear what they heard before.
// (Simulated like TestDecoderFailureRestartsInput.)
func TestMixFailureRebuildsMix(t *testing.T) {
	m, errs := newMixer(t)
	ra, rb := newRecorder(t, "a"), newRecorder(t, "b")
	defer ra.close()
	defer rb.close()
	defer m.Close()
	// A rebuilt mix starts its own timeline about one mixer latency later
	// than the failed one stopped: its ports skip that much audio.
	ra.maxStep, rb.maxStep = 10*960, 10*960
	for id, r := range map[string]*recorder{"a": ra, "b": rb} {
		if err := m.AddInput(id, r.out); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.SetMixMinus("a", true); err != nil {
		t.Fatal(err)
	}
	tones := startTones(t, m, []string{"a", "b"}, freqs[:2])
	defer tones.close()
	expectTones(t, rb, "b (main)", 2*settle, []int{Y, Y, N, N}, nil)
	expectTones(t, ra, "a (mix-minus)", 0, []int{N, Y, N, N}, nil)

	fail := func(what string, mo func() *mixOut) {
		t.Helper()
		m.mu.Lock()
		old := mo()
		enc := old.elems[3]
		m.mu.Unlock()
		if f := enc.GetFactory().GetName(); f != "opusenc" {
			t.Fatalf("element 3 of the mix is %s", f)
		}
		enc.ErrorMessage(gst.DomainStream, gst.StreamErrorEncode, "simulated encoder failure", "")
		select {
		case err := <-errs:
			t.Logf("OnError: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no OnError for a failing encoder", what)
		}
		m.mu.Lock()
		rebuilt := mo() != old
		m.mu.Unlock()
		if !rebuilt {
			t.Fatalf("%s was not rebuilt", what)
		}
	}
	fail("main mix", func() *mixOut { return m.main })
	expectTones(t, rb, "b after the main mix was rebuilt", settle, []int{Y, Y, N, N}, nil)
	fail("a's mix-minus", func() *mixOut { return m.ports["a"].mm })
	expectTones(t, ra, "a after its mix-minus was rebuilt", settle, []int{N, Y, N, N}, nil)
	expectTones(t, rb, "b after a's mix-minus was rebuilt", 0, []int{Y, Y, N, N}, nil)
	checkStream(t, rb, 4)
	checkStream(t, ra, 6)
}

func TestAPIErrors(t *testing.T) {
	m, _ := newMixer(t)
	noop := func(*rtp.Packet) {}
	if err := m.AddInput("a", noop); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"duplicate", m.AddInput("a", noop), ErrDuplicateInput},
		{"nil out", m.AddInput("z", nil), ErrNilOutput},
		{"mix-minus unknown", m.SetMixMinus("nope", true), ErrUnknownInput},
		{"gain unknown", m.SetGain("nope", 1), ErrUnknownInput},
		{"mute unknown", m.SetMute("nope", true), ErrUnknownInput},
		{"gain negative", m.SetGain("a", -0.1), ErrGain},
		{"gain too high", m.SetGain("a", 10.5), ErrGain},
		{"gain NaN", m.SetGain("a", math.NaN()), ErrGain},
		{"gain max", m.SetGain("a", 10), nil},
		{"gain zero", m.SetGain("a", 0), nil},
		{"mix-minus twice", errors.Join(m.SetMixMinus("a", true), m.SetMixMinus("a", true)), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) || (tc.want == nil && tc.err != nil) {
				t.Fatalf("got %v, want %v", tc.err, tc.want)
			}
		})
	}
	m.RemoveInput("nope") // ignored
	m.Push("nope", &rtp.Packet{Payload: []byte{1}})
	m.Push("a", nil)
	m.RemoveInput("a")
	if err := m.SetMute("a", true); !errors.Is(err, ErrUnknownInput) {
		t.Fatalf("after RemoveInput: %v", err)
	}
	m.Close()
	m.Close()
	if err := m.AddInput("b", noop); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddInput after Close: %v", err)
	}
	m.Push("b", &rtp.Packet{Payload: []byte{1}})
}
