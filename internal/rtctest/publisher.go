package rtctest

import (
	"errors"
	"fmt"
	"sync/atomic"

	gogst "github.com/go-gst/go-gst/gst"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/miksilo/miksilo/internal/gst"
)

// PublisherConfig describes what a publisher sends.
type PublisherConfig struct {
	Width, Height, FPS int    // default 160×120 at 15 fps
	Color              uint32 // 0xRRGGBB: a solid-colour picture (unless Pattern or RawFrames)
	Pattern            string // a videotestsrc pattern name instead of a solid colour (e.g. "smpte")
	RawFrames          bool   // pictures come from PushFrame (RGB24, Width×Height) instead
	Codec              string // "VP8" (default) or "H264" (constrained baseline, packetization-mode 1)
	Bitrate            int    // target, bits per second (default 300 000)
	Audio              bool   // also send Opus (a sine of AudioFreq Hz)
	AudioFreq          float64
}

// Publisher sends GStreamer-encoded VP8 or H.264 (and Opus) to the remote
// peer. Keyframes are sent at the start, on PLI/FIR and on Resume only.
type Publisher struct {
	cfg    PublisherConfig
	pipe   *gst.Pipeline
	raw    *gst.AppSrc
	enc    *gogst.Element
	video  *webrtc.TrackLocalStaticRTP
	audio  *webrtc.TrackLocalStaticRTP
	paused atomic.Bool

	// VideoPackets and AudioPackets count what was written to the tracks;
	// KeyframeRequests counts PLI/FIR from the remote.
	VideoPackets, AudioPackets, KeyframeRequests atomic.Uint64
}

func (c *PublisherConfig) defaults() {
	if c.Width == 0 {
		c.Width = 160
	}
	if c.Height == 0 {
		c.Height = 120
	}
	if c.FPS == 0 {
		c.FPS = 15
	}
	if c.Bitrate == 0 {
		c.Bitrate = 300_000
	}
	if c.AudioFreq == 0 {
		c.AudioFreq = 440
	}
}

// PublisherLaunch is the publisher's gst-launch description.
func PublisherLaunch(c PublisherConfig) string {
	c.defaults()
	caps := fmt.Sprintf("video/x-raw,width=%d,height=%d,framerate=%d/1", c.Width, c.Height, c.FPS)
	var src string
	switch {
	case c.RawFrames:
		src = fmt.Sprintf("appsrc name=raw is-live=true format=time do-timestamp=true block=false max-bytes=%d caps=%s,format=RGB", c.Width*c.Height*3*4, caps)
	case c.Pattern != "":
		src = fmt.Sprintf("videotestsrc is-live=true pattern=%s ! %s", c.Pattern, caps)
	default:
		src = fmt.Sprintf("videotestsrc is-live=true pattern=solid-color foreground-color=%d ! %s", 0xff000000|c.Color, caps)
	}
	d := src + fmt.Sprintf(" ! videoconvert ! vp8enc name=enc deadline=1 cpu-used=16 end-usage=cbr target-bitrate=%d lag-in-frames=0 "+
		"error-resilient=default keyframe-max-dist=100000 threads=1 ! rtpvp8pay pt=96 mtu=1200 picture-id-mode=15-bit ! appsink name=vout sync=false", c.Bitrate)
	if c.Codec == "H264" {
		d = src + fmt.Sprintf(" ! videoconvert ! x264enc name=enc tune=zerolatency speed-preset=ultrafast bitrate=%d key-int-max=100000 threads=1 ! "+
			"video/x-h264,profile=constrained-baseline,stream-format=byte-stream ! rtph264pay pt=102 mtu=1200 config-interval=-1 aggregate-mode=zero-latency ! "+
			"appsink name=vout sync=false", c.Bitrate/1000)
	}
	if c.Audio {
		d += fmt.Sprintf(" audiotestsrc is-live=true wave=sine freq=%g volume=0.3 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! "+
			"opusenc frame-size=20 ! rtpopuspay pt=111 ! appsink name=aout sync=false", c.AudioFreq)
	}
	return d
}

// AddPublisher adds send-only VP8 (and Opus) tracks to the peer, to be
// negotiated by the next offer, and starts encoding. Packets flow to the
// remote once connected.
func (p *Peer) AddPublisher(cfg PublisherConfig) (*Publisher, error) {
	cfg.defaults()
	pub := &Publisher{cfg: cfg}
	var err error
	vcap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	if cfg.Codec == "H264" {
		vcap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	}
	pub.video, err = webrtc.NewTrackLocalStaticRTP(vcap, "video", "rtctest")
	if err != nil {
		return nil, err
	}
	tracks := []*webrtc.TrackLocalStaticRTP{pub.video}
	if cfg.Audio {
		pub.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "rtctest")
		if err != nil {
			return nil, err
		}
		tracks = append(tracks, pub.audio)
	}
	for _, tr := range tracks {
		s, err := p.PC.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		sender := s.Sender()
		p.spawn(func() { pub.readRTCP(sender) })
	}
	pipe, err := gst.Parse("rtctest-publisher", PublisherLaunch(cfg), nil)
	if err != nil {
		return nil, err
	}
	pub.pipe = pipe
	enc, err := pipe.Element("enc")
	if err != nil {
		pipe.Close()
		return nil, err
	}
	pub.enc = enc
	if cfg.RawFrames {
		raw, err := pipe.Element("raw")
		if err != nil {
			pipe.Close()
			return nil, err
		}
		pub.raw = gst.NewAppSrc(raw)
	}
	if err := pipe.Start(); err != nil {
		pipe.Close()
		return nil, err
	}
	var sinks []*gst.AppSink
	run := func(name string, fn func(gst.Sample)) error {
		el, err := pipe.Element(name)
		if err != nil {
			return err
		}
		s, err := gst.RunAppSink(el, fn)
		if err == nil {
			sinks = append(sinks, s)
		}
		return err
	}
	err = run("vout", func(s gst.Sample) { pub.write(pub.video, &pub.VideoPackets, s) })
	if err == nil && cfg.Audio {
		err = run("aout", func(s gst.Sample) { pub.write(pub.audio, &pub.AudioPackets, s) })
	}
	if err != nil {
		for _, s := range sinks {
			s.Stop()
		}
		pipe.Close()
		return nil, err
	}
	p.onClose(func() {
		for _, s := range sinks {
			s.Stop()
		}
		pipe.Close()
	})
	return pub, nil
}

func (pub *Publisher) write(tr *webrtc.TrackLocalStaticRTP, n *atomic.Uint64, s gst.Sample) {
	if pub.paused.Load() {
		return
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(s.Data); err != nil {
		return
	}
	if tr.WriteRTP(&pkt) == nil {
		n.Add(1)
	}
}

func (pub *Publisher) readRTCP(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, k := range pkts {
			switch k.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				pub.KeyframeRequests.Add(1)
				gst.ForceKeyUnit(pub.enc)
			}
		}
	}
}

// Pause stops sending (the encoder keeps running; the connection stays up).
func (pub *Publisher) Pause() { pub.paused.Store(true) }

// Resume sends again, starting with a keyframe.
func (pub *Publisher) Resume() {
	gst.ForceKeyUnit(pub.enc)
	pub.paused.Store(false)
}

// ErrNotRaw is returned by PushFrame on a publisher without RawFrames.
var ErrNotRaw = errors.New("rtctest: publisher was not configured with RawFrames")

// PushFrame queues one RGB24 picture (Width×Height×3 bytes, Width a
// multiple of 4 so rows need no padding) for encoding.
func (pub *Publisher) PushFrame(rgb []byte) error {
	if pub.raw == nil {
		return ErrNotRaw
	}
	if len(rgb) != pub.cfg.Width*pub.cfg.Height*3 {
		return fmt.Errorf("rtctest: frame of %d bytes, want %d", len(rgb), pub.cfg.Width*pub.cfg.Height*3)
	}
	return pub.raw.Push(rgb)
}

// SolidRGB is a Width×Height RGB24 picture of one colour (0xRRGGBB).
func SolidRGB(width, height int, color uint32) []byte {
	b := make([]byte, width*height*3)
	for i := 0; i < len(b); i += 3 {
		b[i], b[i+1], b[i+2] = byte(color>>16), byte(color>>8), byte(color)
	}
	return b
}
