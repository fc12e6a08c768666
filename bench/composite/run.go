package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miksilo/miksilo/bench/internal/kurento"
	"github.com/miksilo/miksilo/bench/internal/procstat"
	"github.com/miksilo/miksilo/bench/internal/tool"
	"github.com/miksilo/miksilo/composite"
	"github.com/pion/webrtc/v4"
)

type runConfig struct {
	mode         string // miksilo, loopback or baseline
	addr         string
	serverPID    int
	clipDir      string
	clipFrames   int
	width        int
	height       int
	bitrate      int
	warmup       time.Duration
	duration     time.Duration
	setupTimeout time.Duration
	failFrame    string // PNG to write the viewer's last decoded picture to when the set-up fails
	taskset      string // baseline: CPUs for gst-launch (taskset -c), "" = not pinned
	round        int    // written into the result; 0 = not part of interleaved rounds
	extraViewers int    // miksilo: more viewers of the output that only receive (the fan-out's cost)
	lockstep     bool   // baseline: all inputs at the same phase instead of staggered as the publishers
}

func (c *runConfig) validate() error {
	switch c.mode {
	case "miksilo", "loopback", "baseline":
	default:
		return fmt.Errorf("-mode %q: want miksilo, loopback or baseline", c.mode)
	}
	if c.extraViewers < 0 || (c.extraViewers > 0 && c.mode != "miksilo") {
		return fmt.Errorf("-extra-viewers %d: want ≥ 0, and only with -mode miksilo", c.extraViewers)
	}
	switch {
	case c.width < 64 || c.height < 64 || c.width%4 != 0 || c.height%2 != 0:
		return fmt.Errorf("output size %dx%d: want ≥ 64×64, width a multiple of 4, height even", c.width, c.height)
	case c.bitrate < 10_000:
		return errors.New("-bitrate must be ≥ 10000 b/s")
	case c.round < 0:
		return errors.New("-round must be ≥ 0")
	case c.duration <= 0:
		return errors.New("-duration must be > 0")
	case c.mode != "baseline" && c.addr == "":
		return errors.New("-addr is required")
	}
	return nil
}

// result is one run (Miksilo, gst-launch or the loopback check). One JSON line.
type result struct {
	Subject   string  `json:"subject"`         // miksilo, gst-launch, loopback
	Round     int     `json:"round,omitempty"` // 1, 2, …: the round of an interleaved run; 0 = none
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	Inputs    int     `json:"inputs"`
	TargetBps int     `json:"target_bps"`
	WindowSec float64 `json:"window_s"`
	procstat.Usage
	// CPU-seconds of the subject per second of output: its CPU over the window ÷ the seconds of
	// 30 fps output produced in the window.
	CPUPerOutputSec float64 `json:"cpu_s_per_output_s"`
	IdleCPU         float64 `json:"idle_cpu_pct,omitempty"` // Miksilo: Composite and viewer up, no input yet

	// Output as the viewer received it (Miksilo, loopback).
	OutFrames   int64   `json:"out_frames,omitempty"`
	OutFPS      float64 `json:"out_fps,omitempty"`
	VP8Kbps     float64 `json:"vp8_kbps,omitempty"`     // VP8 frame bytes: what target-bitrate counts
	PayloadKbps float64 `json:"payload_kbps,omitempty"` // RTP payload bytes
	BitratePct  float64 `json:"bitrate_pct,omitempty"`  // VP8 kb/s ÷ target
	MaxGapMs    float64 `json:"max_gap_ms,omitempty"`   // largest gap between output frames' arrivals
	Decoded     int64   `json:"decoded,omitempty"`
	Unreadable  int64   `json:"unreadable,omitempty"` // regions without a valid stamp
	Regions     []int   `json:"regions,omitempty"`    // input read in each region of the grid

	// Added latency: an input frame's last packet sent → first packet of the first output frame
	// showing it.
	LatencyN    int     `json:"latency_n,omitempty"`
	LatP50Ms    float64 `json:"lat_p50_ms,omitempty"`
	LatP95Ms    float64 `json:"lat_p95_ms,omitempty"`
	LatP99Ms    float64 `json:"lat_p99_ms,omitempty"`
	LatMaxMs    float64 `json:"lat_max_ms,omitempty"`
	Unmatched   int64   `json:"unmatched,omitempty"`
	InputsSent  int64   `json:"inputs_sent,omitempty"`  // input frames sent in the window, all inputs
	InputsShown int64   `json:"inputs_shown,omitempty"` // … that appeared in the output
	InputKbps   float64 `json:"input_kbps,omitempty"`   // per input, RTP payload
	PLIs        int64   `json:"plis,omitempty"`         // key-frame requests the publishers got
	ViewerLost  int64   `json:"viewer_lost,omitempty"`  // output packets the viewer never got (after NACKs), window
	Resyncs     int64   `json:"resyncs,omitempty"`      // the viewer's key-frame waits after a loss, whole run
	ClipFrames  int     `json:"clip_frames,omitempty"`
	// -extra-viewers: how many, and the output bitrate the least served of them received (RTP
	// payload, window).
	ExtraViewers int     `json:"extra_viewers,omitempty"`
	ExtraMinKbps float64 `json:"extra_min_kbps,omitempty"`

	// gst-launch.
	Launch      string  `json:"launch,omitempty"`
	RunSec      float64 `json:"run_s,omitempty"`      // gst-launch's "Execution ended after"
	ExpectedSec float64 `json:"expected_s,omitempty"` // media duration it played
	Pinned      string  `json:"pinned,omitempty"`

	Errors []string `json:"errors,omitempty"`
	Fail   string   `json:"fail,omitempty"`
}

// runSubject runs one measurement.
func runSubject(ctx context.Context, cfg runConfig, log io.Writer) (*result, error) {
	clips, err := makeClips(cfg.clipDir, cfg.clipFrames)
	if err != nil {
		return nil, err
	}
	if cfg.mode == "baseline" {
		return runBaseline(ctx, cfg, clips, log)
	}
	return runMiksilo(ctx, cfg, clips, log)
}

func runMiksilo(ctx context.Context, cfg runConfig, clips [][][]byte, log io.Writer) (*result, error) {
	n, cols := inputs, 2
	if cfg.mode == "loopback" {
		n, cols = 1, 1
	}
	res := &result{Subject: cfg.mode, Width: cfg.width, Height: cfg.height, Inputs: n, TargetBps: cfg.bitrate, ClipFrames: cfg.clipFrames}
	api, err := kurento.NewLoopbackAPI()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.setupTimeout)
	defer cancel()
	k, err := kurento.Dial(sctx, cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("kurento: %w", err)
	}
	defer k.Close()

	var hub string
	if cfg.mode == "miksilo" {
		hub, err = k.Create(sctx, "Composite", map[string]any{"mediaPipeline": k.Pipeline(),
			"width": cfg.width, "height": cfg.height, "framerate": fps, "codec": "VP8", "bitrate": cfg.bitrate})
		if err != nil {
			return nil, err
		}
	}

	// Publishers: each a WebRtcEndpoint connected to a HubPort of its own (loopback: to the
	// viewer's endpoint, below).
	pubs := make([]*publisher, n)
	pubEPs := make([]string, n)
	up := make([]chan struct{}, n)
	for i := range pubs {
		p, err := newPublisher(api, i, clips[i])
		if err != nil {
			return nil, err
		}
		pubs[i] = p
		defer p.pc.Close()
		go p.readRTCP()
		ch := make(chan struct{})
		up[i] = ch
		var once sync.Once
		p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				once.Do(func() { close(ch) })
			}
		})
		ep, err := k.Negotiate(sctx, p.pc, func(ep string) error {
			if hub == "" {
				return nil
			}
			port, err := k.Create(sctx, "HubPort", map[string]any{"hub": hub})
			if err != nil {
				return err
			}
			return k.Connect(sctx, ep, port)
		})
		if err != nil {
			return nil, fmt.Errorf("publisher %d: %w", i, err)
		}
		pubEPs[i] = ep
	}

	// Viewer: a WebRtcEndpoint fed by a HubPort without input (loopback: by publisher 0's endpoint).
	rx, err := newViewerRx(pubs, cols, cols, cfg.clipFrames)
	if err != nil {
		return nil, fmt.Errorf("viewer decoder: %w", err)
	}
	defer rx.close()
	vpc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	defer vpc.Close()
	if _, err := vpc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return nil, err
	}
	var readers sync.WaitGroup
	defer readers.Wait() // after vpc.Close (deferred later, runs first) ends the reads
	vpc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rx.readTrack(t, vpc)
		}()
	})
	var viewPort string
	if _, err := k.Negotiate(sctx, vpc, func(ep string) error {
		if hub == "" {
			return k.Connect(sctx, pubEPs[0], ep)
		}
		port, err := k.Create(sctx, "HubPort", map[string]any{"hub": hub})
		if err != nil {
			return err
		}
		viewPort = port
		return k.Connect(sctx, port, ep)
	}); err != nil {
		return nil, fmt.Errorf("viewer: %w", err)
	}
	defer vpc.Close()
	// Extra viewers: the same port's output, each to a WebRtcEndpoint of its own, received and
	// dropped.
	extra := make([]*drainViewer, cfg.extraViewers)
	for i := range extra {
		d, err := newDrainViewer(sctx, api, k, viewPort)
		if err != nil {
			return nil, fmt.Errorf("extra viewer %d: %w", i, err)
		}
		defer d.close()
		extra[i] = d
	}
	res.ExtraViewers = len(extra)
	for i, ch := range up {
		select {
		case <-ch:
		case <-sctx.Done():
			return nil, fmt.Errorf("publisher %d: not connected within %v (state %s)", i, cfg.setupTimeout, pubs[i].pc.ConnectionState())
		}
	}
	fmt.Fprintf(log, "composite-bench: %s: %d publishers and the viewer negotiated\n", cfg.mode, n)

	// The server with the Composite and its viewer but no input yet.
	if cfg.mode == "miksilo" && cfg.serverPID > 0 {
		sleep(ctx, 500*time.Millisecond)
		a, _ := procstat.TakeSnap(cfg.serverPID)
		sleep(ctx, 2*time.Second)
		b, _ := procstat.TakeSnap(cfg.serverPID)
		if u := procstat.Between(a, b); u != nil {
			res.IdleCPU = u.Server
		}
	}

	// Publishers start, their frames spread over one frame interval as independent cameras'.
	stop := make(chan struct{})
	var streams sync.WaitGroup
	defer streams.Wait()
	defer close(stop)
	start := time.Now().Add(50 * time.Millisecond)
	for i, p := range pubs {
		streams.Add(1)
		go func() {
			defer streams.Done()
			p.stream(start.Add(inputPhase(i, n)), stop)
		}()
	}
	select {
	case <-rx.anyPacket:
	case <-time.After(cfg.setupTimeout):
		return nil, fmt.Errorf("%w: the viewer got no RTP within %v (state %s)", errNoMedia, cfg.setupTimeout, vpc.ConnectionState())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-rx.allSeen:
	case <-time.After(cfg.setupTimeout):
		rx.mu.Lock()
		seen, keyed, quads := rx.seen, rx.keyed, slices.Clone(rx.regionInputs)
		lost, resyncs := rx.lostPackets, rx.resyncs
		pic, picW, picH := rx.lastPic, rx.lastPicW, rx.lastPicH
		rx.mu.Unlock()
		msg := fmt.Sprintf("the output did not show all %d inputs within %v (inputs read: %v; last input read in each quadrant: %v, -1 none; key frame decoding: %v; output packets lost at the viewer: %d, key-frame waits after a loss: %d)",
			n, cfg.setupTimeout, seen[:n], quads, keyed, lost, resyncs)
		if e, ok := rx.decErr.Load().(string); ok {
			msg += "; decoder: " + e
		}
		if cfg.failFrame != "" && pic != nil {
			if err := writeLumaPNG(cfg.failFrame, pic, picW, picH); err != nil {
				msg += "; snapshot: " + err.Error()
			} else {
				msg += "; last decoded picture: " + cfg.failFrame
			}
		}
		return nil, errors.New(msg)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fmt.Fprintf(log, "composite-bench: %s: all inputs visible in the output; warming up %v, then measuring %v\n", cfg.mode, cfg.warmup, cfg.duration)
	sleep(ctx, cfg.warmup)

	// Window.
	sentA := make([]int64, n)
	bytesA := make([]int64, n)
	for i, p := range pubs {
		sentA[i], bytesA[i] = p.frames.Load(), p.bytes.Load()
	}
	cpuA, err := procstat.TakeSnap(cfg.serverPID)
	if err != nil {
		return nil, err
	}
	extraA := make([]int64, len(extra))
	for i, d := range extra {
		extraA[i] = d.bytes.Load()
	}
	rx.setOpen(true)
	sleep(ctx, cfg.duration)
	rx.setOpen(false)
	for i, d := range extra {
		kbps := round1(float64(d.bytes.Load()-extraA[i]) * 8 / cfg.duration.Seconds() / 1000)
		if i == 0 || kbps < res.ExtraMinKbps {
			res.ExtraMinKbps = kbps
		}
	}
	cpuB, err := procstat.TakeSnap(cfg.serverPID)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	secs := cpuB.At.Sub(cpuA.At).Seconds()
	res.WindowSec = round1(secs)
	if u := procstat.Between(cpuA, cpuB); u != nil {
		res.Usage = *u
	}
	var inBytes int64
	for i, p := range pubs {
		res.InputsSent += p.frames.Load() - sentA[i]
		inBytes += p.bytes.Load() - bytesA[i]
		res.PLIs += p.plis.Load()
	}
	rx.mu.Lock()
	res.ViewerLost, res.Resyncs = rx.wLost, rx.resyncs
	rx.mu.Unlock()
	res.InputKbps = round1(float64(inBytes) * 8 / secs / 1000 / float64(n))

	rx.mu.Lock()
	defer rx.mu.Unlock()
	res.OutFrames = rx.wFrames
	res.OutFPS = round1(float64(rx.wFrames) / secs)
	res.VP8Kbps = round1(float64(rx.wBytes) * 8 / secs / 1000)
	res.PayloadKbps = round1(float64(rx.wPayload) * 8 / secs / 1000)
	res.BitratePct = round1(res.VP8Kbps * 1000 / float64(cfg.bitrate) * 100)
	res.MaxGapMs = ms(rx.wMaxGap)
	res.Decoded = rx.wDecoded
	res.Unreadable = rx.wUnreadable
	res.Unmatched = rx.wUnmatched
	res.Regions = append([]int(nil), rx.regionInputs...)
	for i := 0; i < n; i++ {
		res.InputsShown += rx.wShown[i]
	}
	lat := append([]time.Duration(nil), rx.wLatencies...)
	sortDurations(lat)
	res.LatencyN = len(lat)
	if len(lat) > 0 {
		res.LatP50Ms, res.LatP95Ms, res.LatP99Ms = ms(percentile(lat, 50)), ms(percentile(lat, 95)), ms(percentile(lat, 99))
		res.LatMaxMs = ms(lat[len(lat)-1])
	}
	if rx.wFrames > 0 && cfg.serverPID > 0 {
		res.CPUPerOutputSec = round3(res.Server / 100 * secs / (float64(rx.wFrames) / fps))
	}
	if e, ok := rx.decErr.Load().(string); ok {
		res.Errors = append(res.Errors, "viewer decoder: "+e)
	}
	switch {
	case rx.wFrames == 0:
		res.Fail = "no output frames in the window"
	case len(lat) == 0:
		res.Fail = "no input frame was read in the output"
	case res.OutFPS < minFPS:
		res.Fail = fmt.Sprintf("the output fell behind: %.1f fps in the window", res.OutFPS)
	}
	return res, nil
}

// ---------------------------------------------------------------------------------------------
// Baseline: gst-launch-1.0 doing the same decode, compositing and encoding.

// inputPhase is when input i of n sends its frames within each frame interval: spread evenly, as
// independent cameras' (Miksilo's publishers and, unless lockstep, the baseline's inputs).
func inputPhase(i, n int) time.Duration {
	return time.Duration(i) * time.Second / fps / time.Duration(n)
}

// baselineLaunch is the gst-launch description: each input file parsed, paced at its frame rate
// (identity sync=true against the pipeline clock, as live inputs arrive), decoded and placed on a
// 2×2 grid by compositor, then the Composite's own encoder and payloader fragments. Unless
// lockstep, input i is released i/n of a frame interval after input 0 (identity ts-offset), as
// Miksilo's publishers send theirs (independent cameras are not in phase): the decoders then
// wake at the same four moments of each frame interval in both subjects. In lockstep all four
// are released together, which lets the baseline do a frame's work in one wake-up.
func baselineLaunch(files []string, width, height, bitrate int, lockstep bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "compositor name=mix background=black")
	for i, reg := range gridRegions(width, height, 2, 2)[:len(files)] {
		fmt.Fprintf(&b, " sink_%d::xpos=%d sink_%d::ypos=%d sink_%d::width=%d sink_%d::height=%d",
			i, int(math.Round(reg.x)), i, int(math.Round(reg.y)), i, int(math.Round(reg.w)), i, int(math.Round(reg.h)))
	}
	// identity silent=false: with gst-launch -v, one line per encoded frame (its size), which is how
	// the tool counts the output frames and bytes in the window; ~30 short lines a second.
	fmt.Fprintf(&b, " ! video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! %s ! identity name=tap silent=false ! %s ! fakesink sync=false",
		width, height, fps, composite.VideoEncoderLaunch(composite.CodecVP8, bitrate, fps), composite.VideoPayloaderLaunch(composite.CodecVP8))
	for i, f := range files {
		// vp8dec threads=1 and no queue: the Composite's input branch (composite/video.go,
		// inputLaunch) decodes the same way, in the thread that feeds its appsrc.
		var offset time.Duration
		if !lockstep {
			offset = inputPhase(i, len(files))
		}
		fmt.Fprintf(&b, " filesrc location=%s ! ivfparse ! identity sync=true ts-offset=%d ! vp8dec threads=1 ! mix.sink_%d", f, offset.Nanoseconds(), i)
	}
	return b.String()
}

var (
	executionEnded = regexp.MustCompile(`Execution ended after (\d+):(\d+):(\d+)\.(\d+)`)
	tapFrame       = regexp.MustCompile(`tap: last-message = chain .*?\((\d+) bytes`)
)

// gstOutput reads gst-launch -v's output: encoded frames seen by the tap are counted, other lines
// kept (the last ones) for error messages.
type gstOutput struct {
	frames atomic.Int64
	bytes  atomic.Int64
	mu     sync.Mutex
	lines  []string
	ended  string
	done   chan struct{}
}

func (g *gstOutput) read(r io.Reader) {
	defer close(g.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := tapFrame.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			g.frames.Add(1)
			g.bytes.Add(n)
			continue
		}
		if strings.Contains(line, "last-message = event") || strings.Contains(line, "caps = ") {
			continue
		}
		g.mu.Lock()
		if m := executionEnded.FindString(line); m != "" {
			g.ended = m
		}
		g.lines = append(g.lines, line)
		if len(g.lines) > 20 {
			g.lines = g.lines[1:]
		}
		g.mu.Unlock()
	}
}

func (g *gstOutput) tail() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return tail(strings.Join(g.lines, "\n"))
}

func runBaseline(ctx context.Context, cfg runConfig, clips [][][]byte, log io.Writer) (*result, error) {
	res := &result{Subject: "gst-launch", Width: cfg.width, Height: cfg.height, Inputs: inputs, TargetBps: cfg.bitrate, Pinned: cfg.taskset}
	// Files long enough for start-up, warm-up, the window and a margin.
	total := cfg.warmup + cfg.duration + 4*time.Second
	frames := int(total.Seconds()*fps) + 1
	dir, err := os.MkdirTemp("", "composite-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files := make([]string, inputs)
	for i := range files {
		files[i] = filepath.Join(dir, fmt.Sprintf("in%d.ivf", i))
		if err := writeIVFFile(files[i], clips[i], frames); err != nil {
			return nil, err
		}
	}
	res.ExpectedSec = round1(float64(frames) / fps)
	desc := baselineLaunch(files, cfg.width, cfg.height, cfg.bitrate, cfg.lockstep)
	res.Launch = strings.ReplaceAll(desc, dir+"/", "")
	args := append([]string{"gst-launch-1.0", "-v"}, strings.Fields(desc)...)
	if cfg.taskset != "" {
		args = append([]string{"taskset", "-c", cfg.taskset}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	out := &gstOutput{done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go out.read(stdout)
	done := make(chan error, 1)
	go func() {
		<-out.done // all output read before Wait closes the pipe
		done <- cmd.Wait()
	}()
	// With taskset, the pid is taskset's until it execs gst-launch: the same process.
	pid := cmd.Process.Pid
	fmt.Fprintf(log, "composite-bench: gst-launch-1.0 started (pid %d%s); warming up %v, then measuring %v\n",
		pid, map[bool]string{true: ", taskset -c " + cfg.taskset}[cfg.taskset != ""], cfg.warmup, cfg.duration)
	waitOrDone := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case err := <-done:
			done <- err
			return false
		case <-ctx.Done():
			return false
		}
	}
	if !waitOrDone(cfg.warmup + time.Second) {
		return nil, fmt.Errorf("gst-launch ended during the warm-up: %s", out.tail())
	}
	framesA, bytesA := out.frames.Load(), out.bytes.Load()
	cpuA, err := procstat.TakeSnap(pid)
	if err != nil {
		return nil, err
	}
	if !waitOrDone(cfg.duration) {
		return nil, fmt.Errorf("gst-launch ended during the window: %s", out.tail())
	}
	cpuB, err := procstat.TakeSnap(pid)
	if err != nil {
		return nil, err
	}
	framesB, bytesB := out.frames.Load(), out.bytes.Load()
	secs := cpuB.At.Sub(cpuA.At).Seconds()
	res.WindowSec = round1(secs)
	if u := procstat.Between(cpuA, cpuB); u != nil {
		res.Usage = *u
	}
	res.OutFrames = framesB - framesA
	res.OutFPS = round1(float64(res.OutFrames) / secs)
	res.VP8Kbps = round1(float64(bytesB-bytesA) * 8 / secs / 1000)
	res.BitratePct = round1(res.VP8Kbps * 1000 / float64(cfg.bitrate) * 100)
	if res.OutFrames > 0 {
		res.CPUPerOutputSec = round3(res.Server / 100 * secs / (float64(res.OutFrames) / fps))
	}
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("gst-launch: %v: %s", err, out.tail())
		}
	case <-time.After(total + 30*time.Second):
		_ = cmd.Process.Kill()
		<-done
		return nil, fmt.Errorf("gst-launch did not finish: %s", out.tail())
	}
	out.mu.Lock()
	ended := out.ended
	out.mu.Unlock()
	if m := executionEnded.FindStringSubmatch(ended); m != nil {
		h, _ := strconv.Atoi(m[1])
		mi, _ := strconv.Atoi(m[2])
		s, _ := strconv.Atoi(m[3])
		frac, _ := strconv.ParseFloat("0."+m[4], 64)
		res.RunSec = round1(float64(h*3600+mi*60+s) + frac)
	}
	// Paced by the inputs at 30 fps: fewer output frames in the window means it fell behind.
	if res.OutFPS < minFPS {
		res.Fail = fmt.Sprintf("gst-launch did not keep pace: %.1f fps in the window", res.OutFPS)
	}
	return res, nil
}

// minFPS: an output slower than this in the window did not keep up with 30 fps.
const minFPS = 0.95 * fps

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) { tool.Sleep(ctx, d) }

func ms(d time.Duration) float64 { return round1(float64(d) / float64(time.Millisecond)) }
func round1(x float64) float64   { return math.Round(x*10) / 10 }
func round3(x float64) float64   { return math.Round(x*1000) / 1000 }

// writeLumaPNG writes the luma plane y (stride w, h rows) as a grey PNG.
func writeLumaPNG(path string, y []byte, w, h int) error {
	img := &image.Gray{Pix: y, Stride: w, Rect: image.Rect(0, 0, w, h)}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
