package webrtcendpoint

import (
	"strings"
	"sync/atomic"

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
}

type trackBinding struct {
	id   string
	ssrc uint32
	w    webrtc.TrackLocalWriter
}

func newForwardTrack(kind webrtc.RTPCodecType, stream string) *forwardTrack {
	return &forwardTrack{kind: kind, id: kind.String(), stream: stream}
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
	t.b.Store(&trackBinding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), w: ctx.WriteStream()})
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
	_, _ = b.w.WriteRTP(&t.h, p.Payload)
}

// toCodec converts pion's codec parameters to the media plane's.
func toCodec(c webrtc.RTPCodecParameters) me.Codec {
	return me.Codec{MimeType: c.MimeType, ClockRate: c.ClockRate, Channels: c.Channels,
		Fmtp: c.SDPFmtpLine, PayloadType: uint8(c.PayloadType)}
}
