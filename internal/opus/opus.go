// Package opus checks Opus packets (RFC 6716) before they reach a decoder.
package opus

// Valid reports whether payload is a well-formed Opus packet (RFC 6716
// §3.2, rules R1–R7), i.e. one libopus will not reject as
// OPUS_INVALID_PACKET. The Composite's audio mixer drops packets that are not: opusdec would
// fail on them and, worse, GStreamer's audio decoder keeps the timestamps
// of frames that failed, so every later buffer of that input would be
// stamped too early and dropped by the mixer as late. A dropped packet is a
// sequence gap for the jitter buffer, concealed by PLC.
func Valid(payload []byte) bool {
	if len(payload) < 1 { // R1
		return false
	}
	toc := payload[0]
	frame := frameSamples(toc >> 3)
	rest := payload[1:]
	switch toc & 3 {
	case 0: // one frame
		return len(rest) <= maxFrameBytes // R2
	case 1: // two frames of equal size
		return len(rest)%2 == 0 && len(rest)/2 <= maxFrameBytes // R3
	case 2: // two frames, the first's size coded
		n, used, ok := frameLength(rest)
		if !ok {
			return false
		}
		rest = rest[used:]
		return n <= len(rest) && len(rest)-n <= maxFrameBytes // R4
	}
	// Code 3: an arbitrary number of frames.
	if len(rest) < 1 { // R6/R7: needs the frame count byte
		return false
	}
	fc := rest[0]
	rest = rest[1:]
	vbr, padded, count := fc&0x80 != 0, fc&0x40 != 0, int(fc&0x3f)
	if count == 0 || count*frame > maxPacketSamples { // R5
		return false
	}
	if padded {
		pad := 0
		for {
			if len(rest) < 1 {
				return false
			}
			b := rest[0]
			rest = rest[1:]
			if b == 255 {
				pad += 254
				continue
			}
			pad += int(b)
			break
		}
		if pad > len(rest) {
			return false
		}
		rest = rest[:len(rest)-pad]
	}
	if !vbr { // R6
		return len(rest)%count == 0 && len(rest)/count <= maxFrameBytes
	}
	total := 0 // R7
	for i := 0; i < count-1; i++ {
		n, used, ok := frameLength(rest)
		if !ok {
			return false
		}
		rest = rest[used:]
		total += n
	}
	return total <= len(rest) && len(rest)-total <= maxFrameBytes
}

const (
	maxFrameBytes    = 1275
	maxPacketSamples = 5760 // 120 ms at 48 kHz
)

// frameSamples is the duration of one frame of a TOC configuration, in
// 48 kHz samples (RFC 6716 table 2).
func frameSamples(config byte) int {
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		return [4]int{480, 960, 1920, 2880}[config&3]
	case config < 16: // hybrid: 10, 20 ms
		return [2]int{480, 960}[config&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		return [4]int{120, 240, 480, 960}[config&3]
	}
}

// frameLength decodes a one- or two-byte frame length (RFC 6716 §3.2.1).
func frameLength(b []byte) (n, used int, ok bool) {
	if len(b) < 1 {
		return 0, 0, false
	}
	if b[0] < 252 {
		return int(b[0]), 1, true
	}
	if len(b) < 2 {
		return 0, 0, false
	}
	return int(b[0]) + 4*int(b[1]), 2, true
}
