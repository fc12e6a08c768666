package mediaelements

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/rtp"
)

// Transcoding in the media plane. When a sink Input cannot take its
// source's codec and the store has a Transcoders factory, the input is fed
// from a transcoder instead of being refused. There is one transcoder per
// (source Output, source codec, target codec), shared by every sink that
// needs that target: it encodes once and its output fans out in Go like any
// other Output. The transcoder reads the source through a hidden Input
// attached to the source Output and writes to a hidden Output; sinks stay
// connected to the real source (graph, getters and events are unchanged)
// and keep their SSRC and continuous sequence numbers and timestamps.
//
// The implementation lives outside this cgo-free package (the transcode
// package, on GStreamer); the server passes it in Options.Transcoders.

// Transcoders creates transcoders; New fails (e.g. with
// ErrUnsupportedTranscoding) for pairs it cannot handle.
type Transcoders interface {
	New(from, to Codec, log *slog.Logger) (Transcoder, error)
}

// Transcoder converts an RTP stream of one codec into another.
type Transcoder interface {
	// Write hands a source packet to the transcoder. It must copy what it
	// keeps and never block (it runs on the source's goroutine).
	Write(p *rtp.Packet)
	// OnPackets sets the consumer of transcoded packets; it is called on one
	// goroutine of the transcoder's with the packets that leave together
	// (one encoded frame's, or one), fresh packets each time; the slice
	// itself may be reused after fn returns. Set it before the first Write.
	OnPackets(fn func(ps []*rtp.Packet))
	// OnKeyframeNeeded sets how the transcoder asks its source for a
	// keyframe (its decoder lost sync or just started).
	OnKeyframeNeeded(fn func())
	// ForceKeyframe makes the encoder produce a keyframe soon (a sink asked
	// for one). Safe to call at any time, also after Close.
	ForceKeyframe()
	// OnError sets the consumer of the transcoder's failures (its pipeline
	// failed; the error says whether it was rebuilt or the transcoder
	// stopped). Called on a goroutine of the transcoder's, never from Write.
	OnError(fn func(err error))
	// Close stops the transcoder and waits for its goroutines. It is never
	// called from inside an OnPackets callback.
	Close()
}

// ErrUnsupportedTranscoding is what a Transcoders factory returns for a
// pair of codecs it cannot convert.
var ErrUnsupportedTranscoding = errors.New("transcoding between these codecs is not supported")

// ErrTranscoderStopped is wrapped by the error a Transcoder reports through
// OnError when it has given up (it converts nothing from then on). Such a
// transcoder is not shared with sinks that connect later.
var ErrTranscoderStopped = errors.New("transcoder stopped")

// txLink is one running transcoder of a source Output.
type txLink struct {
	src      *Output // the real source
	from, to Codec
	tc       Transcoder
	in       *Input  // hidden: attached to src, feeds tc
	out      *Output // hidden: tc writes here, sinks read from it
	refs     int     // sinks fed by it; guarded by src.txMu
	stopped  bool    // gave up after failures: not shared any more; guarded by src.txMu
}

// transcoderFor returns a transcoder from the source's codec c to the first
// codec in accepts (of the input's media type) that the factory supports,
// sharing a running one when there is one; the caller holds a reference
// (released with txLink.release). target is the codec the input receives
// (with the payload type it accepted).
func (s *Store) transcoderFor(src *Output, c Codec, accepts []Codec, t MediaType) (*txLink, Codec, error) {
	if s.transcoders == nil {
		return nil, Codec{}, nil
	}
	if t != Video && t != Audio {
		return nil, Codec{}, nil
	}
	prefix := strings.ToLower(t.String()) + "/"
	var errs []error
	tried := 0
	for _, a := range accepts {
		if !strings.HasPrefix(strings.ToLower(a.MimeType), prefix) {
			continue
		}
		tried++
		link, err := src.acquireTranscoder(s, c, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s to %s: %w", c.MimeType, a.MimeType, err))
			continue
		}
		target := link.to
		target.PayloadType = a.PayloadType
		target.Fmtp = a.Fmtp
		return link, target, nil
	}
	if tried == 0 {
		return nil, Codec{}, fmt.Errorf("no %s codec to transcode to", t)
	}
	return nil, Codec{}, errors.Join(errs...)
}

// acquireTranscoder gets or creates the transcoder from c to a.
func (o *Output) acquireTranscoder(s *Store, c, a Codec) (*txLink, error) {
	o.txMu.Lock()
	defer o.txMu.Unlock()
	for _, l := range o.tx {
		if l.from.Same(c) && l.to.Same(a) && !l.stopped {
			l.refs++
			return l, nil
		}
	}
	log := s.log.With("transcoder", o.elem.id, "from", c.MimeType, "to", a.MimeType)
	tc, err := s.transcoders.New(c, a, log)
	if err != nil {
		return nil, err
	}
	l := &txLink{src: o, from: c, to: a, tc: tc, refs: 1}
	l.out = &Output{elem: o.elem, typ: o.typ, desc: o.desc}
	l.out.sinks.Store(&[]*Input{})
	l.out.flow.timeout = s.flowTO
	l.out.SetCodec(a)
	l.out.OnKeyframeRequest(tc.ForceKeyframe)
	l.in = &Input{elem: o.elem, typ: o.typ, desc: o.desc, hidden: true}
	l.in.rw.ssrc = randomSSRC()
	l.in.flow.timeout = s.flowTO
	tc.OnPackets(l.out.WriteBurst) // a frame's packets leave each viewer in one sendmmsg
	tc.OnKeyframeNeeded(o.RequestKeyframe)
	elem := o.elem
	tc.OnError(func(err error) {
		if errors.Is(err, ErrTranscoderStopped) {
			o.txMu.Lock()
			l.stopped = true
			o.txMu.Unlock()
		}
		// On the source element, whose stream the transcoder converts (as
		// Kurento raises its agnosticbin's errors); every sink fed by this
		// transcoder is affected.
		elem.EmitError("STREAM_ERROR_FAILED", CodeUnexpected, err.Error())
	})
	l.in.SetHandler(tc.Write)
	o.tx = append(o.tx, l)
	o.attach(l.in) // asks the source for a keyframe: the decoder starts on one
	log.Info("transcoder started")
	return l, nil
}

// release drops a sink's reference; the last one stops the transcoder.
// Never called with the sink's locks held: Close waits for the transcoder's
// goroutine, which may be delivering to that sink.
func (l *txLink) release() {
	o := l.src
	o.txMu.Lock()
	l.refs--
	last := l.refs == 0
	if last {
		for i, x := range o.tx {
			if x == l {
				o.tx = append(o.tx[:i], o.tx[i+1:]...)
				break
			}
		}
	}
	o.txMu.Unlock()
	if !last {
		return
	}
	o.detach(l.in) // no Write after this returns
	l.out.stop()
	l.tc.Close()
	l.in.flow.stop()
	o.elem.store.log.Info("transcoder stopped", "transcoder", o.elem.id, "from", l.from.MimeType, "to", l.to.MimeType)
}

func (in *Input) emitTranscoding(on bool) {
	state := "NOT_TRANSCODING"
	if on {
		state = "TRANSCODING"
	}
	in.elem.Emit("MediaTranscodingStateChanged", map[string]any{
		"state": state, "binName": in.desc, "mediaType": in.typ.String()})
}

// Transcoding reports whether media of type t reaches one of the element's
// sink pads through a transcoder (isMediaTranscoding).
func (e *Element) Transcoding(t MediaType) bool {
	e.emu.Lock()
	ins := make([]*Input, 0, len(e.inputs))
	for k, in := range e.inputs {
		if k.t == t {
			ins = append(ins, in)
		}
	}
	e.emu.Unlock()
	for _, in := range ins {
		in.mu.Lock()
		on := in.tx != nil
		in.mu.Unlock()
		if on {
			return true
		}
	}
	return false
}
