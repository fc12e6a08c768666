// Package rtctest has helpers for tests that need real WebRTC peers on
// loopback: pion peers that publish VP8 (and Opus) encoded by GStreamer
// from test sources or from raw frames, and viewers that decode what they
// receive to raw RGB frames so tests can inspect pixels.
//
// Everything binds to 127.0.0.1 only (loopback candidates, no mDNS, udp4,
// no STUN). Peers are closed with Close; each starts goroutines of its own
// that Close waits for.
package rtctest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// LoopbackSettings is a SettingEngine restricted to IPv4 loopback.
func LoopbackSettings() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

// NewAPI is a pion API with the default codecs and interceptors (NACK,
// RTCP reports, TWCC) and the loopback settings.
func NewAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(LoopbackSettings())), nil
}

// Peer is a pion peer connection on loopback.
type Peer struct {
	PC *webrtc.PeerConnection

	connected chan struct{}
	failed    chan struct{}
	wg        sync.WaitGroup

	mu      sync.Mutex
	closers []func()
	closed  bool
}

// NewPeer creates a peer connection with its own API.
func NewPeer() (*Peer, error) {
	api, err := NewAPI()
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &Peer{PC: pc, connected: make(chan struct{}), failed: make(chan struct{})}
	var once, failOnce sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			once.Do(func() { close(p.connected) })
		case webrtc.PeerConnectionStateFailed:
			failOnce.Do(func() { close(p.failed) })
		}
	})
	return p, nil
}

// Offer creates an offer, sets it locally, waits for ICE gathering to end
// (the offer then carries every candidate: no trickling needed) and
// returns it.
func (p *Peer) Offer(timeout time.Duration) (string, error) {
	o, err := p.PC.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	done := webrtc.GatheringCompletePromise(p.PC)
	if err := p.PC.SetLocalDescription(o); err != nil {
		return "", err
	}
	select {
	case <-done:
	case <-time.After(timeout):
		return "", errors.New("rtctest: ICE gathering did not complete")
	}
	return p.PC.LocalDescription().SDP, nil
}

// SetAnswer applies the remote answer.
func (p *Peer) SetAnswer(sdp string) error {
	return p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
}

// Negotiate runs offer → processOffer → answer and waits for the
// connection. processOffer is the remote side (e.g. a WebRtcEndpoint's
// processOffer); the remote learns the peer's candidates from the offer and
// the peer learns the remote's as peer-reflexive ones from its checks.
func (p *Peer) Negotiate(processOffer func(offer string) (answer string, err error), timeout time.Duration) error {
	offer, err := p.Offer(timeout)
	if err != nil {
		return err
	}
	answer, err := processOffer(offer)
	if err != nil {
		return fmt.Errorf("rtctest: processOffer: %w", err)
	}
	if err := p.SetAnswer(answer); err != nil {
		return fmt.Errorf("rtctest: set answer: %w", err)
	}
	return p.WaitConnected(timeout)
}

// WaitConnected waits for the peer connection to be connected.
func (p *Peer) WaitConnected(timeout time.Duration) error {
	select {
	case <-p.connected:
		return nil
	case <-p.failed:
		return errors.New("rtctest: peer connection failed")
	case <-time.After(timeout):
		return errors.New("rtctest: peer not connected in time")
	}
}

// go runs fn on a goroutine Close waits for.
func (p *Peer) spawn(fn func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn()
	}()
}

func (p *Peer) onClose(fn func()) {
	p.mu.Lock()
	p.closers = append(p.closers, fn)
	p.mu.Unlock()
}

// Close closes the peer connection, its publishers and viewers, and waits
// for their goroutines. Safe to call more than once.
func (p *Peer) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	closers := p.closers
	p.mu.Unlock()
	_ = p.PC.GracefulClose()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	p.wg.Wait()
}
