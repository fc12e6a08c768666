package webrtcendpoint

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

type writtenPacket struct {
	h       rtp.Header
	payload []byte
}

type fakeWriter struct {
	mu  sync.Mutex
	out []writtenPacket
}

func (w *fakeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out = append(w.out, writtenPacket{*h, bytes.Clone(payload)})
	return len(payload), nil
}

func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *fakeWriter) take() []writtenPacket {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.out
	w.out = nil
	return out
}

// TestResendFromStore: a NACK is answered from the track's store — on the
// RTX stream with the original sequence number in front when RTX was
// negotiated, as the packet itself otherwise; packets older than the
// window are not resent; a NACK for another SSRC is ignored.
func TestResendFromStore(t *testing.T) {
	for _, rtx := range []bool{true, false} {
		w := &fakeWriter{}
		ft := newForwardTrack(webrtc.RTPCodecTypeVideo, "s")
		b := &trackBinding{ssrc: 1111, w: w}
		if rtx {
			b.rtxSSRC, b.rtxPT = 2222, 97
		}
		ft.b.Store(b)
		payloads := map[uint16][]byte{}
		const n = retransmissionWindow + 100
		for i := 0; i < n; i++ {
			seq := uint16(65000 + i) // wraps
			pl := []byte{byte(i), byte(i >> 8), 0xab}
			payloads[seq] = pl
			ft.write(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i) * 3000, SSRC: 9, Marker: i%2 == 0}, Payload: pl})
		}
		w.take()
		if got := ft.packets.Load(); got != n {
			t.Fatalf("packets sent %d, want %d", got, n)
		}
		base := 65000
		newest := uint16(base + n - 1)
		evicted := uint16(base + 10) // overwritten by a packet retransmissionWindow later
		nack := &rtcp.TransportLayerNack{MediaSSRC: 1111, Nacks: []rtcp.NackPair{
			{PacketID: newest - 2, LostPackets: 0b10}, // newest-2 and newest
			{PacketID: evicted},
		}}
		if got := ft.resend(nack); got != 2 {
			t.Fatalf("rtx=%v: %d packets resent, want 2", rtx, got)
		}
		if got := ft.resend(&rtcp.TransportLayerNack{MediaSSRC: 42, Nacks: []rtcp.NackPair{{PacketID: newest}}}); got != 0 {
			t.Fatalf("a NACK for another SSRC resent %d packets", got)
		}
		out := w.take()
		if len(out) != 2 {
			t.Fatalf("rtx=%v: %d packets written", rtx, len(out))
		}
		for i, seq := range []uint16{newest - 2, newest} {
			p := out[i]
			orig := payloads[seq]
			idx := int(seq - uint16(base))
			if p.h.Timestamp != uint32(idx)*3000 || p.h.Marker != (idx%2 == 0) {
				t.Errorf("rtx=%v: resent %d: timestamp %d marker %v", rtx, seq, p.h.Timestamp, p.h.Marker)
			}
			if rtx {
				if p.h.SSRC != 2222 || p.h.PayloadType != 97 || binary.BigEndian.Uint16(p.payload) != seq || !bytes.Equal(p.payload[2:], orig) {
					t.Errorf("RTX packet for %d: ssrc %d pt %d payload %x", seq, p.h.SSRC, p.h.PayloadType, p.payload)
				}
				if i == 1 && p.h.SequenceNumber != out[0].h.SequenceNumber+1 {
					t.Errorf("RTX sequence numbers %d, %d: want consecutive", out[0].h.SequenceNumber, p.h.SequenceNumber)
				}
			} else if p.h.SSRC != 1111 || p.h.PayloadType != 96 || p.h.SequenceNumber != seq || !bytes.Equal(p.payload, orig) {
				t.Errorf("resent %d: ssrc %d pt %d seq %d payload %x", seq, p.h.SSRC, p.h.PayloadType, p.h.SequenceNumber, p.payload)
			}
		}
	}
}

// TestRetransmissionOverWebRTC: a pion viewer NACKs packets it got; Miksilo
// resends them (over RTX: pion's receiver hands them back as the original
// packets) with the original payloads.
func TestRetransmissionOverWebRTC(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	src := e.endpoint(p, nil)
	pub := newPeer(t)
	pub.tag = 'R'
	pub.addMedia()
	e.negotiate(src, pub)
	pub.send()
	ep := e.endpoint(p, nil)
	e.connect(src, ep)
	viewer := newPeer(t)
	viewer.recvOnly()
	e.negotiate(ep, viewer)
	if !strings.Contains(viewer.pc.RemoteDescription().SDP, "rtx/90000") {
		t.Fatal("no RTX in Miksilo's answer")
	}
	viewer.awaitRx("30 video packets", wait, func(rx map[string]*rxStats) bool {
		return rx[webrtc.MimeTypeVP8] != nil && len(rx[webrtc.MimeTypeVP8].log) >= 30
	})
	viewer.mu.Lock()
	log := append([]rxPacket(nil), viewer.rx[webrtc.MimeTypeVP8].log...)
	viewer.mu.Unlock()
	ssrc := log[0].ssrc
	want := []uint16{log[10].seq, log[20].seq}
	nack := &rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(want)}
	if err := viewer.pc.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	viewer.awaitRx("the NACKed packets again", wait, func(rx map[string]*rxStats) bool {
		seen := map[uint16]int{}
		for _, k := range rx[webrtc.MimeTypeVP8].log {
			seen[k.seq]++
		}
		return seen[want[0]] >= 2 && seen[want[1]] >= 2
	})
	// getStats counts what the track sent (the statistics interceptor does
	// not see outgoing RTP any more).
	stats := e.invoke(ep, "getStats", map[string]any{"mediaType": "VIDEO"}).(map[string]any)
	var out map[string]any
	for _, v := range stats {
		if s := v.(map[string]any); s["type"] == "outboundrtp" {
			out = s
		}
	}
	if out == nil || out["packetsSent"].(int64) < 30 || out["bytesSent"].(int64) < 30*int64(len(vp8Delta)) {
		t.Errorf("outbound video stats: %v", out)
	}
	viewer.mu.Lock()
	defer viewer.mu.Unlock()
	for _, k := range viewer.rx[webrtc.MimeTypeVP8].log[len(log):] {
		if (k.seq == want[0] || k.seq == want[1]) && (k.tag != 'R' || k.ssrc != ssrc) {
			t.Errorf("resent packet %d: tag %q ssrc %d", k.seq, k.tag, k.ssrc)
		}
	}
}
