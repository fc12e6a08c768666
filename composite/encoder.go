package composite

import (
	"fmt"
	"strings"
)

// Codec names accepted by the Composite's codec parameter.
const (
	CodecVP8  = "VP8"
	CodecH264 = "H264"
)

// Payload types of the Composite's output.
const (
	PayloadVP8  = 96
	PayloadH264 = 102
)

// RTPMTU is the payloaders' MTU (bytes of an RTP packet).
const RTPMTU = 1200

// VideoEncoderLaunch is the gst-launch fragment of the Composite's encoder
// for codec ("VP8" or "H264"), bitrate (bits per second) and framerate,
// from raw video in to encoded video out (no payloader). The encoder element
// is named "enc". The benchmark runs gst-launch with exactly this fragment.
func VideoEncoderLaunch(codec string, bitrate, framerate int) string {
	if framerate <= 0 {
		framerate = 15
	}
	switch strings.ToUpper(codec) {
	case CodecH264:
		kbps := bitrate / 1000
		if kbps < 1 {
			kbps = 1
		}
		// key-int-max large: keyframes come on request (force-key-unit).
		return fmt.Sprintf("x264enc name=enc tune=zerolatency speed-preset=ultrafast bitrate=%d vbv-buf-capacity=1000 key-int-max=%d threads=2 ! "+
			"video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au", kbps, framerate*60)
	default:
		// threads=1: libvpx's encoder threads spin-wait on each other; with fewer free CPUs than
		// threads (a server pinned to one CPU, or a busy machine) that burned ~11× the CPU
		// (bench/composite: 32.8 vs 2.8 CPU-s for 10 s of 4-input 720p30 output on one CPU).
		return fmt.Sprintf("vp8enc name=enc deadline=1 cpu-used=16 end-usage=cbr target-bitrate=%d lag-in-frames=0 error-resilient=default "+
			"keyframe-max-dist=%d threads=1 buffer-size=1000 buffer-initial-size=500 buffer-optimal-size=600", bitrate, framerate*60)
	}
}

// VideoPayloaderLaunch is the gst-launch fragment of the RTP payloader that
// follows VideoEncoderLaunch's encoder.
func VideoPayloaderLaunch(codec string) string {
	switch strings.ToUpper(codec) {
	case CodecH264:
		return fmt.Sprintf("rtph264pay name=pay pt=%d mtu=%d config-interval=-1 aggregate-mode=zero-latency", PayloadH264, RTPMTU)
	default:
		return fmt.Sprintf("rtpvp8pay name=pay pt=%d mtu=%d picture-id-mode=15-bit", PayloadVP8, RTPMTU)
	}
}
