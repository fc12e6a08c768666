package webrtcendpoint

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/miksilo/miksilo/internal/ntp"
)

// The translator replaces a report's RTP time with the track's clock, on
// the report's own NTP time; without a clock, with a clock that cannot tell
// or one too far from pion's value, the report stays as pion wrote it.
func TestSRTranslator(t *testing.T) {
	tr := newSRTranslator(nil)
	var wrote []rtcp.Packet
	w := tr.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		wrote = append(wrote, pkts...)
		return 0, nil
	}))
	now := time.Now()
	var asked time.Time
	tr.set(1, func(at time.Time) (uint32, uint32, bool) {
		asked = at
		return 90000*10 + 4500, 90000, true // 50 ms after pion's value
	})
	tr.set(2, func(time.Time) (uint32, uint32, bool) { return 0, 0, false })
	tr.set(3, func(time.Time) (uint32, uint32, bool) { return 90000 * 20, 90000, true }) // 10 s off
	tr.set(5, func(time.Time) (uint32, uint32, bool) { return 1, 90000, true })
	tr.set(5, nil)
	reports := []rtcp.Packet{
		&rtcp.SenderReport{SSRC: 1, NTPTime: ntp.From(now), RTPTime: 90000 * 10},
		&rtcp.SenderReport{SSRC: 2, NTPTime: ntp.From(now), RTPTime: 7},
		&rtcp.SenderReport{SSRC: 3, NTPTime: ntp.From(now), RTPTime: 90000 * 10},
		&rtcp.SenderReport{SSRC: 4, NTPTime: ntp.From(now), RTPTime: 9},
		&rtcp.SenderReport{SSRC: 5, NTPTime: ntp.From(now), RTPTime: 11},
		&rtcp.PictureLossIndication{MediaSSRC: 1},
	}
	if _, err := w.Write(reports, nil); err != nil {
		t.Fatal(err)
	}
	if len(wrote) != len(reports) {
		t.Fatalf("wrote %d packets, want %d", len(wrote), len(reports))
	}
	want := []uint32{90000*10 + 4500, 7, 90000 * 10, 9, 11}
	for i, w := range want {
		if got := wrote[i].(*rtcp.SenderReport).RTPTime; got != w {
			t.Errorf("report of SSRC %d: RTP time %d, want %d", i+1, got, w)
		}
	}
	if d := asked.Sub(now); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("clock asked about %v, want the report's NTP time %v", asked, now)
	}
	if tr.count.translated.Load() != 1 || tr.count.kept.Load() != 2 {
		t.Errorf("translated %d, kept %d; want 1, 2", tr.count.translated.Load(), tr.count.kept.Load())
	}
}

func TestClockOffset(t *testing.T) {
	var c clockOffset
	if _, ok := c.get(); ok {
		t.Fatal("an offset without samples")
	}
	t0 := time.Now()
	c.sample(5*time.Second+20*time.Millisecond, t0)
	c.sample(5*time.Second+3*time.Millisecond, t0.Add(time.Second))
	c.sample(5*time.Second+9*time.Millisecond, t0.Add(2*time.Second))
	if d, _ := c.get(); d != 5*time.Second+3*time.Millisecond {
		t.Errorf("offset %v, want the least sample 5.003s", d)
	}
	// The remote's clock stepped: old samples age out.
	c.sample(-2*time.Second, t0.Add(offsetWindow+2*time.Second))
	c.sample(-time.Second, t0.Add(offsetWindow+3*time.Second))
	if d, _ := c.get(); d != -2*time.Second {
		t.Errorf("offset %v after the window, want -2s", d)
	}
	if n := len(c.samples); n != 2 {
		t.Errorf("%d samples kept, want 2", n)
	}
}

// A publisher whose own sender reports put its audio 200 ms after its
// video (on a clock 5 s ahead of the server's), forwarded by the server to
// a viewer: the viewer's reports, which pion would write from send times
// (audio and video in step), must carry the publisher's relation.
func TestSenderReportsKeepPublisherSync(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline()
	epA := e.endpoint(p, nil)
	epB := e.endpoint(p, map[string]any{"sendonly": true})
	e.connect(epA, epB)

	// The publisher writes its own reports: no report interceptor.
	pub := newPeerInterceptors(t, loopbackSettings(), func(*webrtc.MediaEngine, *interceptor.Registry) error { return nil })
	viewer := newPeer(t)
	pub.addMedia()
	viewer.recvOnly()
	e.negotiate(epA, pub)
	e.negotiate(epB, viewer)

	const skew = 200 * time.Millisecond // the publisher's audio is sampled this much after its send timeline says
	const remoteAhead = 5 * time.Second // the publisher's clock against the server's
	ssrcs := map[webrtc.RTPCodecType]uint32{}
	for _, s := range pub.pc.GetSenders() {
		if s.Track() != nil {
			ssrcs[s.Track().Kind()] = uint32(s.GetParameters().Encodings[0].SSRC)
		}
	}
	t0 := time.Now()
	pub.send() // video timestamps from 0 at 90 kHz, audio from 0 at 48 kHz
	pub.wg.Add(1)
	go func() {
		defer pub.wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-pub.stop:
				return
			case now := <-tick.C:
				remoteNow := ntp.From(now.Add(remoteAhead))
				_ = pub.pc.WriteRTCP([]rtcp.Packet{
					&rtcp.SenderReport{SSRC: ssrcs[webrtc.RTPCodecTypeVideo], NTPTime: remoteNow, RTPTime: uint32(int64(now.Sub(t0).Seconds() * 90000))},
					&rtcp.SenderReport{SSRC: ssrcs[webrtc.RTPCodecTypeAudio], NTPTime: remoteNow, RTPTime: uint32(int64((now.Sub(t0) - skew).Seconds() * 48000))},
				})
			}
		}
	}()

	// The viewer's reports, per kind: where each puts RTP time 0 on the
	// server's clock.
	var mu sync.Mutex
	zero := map[webrtc.RTPCodecType][]time.Time{}
	var wg sync.WaitGroup
	for _, r := range viewer.pc.GetReceivers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				pkts, _, err := r.ReadRTCP()
				if err != nil {
					return
				}
				tr := r.Track()
				if tr == nil {
					continue
				}
				for _, k := range pkts {
					sr, ok := k.(*rtcp.SenderReport)
					if !ok || sr.SSRC != uint32(tr.SSRC()) {
						continue
					}
					rate := float64(tr.Codec().ClockRate)
					at := ntp.Time(sr.NTPTime).Add(-time.Duration(float64(int32(sr.RTPTime)) / rate * float64(time.Second)))
					mu.Lock()
					zero[tr.Kind()] = append(zero[tr.Kind()], at)
					mu.Unlock()
				}
			}
		}()
	}
	t.Cleanup(func() { viewer.close(); wg.Wait() })

	// Both kinds reported a few times (pion reports every second).
	var audioMinusVideo time.Duration
	err := eventually(15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		a, v := zero[webrtc.RTPCodecTypeAudio], zero[webrtc.RTPCodecTypeVideo]
		if len(a) < 3 || len(v) < 3 {
			return false
		}
		audioMinusVideo = a[len(a)-1].Sub(v[len(v)-1])
		return true
	})
	if err != nil {
		t.Fatalf("the viewer got too few sender reports: %v", zero)
	}
	// The publisher's video timestamp 0 is at t0 and its audio timestamp 0
	// at t0+skew; the server's reports must say the same.
	if d := audioMinusVideo - skew; math.Abs(float64(d)) > float64(3*time.Millisecond) {
		t.Errorf("the viewer's reports put audio %v after video, the publisher's %v", audioMinusVideo, skew)
	}
	o, _ := e.store.Get(epB)
	if n := o.(*Endpoint).eng.srCount.translated.Load(); n < 4 {
		t.Errorf("%d reports counted as translated, want at least the viewer's 4", n)
	}
}
