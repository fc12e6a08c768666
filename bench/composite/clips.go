package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/miksilo/miksilo/bench/internal/gstcollect"
	"github.com/miksilo/miksilo/internal/gst"
)

const (
	inputs = 4
	fps    = 30
)

// Input clips: clipFrames frames per input, encoded once with vp8enc (CBR at inputBitrate, a key
// frame at the start only: the publishers loop the clip, and the loop point is that key frame).
const inputBitrate = 1_000_000

// clipVersion is in the cached clips' names: bump it when the pictures or their encoding change.
const clipVersion = 2

func clipPath(dir string, input int) string {
	return filepath.Join(dir, fmt.Sprintf("composite-v%d-in%d-640x360p30-vp8.ivf", clipVersion, input))
}

// makeClips encodes the inputs' clips into dir unless they are already there, and returns them.
func makeClips(dir string, frames int) ([][][]byte, error) {
	if frames < 2 || frames > maxClipFrames {
		return nil, fmt.Errorf("clip length %d frames: want 2…%d", frames, maxClipFrames)
	}
	out := make([][][]byte, inputs)
	for i := range out {
		p := clipPath(dir, i)
		if c, err := readIVF(p); err == nil && len(c) == frames {
			out[i] = c
			continue
		}
		c, err := encodeClip(i, frames)
		if err != nil {
			return nil, fmt.Errorf("encoding input %d: %w", i, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := writeIVFFile(p, c, frames); err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// writeIVFFile writes frames frames of clip (looped as needed) to path.
func writeIVFFile(path string, clip [][]byte, frames int) error {
	tmp := path + ".tmp"
	w, err := createIVF(tmp, inW, inH, fps)
	if err != nil {
		return err
	}
	for i := 0; i < frames; i++ {
		if err := w.write(clip[i%len(clip)]); err != nil {
			w.close()
			return err
		}
	}
	if err := w.close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// encodeClip renders frames pictures of one input and encodes them with vp8enc in this process.
func encodeClip(input, frames int) ([][]byte, error) {
	desc := fmt.Sprintf("appsrc name=src format=time block=true max-bytes=%d "+
		"caps=video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! "+
		"vp8enc deadline=1 cpu-used=4 threads=2 end-usage=cbr target-bitrate=%d lag-in-frames=0 "+
		"keyframe-max-dist=100000 undershoot=95 buffer-size=1000 buffer-initial-size=500 buffer-optimal-size=600 ! "+
		"appsink name=sink sync=false", 4*inW*inH*3/2, inW, inH, fps, inputBitrate)
	p, err := gst.Parse(fmt.Sprintf("encode-in%d", input), desc, nil)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	els, err := p.Elements("src", "sink")
	if err != nil {
		return nil, err
	}
	run, err := gstcollect.Start(p, els[1])
	if err != nil {
		return nil, err
	}
	defer run.Stop()
	src := gst.NewAppSrc(els[0])
	pic := newPicture(input)
	buf := make([]byte, inW*inH*3/2)
	dur := time.Second / fps
	for f := 0; f < frames; f++ {
		pic.frame(f, buf)
		if err := src.PushTimed(buf, time.Duration(f)*dur, dur); err != nil {
			return nil, err
		}
	}
	src.EndOfStream()
	out, err := run.Wait(time.Duration(frames)*dur+2*time.Minute, frames)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	if len(out) != frames {
		return nil, fmt.Errorf("encoder gave %d frames for %d pictures", len(out), frames)
	}
	if !isKeyframe(out[0]) {
		return nil, fmt.Errorf("first encoded frame is not a key frame")
	}
	return out, nil
}
