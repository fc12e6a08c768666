package webrtcendpoint

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

// Two WebRTC publishers enter a Dispatcher; a WebRTC viewer gets A, then B
// after a switch: same SSRC, continuous sequence numbers, and a keyframe
// from B (asked of B's browser by PLI when the route changes).
func TestDispatcherSwitchOverWebRTC(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	d := e.create("Dispatcher", map[string]any{"mediaPipeline": p})
	port := func() string { return e.create("HubPort", map[string]any{"hub": d}) }
	pa, pb, pv := port(), port(), port()
	publish := func(tag byte, into string) {
		ep := e.endpoint(p, nil)
		e.connect(ep, into)
		pub := newPeer(t)
		pub.tag = tag
		pub.addMedia()
		e.negotiate(ep, pub)
		pub.send()
	}
	publish('A', pa)
	publish('B', pb)
	epV := e.endpoint(p, nil)
	e.connect(pv, epV)
	viewer := newPeer(t)
	viewer.recvOnly()
	e.negotiate(epV, viewer)

	// count counts received VP8 packets from index from on with a tag.
	count := func(rx map[string]*rxStats, from int, tag byte, keyOnly bool) int {
		s := rx[webrtc.MimeTypeVP8]
		if s == nil {
			return 0
		}
		n := 0
		for _, k := range s.log[min(from, len(s.log)):] {
			if k.tag == tag && (k.key || !keyOnly) {
				n++
			}
		}
		return n
	}
	e.invoke(d, "connect", map[string]any{"source": pa, "sink": pv})
	viewer.awaitRx("A's video with a keyframe", wait, func(rx map[string]*rxStats) bool {
		return count(rx, 0, 'A', true) > 0 && count(rx, 0, 'A', false) >= 15
	})
	viewer.mu.Lock()
	fromB := count(viewer.rx, 0, 'B', false)
	mark := len(viewer.rx[webrtc.MimeTypeVP8].log)
	viewer.mu.Unlock()
	if fromB != 0 {
		t.Fatalf("viewer got %d packets from B before the switch", fromB)
	}

	e.invoke(d, "connect", map[string]any{"source": pb, "sink": pv})
	viewer.awaitRx("B's video with a keyframe after the switch", wait, func(rx map[string]*rxStats) bool {
		return count(rx, mark, 'B', true) > 0 && count(rx, mark, 'B', false) >= 15
	})

	viewer.mu.Lock()
	log := append([]rxPacket(nil), viewer.rx[webrtc.MimeTypeVP8].log...)
	viewer.mu.Unlock()
	lastA := -1
	for i, k := range log {
		if k.ssrc != log[0].ssrc {
			t.Fatalf("packet %d: SSRC %d, want %d throughout", i, k.ssrc, log[0].ssrc)
		}
		if i > 0 && k.seq-log[i-1].seq != 1 {
			t.Fatalf("packet %d: sequence jumps by %d (%d → %d)", i, k.seq-log[i-1].seq, log[i-1].seq, k.seq)
		}
		if k.tag == 'A' {
			lastA = i
		}
	}
	if lastA < 0 || log[len(log)-1].tag != 'B' {
		t.Fatalf("viewer's stream: last A at %d of %d, ends with %q", lastA, len(log), log[len(log)-1].tag)
	}
}
