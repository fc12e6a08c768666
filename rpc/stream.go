package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/miksilo/miksilo/rpc/protocol"
)

// wsStream is a jsonrpc2.ObjectStream over a gorilla WebSocket that answers
// malformed frames itself (-32700, -32600) instead of dropping the
// connection, as sourcegraph/jsonrpc2 would on a decode error.
type wsStream struct {
	ws           *websocket.Conn
	writeTimeout time.Duration
	onBadFrame   func(code int)

	mu sync.Mutex // one writer at a time (gorilla allows one)
}

func (s *wsStream) WriteObject(obj any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return s.writeRaw(b)
}

func (s *wsStream) writeRaw(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeTimeout > 0 {
		_ = s.ws.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	}
	return s.ws.WriteMessage(websocket.TextMessage, b)
}

type frameHeader struct {
	JSONRPC *string          `json:"jsonrpc"`
	Method  *json.RawMessage `json:"method"`
	ID      *json.RawMessage `json:"id"`
}

func (s *wsStream) ReadObject(v any) error {
	for {
		_, data, err := s.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		code, msg, id := validateFrame(data)
		if code == 0 {
			if err := json.Unmarshal(data, v); err == nil {
				return nil
			}
			// Never let a half-decoded frame survive into the next read.
			rv := reflect.ValueOf(v).Elem()
			rv.Set(reflect.Zero(rv.Type()))
			code, msg = protocol.CodeInvalidRequest, "Invalid JSON-RPC request."
		}
		if s.onBadFrame != nil {
			s.onBadFrame(code)
		}
		if err := s.writeRaw(errorFrame(id, code, msg)); err != nil {
			return err
		}
	}
}

// validateFrame checks a frame's JSON-RPC shape; code 0 means acceptable.
// id is the raw id to echo in an error, or nil for null (always null today,
// as KMS answers; kept so a future check can echo a known id).
func validateFrame(data []byte) (code int, msg string, id json.RawMessage) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if json.Valid(trimmed) {
			return protocol.CodeInvalidRequest, "Invalid JSON-RPC request: batches are not supported.", nil
		}
		return protocol.CodeParseError, "Parse error.", nil
	}
	var h frameHeader
	if err := json.Unmarshal(trimmed, &h); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || !json.Valid(trimmed) {
			return protocol.CodeParseError, "Parse error.", nil
		}
		return protocol.CodeInvalidRequest, "Invalid JSON-RPC request.", nil
	}
	// Like KMS (checkProtocol), invalid requests are answered with id null.
	// Ids must be strings or integers in 0..2^64-1 (what a jsonrpc2.ID
	// holds); official clients count up from 0.
	if h.ID != nil && !validID(bytes.TrimSpace(*h.ID)) {
		return protocol.CodeInvalidRequest, "Invalid JSON-RPC request: id must be a string or a non-negative integer.", nil
	}
	if h.JSONRPC == nil || *h.JSONRPC != "2.0" {
		return protocol.CodeInvalidRequest, "Invalid JSON-RPC request.", nil
	}
	if h.Method != nil {
		var m string
		if json.Unmarshal(*h.Method, &m) != nil {
			return protocol.CodeInvalidRequest, "Invalid JSON-RPC request.", nil
		}
	}
	return 0, "", nil
}

func validID(t []byte) bool {
	if len(t) == 0 || string(t) == "null" {
		return true
	}
	if t[0] == '"' {
		var s string
		return json.Unmarshal(t, &s) == nil
	}
	_, err := strconv.ParseUint(string(t), 10, 64)
	return err == nil
}

func errorFrame(id json.RawMessage, code int, msg string) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg}})
	return b
}

func (s *wsStream) Close() error { return s.ws.Close() }
