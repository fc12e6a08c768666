package webrtcendpoint

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/miksilo/miksilo/internal/sendbatch"
	me "github.com/miksilo/miksilo/mediaelements"
)

// TestSendBursts: packets written as bursts (Output.WriteBurst, what the
// Composite does with each frame) leave the endpoint's socket — its own or
// the UDP mux's — in one sendmmsg, arrive in order, and are counted in the
// engine's metrics; with batching off (webrtc.send_batching false) they
// arrive the same, one system call each.
func TestSendBursts(t *testing.T) {
	for _, c := range []struct {
		name    string
		mux, on bool
	}{{"own sockets", false, true}, {"UDP mux", true, true}, {"own sockets, batching off", false, false}, {"UDP mux, batching off", true, false}} {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			s := Settings{LoopbackOnly: true, Registerer: reg, NoSendBatching: !c.on}
			if c.mux {
				s.UDPMuxPort = freeUDPPort(t)
			}
			e := newEnvWith(t, s)
			pl := e.pipeline()
			src := e.create("PassThrough", map[string]any{"mediaPipeline": pl})
			ep := e.endpoint(pl, nil)
			e.connect(src, ep)
			p := newPeer(t)
			defer p.close()
			p.recvOnly()
			e.negotiate(ep, p)
			p.awaitConnected()

			o, _ := e.store.Get(src)
			out := o.(*me.PassThrough).Output(me.Video, "default")
			out.SetCodec(me.Codec{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, PayloadType: 96})
			calls0 := metricValue(t, reg, "miksilo_webrtc_udp_batch_sends_total")
			datagrams0 := metricValue(t, reg, "miksilo_webrtc_udp_batched_datagrams_total")
			// Bursts of 5 every 20 ms until the peer has 100 packets (what is
			// written before the endpoint's track is bound to the peer is
			// dropped, and a loaded machine may take a while).
			const per, want = 5, 100
			seq := uint16(1000)
			received := func() int {
				p.mu.Lock()
				defer p.mu.Unlock()
				if s := p.rx[webrtc.MimeTypeVP8]; s != nil {
					return len(s.log)
				}
				return 0
			}
			frames := 0
			for deadline := time.Now().Add(wait); received() < want; frames++ {
				if time.Now().After(deadline) {
					t.Fatalf("the peer received %d packets of %d bursts of %d in %v", received(), frames, per, wait)
				}
				burst := make([]*rtp.Packet, per)
				for i := range burst {
					payload := vp8Delta
					if frames%30 == 0 && i == 0 {
						payload = vp8Key
					}
					burst[i] = &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, SequenceNumber: seq,
						Timestamp: uint32(frames * 3000), Marker: i == per-1}, Payload: payload}
					seq++
				}
				out.WriteBurst(burst)
				time.Sleep(20 * time.Millisecond)
			}
			p.mu.Lock()
			log := p.rx[webrtc.MimeTypeVP8].log
			for i := 1; i < len(log); i++ {
				if log[i].seq != log[i-1].seq+1 {
					t.Errorf("packet %d: sequence %d after %d", i, log[i].seq, log[i-1].seq)
				}
			}
			p.mu.Unlock()
			calls := metricValue(t, reg, "miksilo_webrtc_udp_batch_sends_total") - calls0
			datagrams := metricValue(t, reg, "miksilo_webrtc_udp_batched_datagrams_total") - datagrams0
			t.Logf("%v sendmmsg calls sent %v datagrams", calls, datagrams)
			if !c.on {
				if calls != 0 {
					t.Errorf("batching off, yet %v sendmmsg calls", calls)
				}
				return
			}
			if calls < want/per || datagrams < want {
				t.Errorf("%v sendmmsg calls sent %v datagrams for %d bursts of %d, want one call per burst received", calls, datagrams, frames, per)
			}
			// Other datagrams written during a hold (RTCP, STUN) may leave
			// in calls of their own: the mean stays well above 1.
			if datagrams/calls < 2 {
				t.Errorf("%.1f datagrams per sendmmsg: the bursts did not leave together", datagrams/calls)
			}
			if sendbatch.Holding() {
				t.Error("a hold is left open")
			}
		})
	}
}
