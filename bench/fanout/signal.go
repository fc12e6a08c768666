package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/miksilo/miksilo/bench/internal/kurento"
)

// signaller negotiates the load generator's PeerConnections with one server.
type signaller interface {
	// publish negotiates pc, which already sends the publisher's track.
	publish(ctx context.Context, pc *webrtc.PeerConnection) error
	// view negotiates pc, which has one receive-only video transceiver.
	view(ctx context.Context, pc *webrtc.PeerConnection) error
	close()
}

// ---------------------------------------------------------------------------------------------
// bench/forwarder: HTTP + JSON, non-trickle.

type forwarderSignaller struct {
	base   string
	client *http.Client
}

func newForwarderSignaller(addr string) *forwarderSignaller {
	return &forwarderSignaller{base: "http://" + addr, client: &http.Client{Timeout: 30 * time.Second}}
}

func (s *forwarderSignaller) publish(ctx context.Context, pc *webrtc.PeerConnection) error {
	return s.exchange(ctx, pc, "/publish")
}

func (s *forwarderSignaller) view(ctx context.Context, pc *webrtc.PeerConnection) error {
	return s.exchange(ctx, pc, "/view")
}

func (s *forwarderSignaller) close() {}

func (s *forwarderSignaller) exchange(ctx context.Context, pc *webrtc.PeerConnection, path string) error {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	body, err := json.Marshal(map[string]string{"sdp": pc.LocalDescription().SDP})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(data))
	}
	var ans struct {
		SDP string `json:"sdp"`
	}
	if err := json.Unmarshal(data, &ans); err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP})
}

// ---------------------------------------------------------------------------------------------
// Miksilo: the Kurento Protocol, as kurento-client and kurento-utils use it (bench/internal/kurento):
// one MediaPipeline, one WebRtcEndpoint per peer, trickle ICE both ways.

type kurentoSignaller struct {
	*kurento.Client
	mu    sync.Mutex
	pubEP string
}

func newKurentoSignaller(ctx context.Context, addr string) (*kurentoSignaller, error) {
	c, err := kurento.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &kurentoSignaller{Client: c}, nil
}

func (k *kurentoSignaller) publish(ctx context.Context, pc *webrtc.PeerConnection) error {
	ep, err := k.Negotiate(ctx, pc, nil)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.pubEP = ep
	k.mu.Unlock()
	return nil
}

func (k *kurentoSignaller) view(ctx context.Context, pc *webrtc.PeerConnection) error {
	k.mu.Lock()
	pub := k.pubEP
	k.mu.Unlock()
	if pub == "" {
		return errors.New("no publisher")
	}
	_, err := k.Negotiate(ctx, pc, func(ep string) error { return k.Connect(ctx, pub, ep) })
	return err
}

func (k *kurentoSignaller) close() { k.Client.Close() }
