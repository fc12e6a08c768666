package rpc

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
	"github.com/prometheus/client_golang/prometheus"

	"github.com/miksilo/miksilo/mediaelements"
)

const wait = 5 * time.Second

type testServer struct {
	rpc   *Server
	store *mediaelements.Store
	http  *httptest.Server
	url   string
	reg   *prometheus.Registry
}

func newTestServer(t *testing.T, limits mediaelements.Limits, opts ...Option) *testServer {
	t.Helper()
	reg := mediaelements.NewRegistry(mediaelements.PassThroughClass(), mediaelements.DispatcherClass(), mediaelements.DispatcherOneToManyClass())
	store := mediaelements.NewStore(mediaelements.Options{Registry: reg, Limits: limits, Metadata: "meta"})
	preg := prometheus.NewRegistry()
	rs := New(Params{Store: store, Registerer: preg}, opts...)
	mux := http.NewServeMux()
	mux.Handle("/kurento", rs)
	hs := httptest.NewServer(mux)
	ts := &testServer{rpc: rs, store: store, http: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/kurento", reg: preg}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = rs.Close(ctx)
		hs.Close()
		store.ReleaseAll()
	})
	return ts
}

// client is a raw Kurento Protocol client: it sends frames and sorts what
// comes back into responses (by id) and events.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	mu     sync.Mutex
	nextID int
	resp   map[string]chan map[string]any
	events chan map[string]any
	raw    chan map[string]any // responses without a pending id (errors with id null)
	closed chan struct{}
}

func (ts *testServer) dial(t *testing.T, hdr http.Header) *client {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(ts.url, hdr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &client{t: t, ws: ws, resp: map[string]chan map[string]any{},
		events: make(chan map[string]any, 100), raw: make(chan map[string]any, 100), closed: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { c.close() })
	return c
}

func (c *client) read() {
	defer close(c.closed)
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Errorf("server sent invalid JSON: %s", b)
			return
		}
		if m["jsonrpc"] != "2.0" {
			c.t.Errorf("frame without jsonrpc 2.0: %s", b)
		}
		if m["method"] == "onEvent" {
			if _, has := m["id"]; has {
				c.t.Errorf("event carries an id: %s", b)
			}
			c.events <- m["params"].(map[string]any)["value"].(map[string]any)
			continue
		}
		id, _ := json.Marshal(m["id"])
		c.mu.Lock()
		ch, ok := c.resp[string(id)]
		delete(c.resp, string(id))
		c.mu.Unlock()
		if ok {
			ch <- m
		} else {
			c.raw <- m
		}
	}
}

func (c *client) close() { _ = c.ws.Close(); <-c.closed }

// send writes a request and returns the channel its response arrives on.
func (c *client) send(method string, params any) (int, chan map[string]any) {
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	ch := make(chan map[string]any, 1)
	c.resp[jsonID(id)] = ch
	c.mu.Unlock()
	frame := map[string]any{"jsonrpc": "2.0", "id": id, "method": method}
	if params != nil {
		frame["params"] = params
	}
	c.write(frame)
	return id, ch
}

func jsonID(id int) string { b, _ := json.Marshal(id); return string(b) }

func (c *client) write(frame any) {
	b, err := json.Marshal(frame)
	if err != nil {
		c.t.Fatal(err)
	}
	c.writeRaw(string(b))
}

func (c *client) writeRaw(s string) {
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func awaitResp(t *testing.T, ch chan map[string]any) map[string]any {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(wait):
		t.Fatal("no response")
		return nil
	}
}

// call sends a request and returns its full response frame.
func (c *client) call(method string, params any) map[string]any {
	c.t.Helper()
	_, ch := c.send(method, params)
	return awaitResp(c.t, ch)
}

// ok calls and fails the test on an error response; it returns result.
func (c *client) ok(method string, params any) map[string]any {
	c.t.Helper()
	m := c.call(method, params)
	if m["error"] != nil {
		c.t.Fatalf("%s %v: error %v", method, params, m["error"])
	}
	res, isObj := m["result"].(map[string]any)
	if !isObj {
		c.t.Fatalf("%s: result is not an object: %v", method, m["result"])
	}
	return res
}

// fails calls and returns the error object, failing the test on success.
func (c *client) fails(method string, params any) map[string]any {
	c.t.Helper()
	m := c.call(method, params)
	e, isObj := m["error"].(map[string]any)
	if !isObj {
		c.t.Fatalf("%s %v: expected an error, got %v", method, params, m)
	}
	return e
}

func (c *client) event(t *testing.T, typ string) map[string]any {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev := <-c.events:
			if ev["type"] == typ {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event", typ)
			return nil
		}
	}
}

func (c *client) create(typ string, ctor map[string]any) string {
	c.t.Helper()
	p := map[string]any{"type": typ, "properties": map[string]any{}}
	if ctor != nil {
		p["constructorParams"] = ctor
	}
	return c.ok("create", p)["value"].(string)
}

func (c *client) invoke(obj, op string, params map[string]any) map[string]any {
	c.t.Helper()
	p := map[string]any{"object": obj, "operation": op}
	if params != nil {
		p["operationParams"] = params
	}
	return c.ok("invoke", p)
}

func code(e map[string]any) int { return int(e["code"].(float64)) }

func dataType(e map[string]any) string {
	d, _ := e["data"].(map[string]any)
	s, _ := d["type"].(string)
	return s
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
