package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miksilo/miksilo/bench/internal/kurento"
	"github.com/miksilo/miksilo/bench/internal/tool"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Pass criteria of one step (the issue's): under 1 % loss and at least 95 % of the publisher's
// bitrate delivered, over all viewers, and no viewer below minViewerPct of the bitrate.
const (
	maxLossPct      = 1.0
	minDeliveredPct = 95.0
	minViewerPct    = 90.0
	// A load generator busier than this (percent of its one CPU) may itself be what drops packets.
	loaderSaturatedPct = 90.0
)

type runConfig struct {
	target       string
	addr         string
	label        string
	viewers      int
	ivf          string
	warmup       time.Duration
	duration     time.Duration
	baseline     time.Duration
	setupTimeout time.Duration
	settle       time.Duration
	parallel     int
	serverPID    int
	role         string
}

func (c *runConfig) validate() error {
	switch c.target {
	case "miksilo", "forwarder":
	default:
		return fmt.Errorf("-target %q: want miksilo or forwarder", c.target)
	}
	if c.label == "" {
		c.label = c.target
	}
	switch {
	case c.viewers < 1:
		return errors.New("-viewers must be ≥ 1")
	case c.duration <= 0:
		return errors.New("-duration must be > 0")
	case c.ivf == "":
		return errors.New("-ivf is required")
	case c.parallel < 1:
		return errors.New("-parallel must be ≥ 1")
	}
	return nil
}

// result is one step: N viewers against one freshly started server. One JSON line.
type result struct {
	Target    string  `json:"target"`
	Viewers   int     `json:"viewers"`
	Connected int     `json:"connected"` // viewers that received media before the warm-up
	SetupSec  float64 `json:"setup_s"`   // time to negotiate all viewers
	SettleSec float64 `json:"settle_s"`  // waited after the warm-up for the viewers' delay to settle

	// Viewers' delay (see delayTracker) at the start and the end of the window, mean over viewers
	// (and the worst one at the end), ms; growth over the window is a backlog building up.
	LagStartMs  float64 `json:"lag_start_ms"`
	LagEndMs    float64 `json:"lag_end_ms"`
	LagEndMaxMs float64 `json:"lag_end_max_ms"`
	WindowSec   float64 `json:"window_s"`
	ClipKbps    float64 `json:"clip_kbps"` // mean bitrate of the looped file

	PubPackets int64   `json:"pub_packets"` // sent by the publisher in the window
	PubKbps    float64 `json:"pub_kbps"`    // RTP payload bitrate sent in the window

	LossPct           float64 `json:"loss_pct"`      // all viewers: 1 − received ÷ expected (sequence gaps)
	PacketsPct        float64 `json:"packets_pct"`   // all viewers: received ÷ (viewers × sent)
	DeliveredPct      float64 `json:"delivered_pct"` // all viewers: payload bitrate received ÷ (viewers × sent)
	WorstLossPct      float64 `json:"worst_loss_pct"`
	WorstDeliveredPct float64 `json:"worst_delivered_pct"`
	Duplicates        int64   `json:"duplicates"`

	cpuUsage
	ServerBaseCPU   float64 `json:"server_base_cpu_pct"` // publisher only, no viewer
	ServerRSSBaseKB int64   `json:"server_rss_base_kb"`  // publisher only, no viewer
	ServerRSSKB     int64   `json:"server_rss_kb"`       // at the end of the window
	CPUPerViewer    float64 `json:"cpu_per_viewer_pct"`  // (server − base) ÷ viewers, % of one CPU
	KBPerViewer     float64 `json:"kb_per_viewer"`       // (RSS − base) ÷ viewers
	DropsServer     int64   `json:"udp_drops_server"`    // receive-queue drops on the server's sockets in the window
	DropsLoader     int64   `json:"udp_drops_loader"`    // … on the load generator's sockets

	Role            string   `json:"role,omitempty"` // "repeat": the second run of a step that passed near saturation
	LoaderSaturated bool     `json:"loader_saturated"`
	Pass            bool     `json:"pass"`
	Fail            string   `json:"fail,omitempty"`
	Errors          []string `json:"errors,omitempty"`
}

type viewer struct {
	pc    *webrtc.PeerConnection
	stats viewerStats
	media chan struct{} // closed at the first RTP packet
	once  sync.Once
}

func runStep(ctx context.Context, cfg runConfig, log io.Writer) (*result, error) {
	c, err := loadIVF(cfg.ivf)
	if err != nil {
		return nil, err
	}
	api, err := kurento.NewLoopbackAPI()
	if err != nil {
		return nil, err
	}
	res := &result{Target: cfg.label, Viewers: cfg.viewers, ClipKbps: round1(c.kbps()), Role: cfg.role}
	var errMu sync.Mutex
	addErr := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if len(res.Errors) < 5 {
			res.Errors = append(res.Errors, err.Error())
		}
	}

	var sig signaller
	switch cfg.target {
	case "miksilo":
		k, err := newKurentoSignaller(ctx, cfg.addr)
		if err != nil {
			return nil, fmt.Errorf("kurento: %w", err)
		}
		sig = k
	default:
		sig = newForwarderSignaller(cfg.addr)
	}
	defer sig.close()

	// Publisher.
	pub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "fanout")
	if err != nil {
		return nil, err
	}
	sender, err := pub.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	go drainRTCP(sender.Sender().Read)
	pubUp := make(chan struct{})
	var pubOnce sync.Once
	pub.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			pubOnce.Do(func() { close(pubUp) })
		}
	})
	sctx, cancel := context.WithTimeout(ctx, cfg.setupTimeout)
	err = sig.publish(sctx, pub)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	select {
	case <-pubUp:
	case <-time.After(cfg.setupTimeout):
		return nil, fmt.Errorf("publisher: not connected after %v (state %s)", cfg.setupTimeout, pub.ConnectionState())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var sending, measuring atomic.Bool
	var pubCnt pubCounters
	stop := make(chan struct{})
	defer close(stop)
	sending.Store(true)
	go streamClip(c, track, sending.Load, measuring.Load, &pubCnt, stop)

	// Server cost of the publisher alone.
	sleep(ctx, 500*time.Millisecond)
	if cfg.baseline > 0 {
		a := takeCPUSnap(cfg.serverPID)
		sleep(ctx, cfg.baseline)
		res.ServerBaseCPU = usageBetween(a, takeCPUSnap(cfg.serverPID)).Server
	}
	res.ServerRSSBaseKB = rssKB(cfg.serverPID)

	// Viewers. The publisher pauses meanwhile: setting up N viewers (N DTLS handshakes) would
	// otherwise leave the server behind, with seconds of the stream queued in its receive buffers,
	// and the window would measure it catching up. It resumes with a key frame.
	sending.Store(false)
	fmt.Fprintf(log, "fanout: %s: publisher up (%.0f kb/s clip); connecting %d viewers\n", cfg.label, c.kbps(), cfg.viewers)
	viewers := make([]*viewer, cfg.viewers)
	t0 := time.Now()
	sem := make(chan struct{}, cfg.parallel)
	var wg sync.WaitGroup
	for i := range viewers {
		v := &viewer{media: make(chan struct{})}
		viewers[i] = v
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := connectViewer(ctx, api, sig, v, cfg.setupTimeout); err != nil {
				addErr(fmt.Errorf("viewer %d: %w", i, err))
			}
		}()
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	res.SetupSec = round1(time.Since(t0).Seconds())
	sending.Store(true)
	deadline := time.After(cfg.setupTimeout)
	for i, v := range viewers {
		if v == nil || v.pc == nil {
			continue
		}
		select {
		case <-v.media:
			res.Connected++
		case <-deadline:
			addErr(fmt.Errorf("viewer %d: no media within %v of set-up (state %s)", i, cfg.setupTimeout, v.pc.ConnectionState()))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer closeViewers(viewers)
	fmt.Fprintf(log, "fanout: %s: %d/%d viewers receiving after %.1f s; warming up %v\n",
		cfg.label, res.Connected, cfg.viewers, res.SetupSec, cfg.warmup)
	sleep(ctx, cfg.warmup)
	// A server that cannot keep up falls behind from the start; one that can stays near the delay
	// floor. Should a backlog remain (retransmissions, a slow start), wait for it to drain (up to
	// -settle): measuring while the server catches up would overstate its CPU and what it delivers.
	t1 := time.Now()
	for time.Since(t1) < cfg.settle && ctx.Err() == nil {
		if mean, _ := viewerLag(viewers); mean < settledLag {
			break
		}
		sleep(ctx, 250*time.Millisecond)
	}
	res.SettleSec = round1(time.Since(t1).Seconds())
	res.LagStartMs, _ = viewerLagMs(viewers)

	// Measurement window.
	dropsA := udpDrops(cfg.serverPID, os.Getpid())
	cpuA := takeCPUSnap(cfg.serverPID)
	for _, v := range viewers {
		v.stats.setOpen(true)
	}
	measuring.Store(true)
	sleep(ctx, cfg.duration)
	measuring.Store(false)
	for _, v := range viewers {
		v.stats.setOpen(false)
	}
	cpuB := takeCPUSnap(cfg.serverPID)
	res.LagEndMs, res.LagEndMaxMs = viewerLagMs(viewers)
	dropsB := udpDrops(cfg.serverPID, os.Getpid())
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.ServerRSSKB = rssKB(cfg.serverPID)
	res.WindowSec = round1(cpuB.at.Sub(cpuA.at).Seconds())
	res.cpuUsage = usageBetween(cpuA, cpuB)
	res.DropsServer, res.DropsLoader = dropsB[0]-dropsA[0], dropsB[1]-dropsA[1]

	sent, sentBytes := pubCnt.packets.Load(), pubCnt.payload.Load()
	res.PubPackets = sent
	res.PubKbps = round1(float64(sentBytes) * 8 / cpuB.at.Sub(cpuA.at).Seconds() / 1000)
	var recv, expected, bytes int64
	res.WorstDeliveredPct = 100
	perViewer := make([]float64, 0, len(viewers))
	for _, v := range viewers {
		r, e, b := v.stats.window()
		recv, expected, bytes = recv+r, expected+e, bytes+b
		res.Duplicates += v.stats.dups
		loss := 100.0
		if e > 0 {
			loss = pct(e-r, e)
		}
		res.WorstLossPct = max(res.WorstLossPct, loss)
		perViewer = append(perViewer, pct(b, sentBytes))
	}
	sort.Float64s(perViewer)
	if len(perViewer) > 0 {
		res.WorstDeliveredPct = perViewer[0]
	}
	n := int64(len(viewers))
	res.LossPct = 100
	if expected > 0 {
		res.LossPct = pct(expected-recv, expected)
	}
	res.PacketsPct = pct(recv, n*sent)
	res.DeliveredPct = pct(bytes, n*sentBytes)
	res.CPUPerViewer = round3((res.Server - res.ServerBaseCPU) / float64(n))
	res.KBPerViewer = round1(float64(res.ServerRSSKB-res.ServerRSSBaseKB) / float64(n))
	res.LoaderSaturated = res.Loader > loaderSaturatedPct
	res.judge()
	return res, nil
}

// settledLag: the warm-up waits until the viewers' mean delay is below this.
const settledLag = 100 * time.Millisecond

// viewerLag is the mean and the largest current delay over the viewers that have one.
func viewerLag(viewers []*viewer) (mean, worst time.Duration) {
	now := time.Now()
	var sum time.Duration
	n := 0
	for _, v := range viewers {
		if v == nil {
			continue
		}
		if l := v.stats.lag(now); l >= 0 {
			sum += l
			worst = max(worst, l)
			n++
		}
	}
	if n == 0 {
		return time.Hour, time.Hour
	}
	return sum / time.Duration(n), worst
}

func viewerLagMs(viewers []*viewer) (mean, worst float64) {
	m, w := viewerLag(viewers)
	return round1(float64(m) / 1e6), round1(float64(w) / 1e6)
}

func (r *result) judge() {
	switch {
	case r.Connected < r.Viewers:
		r.Fail = fmt.Sprintf("%d of %d viewers never received media", r.Viewers-r.Connected, r.Viewers)
	case r.PubPackets == 0:
		r.Fail = "the publisher sent nothing in the window"
	case r.LossPct >= maxLossPct:
		r.Fail = fmt.Sprintf("loss %.2f%% ≥ %.0f%%", r.LossPct, maxLossPct)
	case r.DeliveredPct < minDeliveredPct:
		r.Fail = fmt.Sprintf("bitrate delivered %.1f%% < %.0f%%", r.DeliveredPct, minDeliveredPct)
	case r.WorstDeliveredPct < minViewerPct:
		r.Fail = fmt.Sprintf("worst viewer got %.1f%% of the bitrate (< %.0f%%)", r.WorstDeliveredPct, minViewerPct)
	default:
		r.Pass = true
	}
}

func connectViewer(ctx context.Context, api *webrtc.API, sig signaller, v *viewer, timeout time.Duration) error {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		_ = pc.Close()
		return err
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		go drainRTCP(r.Read)
		buf := make([]byte, 1600)
		var h rtp.Header
		for {
			n, _, err := t.Read(buf)
			if err != nil {
				return
			}
			hl, err := h.Unmarshal(buf[:n])
			if err != nil {
				continue
			}
			payload := n - hl
			if h.Padding && payload > 0 {
				payload -= int(buf[n-1])
			}
			v.stats.packet(h.SequenceNumber, h.Timestamp, max(payload, 0))
			v.once.Do(func() { close(v.media) })
		}
	})
	v.pc = pc
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return sig.view(sctx, pc)
}

func closeViewers(viewers []*viewer) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, v := range viewers {
		if v == nil || v.pc == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = v.pc.Close()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// drainRTCP reads RTCP until the reader fails: reading is what drives pion's interceptors.
func drainRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := read(buf); err != nil {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) { tool.Sleep(ctx, d) }

func pct(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(int64(float64(a)/float64(b)*10000+0.5)) / 100
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
