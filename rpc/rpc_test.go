package rpc

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/miksilo/miksilo/mediaelements"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The official client's start-up: ping (no session), describe the manager
// (session generated), getInfo, then requests without sessionId that must
// get the connection's session injected.
func TestSessionInjectionAndStartup(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	pong := c.ok("ping", map[string]any{"interval": 5000})
	if pong["value"] != "pong" || pong["sessionId"] != nil {
		t.Fatalf("first ping = %v, want pong without session", pong)
	}
	d := c.ok("describe", map[string]any{"object": "manager_ServerManager"})
	sid, _ := d["sessionId"].(string)
	if sid == "" || d["type"] != "ServerManager" || d["qualifiedType"] != "kurento.ServerManager" {
		t.Fatalf("describe manager = %v", d)
	}
	info := c.invoke("manager_ServerManager", "getInfo", nil)
	if info["sessionId"] != sid {
		t.Fatalf("getInfo sessionId %v, want %s", info["sessionId"], sid)
	}
	res := c.ok("create", map[string]any{"type": "MediaPipeline", "properties": map[string]any{}})
	if res["sessionId"] != sid || !strings.HasSuffix(res["value"].(string), "_kurento.MediaPipeline") {
		t.Fatalf("create = %v", res)
	}
	// Later pings (no params) carry the connection's session.
	if p := c.ok("ping", nil); p["sessionId"] != sid {
		t.Fatalf("ping after session = %v", p)
	}
	if got := ts.store.Sessions(); len(got) != 1 || got[0] != sid {
		t.Fatalf("sessions = %v", got)
	}
}

func TestAnyOriginAccepted(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	host := strings.TrimPrefix(ts.http.URL, "http://")
	for _, origin := range []string{host, "http://example.com", "null", "file://"} {
		t.Run(origin, func(t *testing.T) {
			c := ts.dial(t, http.Header{"Origin": {origin}})
			c.ok("ping", nil)
		})
	}
}

func TestErrorCodes(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	p := c.create("MediaPipeline", nil)
	pt := c.create("PassThrough", map[string]any{"mediaPipeline": p})
	other := c.create("MediaPipeline", nil)
	pt2 := c.create("PassThrough", map[string]any{"mediaPipeline": other})
	for _, tc := range []struct {
		name     string
		method   string
		params   any
		code     int
		dataType string
		msg      string
	}{
		{"unknown method", "nope", map[string]any{}, -32601, "", "Method not found."},
		{"unknown object", "invoke", map[string]any{"object": "x_kurento.MediaPipeline", "operation": "getName"}, 40101, "MEDIA_OBJECT_NOT_FOUND", "Object 'x_kurento.MediaPipeline' not found"},
		{"describe unknown", "describe", map[string]any{"object": "nope"}, 40101, "MEDIA_OBJECT_NOT_FOUND", ""},
		{"unknown operation", "invoke", map[string]any{"object": pt, "operation": "frobnicate"}, 40008, "MALFORMED_TRANSACTION", "Method 'frobnicate' with 0 parameters not found"},
		{"setter of final property", "invoke", map[string]any{"object": pt, "operation": "setId", "operationParams": map[string]any{"id": "x"}}, 40008, "MALFORMED_TRANSACTION", ""},
		{"bad param type", "invoke", map[string]any{"object": pt, "operation": "setName", "operationParams": map[string]any{"name": 3}}, 40001, "MARSHALL_ERROR", "'name' parameter should be a string"},
		{"missing param", "invoke", map[string]any{"object": pt, "operation": "addTag", "operationParams": map[string]any{"key": "k"}}, 40001, "MARSHALL_ERROR", "'value' parameter should be a string"},
		{"sink not an element", "invoke", map[string]any{"object": pt, "operation": "connect", "operationParams": map[string]any{"sink": p}}, 40001, "MARSHALL_ERROR", "'sink' parameter should be a MediaElement"},
		{"bad media type", "invoke", map[string]any{"object": pt, "operation": "connect", "operationParams": map[string]any{"sink": pt, "mediaType": "SMELL"}}, 40001, "MARSHALL_ERROR", ""},
		{"cross-pipeline connect", "invoke", map[string]any{"object": pt, "operation": "connect", "operationParams": map[string]any{"sink": pt2}}, 40004, "CONNECT_ERROR", "Media elements do not share pipeline"},
		{"unknown type", "create", map[string]any{"type": "FooEndpoint"}, 40108, "MEDIA_OBJECT_NOT_AVAILABLE", "Factory 'FooEndpoint' not found"},
		{"abstract type", "create", map[string]any{"type": "MediaElement", "constructorParams": map[string]any{"mediaPipeline": p}}, 40108, "MEDIA_OBJECT_NOT_AVAILABLE", ""},
		{"missing type", "create", map[string]any{}, -32000, "", "'type' parameter is required"},
		{"missing ctor param", "create", map[string]any{"type": "PassThrough"}, 40001, "MARSHALL_ERROR", "'mediaPipeline' parameter should be a MediaPipeline"},
		{"unknown pipeline", "create", map[string]any{"type": "PassThrough", "constructorParams": map[string]any{"mediaPipeline": "gone_kurento.MediaPipeline"}}, 40101, "MEDIA_OBJECT_NOT_FOUND", ""},
		{"object not a string", "describe", map[string]any{"object": 7}, -32000, "", "'object' parameter should be a string"},
		{"unknown event", "subscribe", map[string]any{"object": pt, "type": "IceComponentStateChange"}, 40106, "MEDIA_OBJECT_EVENT_NOT_SUPPORTED", "Event 'IceComponentStateChange' not supported"},
		{"newref outside transaction", "invoke", map[string]any{"object": "newref:0", "operation": "getName"}, 40109, "MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT", ""},
		{"tag not found", "invoke", map[string]any{"object": pt, "operation": "getTag", "operationParams": map[string]any{"key": "k"}}, 40110, "MEDIA_OBJECT_TAG_KEY_NOT_FOUND", ""},
		{"connect unknown session", "connect", map[string]any{"sessionId": "no-such-session"}, 40007, "INVALID_SESSION", "Invalid session"},
		{"params not an object", "create", []any{1, 2}, -32602, "INVALID_PARAMS", ""},
		{"release manager", "release", map[string]any{"object": "manager_ServerManager"}, 40111, "MEDIA_OBJECT_OPERATION_NOT_SUPPORTED", ""},
		{"kmd of unknown module", "invoke", map[string]any{"object": "manager_ServerManager", "operation": "getKmd", "operationParams": map[string]any{"moduleName": "nope"}}, 40500, "SERVER_MANAGER_ERROR_KMD_NOT_FOUND", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := c.fails(tc.method, tc.params)
			if code(e) != tc.code || dataType(e) != tc.dataType {
				t.Fatalf("error = %v, want code %d type %q", e, tc.code, tc.dataType)
			}
			if tc.dataType == "" && e["data"] != nil {
				t.Fatalf("error %v carries data", e)
			}
			if tc.msg != "" && e["message"] != tc.msg {
				t.Fatalf("message %q, want %q", e["message"], tc.msg)
			}
		})
	}
	// None of that disturbed the objects.
	if got := c.invoke(pt, "getName", nil)["value"]; got != pt {
		t.Fatalf("getName after errors = %v", got)
	}
}

func TestMalformedFramesKeepTheSocket(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	for _, tc := range []struct {
		name, frame string
		code        int
		id          any
	}{
		{"not json", `{"jsonrpc":"2.0",`, -32700, nil},
		{"garbage", `hello`, -32700, nil},
		{"no jsonrpc", `{"method":"ping","id":4}`, -32600, nil},
		{"wrong version", `{"jsonrpc":"1.0","method":"ping","id":5}`, -32600, nil},
		{"object id", `{"jsonrpc":"2.0","method":"ping","id":{"a":1}}`, -32600, nil},
		{"method not a string", `{"jsonrpc":"2.0","method":7,"id":6}`, -32600, nil},
		{"batch", `[{"jsonrpc":"2.0","method":"ping","id":1}]`, -32600, nil},
		{"fractional id", `{"jsonrpc":"2.0","method":"create","params":{"type":"MediaPipeline"},"id":1.5}`, -32600, nil},
		{"negative id", `{"jsonrpc":"2.0","method":"create","params":{"type":"MediaPipeline"},"id":-1}`, -32600, nil},
		{"boolean id", `{"jsonrpc":"2.0","method":"create","params":{"type":"MediaPipeline"},"id":true}`, -32600, nil},
		{"id beyond uint64", `{"jsonrpc":"2.0","method":"create","params":{"type":"MediaPipeline"},"id":18446744073709551616}`, -32600, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.writeRaw(tc.frame)
			select {
			case m := <-c.raw:
				e := m["error"].(map[string]any)
				if code(e) != tc.code || m["id"] != tc.id {
					t.Fatalf("got %v, want code %d id %v", m, tc.code, tc.id)
				}
			case <-time.After(wait):
				t.Fatal("no error frame")
			}
		})
	}
	// A response-shaped frame (ignored by the server) must not revive any
	// rejected request above.
	c.writeRaw(`{"jsonrpc":"2.0","id":9,"result":{}}`)
	c.ok("ping", nil) // the socket still works
	if n := len(ts.store.Pipelines()); n != 0 {
		t.Fatalf("%d pipelines created by rejected requests", n)
	}
}

// Before a session exists, a request that needs params and has none gets
// -32602; with a session bound, KMS injects sessionId and the request fails
// on its first missing field instead.
func TestMissingParams(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	e := c.fails("invoke", nil)
	if code(e) != -32602 || dataType(e) != "INVALID_PARAMS" || e["message"] != "'params' is required" {
		t.Fatalf("no params, no session: %v", e)
	}
	c.create("MediaPipeline", nil)
	if e := c.fails("invoke", nil); code(e) != -32000 || e["message"] != "'object' parameter is required" {
		t.Fatalf("no params, session bound: %v", e)
	}
}

func TestNotificationIsExecutedAndAnsweredWithNullID(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	c.write(map[string]any{"jsonrpc": "2.0", "method": "create", "params": map[string]any{"type": "MediaPipeline"}})
	select {
	case m := <-c.raw:
		if m["id"] != nil || code(m["error"].(map[string]any)) != -32000 {
			t.Fatalf("got %v", m)
		}
	case <-time.After(wait):
		t.Fatal("no answer to notification")
	}
	if n := len(ts.store.Pipelines()); n != 1 {
		t.Fatalf("pipelines = %d, want 1 (notifications are executed)", n)
	}
	// It ran in a real session (generated, as for a request), not in "".
	if got := ts.store.Sessions(); len(got) != 1 || got[0] == "" {
		t.Fatalf("sessions = %q", got)
	}
}

func TestCloseSession(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	sid := c.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"]
	frame := map[string]any{"jsonrpc": "2.0", "id": 50, "method": "create",
		"params": map[string]any{"type": "MediaPipeline", "sessionId": sid}}
	send := func() any {
		ch := make(chan map[string]any, 1)
		c.mu.Lock()
		c.resp["50"] = ch
		c.mu.Unlock()
		c.write(frame)
		return awaitResp(t, ch)["result"].(map[string]any)["value"]
	}
	p := send()
	if again := send(); again != p {
		t.Fatalf("retransmission not answered from the cache: %v then %v", p, again)
	}
	if res := c.ok("closeSession", map[string]any{"release": true}); res["sessionId"] != sid {
		t.Fatalf("closeSession = %v", res)
	}
	if _, ok := ts.store.Get(p.(string)); ok {
		t.Fatal("closeSession{release:true} left the session's pipeline")
	}
	// The closed session's cached responses are gone: the same frame runs again.
	if again := send(); again == p {
		t.Fatal("closed session's request answered from the cache")
	}
	// The socket is no longer bound: a request without sessionId gets a new session.
	c2 := ts.dial(t, nil)
	osid := c2.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"]
	c2.ok("closeSession", map[string]any{})
	if nsid := c2.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"]; nsid == osid {
		t.Fatal("closed session came back on its socket")
	}
}

// A duplicate answered from the cache is counted with its own result code.
func TestCacheHitsKeepTheirCode(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	sid := c.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"]
	frame := map[string]any{"jsonrpc": "2.0", "id": 5, "method": "invoke",
		"params": map[string]any{"object": "gone", "operation": "getName", "sessionId": sid}}
	for range 2 {
		ch := make(chan map[string]any, 1)
		c.mu.Lock()
		c.resp["5"] = ch
		c.mu.Unlock()
		c.write(frame)
		if e := awaitResp(t, ch)["error"].(map[string]any); code(e) != 40101 {
			t.Fatalf("error = %v", e)
		}
	}
	if n := testutil.ToFloat64(ts.rpc.metrics.requests.WithLabelValues("invoke", "40101")); n != 2 {
		t.Fatalf("invoke/40101 counted %v times, want 2", n)
	}
	if n := testutil.ToFloat64(ts.rpc.metrics.cacheHits); n != 1 {
		t.Fatalf("cache hits = %v", n)
	}
}

// Every result is an object carrying sessionId (kurento-client forgets its
// session on a result without one).
func TestEveryResultCarriesSessionID(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	sid := c.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"]
	p := c.create("MediaPipeline", nil)
	a := c.create("PassThrough", map[string]any{"mediaPipeline": p})
	b := c.create("PassThrough", map[string]any{"mediaPipeline": p})
	sub := c.ok("subscribe", map[string]any{"object": a, "type": "ElementConnected"})["value"]
	for _, tc := range []struct {
		method string
		params map[string]any
	}{
		{"describe", map[string]any{"object": a}},
		{"invoke", map[string]any{"object": a, "operation": "connect", "operationParams": map[string]any{"sink": b}}},
		{"invoke", map[string]any{"object": a, "operation": "getName"}},
		{"subscribe", map[string]any{"object": a, "type": "ElementDisconnected"}},
		{"unsubscribe", map[string]any{"object": a, "subscription": sub}},
		{"unsubscribe", map[string]any{"object": a, "subscription": "unknown"}},
		{"ref", map[string]any{"object": a}},
		{"keepAlive", map[string]any{}},
		{"transaction", map[string]any{"operations": []any{}}},
		{"connect", map[string]any{"sessionId": sid}},
		{"release", map[string]any{"object": "never-existed"}},
		{"release", map[string]any{"object": p}},
		{"closeSession", map[string]any{}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			res := c.ok(tc.method, tc.params)
			if res["sessionId"] != sid {
				t.Fatalf("result %v lacks sessionId %v", res, sid)
			}
		})
	}
	void := c.call("invoke", map[string]any{"object": "manager_ServerManager", "operation": "getCpuCount"})
	if _, has := void["result"].(map[string]any)["value"]; !has {
		t.Fatalf("invoke result lacks value: %v", void)
	}
}

func TestVoidMethodsReturnNullValue(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	p := c.create("MediaPipeline", nil)
	res := c.invoke(p, "setName", map[string]any{"name": "show"})
	if v, has := res["value"]; !has || v != nil {
		t.Fatalf("setName result %v, want value null", res)
	}
	if got := c.invoke(p, "getName", nil)["value"]; got != "show" {
		t.Fatalf("getName = %v", got)
	}
}

func TestTransactions(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	sid := c.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"]
	op := func(id int, method string, params map[string]any) map[string]any {
		return map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params}
	}
	t.Run("newref", func(t *testing.T) {
		res := c.ok("transaction", map[string]any{"object": map[string]any{"_events": map[string]any{}}, "operations": []any{
			op(0, "create", map[string]any{"type": "MediaPipeline", "properties": map[string]any{}}),
			op(1, "create", map[string]any{"type": "PassThrough", "constructorParams": map[string]any{"mediaPipeline": "newref:0"}}),
			op(2, "create", map[string]any{"type": "kurento.PassThrough", "constructorParams": map[string]any{"mediaPipeline": "newref:0"}}),
			op(3, "invoke", map[string]any{"object": "newref:1", "operation": "connect", "operationParams": map[string]any{"sink": "newref:2"}}),
		}})
		vals := res["value"].([]any)
		if len(vals) != 4 || res["sessionId"] != sid {
			t.Fatalf("transaction = %v", res)
		}
		pid := vals[0].(map[string]any)["result"].(map[string]any)["value"].(string)
		a := vals[1].(map[string]any)["result"].(map[string]any)["value"].(string)
		if !strings.HasPrefix(a, pid+"/") {
			t.Fatalf("element %s not in pipeline %s", a, pid)
		}
		for i, v := range vals {
			m := v.(map[string]any)
			if m["jsonrpc"] != "2.0" || m["id"] != float64(i) {
				t.Fatalf("op %d response = %v", i, m)
			}
		}
		conns := c.invoke(a, "getSinkConnections", map[string]any{})["value"].([]any)
		if len(conns) != 3 {
			t.Fatalf("connections after transaction = %v", conns)
		}
	})
	t.Run("stops at first error", func(t *testing.T) {
		before := ts.store.Len()
		res := c.ok("transaction", map[string]any{"operations": []any{
			op(0, "create", map[string]any{"type": "MediaPipeline"}),
			op(1, "invoke", map[string]any{"object": "gone", "operation": "getName"}),
			op(2, "create", map[string]any{"type": "MediaPipeline"}),
		}})
		vals := res["value"].([]any)
		if len(vals) != 2 {
			t.Fatalf("want 2 responses, got %v", vals)
		}
		if e := vals[1].(map[string]any)["error"].(map[string]any); code(e) != 40101 || !strings.Contains(e["message"].(string), " not found") {
			t.Fatalf("op 1 = %v", vals[1])
		}
		if ts.store.Len() != before+1 {
			t.Fatalf("objects %d, want %d (op 2 must not run)", ts.store.Len(), before+1)
		}
	})
	t.Run("implicit transaction with per-op sessions", func(t *testing.T) {
		p := c.create("MediaPipeline", nil)
		res := c.ok("transaction", map[string]any{"operations": []any{
			op(0, "invoke", map[string]any{"object": p, "operation": "getName", "sessionId": sid}),
			op(1, "invoke", map[string]any{"object": p, "operation": "setName", "operationParams": map[string]any{"name": "x"}, "sessionId": sid}),
		}})
		vals := res["value"].([]any)
		if len(vals) != 2 || vals[0].(map[string]any)["result"].(map[string]any)["value"] != p {
			t.Fatalf("implicit transaction = %v", vals)
		}
	})
	for _, tc := range []struct {
		name string
		ops  []any
		msg  string
	}{
		{"bad id", []any{op(1, "ping", nil)}, "Id of request '0' should be '0'"},
		{"newref out of range", []any{op(0, "create", map[string]any{"type": "PassThrough", "constructorParams": map[string]any{"mediaPipeline": "newref:5"}})}, "Invalid index of newref '5'"},
		{"nested", []any{op(0, "transaction", map[string]any{"operations": []any{}})}, "Transactions cannot be nested"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := c.fails("transaction", map[string]any{"operations": tc.ops})
			if code(e) != 40008 || e["message"] != tc.msg {
				t.Fatalf("error = %v, want 40008 %q", e, tc.msg)
			}
		})
	}
	t.Run("newref to a failed op", func(t *testing.T) {
		// op 0 fails, so the transaction stops before op 1 can use it.
		res := c.ok("transaction", map[string]any{"operations": []any{
			op(0, "create", map[string]any{"type": "Nope"}),
			op(1, "create", map[string]any{"type": "PassThrough", "constructorParams": map[string]any{"mediaPipeline": "newref:0"}}),
		}})
		if vals := res["value"].([]any); len(vals) != 1 {
			t.Fatalf("got %v", vals)
		}
	})
	t.Run("newref to a void result", func(t *testing.T) {
		p := c.create("MediaPipeline", nil)
		e := c.fails("transaction", map[string]any{"operations": []any{
			op(0, "invoke", map[string]any{"object": p, "operation": "setName", "operationParams": map[string]any{"name": "n"}}),
			op(1, "describe", map[string]any{"object": "newref:0"}),
		}})
		if code(e) != 40008 || e["message"] != "Result not found on request 0" {
			t.Fatalf("error = %v", e)
		}
	})
}

func TestDuplicateRequestCache(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ttl       time.Duration
		pipelines int
	}{{"cached", 20 * time.Second, 1}, {"disabled", 0, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, mediaelements.Limits{}, WithRequestCacheTTL(tc.ttl))
			c := ts.dial(t, nil)
			sid := c.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"]
			frame := map[string]any{"jsonrpc": "2.0", "id": 77, "method": "create",
				"params": map[string]any{"type": "MediaPipeline", "sessionId": sid}}
			var ids []any
			for range 2 {
				ch := make(chan map[string]any, 1)
				c.mu.Lock()
				c.resp["77"] = ch
				c.mu.Unlock()
				c.write(frame)
				ids = append(ids, awaitResp(t, ch)["result"].(map[string]any)["value"])
			}
			if got := len(ts.store.Pipelines()); got != tc.pipelines {
				t.Fatalf("pipelines = %d, want %d", got, tc.pipelines)
			}
			if (ids[0] == ids[1]) != (tc.pipelines == 1) {
				t.Fatalf("responses %v", ids)
			}
		})
	}
}

// Events go to the socket the session is bound to now: after a reconnect
// and connect {sessionId}, on the new socket.
func TestReconnectKeepsObjectsAndMovesEvents(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c1 := ts.dial(t, nil)
	sid := c1.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"]
	p := c1.create("MediaPipeline", nil)
	a := c1.create("PassThrough", map[string]any{"mediaPipeline": p})
	b := c1.create("PassThrough", map[string]any{"mediaPipeline": p})
	c1.ok("subscribe", map[string]any{"object": a, "type": "ElementConnected"})
	c1.close()

	c2 := ts.dial(t, nil)
	c2.ok("ping", nil)
	res := c2.ok("connect", map[string]any{"sessionId": sid})
	if res["sessionId"] != sid || res["serverId"] == "" {
		t.Fatalf("connect = %v", res)
	}
	if got := c2.invoke(a, "getName", nil)["value"]; got != a {
		t.Fatalf("object lost across reconnect: %v", got)
	}
	c2.invoke(a, "connect", map[string]any{"sink": b, "mediaType": "VIDEO"})
	ev := c2.event(t, "ElementConnected")
	data := ev["data"].(map[string]any)
	if ev["object"] != a || data["sink"] != b || data["mediaType"] != "VIDEO" || data["source"] != a {
		t.Fatalf("event = %v", ev)
	}
	if _, isStr := data["timestampMillis"].(string); !isStr {
		t.Fatalf("timestampMillis not a string: %v", data)
	}
}

func TestEventsFollowRebinding(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c1 := ts.dial(t, nil)
	sid := c1.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"]
	p := c1.create("MediaPipeline", nil)
	a := c1.create("PassThrough", map[string]any{"mediaPipeline": p})
	b := c1.create("PassThrough", map[string]any{"mediaPipeline": p})
	c1.ok("subscribe", map[string]any{"object": a, "type": "ElementConnected"})
	// A second socket using the same session takes the binding over with
	// its first successful response (KMS storeConnection).
	c2 := ts.dial(t, nil)
	c2.ok("invoke", map[string]any{"object": a, "operation": "getName", "sessionId": sid})
	c2.ok("invoke", map[string]any{"object": a, "operation": "connect", "operationParams": map[string]any{"sink": b}})
	c2.event(t, "ElementConnected")
	select {
	case ev := <-c1.events:
		t.Fatalf("old socket still got %v", ev)
	default:
	}
}

func TestSessionGC(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{}, WithGCPeriod(100*time.Millisecond))
	gone := ts.dial(t, nil)
	gsid := gone.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"]
	gp := gone.create("MediaPipeline", nil)
	gone.create("PassThrough", map[string]any{"mediaPipeline": gp})
	stay := ts.dial(t, nil)
	sp := stay.create("MediaPipeline", nil)
	gone.close()

	eventually(t, "the closed session's pipeline to be collected", func() bool {
		_, ok := ts.store.Get(gp)
		return !ok
	})
	if _, ok := ts.store.Get(sp); !ok {
		t.Fatal("pipeline of a connected session was collected")
	}
	c := ts.dial(t, nil)
	if e := c.fails("connect", map[string]any{"sessionId": gsid}); code(e) != 40007 {
		t.Fatalf("connect to collected session: %v", e)
	}
	if e := c.fails("keepAlive", map[string]any{"sessionId": gsid}); code(e) != 40007 {
		t.Fatalf("keepAlive of collected session: %v", e)
	}
	// The pipeline of a session that reconnects in time is kept.
	sid := stay.ok("ping", nil)["sessionId"]
	stay.close()
	back := ts.dial(t, nil)
	back.ok("connect", map[string]any{"sessionId": sid})
	gp2 := c.create("MediaPipeline", nil) // c's own session: proves GC keeps running
	c.close()
	eventually(t, "another closed session to be collected", func() bool {
		_, ok := ts.store.Get(gp2)
		return !ok
	})
	if _, ok := ts.store.Get(sp); !ok {
		t.Fatal("reconnected session's pipeline was collected")
	}
}

// An object referenced (described) by another live session survives the GC
// of the session that created it.
func TestGCKeepsObjectsReferencedByAnotherSession(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{}, WithGCPeriod(100*time.Millisecond))
	owner := ts.dial(t, nil)
	p := owner.create("MediaPipeline", nil)
	a := owner.create("PassThrough", map[string]any{"mediaPipeline": p})
	viewer := ts.dial(t, nil)
	viewer.ok("describe", map[string]any{"object": a})
	marker := owner.create("MediaPipeline", nil)
	owner.close()
	eventually(t, "owner's unshared pipeline to be collected", func() bool { _, ok := ts.store.Get(marker); return !ok })
	if _, ok := ts.store.Get(a); !ok {
		t.Fatal("element described by a live session was collected")
	}
	if _, ok := ts.store.Get(p); !ok {
		t.Fatal("pipeline of a referenced element was collected")
	}
}

func TestObjectLimits(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{MaxObjects: 3, MaxObjectsPerSession: 2})
	a := ts.dial(t, nil)
	p := a.create("MediaPipeline", nil)
	a.create("PassThrough", map[string]any{"mediaPipeline": p})
	e := a.fails("create", map[string]any{"type": "PassThrough", "constructorParams": map[string]any{"mediaPipeline": p}})
	if code(e) != 40009 || dataType(e) != "NOT_ENOUGH_RESOURCES" {
		t.Fatalf("per-session limit: %v", e)
	}
	b := ts.dial(t, nil)
	b.create("MediaPipeline", nil)
	if e := b.fails("create", map[string]any{"type": "MediaPipeline"}); code(e) != 40009 {
		t.Fatalf("server limit: %v", e)
	}
	if ts.store.Len() != 3 {
		t.Fatalf("objects = %d, want 3", ts.store.Len())
	}
	a.ok("release", map[string]any{"object": p})
	a.create("MediaPipeline", nil) // quota freed by the release
}

func TestAuthToken(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{}, WithAuthToken("s3cret"))
	for _, tc := range []struct {
		name   string
		query  string
		header http.Header
		ok     bool
	}{
		{"none", "", nil, false},
		{"wrong query", "?access_token=nope", nil, false},
		{"query", "?access_token=s3cret", nil, true},
		{"bearer", "", http.Header{"Authorization": {"Bearer s3cret"}}, true},
		{"wrong bearer", "", http.Header{"Authorization": {"Bearer s3cre"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, resp, err := websocket.DefaultDialer.Dial(ts.url+tc.query, tc.header)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				ws.Close()
				return
			}
			if err == nil {
				ws.Close()
				t.Fatal("accepted without the right token")
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("want 401, got %v", resp)
			}
		})
	}
}

func TestMaxMessageSize(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{}, WithMaxMessageBytes(512))
	c := ts.dial(t, nil)
	c.ok("ping", nil)
	c.writeRaw(`{"jsonrpc":"2.0","method":"ping","id":1,"params":{"pad":"` + strings.Repeat("x", 600) + `"}}`)
	select {
	case <-c.closed:
	case <-time.After(wait):
		t.Fatal("oversized message did not close the socket")
	}
}

// A blocking method (getUsedCpu waits for its interval) runs off the
// socket's queue: a ping sent after it is answered first.
func TestBlockingMethodDoesNotHoldTheQueue(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	_, slow := c.send("invoke", map[string]any{"object": "manager_ServerManager", "operation": "getUsedCpu",
		"operationParams": map[string]any{"interval": 1000}})
	_, fast := c.send("ping", nil)
	select {
	case <-fast:
	case m := <-slow:
		t.Fatalf("getUsedCpu answered before the ping behind it: %v", m)
	case <-time.After(wait):
		t.Fatal("no answer")
	}
	m := awaitResp(t, slow)
	if v, ok := m["result"].(map[string]any)["value"].(float64); !ok || v < 0 {
		t.Fatalf("getUsedCpu = %v", m)
	}
}

// Requests on one socket are answered in order (non-blocking ones).
func TestRequestsAnsweredInOrder(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	p := c.create("MediaPipeline", nil)
	var chans []chan map[string]any
	for i := range 50 {
		_, ch := c.send("invoke", map[string]any{"object": p, "operation": "setName", "operationParams": map[string]any{"name": strings.Repeat("n", i+1)}})
		chans = append(chans, ch)
	}
	for _, ch := range chans {
		awaitResp(t, ch)
	}
	if got := c.invoke(p, "getName", nil)["value"]; got != strings.Repeat("n", 50) {
		t.Fatalf("last write did not win: %v", got)
	}
}

func TestShutdownClosesSocketsWithGoingAway(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c := ts.dial(t, nil)
	c.ok("ping", nil)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := ts.rpc.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case <-c.closed:
	case <-time.After(wait):
		t.Fatal("socket not closed on shutdown")
	}
}

// A new client instance that reattaches to a session restarts its request
// ids; its requests must run, not be answered from the cache.
func TestCacheDoesNotConfuseReusedIDs(t *testing.T) {
	ts := newTestServer(t, mediaelements.Limits{})
	c1 := ts.dial(t, nil)
	sid := c1.ok("describe", map[string]any{"object": "manager_ServerManager"})["sessionId"] // id 0
	p := c1.create("MediaPipeline", nil)                                                     // id 1
	c1.close()
	c2 := ts.dial(t, nil)
	c2.ok("connect", map[string]any{"sessionId": sid})                                            // id 0
	got := c2.ok("invoke", map[string]any{"object": p, "operation": "getName", "sessionId": sid}) // id 1
	if got["value"] != p {
		t.Fatalf("id 1 answered from another request's cache entry: %v", got)
	}
}
