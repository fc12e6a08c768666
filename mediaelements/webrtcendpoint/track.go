package webrtcendpoint

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	me "github.com/miksilo/miksilo/mediaelements"
)

// forwardTrack is the local track of an endpoint's sender: it writes what
// arrives at the endpoint's sink pad (already rewritten by the media plane
// to one SSRC, continuous sequence numbers and timestamps, and the payload
// type the remote negotiated for the codec) to the remote peer. Unlike
// pion's TrackLocalStaticRTP it has no codec of its own: every codec
// negotiated on the m-line may pass, so a source may switch codec without
// renegotiation as long as the remote accepted it.
type forwardTrack struct {
	kind   webrtc.RTPCodecType
	id     string
	stream string
	// prefer is the codec currently arriving, if known (Bind reports it).
	prefer func() (me.Codec, bool)
	// onBind runs when the sender starts (DTLS up); it must not block.
	onBind func()

	b atomic.Pointer[trackBinding]
	// h is the scratch header of write: writes are serialised by the sink
	// pad, which runs its handler under its own lock.
	h rtp.Header

	// What getStats reports as sent (pion's statistics interceptor is
	// kept off the send path: see engine.go).
	packets, bytes atomic.Uint64

	// sent is the retransmission store of a video track: the last
	// len(sent) packets by sequence number. A NACK from the remote is
	// answered from it (on the RTX stream when negotiated), instead of by
	// pion's NACK responder, which copies every packet of every viewer
	// into a buffer of its own. Payloads are the source's, shared by all
	// its sinks and never modified after the source wrote them (see
	// mediaelements.Output.WriteRTP), so an entry is a header's worth of
	// fields and a slice.
	mu   sync.Mutex
	sent []sentPacket
}

type sentPacket struct {
	payload   []byte
	timestamp uint32
	seq       uint16
	pt        uint8
	marker    bool
	ok        bool
}

// retransmissionWindow is how many packets a video track can resend: 1024
// as pion's responder (≈ 4 s at 2 Mb/s).
const retransmissionWindow = 1024

type trackBinding struct {
	id   string
	ssrc uint32
	w    webrtc.TrackLocalWriter
	// rtxSSRC and rtxPT: the retransmission stream (RFC 4588) if the remote
	// negotiated RTX for the chosen codec, else 0.
	rtxSSRC uint32
	rtxPT   uint8
	rtxSeq  atomic.Uint32
}

func newForwardTrack(kind webrtc.RTPCodecType, stream string) *forwardTrack {
	t := &forwardTrack{kind: kind, id: kind.String(), stream: stream}
	if kind == webrtc.RTPCodecTypeVideo {
		t.sent = make([]sentPacket, retransmissionWindow)
	}
	return t
}

func (t *forwardTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	var chosen *webrtc.RTPCodecParameters
	want, known := me.Codec{}, false
	if t.prefer != nil {
		want, known = t.prefer()
	}
	for i := range codecs {
		c := &codecs[i]
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
			continue
		}
		if chosen == nil {
			chosen = c
		}
		if known && toCodec(*c).Same(want) {
			chosen = c
			break
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	b := &trackBinding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), w: ctx.WriteStream()}
	if rtx := uint32(ctx.SSRCRetransmission()); rtx != 0 {
		apt := fmt.Sprintf("apt=%d", chosen.PayloadType)
		for _, c := range codecs {
			if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && strings.Contains(c.SDPFmtpLine, apt) {
				b.rtxSSRC, b.rtxPT = rtx, uint8(c.PayloadType)
				b.rtxSeq.Store(rand.Uint32N(1 << 16)) // a random first sequence number (RFC 3550 §5.1)
				break
			}
		}
	}
	t.b.Store(b)
	if t.onBind != nil {
		t.onBind()
	}
	return *chosen, nil
}

func (t *forwardTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	if b := t.b.Load(); b != nil && b.id == ctx.ID() {
		t.b.CompareAndSwap(b, nil)
	}
	return nil
}

func (t *forwardTrack) ID() string                { return t.id }
func (t *forwardTrack) RID() string               { return "" }
func (t *forwardTrack) StreamID() string          { return t.stream }
func (t *forwardTrack) Kind() webrtc.RTPCodecType { return t.kind }

// write sends one packet from the sink pad. Header extensions and padding
// of the upstream peer are dropped (their ids belong to another session);
// pion's interceptors add this session's own.
func (t *forwardTrack) write(p *rtp.Packet) {
	b := t.b.Load()
	if b == nil || len(p.Payload) == 0 {
		return
	}
	t.h = p.Header
	t.h.SSRC = b.ssrc
	t.h.Padding, t.h.PaddingSize = false, 0
	t.h.Extension, t.h.ExtensionProfile, t.h.Extensions = false, 0, nil
	if t.sent != nil {
		t.mu.Lock()
		t.sent[t.h.SequenceNumber%retransmissionWindow] = sentPacket{payload: p.Payload, timestamp: t.h.Timestamp,
			seq: t.h.SequenceNumber, pt: t.h.PayloadType, marker: t.h.Marker, ok: true}
		t.mu.Unlock()
	}
	t.packets.Add(1)
	t.bytes.Add(uint64(len(p.Payload)))
	_, _ = b.w.WriteRTP(&t.h, p.Payload)
}

// resend answers a NACK from the remote with the packets still in the
// store; it returns how many were sent. It runs on the sender's RTCP
// goroutine, concurrently with write (pion's writers are safe for that).
func (t *forwardTrack) resend(n *rtcp.TransportLayerNack) int {
	b := t.b.Load()
	if b == nil || t.sent == nil || n.MediaSSRC != b.ssrc {
		return 0
	}
	count := 0
	for _, pair := range n.Nacks {
		pair.Range(func(seq uint16) bool {
			t.mu.Lock()
			e := t.sent[seq%retransmissionWindow]
			t.mu.Unlock()
			if !e.ok || e.seq != seq {
				return true // gone from the window
			}
			h := rtp.Header{Version: 2, PayloadType: e.pt, SequenceNumber: seq, Timestamp: e.timestamp, SSRC: b.ssrc, Marker: e.marker}
			payload := e.payload
			if b.rtxSSRC != 0 {
				// RFC 4588: the original sequence number, then the payload,
				// on the RTX stream's own SSRC, payload type and numbering.
				payload = make([]byte, 2+len(e.payload))
				binary.BigEndian.PutUint16(payload, seq)
				copy(payload[2:], e.payload)
				h.SSRC, h.PayloadType = b.rtxSSRC, b.rtxPT
				h.SequenceNumber = uint16(b.rtxSeq.Add(1))
			}
			if _, err := b.w.WriteRTP(&h, payload); err == nil {
				count++
			}
			return true
		})
	}
	return count
}

// toCodec converts pion's codec parameters to the media plane's.
func toCodec(c webrtc.RTPCodecParameters) me.Codec {
	return me.Codec{MimeType: c.MimeType, ClockRate: c.ClockRate, Channels: c.Channels,
		Fmtp: c.SDPFmtpLine, PayloadType: uint8(c.PayloadType)}
}
