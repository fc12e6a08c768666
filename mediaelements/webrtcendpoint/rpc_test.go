package webrtcendpoint

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	me "github.com/miksilo/miksilo/mediaelements"
	"github.com/miksilo/miksilo/rpc"
	"github.com/miksilo/miksilo/rpc/protocol"
)

// wsClient speaks the Kurento Protocol over a WebSocket, like kurento-client.
type wsClient struct {
	t       *testing.T
	ws      *websocket.Conn
	mu      sync.Mutex
	next    int
	session string
	pending map[int]chan map[string]any
	events  chan map[string]any
	done    chan struct{}
}

func dialKurento(t *testing.T, url string) *wsClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &wsClient{t: t, ws: ws, pending: map[int]chan map[string]any{}, events: make(chan map[string]any, 256), done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { _ = ws.Close(); <-c.done })
	return c
}

func (c *wsClient) read() {
	defer close(c.done)
	for {
		var m map[string]any
		if err := c.ws.ReadJSON(&m); err != nil {
			return
		}
		if m["method"] == "onEvent" {
			c.events <- m["params"].(map[string]any)["value"].(map[string]any)
			continue
		}
		id, _ := m["id"].(float64)
		c.mu.Lock()
		ch := c.pending[int(id)]
		delete(c.pending, int(id))
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// call sends a request and returns its result, failing on an error.
func (c *wsClient) call(method string, params map[string]any) map[string]any {
	c.t.Helper()
	ch := make(chan map[string]any, 1)
	c.mu.Lock()
	c.next++
	id := c.next
	c.pending[id] = ch
	if c.session != "" {
		params["sessionId"] = c.session
	}
	c.mu.Unlock()
	if err := c.ws.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params}); err != nil {
		c.t.Fatal(err)
	}
	select {
	case m := <-ch:
		if m["error"] != nil {
			c.t.Fatalf("%s %v: %v", method, params, m["error"])
		}
		res := m["result"].(map[string]any)
		if s, ok := res["sessionId"].(string); ok {
			c.mu.Lock()
			c.session = s
			c.mu.Unlock()
		}
		return res
	case <-time.After(wait):
		c.t.Fatalf("%s: no response", method)
		return nil
	}
}

func (c *wsClient) invoke(obj, op string, params map[string]any) any {
	c.t.Helper()
	return c.call("invoke", map[string]any{"object": obj, "operation": op, "operationParams": params})["value"]
}

// End to end through the rpc server: a Kurento client creates a loopback
// WebRtcEndpoint, trickles candidates both ways over onEvent/addIceCandidate,
// and the peer gets its media back.
func TestKurentoProtocolLoopback(t *testing.T) {
	reg := me.NewRegistry(me.PassThroughClass(), Class(Settings{LoopbackOnly: true}))
	store := me.NewStore(me.Options{Registry: reg})
	rs := rpc.New(rpc.Params{Store: store})
	mux := http.NewServeMux()
	mux.Handle(protocol.Path, rs)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = rs.Close(ctx)
		hs.Close()
		store.ReleaseAll()
	})
	c := dialKurento(t, "ws"+strings.TrimPrefix(hs.URL, "http")+protocol.Path)

	pipeline := c.call("create", map[string]any{"type": "MediaPipeline", "constructorParams": map[string]any{}, "properties": map[string]any{}})["value"].(string)
	ep := c.call("create", map[string]any{"type": "WebRtcEndpoint", "constructorParams": map[string]any{"mediaPipeline": pipeline}, "properties": map[string]any{}})["value"].(string)
	for _, ev := range []string{"IceCandidateFound", "MediaFlowOutStateChanged", "IceGatheringDone"} {
		c.call("subscribe", map[string]any{"object": ep, "type": ev})
	}
	c.invoke(ep, "connect", map[string]any{"sink": ep})

	peer := newPeer(t)
	peer.addMedia()
	cands := make(chan webrtc.ICECandidateInit, 32)
	offer := peer.offer(func(ci webrtc.ICECandidateInit) { cands <- ci })
	answer := c.invoke(ep, "processOffer", map[string]any{"offer": offer}).(string)
	peer.setAnswer(answer)
	c.invoke(ep, "gatherCandidates", map[string]any{})

	flowing, connected := false, peer.connected
	deadline := time.After(wait)
	for !flowing {
		select {
		case ci := <-cands:
			c.invoke(ep, "addIceCandidate", candidateParams(ci))
		case ev := <-c.events:
			data := ev["data"].(map[string]any)
			switch ev["type"] {
			case "IceCandidateFound":
				cand := data["candidate"].(map[string]any)
				if cand["__type__"] != "IceCandidate" || cand["__module__"] != "kurento" {
					t.Errorf("candidate %v", cand)
				}
				mid, _ := cand["sdpMid"].(string)
				idx := uint16(cand["sdpMLineIndex"].(float64))
				if err := peer.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: cand["candidate"].(string), SDPMid: &mid, SDPMLineIndex: &idx}); err != nil {
					t.Fatal(err)
				}
			case "MediaFlowOutStateChanged":
				if data["state"] == "FLOWING" && data["mediaType"] == "VIDEO" {
					flowing = true
				}
			}
		case <-connected:
			connected = nil // once
			peer.send()
		case <-deadline:
			t.Fatal("no media flowing")
		}
	}
	peer.awaitRx("media back", wait, gotMedia(10, 10))
	stats := c.invoke(ep, "getStats", map[string]any{"mediaType": "VIDEO"}).(map[string]any)
	b, _ := json.Marshal(stats)
	if !strings.Contains(string(b), `"RTCInboundRTPStreamStats"`) || !strings.Contains(string(b), `"RTCOutboundRTPStreamStats"`) {
		t.Errorf("getStats(VIDEO) = %s", b)
	}
	c.call("release", map[string]any{"object": pipeline})
}
