package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// Test picture: 1280×720 I420, a panning texture, a bouncing ball and fresh low-amplitude noise in
// every frame. The noise makes the picture expensive to code, so a CBR encoder spends its whole
// budget on every frame and the stream has the bitrate asked for.
const (
	picW = 1280
	picH = 720
)

// writeY4M writes frames frames of the test picture at 30 fps as YUV4MPEG2 to w.
func writeY4M(w io.Writer, frames int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\n", picW, picH); err != nil {
		return err
	}
	texture := make([]byte, picW*picH)
	seed := uint32(2463534242)
	rnd := func() uint32 { // xorshift32: deterministic, so the cached file is reproducible
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		return seed
	}
	for i := range texture {
		texture[i] = byte(64 + rnd()%128)
	}
	y := make([]byte, picW*picH)
	u := make([]byte, picW*picH/4)
	v := make([]byte, picW*picH/4)
	bx, by, vx, vy := 200, 150, 9, 6
	const r = 60
	for f := 0; f < frames; f++ {
		ox, oy := (f*3)%picW, (f*2)%picH
		for row := 0; row < picH; row++ {
			src := texture[((row+oy)%picH)*picW:]
			dst := y[row*picW : (row+1)*picW]
			for col := range dst {
				n := int(rnd()%13) - 6
				p := int(src[(col+ox)%picW]) + n
				dst[col] = byte(min(max(p, 16), 235))
			}
		}
		for row := 0; row < picH/2; row++ {
			for col := 0; col < picW/2; col++ {
				u[row*picW/2+col] = byte(96 + (col+f)%64)
				v[row*picW/2+col] = byte(96 + (row+2*f)%64)
			}
		}
		for row := max(by-r, 0); row < min(by+r, picH); row++ {
			for col := max(bx-r, 0); col < min(bx+r, picW); col++ {
				if dx, dy := col-bx, row-by; dx*dx+dy*dy <= r*r {
					y[row*picW+col] = 235
					u[(row/2)*picW/2+col/2] = 90
					v[(row/2)*picW/2+col/2] = 240
				}
			}
		}
		bx, by = bx+vx, by+vy
		if bx < r || bx > picW-r {
			vx = -vx
		}
		if by < r || by > picH-r {
			vy = -vy
		}
		for _, plane := range [][]byte{[]byte("FRAME\n"), y, u, v} {
			if _, err := bw.Write(plane); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// clip is a VP8 elementary stream held in memory.
type clip struct {
	frames [][]byte
	fps    float64
	bytes  int
}

func (c *clip) kbps() float64 {
	return float64(c.bytes) * 8 * c.fps / float64(len(c.frames)) / 1000
}

func loadIVF(path string) (*clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, hdr, err := ivfreader.NewWith(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	if hdr.FourCC != "VP80" {
		return nil, fmt.Errorf("%s: codec %q, want VP80", path, hdr.FourCC)
	}
	// The header's time base is that of the frame timestamps (vpxenc writes 1/1000), not a frame
	// rate: the clip is made at 30 fps.
	c := &clip{fps: 30}
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		c.frames = append(c.frames, frame)
		c.bytes += len(frame)
	}
	if len(c.frames) == 0 {
		return nil, fmt.Errorf("%s: no frames", path)
	}
	if c.frames[0][0]&1 != 0 {
		return nil, fmt.Errorf("%s: first frame is not a key frame", path)
	}
	return c, nil
}

// pubCounters counts what the publisher sent while the measurement window was open.
type pubCounters struct {
	packets atomic.Int64
	payload atomic.Int64 // RTP payload bytes
}

// Pacing, as a WebRTC sender's pacer does it (libwebrtc: 2.5 × the target bitrate, 5 ms bursts):
// without it a key frame (the clip's first is 200 kB) leaves as one burst of ~170 packets, more than a
// default-sized UDP receive buffer holds.
const (
	pacingFactor = 2.5
	pacingBurst  = 5 * time.Millisecond
)

// streamClip loops the clip into track at its frame rate until stop closes, packetized with pion's
// VP8 payloader (MTU 1200) and paced. While sending reports false it sends nothing (the RTP clock
// runs on) and starts again from the clip's first frame, a key frame. While measuring reports true,
// sent packets and payload bytes go to cnt.
func streamClip(c *clip, track *webrtc.TrackLocalStaticRTP, sending, measuring func() bool, cnt *pubCounters, stop <-chan struct{}) {
	const clockRate = 90000
	pk := rtp.NewPacketizer(1200, 96, 1, &codecs.VP8Payloader{EnablePictureID: true},
		rtp.NewRandomSequencer(), clockRate)
	interval := time.Duration(float64(time.Second) / c.fps)
	samples := uint32(clockRate / c.fps)
	perByte := time.Duration(float64(time.Second) * 8 / (pacingFactor * c.kbps() * 1000))
	wait := func(until time.Time) bool {
		d := time.Until(until)
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-stop:
			return false
		case <-t.C:
			return true
		}
	}
	next := time.Now()  // when the next frame is due
	paced := time.Now() // when the pacer has sent everything queued so far
	for i := 0; ; i = (i + 1) % len(c.frames) {
		if !wait(next) {
			return
		}
		next = next.Add(interval)
		if time.Since(next) > time.Second {
			next = time.Now() // stalled (the load generator was descheduled): do not burst to catch up
		}
		if !sending() {
			pk.SkipSamples(samples)
			i = -1
			continue
		}
		for _, p := range pk.Packetize(c.frames[i], samples) {
			if now := time.Now(); paced.Before(now) {
				paced = now
			}
			if !wait(paced.Add(-pacingBurst)) {
				return
			}
			paced = paced.Add(time.Duration(p.MarshalSize()) * perByte)
			if err := track.WriteRTP(p); err != nil {
				continue
			}
			if measuring() {
				cnt.packets.Add(1)
				cnt.payload.Add(int64(len(p.Payload)))
			}
		}
	}
}
