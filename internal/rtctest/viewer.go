package rtctest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/miksilo/miksilo/internal/gst"
	"github.com/miksilo/miksilo/internal/ntp"
)

// ViewerConfig describes how a viewer decodes.
type ViewerConfig struct {
	// Width×Height is the size decoded frames are scaled to (RGB24; Width
	// a multiple of 4 so rows need no padding). Default 320×240.
	Width, Height int
}

// Frame is one decoded picture.
type Frame struct {
	Width, Height int
	RGB           []byte // Width×Height×3, row by row
	At            time.Time
	N             int // frames decoded before this one
}

// Pixel returns the colour of pixel (x, y) as 0xRRGGBB.
func (f Frame) Pixel(x, y int) uint32 {
	i := (y*f.Width + x) * 3
	return uint32(f.RGB[i])<<16 | uint32(f.RGB[i+1])<<8 | uint32(f.RGB[i+2])
}

// Mean is the average colour of the rectangle (x, y, w, h) as 0xRRGGBB.
func (f Frame) Mean(x, y, w, h int) uint32 {
	var r, g, b, n int
	for j := y; j < y+h; j++ {
		for i := x; i < x+w; i++ {
			k := (j*f.Width + i) * 3
			r, g, b, n = r+int(f.RGB[k]), g+int(f.RGB[k+1]), b+int(f.RGB[k+2]), n+1
		}
	}
	if n == 0 {
		return 0
	}
	return uint32(r/n)<<16 | uint32(g/n)<<8 | uint32(b/n)
}

// Near reports whether two 0xRRGGBB colours differ by at most tol in every
// channel (codecs do not keep colours exact).
func Near(a, b uint32, tol int) bool {
	for s := 0; s < 24; s += 8 {
		d := int(a>>s&0xff) - int(b>>s&0xff)
		if d < -tol || d > tol {
			return false
		}
	}
	return true
}

// VideoStats describe the video RTP a viewer received.
type VideoStats struct {
	Packets, Frames int
	Codec           string
	Lost            int           // sequence numbers never seen (gaps)
	MaxFrameGap     time.Duration // largest arrival time between two consecutive frames (marker packets)
	MaxTSGap        uint32        // largest RTP timestamp step between consecutive frames
	TSBackwards     int           // frames whose RTP timestamp went backwards
	First, Last     time.Time
}

// Viewer receives the remote's media; video is decoded to frames.
type Viewer struct {
	cfg  ViewerConfig
	peer *Peer

	mu        sync.Mutex
	frames    int
	latest    Frame
	notify    chan struct{}
	stats     VideoStats
	lastSeq   int
	lastTS    uint32
	lastMark  time.Time
	gapFrom   time.Time // MaxFrameGap counts from here on (ResetGaps)
	audioPkts int
	// Per kind: the last sender report, and how long before its arrival
	// each recent packet's media was sampled by that report (ClockLag).
	reports map[webrtc.RTPCodecType]*rtcp.SenderReport
	lags    map[webrtc.RTPCodecType][]time.Duration

	gotFrame atomic.Bool
	closed   chan struct{}
}

// AddViewer adds receive-only audio and video transceivers to the peer (for
// the next offer) and decodes the video that arrives.
func (p *Peer) AddViewer(cfg ViewerConfig) (*Viewer, error) {
	if cfg.Width == 0 {
		cfg.Width, cfg.Height = 320, 240
	}
	v := &Viewer{cfg: cfg, peer: p, notify: make(chan struct{}), lastSeq: -1, closed: make(chan struct{}),
		reports: map[webrtc.RTPCodecType]*rtcp.SenderReport{}, lags: map[webrtc.RTPCodecType][]time.Duration{}}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := p.PC.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, err
		}
	}
	p.onClose(func() { close(v.closed) })
	p.PC.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		p.spawn(func() { v.readReports(tr, r) })
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			p.spawn(func() { v.readAudio(tr) })
			return
		}
		p.spawn(func() { v.readVideo(tr) })
	})
	return v, nil
}

// DecoderLaunch is the viewer's decoding pipeline for a codec.
func DecoderLaunch(mime string, pt uint8, width, height int) (string, error) {
	var enc, dec string
	switch strings.ToLower(mime) {
	case "video/vp8":
		enc, dec = "VP8", "rtpvp8depay wait-for-keyframe=true request-keyframe=true ! vp8dec"
	case "video/h264":
		enc, dec = "H264", "rtph264depay wait-for-keyframe=true request-keyframe=true ! h264parse ! avdec_h264"
	default:
		return "", fmt.Errorf("rtctest: viewer cannot decode %s", mime)
	}
	return fmt.Sprintf("appsrc name=src is-live=true format=time do-timestamp=true block=false max-bytes=2000000 "+
		"caps=\"application/x-rtp,media=video,clock-rate=90000,encoding-name=%s,payload=%d\" ! %s ! videoconvert ! videoscale ! "+
		"video/x-raw,format=RGB,width=%d,height=%d,pixel-aspect-ratio=1/1 ! appsink name=out sync=false", enc, pt, dec, width, height), nil
}

func (v *Viewer) readAudio(tr *webrtc.TrackRemote) {
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		v.mu.Lock()
		v.audioPkts++
		v.lag(tr, p.Timestamp, now)
		v.mu.Unlock()
	}
}

// readReports keeps the last sender report about tr.
func (v *Viewer) readReports(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	for {
		pkts, _, err := r.ReadRTCP()
		if err != nil {
			return
		}
		for _, k := range pkts {
			if sr, ok := k.(*rtcp.SenderReport); ok && sr.SSRC == uint32(tr.SSRC()) {
				v.mu.Lock()
				v.reports[tr.Kind()] = sr
				v.mu.Unlock()
			}
		}
	}
}

// lag records, once a sender report is known, how long before now the
// media of timestamp ts was sampled according to that report (v.mu held).
func (v *Viewer) lag(tr *webrtc.TrackRemote, ts uint32, now time.Time) {
	sr := v.reports[tr.Kind()]
	rate := tr.Codec().ClockRate
	if sr == nil || rate == 0 {
		return
	}
	sampled := ntp.Time(sr.NTPTime).Add(time.Duration(float64(int32(ts-sr.RTPTime)) / float64(rate) * float64(time.Second)))
	l := append(v.lags[tr.Kind()], now.Sub(sampled))
	if len(l) > 200 {
		l = l[len(l)-200:]
	}
	v.lags[tr.Kind()] = l
}

// ClockLag is the median, over the last (up to 200) packets of a kind, of
// the time between when the sender's reports say a packet's media was
// sampled and when the packet arrived, and how many packets it covers
// (0 before the first sender report). Receivers line up audio and video
// by those reports: the two kinds' lags differ by how much later one of
// them is played to keep them in sync.
func (v *Viewer) ClockLag(kind webrtc.RTPCodecType) (time.Duration, int) {
	v.mu.Lock()
	l := slices.Clone(v.lags[kind])
	v.mu.Unlock()
	if len(l) == 0 {
		return 0, 0
	}
	slices.Sort(l)
	return l[len(l)/2], len(l)
}

func (v *Viewer) readVideo(tr *webrtc.TrackRemote) {
	c := tr.Codec()
	desc, err := DecoderLaunch(c.MimeType, uint8(c.PayloadType), v.cfg.Width, v.cfg.Height)
	if err != nil {
		return
	}
	pipe, err := gst.Parse("rtctest-viewer", desc, nil)
	if err != nil {
		return
	}
	defer pipe.Close()
	els, err := pipe.Elements("src", "out")
	if err != nil || pipe.Start() != nil {
		return
	}
	sink, err := gst.RunAppSink(els[1], v.onFrame)
	if err != nil {
		return
	}
	defer sink.Stop()
	src := gst.NewAppSrc(els[0])
	v.mu.Lock()
	v.stats.Codec = c.MimeType
	v.mu.Unlock()
	ssrc := uint32(tr.SSRC())
	v.peer.spawn(func() { v.askKeyframes(ssrc) })
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		now := time.Now()
		v.count(&pkt, now)
		v.mu.Lock()
		v.lag(tr, pkt.Timestamp, now)
		v.mu.Unlock()
		_ = src.Push(buf[:n])
	}
}

// askKeyframes sends PLI until the first frame is decoded.
func (v *Viewer) askKeyframes(ssrc uint32) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for !v.gotFrame.Load() {
		_ = v.peer.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		select {
		case <-v.closed:
			return
		case <-t.C:
		}
	}
}

func (v *Viewer) count(p *rtp.Packet, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := &v.stats
	s.Packets++
	if s.First.IsZero() {
		s.First = now
	}
	s.Last = now
	if v.lastSeq >= 0 {
		if d := int(p.SequenceNumber - uint16(v.lastSeq)); d > 1 && d < 1000 {
			s.Lost += d - 1
		}
	}
	v.lastSeq = int(p.SequenceNumber)
	if !p.Marker {
		return
	}
	if s.Frames > 0 {
		if d := int32(p.Timestamp - v.lastTS); d < 0 {
			s.TSBackwards++
		} else if uint32(d) > s.MaxTSGap {
			s.MaxTSGap = uint32(d)
		}
		if !v.lastMark.Before(v.gapFrom) {
			if g := now.Sub(v.lastMark); g > s.MaxFrameGap {
				s.MaxFrameGap = g
			}
		}
	}
	s.Frames++
	v.lastTS = p.Timestamp
	v.lastMark = now
}

func (v *Viewer) onFrame(s gst.Sample) {
	if len(s.Data) != v.cfg.Width*v.cfg.Height*3 {
		return
	}
	v.gotFrame.Store(true)
	v.mu.Lock()
	v.latest = Frame{Width: v.cfg.Width, Height: v.cfg.Height, RGB: s.Data, At: time.Now(), N: v.frames}
	v.frames++
	close(v.notify)
	v.notify = make(chan struct{})
	v.mu.Unlock()
}

// ErrTimeout is returned by the Wait functions at their deadline.
var ErrTimeout = errors.New("rtctest: timed out")

// WaitFrame waits for a decoded frame, received after since, for which cond
// holds (nil: any), and returns it; on timeout it returns the latest frame
// and ErrTimeout.
func (v *Viewer) WaitFrame(since time.Time, timeout time.Duration, cond func(Frame) bool) (Frame, error) {
	deadline := time.After(timeout)
	for {
		v.mu.Lock()
		f, ch, n := v.latest, v.notify, v.frames
		v.mu.Unlock()
		if n > 0 && !f.At.Before(since) && (cond == nil || cond(f)) {
			return f, nil
		}
		select {
		case <-ch:
		case <-deadline:
			return f, ErrTimeout
		case <-v.closed:
			return f, errors.New("rtctest: viewer closed")
		}
	}
}

// Frames is the number of decoded frames so far.
func (v *Viewer) Frames() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.frames
}

// Stats returns the received video's statistics.
func (v *Viewer) Stats() VideoStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stats
}

// ResetGaps restarts the MaxFrameGap measurement (e.g. after start-up).
func (v *Viewer) ResetGaps() {
	v.mu.Lock()
	v.stats.MaxFrameGap = 0
	v.gapFrom = time.Now()
	v.mu.Unlock()
}

// AudioPackets is the number of audio RTP packets received.
func (v *Viewer) AudioPackets() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.audioPkts
}
