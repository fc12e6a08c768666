// Package protocol holds the Kurento Protocol's wire vocabulary (JSON-RPC
// method names, protocol-level error codes, event frame shape), shared by
// the server's rpc package and Go clients.
package protocol

import "encoding/json"

// Path is the WebSocket path of the Kurento Protocol.
const Path = "/kurento"

// JSON-RPC methods of the Kurento Protocol.
const (
	MethodPing         = "ping"
	MethodConnect      = "connect"
	MethodCreate       = "create"
	MethodDescribe     = "describe"
	MethodInvoke       = "invoke"
	MethodSubscribe    = "subscribe"
	MethodUnsubscribe  = "unsubscribe"
	MethodRelease      = "release"
	MethodTransaction  = "transaction"
	MethodRef          = "ref"
	MethodUnref        = "unref"
	MethodKeepAlive    = "keepAlive"
	MethodCloseSession = "closeSession"
	// MethodOnEvent is the server → client event notification.
	MethodOnEvent = "onEvent"
)

// Methods lists every method the server answers.
var Methods = []string{MethodPing, MethodConnect, MethodCreate, MethodDescribe, MethodInvoke, MethodSubscribe,
	MethodUnsubscribe, MethodRelease, MethodTransaction, MethodRef, MethodUnref, MethodKeepAlive, MethodCloseSession}

// JSON-RPC level error codes (JsonRpcException.hpp).
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603
	CodeServerError    = -32000
)

// ErrorData is the data member of a Kurento error.
type ErrorData struct {
	Type string `json:"type"`
}

// Event is the value of an onEvent notification's params.
type Event struct {
	Value struct {
		Data   json.RawMessage `json:"data"`
		Object string          `json:"object"`
		Type   string          `json:"type"`
	} `json:"value"`
}
