package rtctest

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// answerer makes a peer answer offers itself (full ICE, no trickle).
func answerer(t *testing.T, p *Peer) func(string) (string, error) {
	return func(offer string) (string, error) {
		if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
			return "", err
		}
		a, err := p.PC.CreateAnswer(nil)
		if err != nil {
			return "", err
		}
		done := webrtc.GatheringCompletePromise(p.PC)
		if err := p.PC.SetLocalDescription(a); err != nil {
			return "", err
		}
		<-done
		return p.PC.LocalDescription().SDP, nil
	}
}

// TestPublishView: a publisher's picture (raw frames, then a solid
// colour) decodes at a viewer peer connected to it directly, for VP8 and
// H.264.
func TestPublishView(t *testing.T) {
	for _, codec := range []string{"VP8", "H264"} {
		t.Run(codec, func(t *testing.T) {
			pubPeer, err := NewPeer()
			if err != nil {
				t.Fatal(err)
			}
			defer pubPeer.Close()
			viewPeer, err := NewPeer()
			if err != nil {
				t.Fatal(err)
			}
			defer viewPeer.Close()
			pub, err := pubPeer.AddPublisher(PublisherConfig{Width: 160, Height: 120, RawFrames: true, Codec: codec, Audio: true})
			if err != nil {
				t.Fatal(err)
			}
			// The viewer answers: its transceivers come from the offer.
			v := &Viewer{cfg: ViewerConfig{Width: 160, Height: 120}, peer: viewPeer, notify: make(chan struct{}), lastSeq: -1, closed: make(chan struct{})}
			viewPeer.onClose(func() { close(v.closed) })
			viewPeer.PC.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
				if tr.Kind() == webrtc.RTPCodecTypeAudio {
					viewPeer.spawn(func() { v.readAudio(tr) })
					return
				}
				viewPeer.spawn(func() { v.readVideo(tr) })
			})
			if err := pubPeer.Negotiate(answerer(t, viewPeer), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				tk := time.NewTicker(66 * time.Millisecond)
				defer tk.Stop()
				frame := SolidRGB(160, 120, 0xff8000)
				for {
					select {
					case <-stop:
						return
					case <-tk.C:
						if err := pub.PushFrame(frame); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
			defer func() { close(stop); <-done }()
			f, err := v.WaitFrame(time.Time{}, 10*time.Second, func(f Frame) bool { return Near(f.Mean(60, 40, 40, 40), 0xff8000, 40) })
			if err != nil {
				t.Fatalf("no orange frame: latest mean #%06x", f.Mean(60, 40, 40, 40))
			}
			if st := v.Stats(); st.Frames == 0 || st.Codec != "video/"+codec {
				t.Fatalf("stats %+v", st)
			}
			deadline := time.Now().Add(5 * time.Second)
			for v.AudioPackets() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if v.AudioPackets() == 0 || pub.AudioPackets.Load() == 0 {
				t.Fatal("no audio")
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	f := Frame{Width: 2, Height: 1, RGB: []byte{255, 0, 0, 0, 0, 255}}
	if f.Pixel(0, 0) != 0xff0000 || f.Pixel(1, 0) != 0x0000ff {
		t.Fatal("Pixel")
	}
	if got := f.Mean(0, 0, 2, 1); got != 0x7f007f {
		t.Fatalf("Mean = %06x", got)
	}
	if !Near(0x102030, 0x0f2233, 3) || Near(0x102030, 0x102040, 15) {
		t.Fatal("Near")
	}
	if _, err := DecoderLaunch("video/AV1", 45, 16, 16); err == nil {
		t.Fatal("AV1 decoder")
	}
}
