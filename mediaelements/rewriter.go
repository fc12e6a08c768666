package mediaelements

import (
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/pion/rtp"
)

// rewriter keeps an input's outgoing stream continuous: one SSRC, and
// sequence numbers and timestamps that carry on across a change of source
// (or a source restarting its own numbering), so receivers never
// renegotiate or drop packets as duplicates.
type rewriter struct {
	ssrc     uint32
	started  bool
	switched bool // the next packet starts a new upstream segment

	inSSRC    uint32
	seqOffset uint16
	tsOffset  uint32

	lastSeq  uint16 // last written
	lastTS   uint32
	lastWall time.Time
	maxSeq   uint16 // highest written (for out-of-order packets within a segment)
}

func randomSSRC() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:]) | 1
}

// rewriteAt maps an upstream header onto this input's stream;
// now is when the packet is handled (read once per packet by the Output).
func (r *rewriter) rewriteAt(h *rtp.Header, clock uint32, now time.Time) {
	if !r.started {
		r.started = true
		r.inSSRC = h.SSRC
		r.switched = false
		r.seqOffset, r.tsOffset = 0, 0
	} else if r.switched || h.SSRC != r.inSSRC {
		// A new segment: continue one packet after the last one, and move
		// the timestamp on by the wall time since the last packet.
		r.switched = false
		r.inSSRC = h.SSRC
		r.seqOffset = r.maxSeq + 1 - h.SequenceNumber
		elapsed := now.Sub(r.lastWall)
		if elapsed < time.Millisecond {
			elapsed = time.Millisecond
		}
		step := uint32(elapsed.Seconds() * float64(clock))
		r.tsOffset = r.lastTS + step - h.Timestamp
	}
	h.SSRC = r.ssrc
	h.SequenceNumber += r.seqOffset
	h.Timestamp += r.tsOffset
	if int16(h.SequenceNumber-r.maxSeq) > 0 || !r.startedWrite() {
		r.maxSeq = h.SequenceNumber
	}
	r.lastSeq, r.lastTS, r.lastWall = h.SequenceNumber, h.Timestamp, now
}

func (r *rewriter) startedWrite() bool { return !r.lastWall.IsZero() }
