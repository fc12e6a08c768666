package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miksilo/miksilo/bench/internal/kurento"
	"github.com/miksilo/miksilo/internal/gst"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// ---------------------------------------------------------------------------------------------
// Publishers.

// publisher loops one input's pre-encoded clip into a track at 30 fps and records, per frame
// number, when the frame's last packet left (the input frame's arrival at the server, give or take
// the loopback's microseconds).
type publisher struct {
	input   int
	clip    [][]byte
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticRTP
	sender  *webrtc.RTPSender
	restart atomic.Bool                 // a PLI or FIR arrived: continue from the clip's key frame
	sent    [maxClipFrames]atomic.Int64 // frame number → UnixNano of its last packet's send
	frames  atomic.Int64                // frames sent
	bytes   atomic.Int64                // RTP payload bytes sent
	plis    atomic.Int64
}

func newPublisher(api *webrtc.API, input int, clip [][]byte) (*publisher, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", fmt.Sprintf("input%d", input))
	if err != nil {
		pc.Close()
		return nil, err
	}
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		pc.Close()
		return nil, err
	}
	return &publisher{input: input, clip: clip, pc: pc, track: track, sender: tr.Sender()}, nil
}

// readRTCP turns PLIs and FIRs into a restart from the key frame; it ends when pc closes.
func (p *publisher) readRTCP() {
	var last time.Time
	for {
		pkts, _, err := p.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.plis.Add(1)
				// The clip has one key frame per loop: restarting it is how this publisher
				// "encodes" one. At most one restart per 500 ms, as an encoder would rate-limit.
				if time.Since(last) > 500*time.Millisecond {
					last = time.Now()
					p.restart.Store(true)
				}
			}
		}
	}
}

// stream sends the clip in a loop at fps, starting at start, until stop closes.
func (p *publisher) stream(start time.Time, stop <-chan struct{}) {
	const clockRate = 90000
	pk := rtp.NewPacketizer(1200, 96, uint32(1000+p.input), &codecs.VP8Payloader{EnablePictureID: true},
		rtp.NewRandomSequencer(), clockRate)
	interval := time.Second / fps
	next := start
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for i := 0; ; i = (i + 1) % len(p.clip) {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		if p.restart.Swap(false) {
			i = 0
		}
		var payload int64
		for _, pkt := range pk.Packetize(p.clip[i], clockRate/fps) {
			if err := p.track.WriteRTP(pkt); err == nil {
				payload += int64(len(pkt.Payload))
			}
		}
		p.sent[i].Store(time.Now().UnixNano())
		p.frames.Add(1)
		p.bytes.Add(payload)
		next = next.Add(interval)
		if d := time.Until(next); d < -time.Second {
			next = time.Now() // descheduled for a long time: do not burst to catch up
		}
		timer.Reset(time.Until(next))
	}
}

// ---------------------------------------------------------------------------------------------
// Viewer: reassembles the output frames, notes when each one's first packet arrived, decodes them
// with vp8dec (in this process: its CPU is not the server's) and reads the stamps.

type frameMeta struct {
	arrival time.Time
	bytes   int
	window  bool // arrived while the window was open
}

type viewerRx struct {
	pubs  []*publisher
	cols  int
	rows  int
	clipN int

	mu       sync.Mutex
	open     bool
	arrivals map[uint32]time.Time // RTP timestamp → first packet's arrival
	meta     map[int64]frameMeta  // decoder input index → what it was
	next     int64                // next decoder input index
	keyed    bool                 // a key frame went to the decoder
	width    int
	height   int
	lastAt   time.Time // previous output frame's arrival (window gaps)

	// Window statistics.
	wFrames        int64
	wBytes         int64 // VP8 frame bytes (what the encoder's target-bitrate counts)
	wPayload       int64 // RTP payload bytes
	wPackets       int64
	wMaxGap        time.Duration
	wDecoded       int64
	wUnreadable    int64 // regions without a valid stamp
	lateUnreadable int64 // of those, in output frames after the second (tests)
	wLatencies     []time.Duration
	wUnmatched     int64 // stamps whose send time is unknown or implausible
	wShown         [inputs]int64
	wSkipped       [inputs]int64 // input frames never shown (the compositor took a newer one)
	lastNum        [inputs]int
	seen           [inputs]bool
	regionInputs   []int // input read in each region (-1: none yet)

	// Losses the viewer could not repair (NACK retransmissions included): a frame that does not
	// follow on from the previous one (RTP sequence numbers) breaks the decoder's references, so
	// the viewer stops decoding and asks for a key frame, as a browser does.
	haveSeq     bool
	lastSeq     uint16
	lostPackets int64 // since the start
	resyncs     int64 // key-frame waits after a loss, since the start
	wLost       int64 // in the window

	lastPic  []byte // last decoded picture (I420), for the set-up failure's snapshot
	lastPicW int
	lastPicH int

	anyPacket chan struct{}
	allSeen   chan struct{}
	once      sync.Once
	allOnce   sync.Once
	decErr    atomic.Value

	dec    *gst.Pipeline
	src    *gst.AppSrc
	sink   *gst.AppSink
	sb     *samplebuilder.SampleBuilder
	frameD time.Duration
}

func newViewerRx(pubs []*publisher, cols, rows, clipN int) (*viewerRx, error) {
	v := &viewerRx{pubs: pubs, cols: cols, rows: rows, clipN: clipN, arrivals: map[uint32]time.Time{}, meta: map[int64]frameMeta{},
		anyPacket: make(chan struct{}), allSeen: make(chan struct{}), frameD: time.Second / fps}
	v.regionInputs = make([]int, cols*rows)
	for i := range v.regionInputs {
		v.regionInputs[i] = -1
	}
	v.sb = samplebuilder.New(512, &codecs.VP8Packet{}, 90000, samplebuilder.WithRTPHeaders(true))
	p, err := gst.Parse("viewer-decode", "appsrc name=src format=time block=false max-bytes=20000000 caps=video/x-vp8 ! "+
		"vp8dec threads=1 ! video/x-raw,format=I420 ! appsink name=sink sync=false max-buffers=0", nil)
	if err != nil {
		return nil, err
	}
	els, err := p.Elements("src", "sink")
	if err != nil {
		p.Close()
		return nil, err
	}
	p.OnError(func(m gst.Message) { v.decErr.Store(m.Error()) })
	if err := p.Start(); err != nil {
		p.Close()
		return nil, err
	}
	// Not live: the pipeline reaches PLAYING once the first frame has prerolled.
	v.dec, v.src = p, gst.NewAppSrc(els[0])
	if v.sink, err = gst.RunAppSink(els[1], v.decoded); err != nil {
		p.Close()
		return nil, err
	}
	return v, nil
}

func (v *viewerRx) close() {
	if v.sink != nil {
		v.sink.Stop()
	}
	if v.dec != nil {
		v.dec.Close()
	}
}

// readTrack reads the output track until it ends; pc is used to ask for key frames.
func (v *viewerRx) readTrack(track *webrtc.TrackRemote, pc *webrtc.PeerConnection) {
	lastPLI := time.Time{}
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		if !v.packet(pkt, now) && now.Sub(lastPLI) > time.Second {
			lastPLI = now
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())}})
		}
	}
}

// packet takes one output RTP packet that arrived at now (v keeps it), hands complete frames to
// the decoder, and reports whether a key frame has reached the decoder yet.
func (v *viewerRx) packet(pkt *rtp.Packet, now time.Time) (keyed bool) {
	v.once.Do(func() { close(v.anyPacket) })
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.arrivals[pkt.Timestamp]; !ok {
		v.arrivals[pkt.Timestamp] = now
	}
	if v.open {
		v.wPackets++
		v.wPayload += int64(len(pkt.Payload))
	}
	v.sb.Push(pkt)
	for s := v.sb.Pop(); s != nil; s = v.sb.Pop() {
		at, ok := v.arrivals[s.PacketTimestamp]
		if !ok {
			at = now
		}
		v.checkLoss(s)
		if !v.keyed {
			w, h, ok := keyframeSize(s.Data)
			if !ok {
				continue
			}
			v.keyed, v.width, v.height = true, w, h
		}
		m := frameMeta{arrival: at, bytes: len(s.Data), window: v.open}
		if v.open {
			v.wFrames++
			v.wBytes += int64(len(s.Data))
			if !v.lastAt.IsZero() {
				v.wMaxGap = max(v.wMaxGap, at.Sub(v.lastAt))
			}
		}
		v.lastAt = at
		k := v.next
		v.next++
		v.meta[k] = m
		// PTS = index × frame duration: the decoder keeps it, which maps a picture back here.
		_ = v.src.PushTimed(s.Data, time.Duration(k)*v.frameD, v.frameD)
	}
	// Forget arrivals of frames long gone.
	if len(v.arrivals) > 256 {
		for ts, at := range v.arrivals {
			if now.Sub(at) > 2*time.Second {
				delete(v.arrivals, ts)
			}
		}
	}
	return v.keyed
}

// checkLoss counts packets missing before sample s (v.mu held): a gap in the sequence numbers
// between consecutive samples, or packets the sample builder gave up on. After a loss the decoder
// gets nothing until the next key frame (readTrack asks for one).
func (v *viewerRx) checkLoss(s *media.Sample) {
	lost := int64(s.PrevDroppedPackets)
	if hs := s.RTPHeaders; len(hs) > 0 {
		first := hs[0].SequenceNumber
		if gap := first - v.lastSeq - 1; v.haveSeq && gap != 0 && gap < 0x8000 {
			lost += int64(gap)
		}
		if last := hs[len(hs)-1].SequenceNumber; !v.haveSeq || last-v.lastSeq < 0x8000 {
			v.haveSeq, v.lastSeq = true, last // (never backwards)
		}
	}
	if lost == 0 {
		return
	}
	v.lostPackets += lost
	if v.open {
		v.wLost += lost
	}
	if v.keyed {
		v.keyed = false
		v.resyncs++
	}
}

// decoded handles one decoded picture (appsink goroutine).
func (v *viewerRx) decoded(s gst.Sample) {
	k := int64((s.PTS + v.frameD/2) / v.frameD)
	v.mu.Lock()
	defer v.mu.Unlock()
	m, ok := v.meta[k]
	if !ok {
		return
	}
	for j := range v.meta {
		if j <= k {
			delete(v.meta, j)
		}
	}
	w, h := v.width, v.height
	stride := (w + 3) &^ 3
	if w == 0 || len(s.Data) < stride*h {
		return
	}
	v.lastPic, v.lastPicW, v.lastPicH = s.Data[:stride*h], stride, h // Data is Go memory, not reused
	if m.window {
		v.wDecoded++
	}
	for q, reg := range gridRegions(w, h, v.cols, v.rows) {
		input, num, ok := readStamp(s.Data, w, h, stride, reg)
		if !ok || input >= len(v.pubs) || num >= v.clipN {
			if k >= 2 {
				v.lateUnreadable++
			}
			if m.window {
				v.wUnreadable++
			}
			continue
		}
		v.regionInputs[q] = input
		if !v.seen[input] {
			v.seen[input] = true
			v.lastNum[input] = num
			all := true
			for i := range v.pubs {
				all = all && v.seen[i]
			}
			if all {
				v.allOnce.Do(func() { close(v.allSeen) })
			}
			continue
		}
		if num == v.lastNum[input] {
			continue
		}
		// The first output frame that shows input frame num.
		if m.window {
			v.wShown[input]++
			if skipped := (num - v.lastNum[input] - 1 + v.clipN) % v.clipN; num != 0 {
				v.wSkipped[input] += int64(skipped) // (a jump to 0 is a restart on a PLI, not a skip)
			}
			sent := v.pubs[input].sent[num].Load()
			lat := m.arrival.Sub(time.Unix(0, sent))
			if sent == 0 || lat < -time.Second || lat > 3*time.Second { // (< 0: forwarded before its last packet left, loopback mode)
				v.wUnmatched++
			} else {
				v.wLatencies = append(v.wLatencies, lat)
			}
		}
		v.lastNum[input] = num
	}
}

func (v *viewerRx) setOpen(open bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.open = open
	if open {
		v.wFrames, v.wBytes, v.wPayload, v.wPackets, v.wMaxGap = 0, 0, 0, 0, 0
		v.wDecoded, v.wUnreadable, v.wUnmatched, v.wLost = 0, 0, 0, 0
		v.wLatencies = v.wLatencies[:0]
		v.wShown, v.wSkipped = [inputs]int64{}, [inputs]int64{}
		v.lastAt = time.Time{}
	}
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return -1
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortDurations(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }

var errNoMedia = errors.New("no output media")

// drainViewer is an extra viewer of the Composite's output: a pion peer whose endpoint is fed by
// port, counting the RTP payload it receives and nothing more.
type drainViewer struct {
	pc    *webrtc.PeerConnection
	bytes atomic.Int64
}

func newDrainViewer(ctx context.Context, api *webrtc.API, k *kurento.Client, port string) (*drainViewer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	d := &drainViewer{pc: pc}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		pc.Close()
		return nil, err
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		go func() {
			for {
				p, _, err := t.ReadRTP()
				if err != nil {
					return
				}
				d.bytes.Add(int64(len(p.Payload)))
			}
		}()
	})
	if _, err := k.Negotiate(ctx, pc, func(ep string) error { return k.Connect(ctx, port, ep) }); err != nil {
		pc.Close()
		return nil, err
	}
	return d, nil
}

func (d *drainViewer) close() { _ = d.pc.Close() }
