// Command echoserver is the baseline for the control-plane benchmark (scripts/bench.sh).
//
// It speaks Kurento JSON-RPC 2.0 on ws://ADDR/kurento over the same stack as Miksilo
// (gorilla/websocket + sourcegraph/jsonrpc2 with its websocket.NewObjectStream) and answers every
// request at once with a canned result — a fixed session id and, for create, a fake object id in the
// Kurento shape — doing no other work. Its figures are the floor cost of the transport; Miksilo's are
// reported as ratios against them.
//
//	echoserver -addr 127.0.0.1:0
//
// prints "listening on ws://HOST:PORT/kurento" once the socket is bound.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"
	jrpcws "github.com/sourcegraph/jsonrpc2/websocket"
)

const (
	sessionID  = "5b3b7d1e-58a4-4c5e-9b62-1f0c2a7e9d40"
	pipelineID = "0b5f1a6e-2d9c-4f1e-8a37-6c4d2e9b1f80_kurento.MediaPipeline"
	elementID  = pipelineID + "/9e2c4b71-5a3d-4c8f-b1e6-7d0f3a2c5e19_kurento.PassThrough"
)

// replies holds the canned results, marshalled once.
type replies struct {
	pipeline, element, void, session, pong json.RawMessage
}

func newReplies() replies {
	return replies{
		pipeline: json.RawMessage(`{"value":"` + pipelineID + `","sessionId":"` + sessionID + `"}`),
		element:  json.RawMessage(`{"value":"` + elementID + `","sessionId":"` + sessionID + `"}`),
		void:     json.RawMessage(`{"value":null,"sessionId":"` + sessionID + `"}`),
		session:  json.RawMessage(`{"sessionId":"` + sessionID + `"}`),
		pong:     json.RawMessage(`{"value":"pong","sessionId":"` + sessionID + `"}`),
	}
}

var pipelineType = []byte(`"type":"MediaPipeline"`)

func (r replies) handle(_ context.Context, _ *jsonrpc2.Conn, req *jsonrpc2.Request) (any, error) {
	switch req.Method {
	case "create":
		if req.Params != nil && bytes.Contains(*req.Params, pipelineType) {
			return r.pipeline, nil
		}
		return r.element, nil
	case "invoke":
		return r.void, nil
	case "ping":
		return r.pong, nil
	default:
		return r.session, nil
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8889", "listen address (port 0 picks a free port)")
	flag.Parse()
	if err := run(*addr); err != nil {
		log.Fatal(err)
	}
}

func run(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var conns sync.WaitGroup
	handler := jsonrpc2.HandlerWithError(newReplies().handle).SuppressErrClosed()
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc("/kurento", func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has written the HTTP error.
		}
		conns.Add(1)
		defer conns.Done()
		c := jsonrpc2.NewConn(ctx, jrpcws.NewObjectStream(ws), handler)
		select {
		case <-c.DisconnectNotify():
		case <-ctx.Done():
			_ = c.Close()
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("listening on ws://%s/kurento\n", ln.Addr())

	select {
	case err = <-served:
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(shutCtx) // hijacked sockets are closed by ctx above
		cancel()
		<-served
	}
	conns.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
