// Command forwarder is the baseline of the fan-out benchmark (scripts/bench-fanout.sh, run by
// `make bench`): a minimal pion SFU of about 200 lines. One publisher sends one video track; every
// viewer gets its own PeerConnection fed from one shared TrackLocalStaticRTP. pion's default
// interceptors (NACK generator and responder, RTCP sender/receiver reports, stats, TWCC feedback)
// are registered, as a pion-based WebRTC SFU would; viewers' PLIs are relayed to the publisher.
//
// Signalling is plain HTTP + JSON on the listen address, non-trickle (every SDP carries its
// candidates):
//
//	POST /publish {"sdp": OFFER} → {"sdp": ANSWER}   the one publisher (a second one replaces it)
//	POST /view    {"sdp": OFFER} → {"sdp": ANSWER}   one viewer; its offer must receive video
//	GET  /healthz                → 200
//
// ICE runs on loopback only (udp4, 127.0.0.0/8, no mDNS, no STUN), like Miksilo's
// -webrtc-loopback-only.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8890", "HTTP signalling listener")
	cpuProf := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuProf != "" {
		pf, err := os.Create(*cpuProf)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	f, err := newForwarder()
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: f.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		_ = srv.Close()
	}()
	log.Printf("forwarder: listening on %s", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	f.closeAll()
}

type forwarder struct {
	api   *webrtc.API
	track *webrtc.TrackLocalStaticRTP // shared by every viewer

	mu        sync.Mutex
	publisher *webrtc.PeerConnection
	pubSSRC   uint32
	viewers   map[*webrtc.PeerConnection]struct{}
	lastPLI   atomic.Int64 // unix nanoseconds of the last PLI relayed to the publisher
}

func newForwarder() (*forwarder, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "forwarder")
	if err != nil {
		return nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(loopbackSettings()))
	return &forwarder{api: api, track: track, viewers: make(map[*webrtc.PeerConnection]struct{})}, nil
}

// loopbackSettings restricts ICE to IPv4 host candidates on 127.0.0.0/8.
func loopbackSettings() webrtc.SettingEngine {
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	return s
}

func (f *forwarder) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST /publish", f.handle(f.publish))
	mux.HandleFunc("POST /view", f.handle(f.view))
	return mux
}

type sdpMessage struct {
	SDP string `json:"sdp"`
}

func (f *forwarder) handle(fn func(offer string) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in sdpMessage
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || in.SDP == "" {
			http.Error(w, "want {\"sdp\": OFFER}", http.StatusBadRequest)
			return
		}
		answer, err := fn(in.SDP)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(sdpMessage{SDP: answer})
	}
}

// answer completes the offer/answer exchange on pc and returns the answer with its candidates.
func answer(pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return "", errors.New("ICE gathering did not complete")
	}
	return pc.LocalDescription().SDP, nil
}

func (f *forwarder) publish(offer string) (string, error) {
	pc, err := f.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		_ = pc.Close()
		return "", err
	}
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		f.mu.Lock()
		f.pubSSRC = uint32(remote.SSRC())
		f.mu.Unlock()
		f.requestKeyframe(pc, true)
		buf := make([]byte, 1500)
		for {
			n, _, err := remote.Read(buf)
			if err != nil {
				return
			}
			// Write errors name viewers that are gone; their PeerConnections unbind themselves.
			_, _ = f.track.Write(buf[:n])
		}
	})
	ans, err := answer(pc, offer)
	if err != nil {
		_ = pc.Close()
		return "", err
	}
	f.mu.Lock()
	old := f.publisher
	f.publisher = pc
	f.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return ans, nil
}

func (f *forwarder) view(offer string) (string, error) {
	pc, err := f.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	sender, err := pc.AddTrack(f.track)
	if err != nil {
		_ = pc.Close()
		return "", err
	}
	// Reading RTCP drives the interceptors (NACK responder, reports); PLIs go to the publisher.
	go func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					f.mu.Lock()
					pub := f.publisher
					f.mu.Unlock()
					f.requestKeyframe(pub, false)
				}
			}
		}
	}()
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			f.mu.Lock()
			delete(f.viewers, pc)
			f.mu.Unlock()
			_ = pc.Close()
		}
	})
	ans, err := answer(pc, offer)
	if err != nil {
		_ = pc.Close()
		return "", err
	}
	f.mu.Lock()
	f.viewers[pc] = struct{}{}
	f.mu.Unlock()
	return ans, nil
}

// requestKeyframe sends a PLI to the publisher, at most one per 500 ms unless forced.
func (f *forwarder) requestKeyframe(pub *webrtc.PeerConnection, force bool) {
	if pub == nil {
		return
	}
	now := time.Now().UnixNano()
	if last := f.lastPLI.Load(); !force && (now-last < int64(500*time.Millisecond) || !f.lastPLI.CompareAndSwap(last, now)) {
		return
	}
	f.lastPLI.Store(now)
	f.mu.Lock()
	ssrc := f.pubSSRC
	f.mu.Unlock()
	if ssrc != 0 {
		_ = pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

func (f *forwarder) closeAll() {
	f.mu.Lock()
	pcs := make([]*webrtc.PeerConnection, 0, len(f.viewers)+1)
	for pc := range f.viewers {
		pcs = append(pcs, pc)
	}
	if f.publisher != nil {
		pcs = append(pcs, f.publisher)
	}
	f.mu.Unlock()
	for _, pc := range pcs {
		if err := pc.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "forwarder: close:", err)
		}
	}
}
