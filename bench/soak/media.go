package main

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/miksilo/miksilo/bench/internal/gstcollect"
	"github.com/miksilo/miksilo/internal/gst"
)

const (
	fps          = 30
	clipFrames   = 60 // 2 s of video per loop, one key frame at its start
	audioPackets = 50 // 1 s of Opus per loop (20 ms packets): a whole number of sine periods
)

// clips are one publisher's media: VP8 frames and Opus packets, looped.
type clips struct {
	video [][]byte
	audio [][]byte
}

// encodeClips encodes slot's clips with GStreamer in this process: a moving test pattern of its
// own (640×360@30, VP8 at 600 kb/s, a key frame only at the start) and a sine of its own pitch.
func encodeClips(slot int) (*clips, error) {
	patterns := []string{"ball", "smpte", "snow", "pinwheel", "spokes", "gradient"}
	v, err := encode(fmt.Sprintf("soak-v%d", slot), fmt.Sprintf(
		"videotestsrc pattern=%s num-buffers=%d ! video/x-raw,format=I420,width=640,height=360,framerate=%d/1 ! "+
			"vp8enc deadline=1 cpu-used=8 threads=1 end-usage=cbr target-bitrate=600000 lag-in-frames=0 keyframe-max-dist=100000 ! "+
			"appsink name=sink sync=false", patterns[slot%len(patterns)], clipFrames, fps), clipFrames)
	if err != nil {
		return nil, fmt.Errorf("video clip: %w", err)
	}
	a, err := encode(fmt.Sprintf("soak-a%d", slot), fmt.Sprintf(
		"audiotestsrc wave=sine freq=%d samplesperbuffer=960 num-buffers=%d ! audio/x-raw,rate=48000,channels=2 ! "+
			"opusenc frame-size=20 bitrate=32000 ! appsink name=sink sync=false", 300+100*slot, audioPackets), audioPackets)
	if err != nil {
		return nil, fmt.Errorf("audio clip: %w", err)
	}
	return &clips{video: v, audio: a}, nil
}

// encode runs desc (ending in an appsink named sink, its source ending the stream) and returns
// the first want samples (an error when there are fewer).
func encode(name, desc string, want int) ([][]byte, error) {
	p, err := gst.Parse(name, desc, nil)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	els, err := p.Elements("sink")
	if err != nil {
		return nil, err
	}
	run, err := gstcollect.Start(p, els[0])
	if err != nil {
		return nil, err
	}
	out, err := run.Wait(2*time.Minute, want)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) < want { // opusenc adds one packet at the end (its look-ahead): keep want
		return nil, fmt.Errorf("%s: %d samples, want %d", name, len(out), want)
	}
	return out[:want], nil
}

// publisher is one host: a pion peer sending a video and an audio track from its clips.
type publisher struct {
	pc      *webrtc.PeerConnection
	video   *webrtc.TrackLocalStaticRTP
	audio   *webrtc.TrackLocalStaticRTP
	vsender *webrtc.RTPSender
	clips   *clips
	ssrc    uint32
	restart atomic.Bool // a PLI or FIR arrived: continue from the clip's key frame
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup
}

func newPublisher(api *webrtc.API, c *clips, ssrc uint32) (*publisher, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &publisher{pc: pc, clips: c, ssrc: ssrc, stop: make(chan struct{})}
	p.video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "soak")
	if err == nil {
		p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "soak")
	}
	var vt *webrtc.RTPTransceiver
	if err == nil {
		vt, err = pc.AddTransceiverFromTrack(p.video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	}
	if err == nil {
		_, err = pc.AddTransceiverFromTrack(p.audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	}
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	p.vsender = vt.Sender()
	go p.readRTCP()
	return p, nil
}

// readRTCP turns PLIs and FIRs into a restart from the key frame (at most one per 500 ms, as an
// encoder rate-limits key frames); it ends when pc closes.
func (p *publisher) readRTCP() {
	var last time.Time
	for {
		pkts, _, err := p.vsender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if time.Since(last) > 500*time.Millisecond {
					last = time.Now()
					p.restart.Store(true)
				}
			}
		}
	}
}

// start sends both tracks until halt (or close).
func (p *publisher) start() {
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		pk := rtp.NewPacketizer(1200, 96, p.ssrc, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
		i := 0
		p.loop(time.Second/fps, func() {
			if p.restart.Swap(false) {
				i = 0
			}
			for _, pkt := range pk.Packetize(p.clips.video[i], 90000/fps) {
				_ = p.video.WriteRTP(pkt)
			}
			i = (i + 1) % len(p.clips.video)
		})
	}()
	go func() {
		defer p.wg.Done()
		pk := rtp.NewPacketizer(1200, 111, p.ssrc+1, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
		i := 0
		p.loop(20*time.Millisecond, func() {
			for _, pkt := range pk.Packetize(p.clips.audio[i], 960) {
				_ = p.audio.WriteRTP(pkt)
			}
			i = (i + 1) % len(p.clips.audio)
		})
	}()
}

// loop calls send every interval until stop closes (no catching up after a long stall).
func (p *publisher) loop(interval time.Duration, send func()) {
	next := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		send()
		next = next.Add(interval)
		if d := time.Until(next); d < -time.Second {
			next = time.Now()
		}
		t.Reset(time.Until(next))
	}
}

// halt stops sending (the peer connection stays up).
func (p *publisher) halt() {
	p.stopped.Do(func() { close(p.stop) })
	p.wg.Wait()
}

// close stops sending and closes the peer connection.
func (p *publisher) close() {
	p.halt()
	_ = p.pc.Close()
}

// ---------------------------------------------------------------------------------------------

// gapStats are the arrival gaps of one output stream: a video frame's first packet (a new RTP
// timestamp) or an audio packet, each against the one before.
type gapStats struct {
	mu       sync.Mutex
	last     time.Time
	lastTS   uint32
	started  bool
	measure  bool            // gaps count only while true (the churn phase)
	units    int64           // frames (video) or packets (audio) while measuring
	max      time.Duration   // largest gap while measuring
	over     int             // gaps above the limit while measuring
	limit    time.Duration   // the requirement: no gap above it
	hist     [14]int64       // gaps by 10 ms bucket up to 130 ms, then ≥ 130 ms
	worst    []time.Duration // the largest gaps, for the report (≤ 5)
	backward int             // RTP timestamps that went backwards (discontinuity of the output)
	clock    uint32          // RTP clock rate, for the timestamp step of a gap
	events   []gapEvent      // the gaps over the limit (≤ maxGapEvents)
	hiccup   func(from, to time.Time) time.Duration
}

// maxGapEvents is how many gaps over the limit a stream records (more are counted, and count
// as the server's).
const maxGapEvents = 200

// gapEvent is one gap over the limit: when it ended, how long it was, how far the RTP timestamp
// moved across it (a step of one frame: the frame was made in time and arrived late; a step as
// long as the gap: the output made no frame) and how late this process itself was scheduled in
// that interval (a late load generator, not a late server).
type gapEvent struct {
	At       time.Time `json:"-"`
	AtSec    float64   `json:"at_s"`
	GapMS    float64   `json:"gap_ms"`
	TSStepMS float64   `json:"ts_step_ms"`
	SelfMS   float64   `json:"self_late_ms"`
	// The server's CPUs meanwhile (filled in at the end): time the hypervisor ran something else
	// on them (steal) and time other processes of the machine used them.
	StealMS float64 `json:"server_cpu_steal_ms"`
	OtherMS float64 `json:"server_cpu_other_ms"`
	// Cause: "steal" when the stolen time covers the gap's excess over the limit, "steal (stall)"
	// when the steal in this stream's gaps of one stall covers their excesses together (see
	// attribute), "load generator" when this process's own lateness does; empty: the server's.
	Cause string `json:"cause,omitempty"`
	Key   bool   `json:"keyframe,omitempty"` // the frame after the gap is a key frame
}

// note records a packet with RTP timestamp ts arriving at now; frames (video) count a unit at
// each new timestamp, packets (audio) at every packet.
func (g *gapStats) note(ts uint32, now time.Time, perPacket, key bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started && !perPacket && ts == g.lastTS {
		return // the same frame's next packet
	}
	if g.started && int32(ts-g.lastTS) < 0 && g.measure {
		g.backward++
	}
	if g.started && g.measure {
		d := now.Sub(g.last)
		g.units++
		if d > g.max {
			g.max = d
		}
		if d > g.limit {
			g.over++
			if len(g.events) < maxGapEvents {
				ev := gapEvent{At: now, GapMS: ms(d), Key: key}
				if g.clock > 0 {
					ev.TSStepMS = round1(float64(ts-g.lastTS) * 1000 / float64(g.clock))
				}
				if g.hiccup != nil {
					ev.SelfMS = ms(g.hiccup(g.last, now))
				}

				g.events = append(g.events, ev)
			}
		}
		b := int(d / (10 * time.Millisecond))
		if b >= len(g.hist) {
			b = len(g.hist) - 1
		}
		g.hist[b]++
		g.worst = append(g.worst, d)
		for i := len(g.worst) - 1; i > 0 && g.worst[i] > g.worst[i-1]; i-- {
			g.worst[i], g.worst[i-1] = g.worst[i-1], g.worst[i]
		}
		if len(g.worst) > 5 {
			g.worst = g.worst[:5]
		}
	}
	g.started, g.last, g.lastTS = true, now, ts
}

func (g *gapStats) setMeasure(on bool) {
	g.mu.Lock()
	g.measure = on
	g.mu.Unlock()
}

// percentile of the measured gaps from the histogram: the upper edge of the bucket holding it.
func (g *gapStats) percentile(p float64) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	var n int64
	for _, c := range g.hist {
		n += c
	}
	if n == 0 {
		return 0
	}
	want := int64(float64(n)*p + 0.999999)
	var acc int64
	for i, c := range g.hist {
		acc += c
		if acc >= want {
			return time.Duration(i+1) * 10 * time.Millisecond
		}
	}
	return time.Duration(len(g.hist)) * 10 * time.Millisecond
}

// hiccups measures how late this process's goroutines get to run: a goroutine sleeps 5 ms at a
// time and records, per 100 ms window, the largest oversleep. A gap at the viewer during which
// the load generator itself ran late by about as much is the generator's, not the server's.
type hiccups struct {
	mu    sync.Mutex
	start time.Time
	late  []time.Duration // per 100 ms window since start
}

func newHiccups(stop <-chan struct{}) *hiccups {
	h := &hiccups{start: time.Now()}
	go func() {
		const tick = 5 * time.Millisecond
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			time.Sleep(tick)
			late := time.Since(t0) - tick
			w := int(t0.Sub(h.start) / (100 * time.Millisecond))
			h.mu.Lock()
			for len(h.late) <= w {
				h.late = append(h.late, 0)
			}
			if late > h.late[w] {
				h.late[w] = late
			}
			h.mu.Unlock()
		}
	}()
	return h
}

// worst is the largest oversleep in the windows overlapping [from, to].
func (h *hiccups) worst(from, to time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, b := int(from.Sub(h.start)/(100*time.Millisecond)), int(to.Sub(h.start)/(100*time.Millisecond))
	var m time.Duration
	for w := max(a, 0); w <= b && w < len(h.late); w++ {
		m = max(m, h.late[w])
	}
	return m
}

// attribute fills in the server CPUs' steal and other use during each gap (from the watch) and
// the gap's cause, and returns how many gaps of each stream the machine accounts for: those whose
// excess over the limit the stolen time or the load generator's own lateness covers.
//
// Gaps of either stream whose intervals overlap form one stall: the host may stop the server's CPU
// in several bursts within one stall, and a few packets sent between two bursts split a stream's
// gap in two without the server having caught up; what was stolen in the first part is work the
// server still owes in the second (seen at 02:44 UTC on 2026-11-22: two audio gaps of 310 and
// 248 ms with 290 and 120 ms stolen, 50 ms apart, both inside one 538-ms video gap with 470 ms
// stolen). So a stream's gaps within one stall are also judged together: they are the machine's
// when the steal within them covers the sum of their excesses.
func attribute(video, audio []gapEvent, limit time.Duration, w *cpuWatch) (machineVideo, machineAudio int) {
	type ref struct {
		e        *gapEvent
		stream   int // 0 video, 1 audio
		from, to time.Time
	}
	var all []ref
	for stream, evs := range [][]gapEvent{video, audio} {
		for i := range evs {
			e := &evs[i]
			gap := time.Duration(e.GapMS * float64(time.Millisecond))
			steal, other := w.during(e.At.Add(-gap), e.At)
			e.StealMS, e.OtherMS = ms(steal), ms(other)
			e.Cause = ""
			all = append(all, ref{e, stream, e.At.Add(-gap), e.At})
		}
	}
	excess := func(e *gapEvent) float64 { return e.GapMS - ms(limit) }
	for _, r := range all {
		e := r.e
		switch {
		case w != nil && e.StealMS >= excess(e):
			e.Cause = "steal"
		case e.SelfMS >= excess(e):
			e.Cause = "load generator"
		}
	}
	if w != nil {
		slices.SortFunc(all, func(a, b ref) int { return a.from.Compare(b.from) })
		for start := 0; start < len(all); {
			// all[start:end] is one stall: each gap begins before the ones before it end.
			end, to := start+1, all[start].to
			for end < len(all) && all[end].from.Before(to) {
				if all[end].to.After(to) {
					to = all[end].to
				}
				end++
			}
			episode := all[start:end]
			for stream := range 2 {
				var over, stolen float64
				var mine []*gapEvent
				for _, r := range episode {
					if r.stream == stream {
						over += excess(r.e)
						stolen += r.e.StealMS
						mine = append(mine, r.e)
					}
				}
				if len(mine) > 1 && stolen >= over {
					for _, e := range mine {
						if e.Cause == "" {
							e.Cause = "steal (stall)"
						}
					}
				}
			}
			start = end
		}
	}
	for i := range video {
		if video[i].Cause != "" {
			machineVideo++
		}
	}
	for i := range audio {
		if audio[i].Cause != "" {
			machineAudio++
		}
	}
	return machineVideo, machineAudio
}
