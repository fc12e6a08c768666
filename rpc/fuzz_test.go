package rpc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/miksilo/miksilo/mediaelements"
)

// FuzzDecodeRequest feeds arbitrary frames through everything the server
// does with untrusted input short of the socket: frame validation, request
// decoding, params decoding, session rules and execution against a real
// store. It must never panic, every error frame must be valid JSON-RPC,
// and every success must be an object carrying sessionId (ping excepted).
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","method":"ping","params":{"interval":5000},"id":0}`,
		`{"jsonrpc":"2.0","method":"describe","params":{"object":"manager_ServerManager"},"id":1}`,
		`{"jsonrpc":"2.0","method":"create","params":{"type":"MediaPipeline","properties":{}},"id":3}`,
		`{"jsonrpc":"2.0","method":"create","params":{"type":"PassThrough","constructorParams":{"mediaPipeline":"x_kurento.MediaPipeline"}},"id":4}`,
		`{"jsonrpc":"2.0","method":"invoke","params":{"object":"manager_ServerManager","operation":"getInfo"},"id":5}`,
		`{"jsonrpc":"2.0","method":"invoke","params":{"object":"manager_ServerManager","operation":"getKmd","operationParams":{"moduleName":"core"}},"id":6}`,
		`{"jsonrpc":"2.0","method":"subscribe","params":{"object":"manager_ServerManager","type":"ObjectCreated"},"id":7}`,
		`{"jsonrpc":"2.0","method":"transaction","params":{"operations":[{"method":"create","params":{"type":"MediaPipeline"},"jsonrpc":"2.0","id":0},{"method":"create","params":{"type":"PassThrough","constructorParams":{"mediaPipeline":"newref:0"}},"jsonrpc":"2.0","id":1},{"method":"invoke","params":{"object":"newref:1","operation":"connect","operationParams":{"sink":"newref:1","mediaType":"VIDEO"}},"jsonrpc":"2.0","id":2}]},"id":8}`,
		`{"jsonrpc":"2.0","method":"connect","params":{"sessionId":"abc"},"id":9}`,
		`{"jsonrpc":"2.0","method":"release","params":{"object":"newref:0"},"id":10}`,
		`{"jsonrpc":"2.0","method":"unsubscribe","params":{"subscription":7},"id":"s"}`,
		`{"jsonrpc":"2.0","method":"create","params":[1],"id":1}`,
		`[{"jsonrpc":"2.0"}]`, `{`, `null`, `{"jsonrpc":"2.0","id":{}}`,
	} {
		f.Add([]byte(seed))
	}
	reg := mediaelements.NewRegistry(mediaelements.PassThroughClass(), mediaelements.DispatcherClass(), mediaelements.DispatcherOneToManyClass())
	store := mediaelements.NewStore(mediaelements.Options{Registry: reg, Limits: mediaelements.Limits{MaxObjects: 1000}})
	srv := New(Params{Store: store})
	f.Cleanup(func() { _ = srv.Close(context.Background()) })
	c := &conn{srv: srv}
	f.Fuzz(func(t *testing.T, frame []byte) {
		defer store.ReleaseAll()
		code, msg, id := validateFrame(frame)
		if code != 0 {
			b := errorFrame(id, code, msg)
			if !json.Valid(b) {
				t.Fatalf("invalid error frame %s", b)
			}
			return
		}
		var req jsonrpc2.Request
		if json.Unmarshal(frame, &req) != nil {
			return
		}
		if strings.Contains(string(frame), "getUsedCpu") {
			return // blocks for its interval by design
		}
		params, err := decodeParams(req.Params)
		if err != nil {
			return
		}
		if sid := srv.sessionID(c, req.Method, params); sid != "" {
			params["sessionId"] = sid
		}
		out, _ := srv.exec(context.Background(), c, req.Method, params, false)
		if b := out.encode(req.ID); !json.Valid(b) {
			t.Fatalf("invalid response frame %s", b)
		}
		if out.err == nil && req.Method != "ping" {
			if sid, _ := out.result["sessionId"].(string); sid == "" {
				t.Fatalf("%s result without sessionId: %v", req.Method, out.result)
			}
		}
	})
}
