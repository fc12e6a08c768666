// Package kurento is the Kurento Protocol client of bench/'s load generators, as kurento-client
// and kurento-utils use the protocol: one WebSocket, JSON-RPC requests, a MediaPipeline per
// client, one WebRtcEndpoint per pion peer, IceCandidateFound events routed to the endpoint's
// peer and trickle ICE both ways. NewLoopbackAPI is the pion configuration of those peers.
package kurento

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
)

// Client is one WebSocket session with a Kurento-compatible server.
type Client struct {
	ws      *websocket.Conn
	wmu     sync.Mutex // serialises writes
	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan rpcReply
	events  map[string]func(json.RawMessage) // object id → IceCandidateFound handler
	onEvent map[string]func(json.RawMessage) // object id + "/" + event type → Subscribe's handler
	session string
	readErr error

	pipeline string // the MediaPipeline created by Dial
}

type rpcReply struct {
	Result *struct {
		Value     json.RawMessage `json:"value"`
		SessionID string          `json:"sessionId"`
	} `json:"result"`
	Error *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

// Dial opens ws://addr/kurento and creates the client's MediaPipeline.
func Dial(ctx context.Context, addr string) (*Client, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.DialContext(ctx, "ws://"+addr+"/kurento", nil)
	if err != nil {
		return nil, err
	}
	k := &Client{ws: ws, pending: make(map[uint64]chan rpcReply), events: make(map[string]func(json.RawMessage)),
		onEvent: make(map[string]func(json.RawMessage))}
	go k.readLoop()
	v, err := k.Call(ctx, "create", map[string]any{"type": "MediaPipeline", "constructorParams": map[string]any{}, "properties": map[string]any{}})
	if err != nil {
		k.ws.Close()
		return nil, fmt.Errorf("create MediaPipeline: %w", err)
	}
	if err := json.Unmarshal(v, &k.pipeline); err != nil {
		k.ws.Close()
		return nil, fmt.Errorf("create MediaPipeline: result %s: %w", v, err)
	}
	return k, nil
}

// Pipeline is the id of the client's MediaPipeline.
func (k *Client) Pipeline() string { return k.pipeline }

func (k *Client) readLoop() {
	for {
		_, data, err := k.ws.ReadMessage()
		if err != nil {
			k.mu.Lock()
			k.readErr = err
			for id, ch := range k.pending {
				close(ch)
				delete(k.pending, id)
			}
			k.mu.Unlock()
			return
		}
		var msg struct {
			ID     *uint64 `json:"id"`
			Method string  `json:"method"`
			Params struct {
				Value struct {
					Data   json.RawMessage `json:"data"`
					Object string          `json:"object"`
					Type   string          `json:"type"`
				} `json:"value"`
			} `json:"params"`
		}
		if json.Unmarshal(data, &msg) != nil {
			continue
		}
		if msg.Method == "onEvent" {
			k.mu.Lock()
			h := k.events[msg.Params.Value.Object]
			sub := k.onEvent[msg.Params.Value.Object+"/"+msg.Params.Value.Type]
			k.mu.Unlock()
			if h != nil && msg.Params.Value.Type == "IceCandidateFound" {
				h(msg.Params.Value.Data)
			}
			if sub != nil {
				sub(msg.Params.Value.Data)
			}
			continue
		}
		if msg.ID == nil {
			continue
		}
		var rep rpcReply
		if json.Unmarshal(data, &rep) != nil {
			continue
		}
		k.mu.Lock()
		ch := k.pending[*msg.ID]
		delete(k.pending, *msg.ID)
		if rep.Result != nil && rep.Result.SessionID != "" && k.session == "" {
			k.session = rep.Result.SessionID
		}
		k.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
}

// Call sends one request (the session id added once known) and returns its result's value.
func (k *Client) Call(ctx context.Context, method string, params map[string]any) (json.RawMessage, error) {
	ch := make(chan rpcReply, 1)
	k.mu.Lock()
	if k.readErr != nil {
		k.mu.Unlock()
		return nil, k.readErr
	}
	k.nextID++
	id := k.nextID
	k.pending[id] = ch
	if k.session != "" {
		params["sessionId"] = k.session
	}
	k.mu.Unlock()
	req, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	k.wmu.Lock()
	_ = k.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err = k.ws.WriteMessage(websocket.TextMessage, req)
	k.wmu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case rep, ok := <-ch:
		switch {
		case !ok:
			return nil, fmt.Errorf("%s: connection lost: %v", method, k.readErr)
		case rep.Error != nil:
			return nil, fmt.Errorf("%s: error %d: %s %s", method, rep.Error.Code, rep.Error.Message, rep.Error.Data)
		case rep.Result == nil:
			return nil, fmt.Errorf("%s: answer without result", method)
		}
		return rep.Result.Value, nil
	case <-ctx.Done():
		k.mu.Lock()
		delete(k.pending, id)
		k.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Invoke calls operation op of object with params (nil: none).
func (k *Client) Invoke(ctx context.Context, object, op string, params map[string]any) (json.RawMessage, error) {
	p := map[string]any{"object": object, "operation": op}
	if params != nil {
		p["operationParams"] = params
	}
	v, err := k.Call(ctx, "invoke", p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return v, nil
}

// Create creates an object of type typ with constructor params and returns its id.
func (k *Client) Create(ctx context.Context, typ string, params map[string]any) (string, error) {
	v, err := k.Call(ctx, "create", map[string]any{"type": typ, "constructorParams": params, "properties": map[string]any{}})
	if err != nil {
		return "", fmt.Errorf("create %s: %w", typ, err)
	}
	var id string
	if err := json.Unmarshal(v, &id); err != nil {
		return "", fmt.Errorf("create %s: result %s: %w", typ, v, err)
	}
	return id, nil
}

// Subscribe subscribes to object's events of type typ; h gets each event's data, on the
// client's read goroutine (it must not block).
func (k *Client) Subscribe(ctx context.Context, object, typ string, h func(json.RawMessage)) error {
	k.mu.Lock()
	k.onEvent[object+"/"+typ] = h
	k.mu.Unlock()
	if _, err := k.Call(ctx, "subscribe", map[string]any{"object": object, "type": typ}); err != nil {
		k.mu.Lock()
		delete(k.onEvent, object+"/"+typ)
		k.mu.Unlock()
		return fmt.Errorf("subscribe %s: %w", typ, err)
	}
	return nil
}

// Release releases object and forgets its event handlers.
func (k *Client) Release(ctx context.Context, object string) error {
	k.mu.Lock()
	delete(k.events, object)
	for key := range k.onEvent {
		if strings.HasPrefix(key, object+"/") {
			delete(k.onEvent, key)
		}
	}
	k.mu.Unlock()
	if _, err := k.Call(ctx, "release", map[string]any{"object": object}); err != nil {
		return fmt.Errorf("release %s: %w", object, err)
	}
	return nil
}

// Connect connects source's media to sink (all media types, as kurento-client's connect(sink)).
func (k *Client) Connect(ctx context.Context, source, sink string) error {
	_, err := k.Invoke(ctx, source, "connect", map[string]any{"sink": sink})
	return err
}

// Negotiate creates a WebRtcEndpoint for pc and runs the kurento-utils sequence: subscribe
// IceCandidateFound, processOffer, (beforeGather, e.g. connect), gatherCandidates, and trickle
// candidates both ways. It returns the endpoint's id.
func (k *Client) Negotiate(ctx context.Context, pc *webrtc.PeerConnection, beforeGather func(ep string) error) (string, error) {
	v, err := k.Call(ctx, "create", map[string]any{"type": "WebRtcEndpoint",
		"constructorParams": map[string]any{"mediaPipeline": k.pipeline}, "properties": map[string]any{}})
	if err != nil {
		return "", fmt.Errorf("create WebRtcEndpoint: %w", err)
	}
	var ep string
	if err := json.Unmarshal(v, &ep); err != nil {
		return "", fmt.Errorf("create WebRtcEndpoint: result %s: %w", v, err)
	}

	// Remote candidates wait for the answer to be applied; local ones for the answer to exist.
	remoteReady := make(chan struct{})
	var remoteErr error
	var remoteMu sync.Mutex
	k.mu.Lock()
	k.events[ep] = func(data json.RawMessage) {
		var ev struct {
			Candidate struct {
				Candidate     string  `json:"candidate"`
				SDPMid        *string `json:"sdpMid"`
				SDPMLineIndex *uint16 `json:"sdpMLineIndex"`
			} `json:"candidate"`
		}
		if err := json.Unmarshal(data, &ev); err != nil || ev.Candidate.Candidate == "" {
			return
		}
		go func() {
			<-remoteReady
			if err := pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: ev.Candidate.Candidate,
				SDPMid: ev.Candidate.SDPMid, SDPMLineIndex: ev.Candidate.SDPMLineIndex}); err != nil {
				remoteMu.Lock()
				remoteErr = err
				remoteMu.Unlock()
			}
		}()
	}
	k.mu.Unlock()
	if _, err := k.Call(ctx, "subscribe", map[string]any{"object": ep, "type": "IceCandidateFound"}); err != nil {
		return "", fmt.Errorf("subscribe IceCandidateFound: %w", err)
	}

	var localMu sync.Mutex
	var queued []webrtc.ICECandidateInit
	answered := false
	sendCandidate := func(c webrtc.ICECandidateInit) {
		cand := map[string]any{"__module__": "kurento", "__type__": "IceCandidate", "candidate": c.Candidate}
		if c.SDPMid != nil {
			cand["sdpMid"] = *c.SDPMid
		}
		if c.SDPMLineIndex != nil {
			cand["sdpMLineIndex"] = *c.SDPMLineIndex
		}
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = k.Invoke(cctx, ep, "addIceCandidate", map[string]any{"candidate": cand})
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		localMu.Lock()
		if !answered {
			queued = append(queued, init)
			localMu.Unlock()
			return
		}
		localMu.Unlock()
		go sendCandidate(init)
	})

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	v, err = k.Invoke(ctx, ep, "processOffer", map[string]any{"offer": offer.SDP})
	if err != nil {
		return "", err
	}
	var answer string
	if err := json.Unmarshal(v, &answer); err != nil {
		return "", fmt.Errorf("processOffer: result %.80s: %w", v, err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return "", fmt.Errorf("applying processOffer's answer: %w", err)
	}
	close(remoteReady)
	localMu.Lock()
	answered = true
	flush := queued
	queued = nil
	localMu.Unlock()
	for _, c := range flush {
		go sendCandidate(c)
	}
	if beforeGather != nil {
		if err := beforeGather(ep); err != nil {
			return "", err
		}
	}
	if _, err := k.Invoke(ctx, ep, "gatherCandidates", nil); err != nil {
		return "", err
	}
	remoteMu.Lock()
	defer remoteMu.Unlock()
	if remoteErr != nil {
		return "", fmt.Errorf("addICECandidate: %w", remoteErr)
	}
	return ep, nil
}

// Close releases the MediaPipeline (and with it every element) and closes the WebSocket.
func (k *Client) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if k.pipeline != "" {
		_, _ = k.Call(ctx, "release", map[string]any{"object": k.pipeline})
	}
	k.wmu.Lock()
	_ = k.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	k.wmu.Unlock()
	_ = k.ws.Close()
}
