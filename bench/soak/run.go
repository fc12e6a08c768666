package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/miksilo/miksilo/bench/internal/kurento"
	"github.com/miksilo/miksilo/bench/internal/tool"
)

// config is one soak run.
type config struct {
	addr      string
	pid       int
	duration  time.Duration // the churn phase
	slots     int           // hosts joining and leaving concurrently
	seed      int64
	sampleIn  time.Duration // sampling interval
	settle    time.Duration // wait after releasing before a leak sample
	quietWait time.Duration // longest wait for a released session to be collected
}

// Leave modes: how a host leaves the Composite.
const (
	leaveStopMedia   = "stop-media"       // stops sending; its input must time out (1 s), then it releases
	leaveReleasePort = "release-port"     // its HubPort is released while media flows
	leaveReleaseEP   = "release-endpoint" // its WebRtcEndpoint is released while media flows
	leaveClosePeer   = "close-peer"       // the browser goes away (peer connection closed) while sending
)

var leaveModes = []string{leaveStopMedia, leaveReleasePort, leaveReleaseEP, leaveClosePeer}

// report is the soak's result: one JSON object.
type report struct {
	Start        string         `json:"start"` // UTC
	DurationSec  float64        `json:"duration_s"`
	Slots        int            `json:"slots"`
	Seed         int64          `json:"seed"`
	Joins        int64          `json:"joins"`
	Leaves       map[string]int `json:"leaves"`
	JoinFailures int64          `json:"join_failures"`
	Failures     []string       `json:"failures,omitempty"` // the first few join/leave/control errors
	Controls     map[string]int `json:"controls"`           // setLayout, setMute, … calls made
	ViewerCycles int64          `json:"viewer_cycles"`      // viewers that came and went
	ErrorEvents  []string       `json:"error_events,omitempty"`

	VideoFrames    int64      `json:"video_frames"`
	VideoMaxGapMS  float64    `json:"video_max_gap_ms"`
	VideoP99GapMS  float64    `json:"video_p99_gap_ms"` // upper edge of its 10 ms bucket
	VideoGapsOver  int        `json:"video_gaps_over_limit"`
	VideoWorstMS   []float64  `json:"video_worst_gaps_ms"`
	VideoBackward  int        `json:"video_ts_backward"`
	AudioPackets   int64      `json:"audio_packets"`
	AudioMaxGapMS  float64    `json:"audio_max_gap_ms"`
	AudioGapsOver  int        `json:"audio_gaps_over_limit"`
	AudioWorstMS   []float64  `json:"audio_worst_gaps_ms"`
	VideoGapEvents []gapEvent `json:"video_gap_events,omitempty"`
	AudioGapEvents []gapEvent `json:"audio_gap_events,omitempty"`
	Activity       []string   `json:"activity,omitempty"` // what the soak did just before each gap over the limit
	GapLimitMS     float64    `json:"gap_limit_ms"`
	// Gaps over the limit the machine accounts for: the hypervisor took the server's CPU
	// (steal) or the load generator itself ran late for at least the excess over the limit.
	VideoGapsMachine int `json:"video_gaps_machine"`
	AudioGapsMachine int `json:"audio_gaps_machine"`
	// The server's CPUs during the churn: stolen by the hypervisor, used by other processes.
	ServerCPUStealPct float64 `json:"server_cpu_steal_pct"`
	ServerCPUOtherPct float64 `json:"server_cpu_other_pct"`

	Before       sample   `json:"before"`        // fresh server, before the session
	Steady       sample   `json:"steady"`        // pipeline, Composite and the viewer up, no host
	AfterChurn   sample   `json:"after_churn"`   // every host and passing viewer gone
	AfterRelease sample   `json:"after_release"` // pipeline released, session collected
	Samples      []sample `json:"samples"`
	RSSSlope     float64  `json:"rss_slope_mib_per_min"` // -1: too few samples
	// Output frame intervals over 100 ms as the server itself counted them during the churn
	// (miksilo_composite_frame_interval_seconds): a gap the viewer saw that the server did not
	// arose after the encoder (sending, the network, the viewer).
	ServerIntervals     int64    `json:"server_frame_intervals"`
	ServerIntervalsOver int64    `json:"server_frame_intervals_over_100ms"`
	Leaks               []string `json:"leaks,omitempty"`
	Pass                bool     `json:"pass"`
	Verdict             string   `json:"verdict"`
}

// soak is one run's state.
type soak struct {
	cfg   config
	api   *webrtc.API
	k     *kurento.Client
	hub   string
	clips []*clips
	probe *probe
	cpu   *cpuWatch // nil when the server's CPUs cannot be watched
	rep   *report
	rnd   *rand.Rand
	rndMu sync.Mutex
	video gapStats
	audio gapStats

	mu       sync.Mutex
	failures []string
	joins    atomic.Int64
	joinFail atomic.Int64
	leaves   map[string]int
	controls map[string]int
	errors   []string
	cycles   atomic.Int64
	slots    []*slot
	acts     []activity // what the soak did, for the gaps' context (≤ maxActs)
}

// activity is one step of the soak (a join, a leave, a control call, a viewer), with its time.
type activity struct {
	at   time.Time
	what string
}

const maxActs = 50000

func (s *soak) act(format string, args ...any) {
	a := activity{time.Now(), fmt.Sprintf(format, args...)}
	s.mu.Lock()
	if len(s.acts) < maxActs {
		s.acts = append(s.acts, a)
	}
	s.mu.Unlock()
}

// context of the gaps: the soak's steps in the second before each gap ended.
func (s *soak) gapContext(start time.Time, kind string, evs []gapEvent) []string {
	var out []string
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		var steps []string
		for _, a := range s.acts {
			if !a.at.After(ev.At) && ev.At.Sub(a.at) <= time.Second {
				steps = append(steps, fmt.Sprintf("-%.0fms %s", ms(ev.At.Sub(a.at)), a.what))
			}
		}
		out = append(out, fmt.Sprintf("%s gap %.0f ms at %.1f s: %s", kind, ev.GapMS, ev.At.Sub(start).Seconds(), strings.Join(steps, "; ")))
	}
	return out
}

// slot is one host position: joined (port set) or between hosts.
type slot struct {
	mu   sync.Mutex
	idx  int
	port string // HubPort while a host is in the Composite
}

const gapLimit = 100 * time.Millisecond

func (s *soak) intn(n int) int {
	s.rndMu.Lock()
	defer s.rndMu.Unlock()
	return s.rnd.Intn(n)
}

// between is a random duration in [lo, hi).
func (s *soak) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.intn(int((hi-lo)/time.Millisecond)))*time.Millisecond
}

func (s *soak) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	if len(s.failures) < 20 {
		s.failures = append(s.failures, msg)
	}
	s.mu.Unlock()
}

func run(ctx context.Context, cfg config, log io.Writer) (*report, error) {
	rep := &report{Start: time.Now().UTC().Format(time.RFC3339), Slots: cfg.slots, Seed: cfg.seed,
		GapLimitMS: ms(gapLimit)}
	s := &soak{cfg: cfg, rep: rep, rnd: rand.New(rand.NewSource(cfg.seed)), leaves: map[string]int{}, controls: map[string]int{}}
	s.video.limit, s.audio.limit = gapLimit, gapLimit
	s.video.clock, s.audio.clock = 90000, 48000
	hstop := make(chan struct{})
	defer close(hstop)
	h := newHiccups(hstop)
	s.video.hiccup, s.audio.hiccup = h.worst, h.worst
	s.probe = &probe{pid: cfg.pid, metrics: "http://" + cfg.addr + "/metrics", start: time.Now(),
		client: &http.Client{Timeout: 10 * time.Second}}
	logf := func(format string, args ...any) {
		fmt.Fprintf(log, "soak: %s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}
	var err error
	if s.cpu, err = newCPUWatch(cfg.pid, hstop); err != nil {
		logf("not watching the server's CPUs (steal, other processes): %v", err)
	}
	logf("encoding %d hosts' clips", cfg.slots)
	for i := 0; i < cfg.slots; i++ {
		c, err := encodeClips(i)
		if err != nil {
			return nil, err
		}
		s.clips = append(s.clips, c)
	}
	if s.api, err = kurento.NewLoopbackAPI(); err != nil {
		return nil, err
	}
	// A prelude session (pipeline, Composite, viewer, one host) comes and goes first: what the
	// server creates once for good at its first pipeline (GStreamer's registry and system clock,
	// its plugins' globals) is then in the reference sample.
	v, err := s.open(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("prelude: %w", err)
	}
	v.close()
	s.k.Close()
	if rep.Before, err = s.waitQuiet(ctx, func(smp sample) bool { return smp.Objects == 0 && smp.Sessions == 0 }); err != nil {
		return nil, err
	}
	if rep.Before.Objects != 0 || rep.Before.Sessions != 0 {
		return nil, fmt.Errorf("prelude: %d objects and %d sessions left after its release", rep.Before.Objects, rep.Before.Sessions)
	}
	s.probe.start = time.Now()
	rep.Before.T = 0

	// The session: the viewer that stays, whose output gaps are the measurement.
	if v, err = s.open(ctx, &s.video, &s.audio); err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			s.k.Close()
		}
	}()
	if rep.Steady, err = s.probe.take(ctx); err != nil {
		return nil, err
	}
	rep.Samples = append(rep.Samples, rep.Steady)
	logf("set up: pipeline, Composite, viewer; churning %d hosts for %v", cfg.slots, cfg.duration)

	// Churn.
	s.video.setMeasure(true)
	s.audio.setMeasure(true)
	cctx, stop := context.WithTimeout(ctx, cfg.duration)
	defer stop()
	var wg sync.WaitGroup
	for i := 0; i < cfg.slots; i++ {
		sl := &slot{idx: i}
		s.slots = append(s.slots, sl)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.host(cctx, sl)
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); s.control(cctx) }()
	go func() { defer wg.Done(); s.passingViewers(cctx) }()
	tick := time.NewTicker(cfg.sampleIn)
	startChurn := time.Now()
	lastLog := time.Now()
	for done := false; !done; {
		select {
		case <-cctx.Done():
			done = true
		case <-tick.C:
			smp, err := s.probe.take(ctx)
			if err != nil {
				tick.Stop()
				stop()
				wg.Wait()
				return nil, err
			}
			rep.Samples = append(rep.Samples, smp)
			if time.Since(lastLog) >= time.Minute {
				lastLog = time.Now()
				logf("%v: %d joins, RSS %d MiB, %d goroutines, %d threads, %d fds, video max gap %.0f ms",
					time.Since(startChurn).Round(time.Second), s.joins.Load(), smp.RSSKiB/1024, smp.Goroutines,
					smp.Threads, smp.FDs, ms(s.video.max))
			}
		}
	}
	tick.Stop()
	wg.Wait()
	s.video.setMeasure(false)
	s.audio.setMeasure(false)
	rep.DurationSec = round1(time.Since(startChurn).Seconds())

	// Leak checks: after the churn, against the steady state; after the pipeline, against the
	// fresh server.
	// Released objects are freed once the garbage collector has collected go-gst's wrappers
	// (seconds, at most its 2-minute forced cycle): wait for that, up to -quiet-wait.
	if rep.AfterChurn, err = s.waitQuiet(ctx, func(smp sample) bool { return len(leaks("", rep.Steady, smp)) == 0 }); err != nil {
		return nil, err
	}
	rep.Samples = append(rep.Samples, rep.AfterChurn)
	v.close()
	s.k.Close()
	closed = true
	rep.AfterRelease, err = s.waitQuiet(ctx, func(smp sample) bool { return len(leaks("", rep.Before, smp)) == 0 })
	if err != nil {
		return nil, err
	}

	s.finish(startChurn)
	logf("%s", rep.Verdict)
	return rep, nil
}

// open starts a session: a MediaPipeline with a Composite, a viewer of it (video and audio gaps
// noted into video and audio) and a first host that comes and goes (the audio mixer starts
// with the first audio packet and then runs for the Composite's lifetime, so what follows
// finds it running).
func (s *soak) open(ctx context.Context, video, audio *gapStats) (*viewer, error) {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	if s.k, err = kurento.Dial(sctx, s.cfg.addr); err != nil {
		return nil, fmt.Errorf("kurento: %w", err)
	}
	fail := func(err error) (*viewer, error) {
		s.k.Close()
		return nil, err
	}
	if s.hub, err = s.k.Create(sctx, "Composite", map[string]any{"mediaPipeline": s.k.Pipeline(),
		"width": 1280, "height": 720, "framerate": fps}); err != nil {
		return fail(err)
	}
	if err := s.k.Subscribe(sctx, s.hub, "Error", func(data json.RawMessage) {
		s.mu.Lock()
		if len(s.errors) < 20 {
			s.errors = append(s.errors, string(data))
		}
		s.mu.Unlock()
	}); err != nil {
		return fail(err)
	}
	v, err := s.newViewer(sctx, video, audio)
	if err != nil {
		return fail(fmt.Errorf("viewer: %w", err))
	}
	if err := v.waitMedia(sctx); err != nil {
		v.close()
		return fail(fmt.Errorf("viewer: %w", err))
	}
	warm := &slot{idx: 0}
	p, ep, err := s.join(sctx, warm, 9000)
	if err != nil {
		v.close()
		return fail(fmt.Errorf("first host: %w", err))
	}
	sleep(ctx, 3*time.Second)
	if err := s.leave(warm, p, ep, leaveReleasePort); err != nil {
		v.close()
		return fail(fmt.Errorf("first host: %w", err))
	}
	sleep(ctx, s.cfg.settle)
	return v, nil
}

// waitQuiet samples, every settle, until quiet holds (the released session collected, the
// footprint back) or -quiet-wait passed, and returns the last sample.
func (s *soak) waitQuiet(ctx context.Context, quiet func(sample) bool) (sample, error) {
	deadline := time.Now().Add(s.cfg.quietWait)
	for {
		sleep(ctx, s.cfg.settle)
		smp, err := s.probe.take(ctx)
		if err != nil {
			return smp, err
		}
		if quiet(smp) || time.Now().After(deadline) || ctx.Err() != nil {
			return smp, nil
		}
	}
}

// finish fills the report's figures and verdict.
func (s *soak) finish(startChurn time.Time) {
	rep := s.rep
	s.mu.Lock()
	rep.Leaves, rep.Controls, rep.Failures, rep.ErrorEvents = s.leaves, s.controls, s.failures, s.errors
	s.mu.Unlock()
	rep.Joins, rep.JoinFailures, rep.ViewerCycles = s.joins.Load(), s.joinFail.Load(), s.cycles.Load()
	rep.VideoFrames, rep.VideoMaxGapMS, rep.VideoGapsOver = s.video.units, ms(s.video.max), s.video.over
	rep.VideoP99GapMS = ms(s.video.percentile(0.99))
	rep.VideoBackward = s.video.backward
	rep.AudioPackets, rep.AudioMaxGapMS, rep.AudioGapsOver = s.audio.units, ms(s.audio.max), s.audio.over
	for _, d := range s.video.worst {
		rep.VideoWorstMS = append(rep.VideoWorstMS, ms(d))
	}
	for _, d := range s.audio.worst {
		rep.AudioWorstMS = append(rep.AudioWorstMS, ms(d))
	}
	for i := range s.video.events {
		s.video.events[i].AtSec = round1(s.video.events[i].At.Sub(startChurn).Seconds())
	}
	for i := range s.audio.events {
		s.audio.events[i].AtSec = round1(s.audio.events[i].At.Sub(startChurn).Seconds())
	}
	rep.VideoGapsMachine, rep.AudioGapsMachine = attribute(s.video.events, s.audio.events, gapLimit, s.cpu)
	steal, other := s.cpu.share(startChurn, startChurn.Add(time.Duration(rep.DurationSec*float64(time.Second))))
	rep.ServerCPUStealPct, rep.ServerCPUOtherPct = round1(steal), round1(other)
	rep.VideoGapEvents, rep.AudioGapEvents = s.video.events, s.audio.events
	rep.Activity = append(s.gapContext(startChurn, "video", s.video.events), s.gapContext(startChurn, "audio", s.audio.events)...)
	rep.RSSSlope = round3(rssSlope(rep.Samples, rep.Steady.T+60))
	if math.IsNaN(rep.RSSSlope) {
		rep.RSSSlope = -1
	}
	rep.ServerIntervals = rep.AfterChurn.Intervals - rep.Steady.Intervals
	rep.ServerIntervalsOver = rep.AfterChurn.IntervalsOver - rep.Steady.IntervalsOver
	rep.Leaks = append(leaks("after the churn (against the steady state)", rep.Steady, rep.AfterChurn),
		leaks("after the pipeline's release (against the fresh server)", rep.Before, rep.AfterRelease)...)
	if rep.RSSSlope > maxRSSSlopeMiBPerMin {
		rep.Leaks = append(rep.Leaks, fmt.Sprintf("memory: RSS grew %.2f MiB a minute during the churn (limit %.1f)", rep.RSSSlope, maxRSSSlopeMiBPerMin))
	}
	rep.Verdict, rep.Pass = verdict(rep)
}

// verdict: the soak passes when nothing leaked, no output gap exceeded the limit (save those
// the machine accounts for: the hypervisor stole the server's CPU, or the load generator itself
// ran late, for at least the excess), the output never stepped back, hosts actually came and
// went, and no join failed.
func verdict(rep *report) (string, bool) {
	var bad []string
	if len(rep.Leaks) > 0 {
		bad = append(bad, fmt.Sprintf("%d leak(s)", len(rep.Leaks)))
	}
	if n := rep.VideoGapsOver - rep.VideoGapsMachine; n > 0 {
		bad = append(bad, fmt.Sprintf("%d video gap(s) over %.0f ms that the machine does not account for (largest gap %.0f ms)", n, rep.GapLimitMS, rep.VideoMaxGapMS))
	}
	if n := rep.AudioGapsOver - rep.AudioGapsMachine; n > 0 {
		bad = append(bad, fmt.Sprintf("%d audio gap(s) over %.0f ms that the machine does not account for (largest gap %.0f ms)", n, rep.GapLimitMS, rep.AudioMaxGapMS))
	}
	if rep.VideoBackward > 0 {
		bad = append(bad, fmt.Sprintf("output RTP timestamps went back %d time(s)", rep.VideoBackward))
	}
	if rep.JoinFailures > 0 {
		bad = append(bad, fmt.Sprintf("%d join(s) failed", rep.JoinFailures))
	}
	if len(rep.ErrorEvents) > 0 {
		bad = append(bad, fmt.Sprintf("%d Error event(s) on the Composite", len(rep.ErrorEvents)))
	}
	if rep.Joins == 0 || rep.VideoFrames == 0 || rep.AudioPackets == 0 {
		bad = append(bad, "no churn measured (no joins, or no output)")
	}
	if len(bad) > 0 {
		return "FAIL: " + strings.Join(bad, "; "), false
	}
	msg := fmt.Sprintf("pass: %d joins and leaves in %.0f s, largest output gap %.0f ms (video) / %.0f ms (audio), nothing leaked",
		rep.Joins, rep.DurationSec, rep.VideoMaxGapMS, rep.AudioMaxGapMS)
	if n := rep.VideoGapsMachine + rep.AudioGapsMachine; n > 0 {
		msg += fmt.Sprintf("; %d gap(s) over %.0f ms (%d video, %d audio) while the hypervisor held the server's CPU or the load generator ran late",
			n, rep.GapLimitMS, rep.VideoGapsMachine, rep.AudioGapsMachine)
	}
	return msg, true
}

// ---------------------------------------------------------------------------------------------
// Hosts.

// host runs one slot: a host joins (WebRtcEndpoint + HubPort, video and audio), stays 2–8 s,
// leaves in one of the leave modes, and the next one joins 0.2–2 s later; until ctx ends.
func (s *soak) host(ctx context.Context, sl *slot) {
	ssrc := uint32(10000 + 100*sl.idx)
	for ctx.Err() == nil {
		ssrc += 2
		p, ep, err := s.join(ctx, sl, ssrc)
		if err != nil {
			if ctx.Err() == nil {
				s.joinFail.Add(1)
				s.fail("slot %d: join: %v", sl.idx, err)
			}
			sleep(ctx, time.Second)
			continue
		}
		s.joins.Add(1)
		s.act("slot %d joined", sl.idx)
		sleep(ctx, s.between(2*time.Second, 8*time.Second))
		mode := leaveModes[s.intn(len(leaveModes))]
		if ctx.Err() != nil {
			mode = leaveReleasePort // the end: leave the quick way
		}
		s.act("slot %d leaving (%s)", sl.idx, mode)
		if err := s.leave(sl, p, ep, mode); err != nil {
			s.fail("slot %d: leave (%s): %v", sl.idx, mode, err)
		}
		s.mu.Lock()
		s.leaves[mode]++
		s.mu.Unlock()
		sleep(ctx, s.between(200*time.Millisecond, 2*time.Second))
	}
}

func (s *soak) join(ctx context.Context, sl *slot, ssrc uint32) (*publisher, string, error) {
	jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s.act("slot %d joining", sl.idx)
	p, err := newPublisher(s.api, s.clips[sl.idx], ssrc)
	if err != nil {
		return nil, "", err
	}
	connected := make(chan struct{})
	var once sync.Once
	p.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	var port string
	ep, err := s.k.Negotiate(jctx, p.pc, func(ep string) error {
		var err error
		if port, err = s.k.Create(jctx, "HubPort", map[string]any{"hub": s.hub}); err != nil {
			return err
		}
		return s.k.Connect(jctx, ep, port)
	})
	if err == nil {
		select {
		case <-connected:
		case <-jctx.Done():
			err = fmt.Errorf("not connected within 20 s (%s)", p.pc.ConnectionState())
		}
	}
	if err != nil {
		p.close()
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer rcancel()
		if ep != "" {
			_ = s.k.Release(rctx, ep)
		}
		if port != "" {
			_ = s.k.Release(rctx, port)
		}
		return nil, "", err
	}
	p.start()
	sl.mu.Lock()
	sl.port = port
	sl.mu.Unlock()
	return p, ep, nil
}

// leave takes the host out in the given mode; every mode ends with nothing of it left.
func (s *soak) leave(sl *slot, p *publisher, ep, mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sl.mu.Lock()
	port := sl.port
	sl.mu.Unlock()
	dropPort := func() error {
		sl.mu.Lock()
		defer sl.mu.Unlock()
		sl.port = ""
		return s.k.Release(ctx, port)
	}
	var errs []error
	switch mode {
	case leaveStopMedia:
		p.halt()
		time.Sleep(1500 * time.Millisecond) // the input times out (1 s) and leaves the layout
		errs = append(errs, dropPort(), s.k.Release(ctx, ep))
		p.close()
	case leaveReleasePort:
		errs = append(errs, dropPort())
		time.Sleep(200 * time.Millisecond)
		errs = append(errs, s.k.Release(ctx, ep))
		p.close()
	case leaveReleaseEP:
		errs = append(errs, s.k.Release(ctx, ep))
		time.Sleep(200 * time.Millisecond)
		errs = append(errs, dropPort())
		p.close()
	case leaveClosePeer:
		p.close()
		time.Sleep(1500 * time.Millisecond)
		errs = append(errs, s.k.Release(ctx, ep), dropPort())
	default:
		return fmt.Errorf("unknown leave mode %q", mode)
	}
	return errors.Join(errs...)
}

// control changes the Composite's settings every 1–4 s while hosts come and go: a custom layout
// of the joined hosts, back to the automatic grid, and a joined host's mute, gain or mix-minus.
func (s *soak) control(ctx context.Context) {
	for {
		sleep(ctx, s.between(time.Second, 4*time.Second))
		if ctx.Err() != nil {
			return
		}
		// Hold every slot so that no port is released under the call (its release waits).
		for _, sl := range s.slots {
			sl.mu.Lock()
		}
		var ports []string
		for _, sl := range s.slots {
			if sl.port != "" {
				ports = append(ports, sl.port)
			}
		}
		op, err := s.controlOnce(ctx, ports)
		if op != "" {
			s.act("%s", op)
		}
		for _, sl := range s.slots {
			sl.mu.Unlock()
		}
		if op == "" {
			continue
		}
		if err != nil && ctx.Err() == nil {
			s.fail("control %s: %v", op, err)
		}
		s.mu.Lock()
		s.controls[op]++
		s.mu.Unlock()
	}
}

func (s *soak) controlOnce(ctx context.Context, ports []string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch s.intn(5) {
	case 0:
		_, err := s.k.Invoke(cctx, s.hub, "setLayout", map[string]any{"layout": ""})
		return "setLayout(auto)", err
	case 1:
		if len(ports) == 0 {
			return "", nil
		}
		regions := make([]map[string]any, len(ports))
		for i, p := range ports {
			w, h := 320+s.intn(4)*160, 180+s.intn(4)*90
			regions[i] = map[string]any{"port": p, "x": s.intn(1280 - w + 1), "y": s.intn(720 - h + 1),
				"width": w, "height": h, "zOrder": i}
		}
		b, err := json.Marshal(regions)
		if err != nil {
			return "", err
		}
		_, err = s.k.Invoke(cctx, s.hub, "setLayout", map[string]any{"layout": string(b)})
		return "setLayout(regions)", err
	}
	if len(ports) == 0 {
		return "", nil
	}
	port := ports[s.intn(len(ports))]
	switch s.intn(3) {
	case 0:
		_, err := s.k.Invoke(cctx, s.hub, "setMute", map[string]any{"port": port, "muted": s.intn(2) == 0})
		return "setMute", err
	case 1:
		_, err := s.k.Invoke(cctx, s.hub, "setGain", map[string]any{"port": port, "gain": float64(s.intn(21)) / 10})
		return "setGain", err
	default:
		_, err := s.k.Invoke(cctx, s.hub, "setMixMinus", map[string]any{"port": port, "enabled": s.intn(2) == 0})
		return "setMixMinus", err
	}
}

// passingViewers: every 3–10 s a viewer joins (HubPort → WebRtcEndpoint), receives for 2–5 s and
// leaves, releasing its objects in a random order.
func (s *soak) passingViewers(ctx context.Context) {
	for {
		sleep(ctx, s.between(3*time.Second, 10*time.Second))
		if ctx.Err() != nil {
			return
		}
		vctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		s.act("viewer joining")
		v, err := s.newViewer(vctx, nil, nil)
		if err == nil {
			err = v.waitMedia(vctx)
		}
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.fail("passing viewer: %v", err)
			}
			if v != nil {
				v.close()
			}
			continue
		}
		sleep(ctx, s.between(2*time.Second, 5*time.Second))
		s.act("viewer leaving")
		v.close()
		s.cycles.Add(1)
	}
}

// viewer receives the Composite's output through a HubPort of its own.
type viewer struct {
	s       *soak
	pc      *webrtc.PeerConnection
	ep      string
	port    string
	got     chan struct{} // closed at the first video packet
	gotOnce sync.Once
	readers sync.WaitGroup
}

// newViewer connects a receiving peer; video and audio (nil: not measured) note its packets.
func (s *soak) newViewer(ctx context.Context, video, audio *gapStats) (*viewer, error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &viewer{s: s, pc: pc, got: make(chan struct{})}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		g, perPacket := video, false
		if t.Kind() == webrtc.RTPCodecTypeAudio {
			g, perPacket = audio, true
		}
		v.readers.Add(1)
		go func() {
			defer v.readers.Done()
			for {
				pkt, _, err := t.ReadRTP()
				if err != nil {
					return
				}
				if t.Kind() == webrtc.RTPCodecTypeVideo {
					v.gotOnce.Do(func() { close(v.got) })
				}
				if g != nil {
					g.note(pkt.Timestamp, time.Now(), perPacket, !perPacket && isVP8Keyframe(pkt.Payload))
				}
			}
		}()
	})
	v.ep, err = s.k.Negotiate(ctx, pc, func(ep string) error {
		var err error
		if v.port, err = s.k.Create(ctx, "HubPort", map[string]any{"hub": s.hub}); err != nil {
			return err
		}
		return s.k.Connect(ctx, v.port, ep)
	})
	if err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

func (v *viewer) waitMedia(ctx context.Context) error {
	select {
	case <-v.got:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no video within the set-up time (%s)", v.pc.ConnectionState())
	}
}

// close releases the viewer's objects (in a random order) and closes its peer.
func (v *viewer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	objs := []string{v.ep, v.port}
	if v.s.intn(2) == 0 {
		objs[0], objs[1] = objs[1], objs[0]
	}
	if v.s.intn(3) == 0 {
		_ = v.pc.Close()
	}
	for _, o := range objs {
		if o != "" {
			if err := v.s.k.Release(ctx, o); err != nil {
				v.s.fail("viewer: %v", err)
			}
		}
	}
	_ = v.pc.Close()
	v.readers.Wait()
}

func sleep(ctx context.Context, d time.Duration) { tool.Sleep(ctx, d) }

func ms(d time.Duration) float64 { return round1(float64(d) / float64(time.Millisecond)) }

// sortedKeys of a count map, for stable output.
func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// isVP8Keyframe: the packet starts a VP8 key frame (RFC 7741: the first partition's start, its
// frame tag's P bit clear).
func isVP8Keyframe(payload []byte) bool {
	var d codecs.VP8Packet
	b, err := d.Unmarshal(payload)
	return err == nil && d.S == 1 && d.PID == 0 && len(b) > 0 && b[0]&1 == 0
}
